"""The status gate on the broker: it runs as its own principal on the plain batched consumer,
reads the status topic of an agency provisioned after it started, and writes each status it
can attribute as a claim (status.claims.v1) for the router to judge."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas import StatusEvent
from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.stateless_runtime import subscription_pattern
from services.runtime.topics import CLAIMS, agency_status_topic_name
from services.status_gate.compose import build
from services.tools.access import provision
from services.tools.access_plan import agency_user
from tests.kafka_helpers import as_principal, consume, isolated, produce
from tests.workers import WorkerProcess, logged_events, running


def status(agency: str) -> tuple[bytes, bytes]:
    cid = "LPR-7K2QX9M4TD5W"
    body = {"event_id": f"{agency}-ack", "complaint_id": cid, "status": "acknowledged",
            "at": "2026-03-02T09:15:00+07:00"}
    return cid.encode(), json.dumps(body).encode()


def test_the_subscription_is_every_agencys_status_topic_of_the_deployment_only() -> None:
    pattern = re.compile(subscription_pattern(build(Settings()), "prod."))
    assert pattern.match("prod.agency-status.pln.v1")
    assert pattern.match("prod.agency-status.pemda-32-73.v1")
    for other in ("staging.agency-status.pln.v1", "prod.agency-status..v1",
                  "prod.agency.pln.complaints.v1", "prod.agency-status.pln.v1.x",
                  "prodXagency-status.pln.v1"):
        assert not pattern.match(other), other


async def test_an_agency_provisioned_while_the_gate_runs_is_heard(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await provision(settings, ["pln"])
    with running("status_gate", settings, tmp_path) as gate:
        await produce(as_principal(settings, agency_user(settings, "pln")),
                      agency_status_topic_name("pln"), [status("pln")])
        first = await consume(settings, CLAIMS, expected=1, quiet_s=0.5)
        await provision(settings, ["kemensos"])  # a new agency joins
        await produce(as_principal(settings, agency_user(settings, "kemensos")),
                      agency_status_topic_name("kemensos"), [status("kemensos")])
        both = await consume(settings, CLAIMS, expected=2, timeout_s=60, quiet_s=0.5)
    passed = [StatusEvent.model_validate_json(r.value) for r in both]
    assert len(first) == 1
    assert sorted((s.event_id, s.agency_id) for s in passed) == [
        ("kemensos-ack", "kemensos"), ("pln-ack", "pln")]
    assert "status_claimed" in logged_events(gate.log_text())
    assert "worker_ready" in gate.log_text()


STATUSES_PER_AGENCY = 150


def numbered_status(agency: str, n: int) -> tuple[bytes, bytes]:
    cid = "LPR-7K2QX9M4TD5W"
    body = {"event_id": f"{agency}-{n}", "complaint_id": cid, "status": "in_progress",
            "at": "2026-03-02T09:15:00+07:00"}
    return cid.encode(), json.dumps(body).encode()


async def test_agencies_provisioned_one_after_another_under_traffic_stop_no_gate(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    # What the demo does: statuses flow while agencies are provisioned one by one, so the
    # gate's pattern subscription rebalances again and again in the middle of its batches.
    # A commit refused by a rebalance once stopped the gate (IllegalStateError).
    settings = isolated(broker_settings)
    await provision(settings, ["pln"])
    newcomers = ["kemensos", "kpk", "kemenkes", "komdigi", "kemendes", "ombudsman",
                 "kemenpan-rb", "kemendikdasmen", "bpjs-ketenagakerjaan", "pemda-32-73"]
    with running("status_gate", settings, tmp_path) as gate:
        pln = AIOKafkaProducer(**aiokafka_options(as_principal(settings, agency_user(settings, "pln"))),
                               acks="all")
        await pln.start()
        sent = 0
        try:
            for agency in newcomers:
                await provision(settings, [agency])
                await produce(as_principal(settings, agency_user(settings, agency)),
                              agency_status_topic_name(agency), [numbered_status(agency, 0)])
                for _ in range(STATUSES_PER_AGENCY):  # PLN's traffic goes on through the rebalance
                    key, value = numbered_status("pln", sent)
                    await pln.send_and_wait(settings.topic(agency_status_topic_name("pln")), value, key=key)
                    sent += 1
        finally:
            await pln.stop()
        expected = sent + len(newcomers)
        # Proven by the gate's own progress, not by a time: its group has committed every
        # status topic to its end (a newcomer's topic only once the rebalance gave it one).
        topics = [agency_status_topic_name(a) for a in ["pln", *newcomers]]
        await until_committed_to_end(settings, f"{settings.topic_prefix}lapor-status_gate", topics, gate)
        passed = await consume(settings, CLAIMS, expected=expected, timeout_s=90, quiet_s=0.5)
        assert gate.proc.poll() is None, gate.log_text()[-3000:]  # still running
    ids = {StatusEvent.model_validate_json(r.value).event_id for r in passed}
    assert ids == {f"pln-{n}" for n in range(sent)} | {f"{a}-0" for a in newcomers}
    assert "Kafka error" not in gate.log_text()


async def until_committed_to_end(settings: Settings, group: str, topics: list[str],
                                 gate: WorkerProcess, bound_s: float = 300) -> None:
    """Until `group` has committed each (one-partition) topic to its end offset; fails with
    what is missing if that takes more than `bound_s` (a bound, not a wait)."""
    parts = [TopicPartition(settings.topic(t), 0) for t in topics]
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None)
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await consumer.start()
    await admin.start()
    try:
        ends = await consumer.end_offsets(parts)
        deadline = asyncio.get_running_loop().time() + bound_s
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            behind = {tp.topic: (committed[tp].offset if tp in committed else None, end)
                      for tp, end in ends.items() if tp not in committed or committed[tp].offset < end}
            if not behind:
                return
            assert gate.proc.poll() is None, gate.log_text()[-3000:]
            assert asyncio.get_running_loop().time() < deadline, f"the gate is behind on {behind}"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
        await consumer.stop()


async def _written(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(settings.topic(topic), p) for p in range(settings.partitions)]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


async def test_a_killed_gate_loses_no_status_and_repeats_only_the_same_ids(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await provision(settings, ["pln"])
    n = 20_000
    producer = AIOKafkaProducer(**aiokafka_options(as_principal(settings, agency_user(settings, "pln"))),
                                acks="all", linger_ms=20)
    await producer.start()
    try:
        for i in range(n):
            body = {"event_id": f"st-{i}", "complaint_id": "LPR-7K2QX9M4TD5W", "status": "in_progress",
                    "at": "2026-03-02T09:15:00+07:00"}
            await producer.send(settings.topic(agency_status_topic_name("pln")), json.dumps(body).encode(),
                                key=b"LPR-7K2QX9M4TD5W")
        await producer.flush()
    finally:
        await producer.stop()

    gate = WorkerProcess("status_gate", settings, tmp_path / "gate-1.log")
    try:
        while (seen := await _written(settings, CLAIMS)) == 0:
            await asyncio.sleep(0.05)
        gate.kill()  # SIGKILL between batches or in the middle of one
    finally:
        gate.stop()
    assert seen < n, "the gate finished before the kill: the test proves nothing"
    with running("status_gate", settings, tmp_path, name="gate-2"):
        records = await consume(settings, CLAIMS, expected=n, timeout_s=120, quiet_s=2)
    ids = [StatusEvent.model_validate_json(r.value).event_id for r in records]
    assert set(ids) == {f"st-{i}" for i in range(n)}  # none lost, none invented
    assert len(ids) - n <= 2 * broker_settings.batch_max  # repeats: at most the batch in flight
