"""SLA scenarios as input logs, run by the unit tests (dict stores) and the integration tests
(the real worker on the broker): the same inputs, the same expected escalations."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

from schemas import AcceptedComplaint, RoutedEvent, StatusEvent, Tick
from services.common.calendar import WorkingCalendar
from services.common.registry import load_registry
from services.common.settings import Settings
from services.common.sla_policy import load_policy
from services.sla_monitor.processor import Output, SlaProcessor, apply_writes

LIFE, REROUTE = "LPR-AAAAAAAAAAA1", "LPR-BBBBBBBBBBB2"
Step = tuple[str, str | None, dict[str, Any]]  # (topic, key, value)


def accepted(cid: str, at: str, tier: str = "standard_5d") -> Step:
    return ("complaints.accepted.v1", cid, {
        "event_id": f"acc-{cid}", "complaint_id": cid, "submission_id": cid, "channel": "web",
        "submitted_at": at, "accepted_at": at, "body": "x", "type": "complaint",
        "category": "electricity", "sla_tier": tier, "classification": {}})


def routed(cid: str, agency: str | None, at: str, attempt: int = 1) -> Step:
    return ("complaints.routed.v1", cid, {
        "event_id": f"r-{cid}-{attempt}", "complaint_id": cid, "agency_id": agency, "role": "primary",
        "rule_id": "x", "reason": "x", "attempt": attempt, "routed_at": at})


def status(cid: str, kind: str, agency: str | None, at: str) -> Step:
    return ("complaints.status.v1", cid, {
        "event_id": f"s-{cid}-{kind}-{at}", "complaint_id": cid, "status": kind,
        "agency_id": agency, "at": at})


def tick(at: str) -> Step:
    return ("sla.ticks.v1", None, {"as_of": at})


# A complaint's whole life: accepted Monday 2 March 2026 09:15 WIB, first response late,
# info requested and received (a pause), responded, auto-closed after 10 working days.
LIFE_LOG: list[Step] = [
    accepted(LIFE, "2026-03-02T09:15:00+07:00"),
    routed(LIFE, "pln", "2026-03-02T09:15:00+07:00"),
    tick("2026-03-04T12:00:00+07:00"),
    tick("2026-03-05T00:00:00+07:00"),  # first_response warning (N-1 = 2 working days)
    tick("2026-03-06T00:00:00+07:00"),  # first_response breach level 1 (due)
    status(LIFE, "acknowledged", "pln", "2026-03-06T10:00:00+07:00"),  # late; stops the clock
    status(LIFE, "acknowledged", "kemensos", "2026-03-06T10:30:00+07:00"),  # not responsible
    status(LIFE, "info_requested", "pln", "2026-03-06T11:00:00+07:00"),  # follow_up pauses
    tick("2026-03-09T00:00:00+07:00"),  # the paused warning (was 7 March) does not fire
    status(LIFE, "info_received", "pln", "2026-03-10T09:00:00+07:00"),  # +2 working days
    tick("2026-03-11T00:00:00+07:00"),  # follow_up warning, moved by the pause
    status(LIFE, "responded", "pln", "2026-03-11T15:00:00+07:00"),  # follow_up stops; auto_close
    tick("2026-03-20T00:00:00+07:00"),
    tick("2026-04-02T00:00:00+07:00"),  # auto_close lapses: a `closed` status
]
# (clock, kind, level, due_at, fire_at) expected from LIFE_LOG, hand-checked.
LIFE_ESCALATIONS = [
    ("first_response", "warning", 0, "2026-03-06T00:00:00+07:00", "2026-03-05T00:00:00+07:00"),
    ("first_response", "breach", 1, "2026-03-06T00:00:00+07:00", "2026-03-06T00:00:00+07:00"),
    ("follow_up", "warning", 0, "2026-03-12T00:00:00+07:00", "2026-03-11T00:00:00+07:00"),
]
LIFE_CLOSED_AT = "2026-04-02T00:00:00+07:00"

# A re-route: kpk's clocks stop, kemendes's start afresh from the re-route.
REROUTE_LOG: list[Step] = [
    accepted(REROUTE, "2026-03-02T09:00:00+07:00", tier="dispute_14d"),
    routed(REROUTE, "kpk", "2026-03-02T09:00:00+07:00"),
    status(REROUTE, "not_our_authority", "kpk", "2026-03-03T10:00:00+07:00"),
    routed(REROUTE, "kemendes", "2026-03-03T10:00:00+07:00", attempt=2),
    tick("2026-03-07T00:00:00+07:00"),
]
REROUTE_ESCALATIONS = [  # (agency, clock, kind, level, attempt, fire_at)
    ("kemendes", "first_response", "warning", 0, 2, "2026-03-06T00:00:00+07:00"),
    ("kemendes", "first_response", "breach", 1, 2, "2026-03-07T00:00:00+07:00"),
]


def run_in_memory(log: list[Step], partitions: int = 1,
                  stores: dict[str, MutableMapping[str, Any]] | None = None) -> list[Output]:
    """The in-memory double: the processor over dicts (`stores`, or fresh ones), fed the log
    in order."""
    if stores is None:
        stores = {n: {} for n in ("clocks", "due", "marks", "stats", "overdue")}
    settings = Settings()
    processor = SlaProcessor(stores, WorkingCalendar(), load_policy(None), load_registry(settings))
    outputs: list[Output] = []
    record_time = datetime(2030, 1, 1, tzinfo=UTC)
    for topic, _key, value in log:
        raw = json.dumps(value)
        if topic == "sla.ticks.v1":
            results = [processor.tick(p, Tick.model_validate_json(raw).as_of) for p in range(partitions)]
        elif topic == "complaints.accepted.v1":
            results = [processor.accepted(0, AcceptedComplaint.model_validate_json(raw))]
        elif topic == "complaints.routed.v1":
            results = [processor.routed(0, RoutedEvent.model_validate_json(raw))]
        else:
            results = [processor.status(0, StatusEvent.model_validate_json(raw), record_time)]
        for res in results:
            outputs.extend(res.outputs)
            apply_writes(stores, res)
    return outputs
