"""Scale-out: a second worker of each service joins while complaints flow. Kafka shares the
partitions between them; no complaint or escalation is lost or delivered under two ids."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

from aiokafka import AIOKafkaProducer

from schemas import AcceptedComplaint, AgencyComplaint, Escalation, RoutedEvent
from services.tools.generator import web_submission
from services.runtime.settings import Settings
from services.runtime.kafka_client import aiokafka_options
from tests.ids import make_complaint_id
from tests.integration.test_sla_monitor import tick_until
from tests.kafka_helpers import consume, create_contract_topics, isolated
from tests.sla_scenario import Step, run_in_memory, tick
from tests.workers import logged_events, running

SUBMITTED_AT = "2026-03-02T09:15:00+07:00"  # Monday
# first_response warnings and breaches are due (passed by the allowed lateness, 10 minutes)
DUE_TICK = "2026-03-06T00:10:00+07:00"
COUNT, RATE_PER_S, JOIN_AFTER = 360, 20.0, 120
SERVICES = ("intake", "router", "sla_monitor")


def submission(i: int) -> tuple[bytes, bytes]:
    return web_submission(f"scale-{i}", i, SUBMITTED_AT)


async def publish_paced(settings: Settings, joined: asyncio.Event, stack: ExitStack,
                        log_dir: Path) -> None:
    """Publish at a steady rate; the second workers join part-way through."""
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        for i in range(COUNT):
            if i == JOIN_AFTER:
                second = [stack.enter_context(running(service, settings, log_dir, name=f"{service}-2"))
                          for service in SERVICES]
                # The rest only once every second worker is ready: on a loaded machine one
                # that took long to start found the work done (the CI run of 2026-12-05).
                deadline = asyncio.get_running_loop().time() + 300
                while not all("Worker ready" in w.log_text() for w in second):
                    assert asyncio.get_running_loop().time() < deadline, "the second workers did not start"
                    await asyncio.sleep(0.5)
                joined.set()
            key, value = submission(i)
            await producer.send_and_wait(settings.topic("complaints.submitted.v1"), value, key=key)
            await asyncio.sleep(1 / RATE_PER_S)
    finally:
        await producer.stop()


def one_id_each(pairs: list[tuple[str, str]]) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = defaultdict(set)
    for key, event_id in pairs:
        ids[key].add(event_id)
    return ids


async def test_second_workers_share_the_partitions_and_lose_nothing(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings).model_copy(update={"partitions": 4})
    await create_contract_topics(settings)
    expected = {make_complaint_id("web", f"scale-{i}") for i in range(COUNT)}
    joined = asyncio.Event()
    with ExitStack() as stack:
        for service in SERVICES:
            stack.enter_context(running(service, settings, tmp_path, name=f"{service}-1"))
        await publish_paced(settings, joined, stack, tmp_path)
        assert joined.is_set()

        accepted = [AcceptedComplaint.model_validate_json(r.value) for r in
                    await consume(settings, "complaints.accepted.v1", expected=COUNT, timeout_s=120)]
        routed = [RoutedEvent.model_validate_json(r.value) for r in
                  await consume(settings, "complaints.routed.v1", expected=COUNT, timeout_s=120)]
        agencies = sorted({r.agency_id for r in routed if r.agency_id})
        delivered = [AgencyComplaint.model_validate_json(r.value) for r in await consume(
            settings, [f"agency.{a}.complaints.v1" for a in agencies],
            expected=sum(1 for r in routed if r.agency_id), timeout_s=60)]

        # What the SLA monitor must emit, from the same events, by the in-memory double.
        log: list[Step] = [("complaints.accepted.v1", c.complaint_id, c.model_dump(mode="json"))
                           for c in accepted]
        log += [("complaints.routed.v1", r.complaint_id, r.model_dump(mode="json")) for r in routed]
        model = {o.event.escalation_id: o.event for o in run_in_memory(log + [tick(DUE_TICK)])
                 if isinstance(o.event, Escalation)}
        assert len(model) >= 2 * COUNT  # a warning and a breach of first_response at least
        records = await tick_until(settings, len(model), start=DUE_TICK)
        escalations = [Escalation.model_validate_json(r.value) for r in records]

    # Nothing lost: every complaint accepted, routed, delivered; every escalation emitted.
    assert {c.complaint_id for c in accepted} == expected
    assert {r.complaint_id for r in routed} == expected
    assert {d.complaint_id for d in delivered} == {r.complaint_id for r in routed if r.agency_id}
    assert {e.escalation_id for e in escalations} == set(model)
    # Nothing under two ids: a repeat after a rebalance carries the same id.
    assert all(len(ids) == 1 for ids in one_id_each([(c.complaint_id, c.event_id) for c in accepted]).values())
    # (A complaint with copies has one routing decision and one delivery per agency.)
    decisions = one_id_each([(f"{r.complaint_id}/{r.agency_id}/{r.role.value}/{r.attempt}", r.event_id)
                             for r in routed])
    assert all(len(ids) == 1 for ids in decisions.values())
    assert all(len(ids) == 1 for ids in one_id_each([(f"{d.complaint_id}/{d.agency_id}", d.event_id)
                                                     for d in delivered]).values())
    moments = one_id_each([(f"{e.complaint_id}/{e.clock.value}/{e.level}", e.escalation_id) for e in escalations])
    assert all(len(ids) == 1 for ids in moments.values())

    # The partitions really were shared: each second worker did part of the work.
    for service, marker in (("intake", "accepted"), ("router", "routed"),
                            ("sla_monitor", "escalation")):
        text = (tmp_path / f"{service}-2.log").read_text(errors="replace")
        assert marker in logged_events(text), f"the second {service} worker processed nothing"
        first_text = (tmp_path / f"{service}-1.log").read_text(errors="replace")
        assert marker in logged_events(first_text), f"the first {service} worker processed nothing"
