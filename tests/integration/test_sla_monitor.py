"""The SLA monitor worker on the real broker: a complaint's whole life, a re-route, replay
through fresh state, and a SIGKILL in the middle of many due escalations."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from schemas import Escalation, StatusEvent
from services.runtime.settings import Settings
from services.runtime.kafka_client import aiokafka_options
from services.ticker.ticker import publish_tick
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.sla_scenario import (
    LIFE, LIFE_CLOSED_AT, LIFE_ESCALATIONS, LIFE_LOG, REROUTE_ESCALATIONS, REROUTE_LOG, Step,
    accepted, routed, run_in_memory, tick,
)
from tests.workers import running


def contract(got: list[Escalation]) -> list[Escalation]:
    """The contract clocks' escalations (an agency with units has its admin's internal
    clocks too, #34: tests/integration/test_sla_units.py)."""
    return [e for e in got if e.target.value != "agency_admin"]


def fired(log: list[Step]) -> int:
    """How many escalations the log gives (the in-memory double's count, internal included)."""
    return sum(isinstance(o.event, Escalation) for o in run_in_memory(log, lateness_minutes=0))


def exact(settings: Settings) -> Settings:
    """No allowed lateness: LIFE_LOG and REROUTE_LOG tick at the moments themselves."""
    return settings.model_copy(update={"sla_allowed_lateness_minutes": 0.0})


async def play(settings: Settings, log: list[Step], pause_s: float = 1.0) -> None:
    """Publish a log in order. Ticks are watermarks: each waits until the events before it
    have been read (the ticker's lag does this in live use)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        for topic, key, value in log:
            if topic == "sla.ticks.v1":
                await asyncio.sleep(pause_s)
                from schemas import Tick

                await publish_tick(producer, settings.topic(topic), Tick.model_validate(value).as_of)
            else:
                await producer.send_and_wait(settings.topic(topic), json.dumps(value).encode(),
                                             key=key.encode() if key else None)
    finally:
        await producer.stop()


async def publish_in_bulk(settings: Settings, log: list[Step]) -> None:
    """The log's accepted complaints, then its routing decisions, each topic in one go (no
    ticks: those are played one by one)."""
    for topic in ("complaints.accepted.v1", "complaints.routed.v1"):
        await produce(settings, topic, [(k.encode(), json.dumps(v).encode())
                                        for t, k, v in log if t == topic and k])


async def escalations(settings: Settings, expected: int, timeout_s: float = 60) -> list[Escalation]:
    records = await consume(settings, "sla.escalations.v1", expected=expected, timeout_s=timeout_s)
    return [Escalation.model_validate_json(r.value) for r in records]


async def wait_until_running(settings: Settings) -> None:
    """The worker is up once a probe complaint's tick produced its escalation."""
    probe = "LPR-ZZZZZZZZZZZ9"
    await play(settings, [accepted(probe, "2026-01-05T09:00:00+07:00"),
                          routed(probe, "pln", "2026-01-05T09:00:00+07:00")], pause_s=0)
    for hour in range(60):  # a tick every 2 s (event time moves an hour each) until it answers
        await play(settings, [tick(f"2026-01-08T{hour // 60:02d}:{hour % 60:02d}:00+07:00")], pause_s=0)
        if await consume(settings, "sla.escalations.v1", expected=1, timeout_s=2, quiet_s=0):
            return
    raise AssertionError("the SLA worker did not answer a tick within 2 minutes")


async def tick_until(settings: Settings, expected: int, start: str, timeout_s: float = 150):  # type: ignore[no-untyped-def]
    """Tick every 2 s (a minute of event time each) until `expected` escalations are there;
    then prove that nothing more is coming before reading them all: a marker complaint on
    every partition, due long ago, fires at the next tick there. The worker handles a
    partition's ticks in order and awaits each batch's acks, so once every marker's
    escalation is read, whatever the earlier ticks made has been written. The markers'
    escalations are left out of what is returned."""
    from datetime import datetime, timedelta

    from services.runtime.memory import partition_for
    from services.runtime.topic_read import read_to_end

    base = datetime.fromisoformat(start)
    deadline = asyncio.get_running_loop().time() + timeout_s
    minute = 0

    async def next_tick() -> None:
        nonlocal minute
        minute += 1
        await play(settings, [tick((base + timedelta(minutes=minute)).isoformat())], pause_s=0)

    while True:
        await next_tick()
        records = await consume(settings, "sla.escalations.v1", expected=expected, timeout_s=2, quiet_s=0)
        if len(records) >= expected or asyncio.get_running_loop().time() > deadline:
            break
    markers: dict[int, str] = {}
    for n in range(1000):  # one marker complaint id per partition
        cid = f"LPR-MARK{n:07d}Q"
        markers.setdefault(partition_for(cid.encode(), settings.partitions), cid)
        if len(markers) == settings.partitions:
            break
    long_ago = (base - timedelta(days=60)).isoformat()
    await play(settings, [step for cid in markers.values()
                          for step in (accepted(cid, long_ago), routed(cid, "pln", long_ago))], pause_s=0)
    while True:
        await next_tick()
        # Read to the topic's end (a 2-second read of thousands of escalations may stop short
        # of the markers, which come last).
        seen = {Escalation.model_validate_json(r.value or b"").complaint_id
                for r in await read_to_end(settings, "sla.escalations.v1")}
        if set(markers.values()) <= seen:
            break
        assert asyncio.get_running_loop().time() < deadline + 60, "the markers did not fire"
    return [r for r in await read_to_end(settings, "sla.escalations.v1")
            if Escalation.model_validate_json(r.value or b"").complaint_id not in markers.values()]


