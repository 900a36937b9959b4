"""A complaint's life as its readers see it, from a timeline of steps (pure: plain data in,
JSON-ready data out). Two views build such timelines: the operations view (its faust table,
every step) and lacak (its own memory, the routings and the judged statuses only); both show
them through this module, the operators every step, a reporter only its progress.

A timeline is `{"facts": {...}, "events": [[at, kind, detail], ...], "closed_at": at | None}`,
`kind` one of accepted (or received: lacak's acceptance time, which it reads off the first
routing), routed, status, escalation, dead_letter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.domain.complaint_id import normalise_complaint_id
from services.domain.labels import category_name, disposition_text, reason_text, region_name
from services.domain.registry import Registry

Store = Mapping[str, Any]
LIFE_ORDER = {"accepted": 0, "received": 0, "routed": 1, "status": 2, "escalation": 3, "dead_letter": 4}


def _life_rank(kind: str, detail: Mapping[str, Any]) -> float:
    """Where a step goes among steps of the same time. A re-route (attempt 2 on) is stamped
    with the `at` of the status that caused it (`not_our_authority`, `assigned`): it follows
    that status, where the first routing (stamped with the acceptance time) precedes them all."""
    if kind == "routed" and (detail.get("attempt") or 1) > 1:
        return LIFE_ORDER["status"] + 0.5
    return LIFE_ORDER.get(kind, len(LIFE_ORDER))


class TimelineError(ValueError):
    """A tracking id that cannot be answered, with a message for the person who typed it."""


def timeline(timelines: Store, text: str, registry: Registry | None = None) -> dict[str, Any]:
    """A complaint's events in time order (arrival order among equal times), by a tracking id
    as a citizen may type it (any case, spaces, dashes, O for 0, I or L for 1)."""
    cid = normalise_complaint_id(text)
    if cid is None:
        raise TimelineError(f"'{text.strip()[:40]}' is not a valid tracking number: check every "
                            "character (LPR- and 12 letters or digits; the last one is a check "
                            "character that catches a mistyped or swapped character)")
    line = timelines.get(cid)
    if not line:
        raise TimelineError(f"{cid}: no such complaint here (not yet seen, or ended long ago)")
    # Equal times (a routing stamped with the acceptance time) in the order things happen to
    # a complaint, whatever order the topics were read in; then in arrival order.
    events = sorted(enumerate(line["events"]), key=lambda ie: (
        datetime.fromisoformat(ie[1][0]), _life_rank(ie[1][1], ie[1][2]), ie[0]))
    out = []
    for _, (at, kind, detail) in events:
        known = registry.get(detail["agency_id"]) if registry and detail.get("agency_id") else None
        out.append({"at": at, **detail, "kind": kind, **({"agency_name": known.name} if known else {}),
                    **_names(detail, registry)})
    return {"complaint_id": cid, "facts": {**line["facts"], **_names(line["facts"], registry)},
            "closed_at": line.get("closed_at"), "events": out}


def _names(detail: Mapping[str, Any], registry: Registry | None) -> dict[str, str]:
    """The codes of an event or of a complaint's facts in words (services/domain/labels.py),
    next to the codes: `category_name`, `region_name`, `reason_text`, `target_agency_name`,
    and a disposition's `disposition_text`."""
    def agency(agency_id: str) -> str:
        known = registry.get(agency_id) if registry else None
        return known.name if known else agency_id

    out = {}
    if detail.get("category"):
        out["category_name"] = category_name(detail["category"])
    if detail.get("region_code"):
        out["region_name"] = region_name(detail["region_code"])
    if detail.get("reason") and "rule_id" in detail:  # a routing's reason (a dead letter's is a code)
        out["reason_text"] = reason_text(detail["reason"], agency)
    if detail.get("target_agency_id"):
        out["target_agency_name"] = agency(detail["target_agency_id"])
    if detail.get("status") == "disposed":
        out["disposition_text"] = disposition_text(detail.get("unit_name"))
    return out


# What a reporter may see of a complaint's life ("lacak"): these steps only, with their dates
# and the agency's name. No escalation, dead letter, rule or note (the page keeps no note).
# A disposition shows which office has the complaint now ("handled_by": the unit's name, or
# the agency alone when it went back to its admin), nothing of who in it.
PUBLIC_STATUSES = {
    "acknowledged": "acknowledged", "in_progress": "in_progress", "info_requested": "info_requested",
    "info_received": "in_progress", "field_inspection_required": "in_progress",
    "responded": "responded", "resolved": "resolved", "not_our_authority": "passed_on",
    "reporter_replied": "reporter_replied", "closed": "closed", "archived": "closed",
    "disposed": "handled_by",
}


def progress(timelines: Store, text: str, registry: Registry | None = None) -> dict[str, Any]:
    """A complaint's progress as its reporter may see it, by a tracking id typed loosely."""
    line = timeline(timelines, text, registry)
    steps: list[dict[str, Any]] = []
    for e in line["events"]:
        step: str | None = None
        if e["kind"] in ("accepted", "received"):
            step = "received"
        elif e["kind"] == "routed" and e["role"] == "primary":
            step = "forwarded" if e["agency_id"] else "triage"
        elif e["kind"] == "status":
            step = "forwarded" if e["status"] == "assigned" else PUBLIC_STATUSES.get(e["status"])
        if step is None:
            continue
        agency = e.get("target_agency_id") if e.get("status") == "assigned" else e.get("agency_id")
        known = registry.get(agency) if registry and agency else None
        item = {"at": e["at"], "step": step}
        if step == "handled_by" and e.get("unit_name"):
            item["unit_name"] = e["unit_name"]
        if known is not None:
            item["agency_name"] = known.name
        if not steps or steps[-1] != item:
            steps.append(item)
    return {"complaint_id": line["complaint_id"], "steps": steps,
            "closed": line["closed_at"] is not None}
