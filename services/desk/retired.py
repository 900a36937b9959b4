"""A retired unit's open complaints go back to the agency's admin (#34), as a judged status
every reader sees (pure: no Kafka, no web).

Retiring a unit (`retired: true` in a published units version) leaves its complaints with no
office to answer them. The desk's view alone could treat them as the admin's again, but the
SLA monitor would keep the unit's deadline running, lacak would keep naming the unit: so the
desk writes, for each open complaint whose current disposition names a unit retired in the
units in force, a `disposed` without `unit_id` on the agency's own status topic (what a
unit's hand-back is), judged like every other status.

Every desk worker works this out from the same topics and writes the same event: its id
comes from the complaint, the retired unit and the disposition being undone (not from the
units version: two workers, one of which has already read a later version, still write one
event), and the judge drops the repeats. Its `at` is event time: the later of the version's
`published_at` and the disposition's `at` (never the wall clock, never before the
disposition it undoes)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from schemas import AgencyStatus, Status
from services.desk.view import DeskView, Facts
from services.domain.labels import retired_unit_note
from services.domain.units import AgencyUnits


def retired_returns(view: DeskView) -> list[AgencyStatus]:
    """One `disposed` without a unit for each open complaint, held by its agency as primary,
    whose latest disposition is to a unit retired in that agency's units in force; in a
    stable order (agency, complaint). Empty once each return has been read back judged (the
    complaint's latest disposition then names no unit)."""
    out = []
    for agency_id in sorted(view.held):
        units = view.units.of(agency_id)
        if not any(u.retired for u in units.unit_set.units):
            continue  # the usual case: nothing to look at in this agency's queue
        for complaint_id in sorted(view.held[agency_id]):
            facts = view.facts[complaint_id]
            if not view.is_open(facts, agency_id):  # (a copy agency has no judged status to undo)
                continue
            latest = latest_disposition(view, facts, agency_id)
            if latest is None:
                continue
            unit = units.unit(latest.get("unit_id"))
            if unit is None or not unit.retired:
                continue
            out.append(_return(agency_id, complaint_id, latest, units, latest.get("unit_name") or unit.name))
    return out


def latest_disposition(view: DeskView, facts: Facts, agency_id: str) -> dict[str, Any] | None:
    """The agency's latest own `disposed` since the complaint reached it, as read (retired
    unit or not: `DeskView.current_unit` already treats a retired one as no one's)."""
    return next((s for s in reversed(view.own_statuses(facts, agency_id))
                 if s["status"] == Status.disposed.value), None)


def retires(before: AgencyUnits, after: AgencyUnits) -> bool:
    """Whether a newly applied units version retires a unit that was active before it."""
    was_active = {u.unit_id for u in before.active_units()}
    return any(u.retired and u.unit_id in was_active for u in after.unit_set.units)


def return_event_id(complaint_id: str, unit_id: str, disposition_event_id: str) -> str:
    digest = hashlib.sha256(f"{complaint_id}|{unit_id}|{disposition_event_id}".encode()).hexdigest()
    return f"desk-retired-{digest[:32]}"


def _return(agency_id: str, complaint_id: str, disposition: dict[str, Any], units: AgencyUnits,
            unit_name: str) -> AgencyStatus:
    unit_id = disposition["unit_id"]
    at = max(units.unit_set.published_at, datetime.fromisoformat(disposition["at"]))
    return AgencyStatus(event_id=return_event_id(complaint_id, unit_id, disposition["event_id"]),
                        complaint_id=complaint_id, status=Status.disposed, agency_id=agency_id,
                        at=at, note=retired_unit_note(unit_name))