async def run_log(settings: Settings, log: list[Step], expected: int, log_dir: Path,
                  name: str) -> list[Escalation]:
    await create_contract_topics(settings)
    with running("sla_monitor", settings, log_dir, name=name):
        await wait_until_running(settings)
        await play(settings, log)
        return [e for e in await escalations(settings, expected=1 + expected)
                if e.complaint_id != "LPR-ZZZZZZZZZZZ9"]


async def test_reroute_on_the_broker(broker_settings: Settings, tmp_path: Path) -> None:
    got = await run_log(exact(isolated(broker_settings)), REROUTE_LOG, fired(REROUTE_LOG), tmp_path, "sla")
    assert [(e.agency_id, e.clock.value, e.kind.value, e.level, e.attempt, e.fire_at.isoformat())
            for e in contract(got)] == REROUTE_ESCALATIONS


async def test_whole_life_on_the_broker(broker_settings: Settings, tmp_path: Path) -> None:
    settings = exact(isolated(broker_settings))
    got = await run_log(settings, LIFE_LOG, fired(LIFE_LOG), tmp_path, "sla")
    # The auto-close goes to the status gate's input: this service may not write statuses.
    statuses = await consume(settings, "sla.closures.v1", expected=1)
    life = [(e.clock.value, e.kind.value, e.level, e.due_at.isoformat(), e.fire_at.isoformat())
            for e in contract(got)]
    assert life == LIFE_ESCALATIONS
    closed = [StatusEvent.model_validate_json(r.value) for r in statuses]
    assert [s.status.value for s in closed] == ["closed"]
    assert [(s.complaint_id, s.at.isoformat(), s.agency_id) for s in closed] == [(LIFE, LIFE_CLOSED_AT, None)]
    # The worker's output equals the in-memory double's on the same log.
    expected_ids = [o.event.escalation_id for o in run_in_memory(LIFE_LOG, lateness_minutes=0)
                    if isinstance(o.event, Escalation)]
    assert [e.escalation_id for e in got] == expected_ids


async def test_replay_through_fresh_state_gives_identical_escalations(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    streams = []
    for run in ("first", "second"):
        # fresh topics, fresh consumer group, fresh tables
        got = await run_log(exact(isolated(broker_settings)), LIFE_LOG, fired(LIFE_LOG), tmp_path, run)
        streams.append([e.model_dump(mode="json") for e in got])
    assert streams[0] == streams[1] and len(streams[0]) == fired(LIFE_LOG)


async def test_sigkill_mid_escalations_loses_none_and_invents_none(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    # Enough that a worker batching at full speed is still mid-run when it is killed.
    complaints = [f"LPR-{i:011d}X" for i in range(600)]
    log: list[Step] = []
    for cid in complaints:
        log += [accepted(cid, "2026-03-02T09:00:00+07:00"), routed(cid, "pln", "2026-03-02T09:00:00+07:00")]
    late_tick = tick("2026-06-01T00:00:00+07:00")  # every level of both clocks is due: 8 each
    expected = {o.event.escalation_id for o in run_in_memory(log + [late_tick])
                if isinstance(o.event, Escalation)}
    internal = 1 if fired(log[:2] + [late_tick]) > 8 else 0  # pln's admin's verification (#34)
    assert len(expected) == (8 + internal) * len(complaints)

    with running("sla_monitor", settings, tmp_path, name="sla-1") as first:
        await wait_until_running(settings)
        await publish_in_bulk(settings, log)
        # Already reading before the tick goes out: the kill follows the first escalations.
        watcher = AIOKafkaConsumer(settings.topic("sla.escalations.v1"), **aiokafka_options(settings),
                                   auto_offset_reset="earliest", group_id=None)
        await watcher.start()
        try:
            await play(settings, [late_tick], pause_s=4)
            seen = 0
            while seen == 0:
                seen += sum(len(r) for r in (await watcher.getmany(timeout_ms=50)).values())
            first.kill()
        finally:
            await watcher.stop()
    written = await consume(settings, "sla.escalations.v1", timeout_s=10, quiet_s=2)
    assert len(written) < len(expected), "the kill must land in the middle of the run"
    with running("sla_monitor", settings, tmp_path, name="sla-2"):
        # A live ticker keeps ticking: complaints read after a tick fire at the next one.
        records = await tick_until(settings, 1 + len(expected), start=late_tick[2]["as_of"])
    ids = {Escalation.model_validate_json(r.value).escalation_id for r in records}
    probe = {Escalation.model_validate_json(r.value).escalation_id for r in records
             if Escalation.model_validate_json(r.value).complaint_id == "LPR-ZZZZZZZZZZZ9"}
    assert ids - probe == expected  # every expected id arrived, and no other id did
