"""SLA scenarios as input logs, run by the unit tests (dict stores) and the integration tests
(the real worker on the broker): the same inputs, the same expected escalations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from schemas import ComplianceStats, Escalation, Notification, RejectedEvent, StatusEvent, WireModel
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.runtime.stage import Outcome, Output, Record, Stage, StagedStores
from services.runtime.topics import (
    CLAIMS, CLOSURES, COMPLIANCE, ESCALATIONS, NOTIFICATION_TOPICS, REJECTED, STATUS, TICKS,
)
from services.sla_monitor.compose import build as sla_stage
from services.status_gate.compose import build as gate_stage

RECORD_TIME = 1_893_456_000.0  # 2030-01-01: statuses are capped at their record time

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


def announce(version: int, effective_from: str, as_of: str = "2026-01-01T00:00:00+07:00",
             calendar: dict[str, Any] | None = None, policy: dict[str, Any] | None = None) -> Step:
    """A rules version announced on every ticks partition (as `lapor rules publish` does)."""
    return ("sla.ticks.v1", None, {"as_of": as_of, "rules": {
        "version": version, "effective_from": effective_from, "published_at": as_of,
        "calendar": calendar or {}, "policy": policy or {}}})


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


@dataclass(frozen=True)
class Produced:
    topic: str
    key: str | None
    event: WireModel


OUTPUT_MODELS: dict[str, type[WireModel]] = {
    ESCALATIONS: Escalation, COMPLIANCE: ComplianceStats, CLOSURES: StatusEvent,
    REJECTED: RejectedEvent, **{t: Notification for t in NOTIFICATION_TOPICS}}


def _pass_claim(record: Record, stores: StagedStores) -> Outcome:
    return Outcome([Output(STATUS, record.key, record.value or b"")])


# The router's part in these logs: it judges every claim and passes the monitor's auto-close
# (the only claim here, through the gate) on to complaints.status.v1, unless the complaint is
# closed already (the monitor ignores a closed complaint's statuses anyway). The router is not
# run itself: it would route the logs' complaints a second time.
JUDGE_STAND_IN = Stage("judge_stand_in", (CLAIMS,), (), _pass_claim)


def run_in_memory(log: list[Step], partitions: int = 1,
                  stores: dict[str, dict[str, Any]] | None = None,
                  one_batch: bool = False, lateness_minutes: float | None = None,
                  notes: list[tuple[str, dict[str, Any]]] | None = None) -> list[Produced]:
    """The SLA stage on the in-memory runtime (the real handlers), fed the log in order: one
    record per batch, or the whole log as one batch (`one_batch`). A tick goes to every
    partition. `stores` (the worker's dicts) carries state from one run to the next. The
    status gate runs beside it, as deployed, and a stand-in for the router's judgement: the
    monitor's auto-close reaches complaints.status.v1 (and so the monitor itself) through
    them. The SLA stage's outputs are returned. `lateness_minutes`: the SLA monitor's allowed
    lateness (None: the setting's default, as the workers run). `notes` collects the SLA
    stage's log notes (event, fields) but the per-record debug ones."""
    settings = Settings(partitions=partitions) if lateness_minutes is None else Settings(
        partitions=partitions, sla_allowed_lateness_minutes=lateness_minutes)
    topics = MemoryTopics(partitions)
    worker = MemoryWorker(sla_stage(settings), topics,
                          batch_max=len(log) * partitions + 1 if one_batch else 1)
    gate = MemoryWorker(gate_stage(Settings(partitions=partitions)), topics)
    judge = MemoryWorker(JUDGE_STAND_IN, topics)
    if stores is not None:
        for name in worker.stores:
            stores.setdefault(name, {})
        worker.stores = stores
    for topic, key, value in log:
        raw = json.dumps(value).encode()
        for p in range(partitions) if topic == TICKS else [None]:
            topics.publish(topic, key.encode() if key else None, raw, partition=p,
                           timestamp=RECORD_TIME)
        if not one_batch:
            run_until_idle([worker, gate, judge])
    run_until_idle([worker, gate, judge])
    if notes is not None:
        notes += [(n.event, dict(n.fields)) for result in worker.results for _, n in result.notes
                  if n.level != "debug"]
    return [Produced(r.topic, r.key.decode() if r.key else None,
                     OUTPUT_MODELS[r.topic].model_validate_json(r.value or b""))
            for result in worker.results for r in result.outputs]
