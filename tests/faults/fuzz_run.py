"""Hostile records on every input topic, on the real broker with the four workers (the short
run is a test; bench/fuzz.py runs 10,000 a topic). What comes out is read back and checked."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from services.domain.complaint_id import make_complaint_id
from services.runtime.settings import Settings
from services.runtime.topic_read import read_to_end
from services.runtime.topics import (
    ACCEPTED, CLOSURES, COMPLIANCE, ESCALATIONS, NOTIFICATION_TOPICS, REJECTED, ROUTED, STATUS, SUBMITTED,
    TRIAGE,
)
from tests.faults.hostile import INPUT_MODELS, hostile_records, schema_errors
from tests.kafka_helpers import consume, create_contract_topics, produce
from tests.workers import running

SERVICES = ("intake", "router", "sla_monitor", "ops_view")


@dataclass
class FuzzReport:
    fed: dict[str, int] = field(default_factory=dict)
    outputs: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    stopped: list[str] = field(default_factory=list)
    canary_routed: bool = False
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [f"hostile records fed: {sum(self.fed.values())} ({self.fed})",
                f"outputs read: {self.outputs}; invalid against their JSON Schema: {len(self.invalid)}",
                f"dead letters by reason: {dict(self.reasons.most_common())}",
                f"workers that stopped: {self.stopped or 'none'}; a complaint afterwards routed: "
                f"{self.canary_routed}; {self.seconds:.0f}s"]


async def fuzz_on_broker(settings: Settings, log_dir: Path, per_topic: int) -> FuzzReport:
    report, started = FuzzReport(), time.monotonic()
    await create_contract_topics(settings)
    with running("intake", settings, log_dir) as a, running("router", settings, log_dir) as b, \
            running("sla_monitor", settings, log_dir) as c, running("ops_view", settings, log_dir) as d:
        for n, topic in enumerate(INPUT_MODELS):
            records = hostile_records(topic, per_topic, rng_seed=100 + n)
            keys = [b"LPR-7K2QX9M4TD5W", None, b"\xff\xfe", b"LPR-0000000000000"]
            await produce(settings, topic, [(keys[i % 4], v) for i, v in enumerate(records)])
            report.fed[topic] = len(records)
        canary = make_complaint_id("web", "fuzz-canary")
        await produce(settings, SUBMITTED, [(b"fuzz-canary", json.dumps({
            "submission_id": "fuzz-canary", "channel": "web", "submitted_at": "2026-03-02T09:15:00+07:00",
            "body": "Token listrik tidak masuk"}).encode())])
        for _ in range(240):  # the canary goes through once the hostile records before it have
            routed = await consume(settings, ROUTED, timeout_s=2, quiet_s=1)
            if any(canary.encode() in (r.value or b"") and _written_by_a_service(ROUTED, r.value or b"")
                   for r in routed):
                report.canary_routed = True
                break
            await asyncio.sleep(1)
        await asyncio.sleep(5)
        report.stopped = [w.service for w in (a, b, c, d) if w.proc.poll() is not None]
    outputs = [ACCEPTED, ROUTED, STATUS, ESCALATIONS, REJECTED, COMPLIANCE, *NOTIFICATION_TOPICS,
               CLOSURES, TRIAGE, "agency.pln.complaints.v1"]
    for topic in outputs:
        for r in await read_to_end(settings, topic):
            if topic in INPUT_MODELS and r.value is not None and not _written_by_a_service(topic, r.value):
                continue  # the fuzz's own records on a shared topic
            report.outputs += 1
            report.invalid += [(topic, e) for e in schema_errors(topic, r.value or b"")]
            if topic == REJECTED:
                report.reasons[json.loads(r.value or b"{}").get("reason", "?")] += 1
    report.seconds = time.monotonic() - started
    return report


def _written_by_a_service(topic: str, value: bytes) -> bool:
    """Topics that are inputs too (accepted, routed, status, escalations, rejected, compliance)
    hold the fuzz's records beside the services' outputs: a service's output carries an id
    that the services make (deterministic ids have the kind as their prefix)."""
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return False
    if not isinstance(data, dict):
        return False
    ident = str(data.get("event_id") or data.get("escalation_id") or "")
    return ident.split("-")[0] in {"accepted", "routed", "auto_close", "escalation", "rejected",
                                   "compliance", "notice"}
