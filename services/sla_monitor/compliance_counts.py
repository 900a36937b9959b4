"""The SLA monitor's compliance figures, kept per partition in its `stats` and `overdue`
stores and reported as sla.compliance.v1 once an agency's local day has ended (each worker
reports its partitions' share; dashboards sum the records of an agency and day).

A unit of an agency (#34) has records of its own beside the agency's, with `unit_id`
("p|agency|day|unit" in stats, "p|agency|unit" in overdue): received = dispositioned to it
that day, its unit_response breaches, its open complaints past its internal deadline; the
first-response figures are the agency's (0 in a unit's record). The agency's record is as
before (its contract clocks and its admin's `disposition`), so sums by agency stay whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import ClockName, ComplianceStats
from services.domain.calendar import zone
from services.domain.ids import deterministic_id
from services.runtime.stage import StagedStores, StoreName
from services.runtime.topics import COMPLIANCE
from services.sla_monitor.clocks import ComplaintClocks
from services.sla_monitor.due_index import Emitted

WORK_CLOCKS = (ClockName.first_response, ClockName.follow_up, ClockName.resolution)


def count(view: StagedStores, partition: int, agency: str, at: datetime, tz: str, field_: str,
          clock: ClockName | None = None, unit: str | None = None) -> None:
    """One more `field_` (received, on_time, late), or a breach of `clock`, on the agency's
    local day of `at` (in `unit`'s record, when given)."""
    day = at.astimezone(zone(tz)).date().isoformat()
    key = f"{partition}|{agency}|{day}" + (f"|{unit}" if unit else "")
    stats = dict(view.get(StoreName.stats, key, {"tz": tz, "received": 0, "on_time": 0, "late": 0,
                                                 "breaches": {}}))
    if clock is not None:
        stats["breaches"] = {**stats["breaches"], clock.value: stats["breaches"].get(clock.value, 0) + 1}
    else:
        stats[field_] += 1
    view.put(StoreName.stats, key, stats)


def _overdue(view: StagedStores, partition: int, agency: str, delta: int) -> None:
    key = f"{partition}|{agency}"
    view.put(StoreName.overdue, key, max(0, view.get(StoreName.overdue, key, 0) + delta))


def overdue_agencies(state: ComplaintClocks) -> set[str]:
    """The overdue keys the complaint counts in: its agency's ("agency") while a work clock
    runs past its due_at, its unit's ("agency|unit") while the unit's deadline does."""
    return {c.agency_id for c in state.running() if c.name in WORK_CLOCKS and 1 in c.fired} | {
        f"{c.agency_id}|{c.unit_id}" for c in state.running()
        if c.name is ClockName.unit_response and 1 in c.fired}


def settle_overdue(view: StagedStores, partition: int, state: ComplaintClocks, before: set[str]) -> None:
    """Keep the open-overdue count: an agency's complaint is overdue while one of its work
    clocks runs past its due_at (counted at breach time, released when the clocks stop)."""
    after = overdue_agencies(state)
    for agency in before - after:
        _overdue(view, partition, agency, -1)
    for agency in after - before:
        _overdue(view, partition, agency, +1)


def close_days(view: StagedStores, partition: int, as_of: datetime) -> list[Emitted]:
    """The day's statistics of every agency whose local day ended by `as_of`."""
    prefix, out = f"{partition}|", []
    for key in [k for k in view.keys(StoreName.stats) if k.startswith(prefix)]:
        stats = view.get(StoreName.stats, key)
        if stats is None:
            continue
        _, agency, day, *unit = key.split("|")
        end = datetime.fromisoformat(day).replace(tzinfo=zone(stats["tz"])) + timedelta(days=1)
        if end > as_of:
            continue
        owner = "|".join([agency, *unit])  # the agency, or "agency|unit"
        out.append(Emitted(COMPLIANCE, agency, ComplianceStats(
            # A late event can reopen a closed day: its second report gets another id.
            event_id=deterministic_id("compliance", owner, day, partition, sorted(stats.items())),
            agency_id=agency, day=datetime.fromisoformat(day).date(), timezone=stats["tz"],
            received=stats["received"], first_response_on_time=stats["on_time"],
            first_response_late=stats["late"], breaches=stats["breaches"],
            open_overdue_end_of_day=view.get(StoreName.overdue, f"{partition}|{owner}", 0),
            as_of=end.astimezone(UTC), partition=partition, unit_id=unit[0] if unit else None,
        )))
        view.put(StoreName.stats, key, None)
    return out
