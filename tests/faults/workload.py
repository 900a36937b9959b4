"""The fault suite's mixed workload and what a fault-free run makes of it.

Deterministic for a seed: web and SMS complaints (some anonymous, some malformed), then the
agencies' statuses (on time, a pause for information, a refusal that re-routes, a response
that ends in auto-close, silence), then a tick a day for a month. The expected outcome comes
from the same stages on the in-memory runtime, fed in the same phases."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas import ComplianceStats, Escalation, RoutedEvent
from services.intake.compose import build as build_intake
from services.router.compose import build as build_router
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.runtime.topics import (
    ACCEPTED, COMPLIANCE, ESCALATIONS, ROUTED, SMS, STATUS, SUBMITTED, TICKS,
)
from services.sla_monitor.compose import build as build_sla
from services.tools.generator import TEXTS

Input = tuple[str, bytes | None, bytes]  # (topic, key, value)
START = datetime.fromisoformat("2026-03-02T08:00:00+07:00")  # Monday


@dataclass
class Outcome:
    """What the pipeline produced, by id (duplicates counted apart)."""

    accepted: set[str] = field(default_factory=set)
    routed: set[str] = field(default_factory=set)
    escalations: set[str] = field(default_factory=set)
    compliance: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    # What each routed and escalation id stands for (complaint, agency, clock...): named in a
    # report of lost or extra ids, so a difference can be traced to its complaint.
    about: dict[str, str] = field(default_factory=dict)
    fired: dict[str, str] = field(default_factory=dict)  # escalation id -> the tick (as_of) it fired on


def status_topic(settings: Settings) -> str:
    """Where agencies' statuses enter the pipeline: the router's input that is neither the
    accepted complaints nor the ticks (the claims it judges; complaints.status.v1 before the
    router judged statuses)."""
    return next(t for t in build_router(settings).inputs if t not in (ACCEPTED, TICKS))


def submissions(n: int, seed: int) -> list[Input]:
    rnd = random.Random(seed)
    out: list[Input] = []
    for i in range(n):
        text, region = TEXTS[i % len(TEXTS)]
        at = (START + timedelta(minutes=3 * i)).isoformat()
        if rnd.random() < 0.3:
            prefix = rnd.choice(["", "ANONIM ", "RAHASIA "])
            msisdn = f"0812{rnd.randint(10_000_000, 99_999_999)}"
            sms = {"message_id": f"f-sms-{seed}-{i}", "msisdn": msisdn, "text": prefix + text, "received_at": at}
            out.append((SMS, msisdn.encode(), json.dumps(sms).encode()))
        elif rnd.random() < 0.05:
            out.append((SUBMITTED, f"f-bad-{i}".encode(), b'{"submission_id": "x", "channel": "fax"}'))
        else:
            sub: dict[str, Any] = {"submission_id": f"f-web-{seed}-{i}", "channel": "web", "submitted_at": at,
                                   "body": text, "privacy": rnd.choice(["public", "anonymous"]),
                                   "reporter": {"name": "Warga Uji", "phone": "081234567890"}}
            if region:
                sub["location"] = {"region_code": region}
            out.append((SUBMITTED, sub["submission_id"].encode(), json.dumps(sub).encode()))
    return out


def statuses(routed: list[RoutedEvent], seed: int, topic: str = STATUS) -> list[Input]:
    """What each first agency does, decided by the complaint id (not by arrival order), as
    records of `topic`."""
    out: list[Input] = []
    for r in sorted(routed, key=lambda r: r.complaint_id):
        if r.agency_id is None or r.role.value != "primary" or r.attempt != 1:
            continue
        choice = random.Random(f"{seed}-{r.complaint_id}").random()
        steps: list[tuple[str, timedelta]] = (
            [("acknowledged", timedelta(hours=1))] if choice < 0.3 else
            [("acknowledged", timedelta(hours=1)), ("info_requested", timedelta(hours=2)),
             ("info_received", timedelta(days=1))] if choice < 0.45 else
            [("not_our_authority", timedelta(hours=3))] if choice < 0.6 else
            [("acknowledged", timedelta(hours=1)), ("responded", timedelta(days=1))] if choice < 0.8 else [])
        for status, after in steps:
            value = {"event_id": f"f-{r.complaint_id}-{status}", "complaint_id": r.complaint_id,
                     "status": status, "agency_id": r.agency_id, "at": (r.routed_at + after).isoformat()}
            out.append((topic, r.complaint_id.encode(), json.dumps(value).encode()))
    return out


def ticks(days: int = 30) -> list[str]:
    return [(START.replace(hour=0) + timedelta(days=d)).isoformat() for d in range(1, days + 1)]


def tally(records: dict[str, list[tuple[bytes | None, bytes]]]) -> Outcome:
    """The outcome of a run from its output topics' records."""
    out = Outcome()
    seen: dict[str, list[str]] = {
        "accepted": [json.loads(v)["complaint_id"] for _, v in records.get(ACCEPTED, [])],
        "routed": [json.loads(v)["event_id"] for _, v in records.get(ROUTED, [])],
        "escalations": [Escalation.model_validate_json(v).escalation_id for _, v in records.get(ESCALATIONS, [])],
    }
    out.accepted, out.routed, out.escalations = (set(seen[k]) for k in ("accepted", "routed", "escalations"))
    for _, v in records.get(ROUTED, []):
        r = RoutedEvent.model_validate_json(v)
        out.about[r.event_id] = f"routed {r.complaint_id} to {r.agency_id} ({r.role.value}, attempt {r.attempt})"
    for _, v in records.get(ESCALATIONS, []):
        e = Escalation.model_validate_json(v)
        out.fired.setdefault(e.escalation_id, e.as_of.isoformat())
        out.about[e.escalation_id] = (f"escalation {e.complaint_id} {e.agency_id} {e.clock.value} "
                                      f"{e.kind.value} level {e.level} attempt {e.attempt}, "
                                      f"fire_at {e.fire_at.isoformat()} as_of {e.as_of.isoformat()}")
    out.duplicates = {k: len(v) - len(set(v)) for k, v in seen.items()}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    stats = {c.event_id: c for c in (ComplianceStats.model_validate_json(v) for _, v in records.get(COMPLIANCE, []))}
    for c in stats.values():
        t = totals[c.agency_id]
        t[0] += c.received
        t[1] += c.first_response_on_time
        t[2] += c.first_response_late
        t[3] += sum(c.breaches.values())
    out.compliance = {a: (t[0], t[1], t[2], t[3]) for a, t in totals.items()}
    return out


def expected(settings: Settings, inputs: list[Input], seed: int, days: int = 30) -> tuple[Outcome, list[Input]]:
    """The fault-free outcome, and the statuses the agencies send (derived from its routing)."""
    topics = MemoryTopics(settings.partitions)
    workers = [MemoryWorker(build(settings), topics) for build in (build_intake, build_router, build_sla)]
    for topic, key, value in inputs:
        topics.publish(topic, key, value)
    run_until_idle(workers)
    routed = [RoutedEvent.model_validate_json(r.value or b"") for r in topics.read(ROUTED)]
    sent = statuses(routed, seed, status_topic(settings))
    for topic, key, value in sent:
        topics.publish(topic, key, value)
    run_until_idle(workers)
    for as_of in ticks(days):
        for p in range(settings.partitions):
            topics.publish(TICKS, None, json.dumps({"as_of": as_of}).encode(), partition=p)
        run_until_idle(workers)
    records = {t: [(r.key, r.value or b"") for r in topics.read(t)] for t in (ACCEPTED, ROUTED, ESCALATIONS, COMPLIANCE)}
    return tally(records), sent
