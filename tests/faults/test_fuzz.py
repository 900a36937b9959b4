"""Hostile records on every input topic of every service (tests/faults/hostile.py): in memory
(fast, many) and on the real broker with the four workers (fewer; the long run is
bench/fuzz.py): every output is valid against its JSON Schema or a dead letter with a reason,
nothing fails inside a handler, and every worker still serves a complaint afterwards."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from schemas import Submission
from tests.ids import make_complaint_id
from services.intake.compose import build as build_intake
from services.ops_view.compose import build as build_ops
from services.router.compose import build as build_router
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.sla_monitor.compose import build as build_sla
from services.runtime.topics import SUBMITTED, TICKS
from tests.examples import VALID
from tests.faults.hostile import INPUT_MODELS, hostile_records, schema_errors

PER_TOPIC = 300


def test_hostile_records_in_memory_give_valid_outputs_or_dead_letters() -> None:
    settings = Settings(partitions=2)
    topics = MemoryTopics(2)
    workers = [MemoryWorker(b(settings), topics) for b in (build_intake, build_router, build_sla, build_ops)]
    # A canary first: a well-formed complaint of its own, which no hostile record names.
    # Whatever they do, it is accepted, routed and escalated. (A loaded CI run once saw no
    # escalation from the hostile records alone, not reproduced with any hash seed here; a
    # generated `closed` for the example complaint would end its only clocks.)
    canary = {**VALID[Submission], "submission_id": "canary-1"}
    topics.publish(SUBMITTED, b"canary-1", json.dumps(canary).encode())
    run_until_idle(workers)
    fed = 0
    for n, topic in enumerate(INPUT_MODELS):
        for value in hostile_records(topic, PER_TOPIC, rng_seed=n):
            topics.publish(topic, b"LPR-7K2QX9M4TD5W" if fed % 3 else None, value)
            fed += 1
        run_until_idle(workers)
    # The canary's last tick: the latest time there is (a tick earlier than one already
    # seen moves no clock, and the hostile ticks include 9999-12-31).
    for p in range(2):
        topics.publish(TICKS, None, json.dumps({"as_of": "9999-12-31T23:59:59Z"}).encode(), partition=p)
    run_until_idle(workers)
    produced = [(o.topic, o.value) for w in workers for res in w.results for o in res.outputs]
    canary_id = make_complaint_id("web", "canary-1")
    assert any(t == "sla.escalations.v1" and json.loads(v)["complaint_id"] == canary_id
               for t, v in produced), "the canary was not escalated"
    # Every hostile record was answered: nearly all are invalid for every stage that reads
    # them, so each brings at least one dead letter; the few valid ones flow on.
    letters = sum(1 for t, _ in produced if t == "complaints.rejected.v1")
    assert letters >= 0.9 * fed and {t for t, _ in produced} >= {
        "complaints.accepted.v1", "complaints.routed.v1", "sla.escalations.v1"}
    bad = [(t, e) for t, v in produced for e in schema_errors(t, v)]
    assert bad == []
    reasons = Counter(json.loads(v)["reason"] for t, v in produced if t == "complaints.rejected.v1")
    assert "internal_error" not in reasons, reasons
    assert len(reasons) >= 8  # the fuzz reached many kinds of bad input


async def test_hostile_records_on_the_broker_stop_no_worker(broker_settings: Settings, tmp_path: Path) -> None:
    from tests.faults.fuzz_run import fuzz_on_broker
    from tests.kafka_helpers import isolated

    report = await fuzz_on_broker(isolated(broker_settings), tmp_path, per_topic=60)
    print("\n".join(report.lines()))
    assert report.invalid == [] and report.outputs > 0
    assert report.stopped == [] and report.canary_routed
    assert "internal_error" not in report.reasons and len(report.reasons) >= 5
