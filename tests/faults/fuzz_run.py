"""Hostile records on every input topic, on the real broker with the four workers (the short
run is a test; bench/fuzz.py runs 10,000 a topic). What comes out is read back and checked."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.ids import make_complaint_id
from services.runtime.settings import Settings
from services.runtime.topic_read import read_to_end
from services.tools.broker import free_port
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
    # The ops_view worker's page on a port of its own (tests run side by side; the stack
    # test publishes 8070, and a worker that cannot bind its page stops).
    settings = settings.model_copy(update={"ops_port": free_port(), "lacak_port": free_port()})
    await create_contract_topics(settings)
    sent: dict[str, Counter[bytes]] = {}  # the fuzz's own records, by topic: all else is output
    with running("intake", settings, log_dir) as a, running("router", settings, log_dir) as b, \
            running("sla_monitor", settings, log_dir) as c, running("ops_view", settings, log_dir) as d:
        workers = (a, b, c, d)

        def note_stopped() -> None:  # looked at all along, not once at the end
            report.stopped = sorted({*report.stopped,
                                     *(w.service for w in workers if w.proc.poll() is not None)})

        for n, topic in enumerate(INPUT_MODELS):
            records = hostile_records(topic, per_topic, rng_seed=100 + n)
            keys = [b"LPR-7K2QX9M4TD5W", None, b"\xff\xfe", b"LPR-0000000000000"]
            await produce(settings, topic, [(keys[i % 4], v) for i, v in enumerate(records)])
            sent[topic] = Counter(records)
            report.fed[topic] = len(records)
            note_stopped()
        canary = make_complaint_id("web", "fuzz-canary")
        await produce(settings, SUBMITTED, [(b"fuzz-canary", json.dumps({
            "submission_id": "fuzz-canary", "channel": "web", "submitted_at": "2026-03-02T09:15:00+07:00",
            "body": "Token listrik tidak masuk"}).encode())])
        for _ in range(240):  # the canary goes through once the hostile records before it have
            routed = await consume(settings, ROUTED, timeout_s=2, quiet_s=1)
            note_stopped()
            if any(canary.encode() in (r.value or b"") and r.value not in sent[ROUTED]
                   for r in routed):
                report.canary_routed = True
                break
            await asyncio.sleep(1)
        outputs = [ACCEPTED, ROUTED, STATUS, ESCALATIONS, REJECTED, COMPLIANCE, *NOTIFICATION_TOPICS,
                   CLOSURES, TRIAGE, "agency.pln.complaints.v1"]
        for topic in outputs:
            fuzz = Counter(sent.get(topic, Counter()))
            for r in await read_to_end(settings, topic):
                value = r.value or b""
                if fuzz[value] > 0:  # one of the fuzz's own records on a shared topic
                    fuzz[value] -= 1
                    continue
                report.outputs += 1  # every other record is a service's: schema-checked
                report.invalid += [(topic, e) for e in schema_errors(topic, value)]
                if topic == REJECTED:
                    report.reasons[json.loads(value or b"{}").get("reason", "?")] += 1
        note_stopped()  # still running after all of it was read
        report.canary_routed = report.canary_routed and not report.stopped
    report.seconds = time.monotonic() - started
    return report
