"""The bridge's exits for the stuck and its memory shared by every worker, in process against
HTTP servers the tests run: an operator's skip ends a complaint an endpoint never takes (at
once, not after the retry wait) and marks it for the agency's desk; an enable lets a disabled
endpoint's held complaint go; a refusal and a give-up are marked too; a redelivery that gets
one in ends its mark; a record whose partition moved to another worker is let go before its
next try, and the revocation waits for a call in flight; the replay cache and the Open311
intents are shared through the followed topics."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiokafka.structs import TopicPartition

from schemas import AgencyComplaint, RejectedEvent
from schemas.bridge import BridgeCommand, BridgeSeenCall, BridgeUndelivered, Open311Request
from services.bridge.config import BridgeConfig, Open311Agency, parse_config
from services.bridge.http import client_session
from services.bridge.inbound import Accepted, SeenSignatures, accept_status, seen_call_key
from services.bridge.metrics import BridgeMetrics
from services.bridge.outbound import Outbound
from services.bridge.poller import Poller
from services.bridge.shared import SharedMemory
from services.bridge.signing import signed_headers
from services.runtime.health import Health
from services.runtime.lane_runtime import Abandoned, LaneRuntime, Outgoing
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.stage import Record
from services.runtime.topic_read import TopicRecord
from services.runtime.topics import (
    BRIDGE_CONTROL, BRIDGE_SEEN_CALLS, BRIDGE_UNDELIVERED, OPEN311_REQUESTS, REJECTED,
)
from tests.agency_peers import GeoReportServer, until, whsec
from tests.examples import CID, VALID
from tests.web_sites import served

BODY = json.dumps({**VALID[AgencyComplaint], "agency_id": "pln"}).encode()
KEY = f"pln|{CID}".encode()


def config_for(tmp_path: Path, endpoint: str, agency: dict[str, Any] | None = None,
               **more: Any) -> BridgeConfig:
    (tmp_path / "pln.secret").write_text(whsec("pln") + "\n")
    (tmp_path / "pln.secret").chmod(0o600)
    text = json.dumps({"retry_base_s": 3600, "retry_cap_s": 3600, **more, "agencies": {"pln": {
        "mode": "webhook", "endpoint": endpoint, "secret_file": "pln.secret", **(agency or {})}}})
    return parse_config(text, "bridge.yaml", {"pln"}, tmp_path)


def pemda_config(tmp_path: Path, endpoint: str, **more: Any) -> BridgeConfig:
    """Kota Bandung's GeoReport server, with its api_key in a 0600 file."""
    (tmp_path / "pemda.key").write_text("key-pemda\n")
    (tmp_path / "pemda.key").chmod(0o600)
    text = json.dumps({"agencies": {"pemda-32-73": {
        "mode": "open311", "endpoint": endpoint, "api_key_file": "pemda.key", **more,
        "service_codes": {"default": "UMUM"}}}})
    return parse_config(text, "bridge.yaml", {"pemda-32-73"}, tmp_path)


def record(offset: int = 7) -> Record:
    return Record("agency.pln.complaints.v1", 0, offset, time.time(), CID.encode(), BODY)


def command(offset: int, action: str, complaint_id: str | None = None) -> TopicRecord:
    key = "pln" if complaint_id is None else f"pln|{complaint_id}"
    body = BridgeCommand(action=action, agency_id="pln", complaint_id=complaint_id,
                         at=datetime.now(UTC), by="lapor-admin")
    return TopicRecord(BRIDGE_CONTROL, 0, offset, 0, key.encode(), body.to_bytes())


def marks(outputs: list[Outgoing]) -> list[BridgeUndelivered]:
    return [BridgeUndelivered.model_validate_json(o.value or b"") for o in outputs
            if o.topic == BRIDGE_UNDELIVERED and o.key == KEY]


def dead(outputs: list[Outgoing]) -> list[str]:
    return [RejectedEvent.model_validate_json(o.value or b"").reason for o in outputs if o.topic == REJECTED]


def answering(*codes: int) -> tuple[web.Application, list[int]]:
    """An endpoint answering these codes in turn (the last one from then on)."""
    app, calls = web.Application(), []

    async def handle(_: web.Request) -> web.Response:
        calls.append(1)
        return web.Response(status=codes[min(len(calls), len(codes)) - 1], text="x")

    app.router.add_post("/in", handle)
    return app, calls


async def test_a_skipped_complaint_goes_no_further_at_once_and_is_marked_for_the_desk(tmp_path: Path) -> None:
    app, calls = answering(503)
    async with served(app) as server, client_session() as session:
        config = config_for(tmp_path, str(server.make_url("/in")))
        memory, metrics = SharedMemory(), BridgeMetrics(config.agencies)
        outbound = Outbound(config, session, metrics, memory.states, get_logger(), control=memory)
        memory.changed = outbound.wake
        delivery = asyncio.create_task(outbound.deliver("pln", record()))
        await until(lambda: len(calls) == 1, "the first try")
        assert not delivery.done()  # an hour's wait before the next try
        memory.apply(command(0, "skip", CID))
        outputs = await asyncio.wait_for(delivery, 30)  # woken: not after the hour
        assert dead(outputs) == ["bridge_skipped"] and len(calls) == 1
        [mark] = marks(outputs)
        assert (mark.reason, mark.complaint_id, mark.http_status) == ("bridge_skipped", CID, None)
        assert metrics.total("skipped", "pln") == 1
        # Kept: the same complaint coming again (a redelivery, a repeat) is skipped untried.
        again = await outbound.deliver("pln", record(8))
        assert dead(again) == ["bridge_skipped"] and len(calls) == 1
        # A skip taken back (a tombstone): it is tried again.
        memory.apply(TopicRecord(BRIDGE_CONTROL, 0, 1, 0, KEY, None))
        assert not memory.skipped("pln", CID)


async def test_an_enable_lets_a_disabled_endpoints_held_complaint_go(tmp_path: Path) -> None:
    app, calls = answering(410, 200)
    async with served(app) as server, client_session() as session:
        config = config_for(tmp_path, str(server.make_url("/in")))
        memory, metrics, health = SharedMemory(), BridgeMetrics(config.agencies), Health()
        memory.apply(command(0, "enable"))  # an older enable (read at start) changes nothing
        outbound = Outbound(config, session, metrics, memory.states, get_logger(), health=health,
                            control=memory)
        memory.changed = outbound.wake
        delivery = asyncio.create_task(outbound.deliver("pln", record()))
        await until(lambda: not health.ok(), "the endpoint to be disabled")
        memory.apply(command(0, "enable"))  # the same record again (a repeat): still held
        assert memory.enable_mark("pln") == 0
        # The marker: the lane woken and back in its wait (it clears its wake-up once it has
        # looked at the enables again), so the absence below is after the repeat was seen.
        outbound.wake("pln")
        await until(lambda: not outbound._wakeups["pln"].is_set(), "the lane to look again")
        assert not delivery.done() and len(calls) == 1
        memory.apply(command(1, "enable"))
        outputs = await asyncio.wait_for(delivery, 30)
        assert outputs == [] and len(calls) == 2 and health.ok()
        assert metrics.registry.get_sample_value("lapor_bridge_disabled", {"agency": "pln"}) == 0
        assert metrics.total("delivered", "pln") == 1


async def test_a_refusal_and_a_give_up_are_marked_and_a_redelivery_ends_the_mark(tmp_path: Path) -> None:
    app, _ = answering(400)
    async with served(app) as server, client_session() as session:
        config = config_for(tmp_path, str(server.make_url("/in")))
        outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger())
        outputs = await outbound.deliver("pln", record())
        assert dead(outputs) == ["bridge_refused"]
        assert [(m.reason, m.http_status, m.event_id) for m in marks(outputs)] == [
            ("bridge_refused", 400, VALID[AgencyComplaint]["event_id"])]
    app, _ = answering(503)
    async with served(app) as server, client_session() as session:
        config = config_for(tmp_path, str(server.make_url("/in")), agency={"give_up_after_s": 60})

        async def an_hour_passes(_: float) -> None:
            clock[0] += 3600

        clock = [time.time()]
        outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger(),
                            sleep=an_hour_passes, clock=lambda: clock[0])
        outputs = await outbound.deliver("pln", record())
        assert [(m.reason, m.http_status) for m in marks(outputs)] == [("bridge_gave_up", 503)]
    app, _ = answering(200)
    async with served(app) as server, client_session() as session:
        config = config_for(tmp_path, str(server.make_url("/in")))
        worker = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger())
        assert await worker.deliver("pln", record()) == []
        redelivery = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger(),
                              max_tries=3, gives_up=False, clears_undelivered=True)
        assert await redelivery.deliver("pln", record()) == []
        marked = {KEY.decode(): json.loads(BODY)["event_id"]}
        assert redelivery.ended_marks(marked) == [Outgoing(BRIDGE_UNDELIVERED, KEY, None)]


class AssignedConsumer:
    """The lanes' consumer as far as a revocation needs it."""

    def __init__(self, *tps: TopicPartition) -> None:
        self.tps = set(tps)

    def assignment(self) -> set[TopicPartition]:
        return self.tps

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        pass


async def test_a_revoked_record_is_let_go_before_its_next_try_and_the_revocation_waits_for_the_call(
    tmp_path: Path,
) -> None:
    """Another worker takes the partition: the call under way ends before the revocation
    returns (so the new owner never calls while this one does), no further try is made, and
    the record is not counted done (the new owner delivers it)."""
    answer_now, calls = asyncio.Event(), []
    app = web.Application()

    async def slow_503(_: web.Request) -> web.Response:
        calls.append(1)
        await answer_now.wait()
        return web.Response(status=503)

    app.router.add_post("/in", slow_503)
    tp = TopicPartition("agency.pln.complaints.v1", 0)
    async with served(app) as server, client_session() as session:
        config = config_for(tmp_path, str(server.make_url("/in")), retry_base_s=0.01, retry_cap_s=0.01)
        outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger())
        lanes = LaneRuntime(Settings(), "g", lambda _: "pln", "^x$", outbound.deliver)
        lanes.consumer = AssignedConsumer(tp)  # (what it uses of one)
        outbound.holds, lanes.wake = lanes.holds, outbound.wake
        lanes._hand_out(tp, [SimpleNamespace(partition=0, offset=7, timestamp=time.time() * 1000,
                                             key=CID.encode(), value=BODY)])
        await until(lambda: len(calls) == 1, "the call under way")
        revoking = asyncio.create_task(lanes.on_partitions_revoked([tp]))
        # The marker: the revocation has woken the lane, so it is past its commit and waiting.
        await until(lambda: "pln" in outbound._wakeups and outbound._wakeups["pln"].is_set(),
                    "the revocation to wake the lane")
        assert not revoking.done()  # waits for the call in flight
        answer_now.set()
        await asyncio.wait_for(revoking, 30)
        await until(lambda: lanes.lanes["pln"].idle.is_set(), "the lane to let it go")
        assert len(calls) == 1 and tp not in lanes._done  # no next try, not done
        for task in lanes._tasks:
            task.cancel()
        await asyncio.gather(*lanes._tasks, return_exceptions=True)


def library_headers(config: BridgeConfig, body: bytes, msg_id: str, at: int) -> dict[str, str]:
    return signed_headers(config.keys["pln"], config.secrets["pln"], at, body, msg_id)


async def test_a_call_accepted_by_one_worker_is_a_replay_at_another_and_after_a_restart(tmp_path: Path) -> None:
    config = config_for(tmp_path, "https://crm.pln.example/in")
    status = json.dumps({"event_id": "pln-ack-1", "complaint_id": CID, "status": "acknowledged",
                         "at": "2026-03-02T10:00:00+07:00"}).encode()
    now = time.time()
    headers = library_headers(config, status, "msg-1", int(now))
    first, second = SeenSignatures(300), SeenSignatures(300)
    accepted = accept_status(config, "pln", headers, status, now, first)
    assert isinstance(accepted, Accepted)
    # What the first worker sent with the status, as the second (or a restarted one) reads it.
    second_memory = SharedMemory(seen=second)
    for key in accepted.replay_keys:
        entry = BridgeSeenCall(agency_id="pln", seen_at=datetime.fromtimestamp(now, UTC))
        second_memory.apply(TopicRecord(BRIDGE_SEEN_CALLS, 0, 0, 0, key.encode(), entry.to_bytes()))
    assert accepted.replay_keys[0] == seen_call_key("pln", "id|msg-1")  # (and the deprecated signature)
    again = accept_status(config, "pln", headers, status, now + 2, second)
    assert not isinstance(again, Accepted) and again.reason == "replayed"
    # An entry older than twice the window is past: nothing a replay could still pass.
    old = SharedMemory(seen=SeenSignatures(300))
    entry = BridgeSeenCall(agency_id="pln", seen_at=datetime.fromtimestamp(now - 700, UTC))
    old.apply(TopicRecord(BRIDGE_SEEN_CALLS, 0, 0, 0, b"pln|x", entry.to_bytes()))
    assert old.seen.first_time("pln|y", now) and old.seen.first_time("pln|x", now)


def test_the_followed_open311_states_track_the_topic_and_a_bad_record_is_counted() -> None:
    memory = SharedMemory(open311_agencies=frozenset({"pemda-32-73"}))
    intent = Open311Request(agency_id="pemda-32-73", complaint_id=CID, posting=True,
                            filed_at=datetime.now(UTC))
    key = f"pemda-32-73|{CID}".encode()
    memory.apply(TopicRecord(OPEN311_REQUESTS, 0, 0, 0, key, intent.to_bytes()))
    assert memory.states[key.decode()].posting  # another worker's intent: look before filing
    other = intent.model_copy(update={"agency_id": "pln"})
    memory.apply(TopicRecord(OPEN311_REQUESTS, 0, 1, 0, f"pln|{CID}".encode(), other.to_bytes()))
    assert list(memory.states) == [key.decode()]  # not an Open311 agency here
    filed = intent.model_copy(update={"posting": False, "service_request_id": "1001",
                                      "filed_at": intent.filed_at + timedelta(seconds=1)})
    memory.states[key.decode()] = filed  # this worker's own, kept at once
    memory.apply(TopicRecord(OPEN311_REQUESTS, 0, 5, 0, key, intent.to_bytes()))  # read back late
    assert memory.states[key.decode()] == filed
    memory.apply(TopicRecord(OPEN311_REQUESTS, 0, 2, 0, key, None))
    assert memory.states == {}
    memory.apply(TopicRecord(BRIDGE_CONTROL, 0, 3, 0, b"pln", b"{not json"))
    memory.apply(TopicRecord(BRIDGE_CONTROL, 0, 4, 0, None, b"{}"))
    assert memory.unreadable == 2 and memory.enable_mark("pln") == -1


async def test_only_the_worker_holding_the_agencys_first_partition_polls(tmp_path: Path) -> None:
    """With two bridge workers each request is polled once: the one holding partition 0 of
    the agency's topic polls; the other polls nothing until it takes that partition over."""
    server = await GeoReportServer("key-pemda").start()
    gets = server.polled
    try:
        config = pemda_config(tmp_path, server.url, poll_interval_s=0.05)
        agency = config.agency("pemda-32-73")
        assert isinstance(agency, Open311Agency)
        def state(request_id: str) -> dict[str, Open311Request]:
            return {"k": Open311Request(agency_id="pemda-32-73", complaint_id=CID,
                                        service_request_id=request_id, filed_at=datetime.now(UTC))}

        held = [False, True]  # the first worker does not hold partition 0; the second does
        metrics = [BridgeMetrics(config.agencies), BridgeMetrics(config.agencies)]
        async with client_session() as session:
            async def send(_: Any) -> None:
                pass

            # Each worker's view names a different request here, to tell their polls apart.
            pollers = [Poller("pemda-32-73", agency, config, session, state(str(7 + i)), send, metrics[i],
                              Health(), get_logger(), polls=partial(held.__getitem__, i)) for i in (0, 1)]
            tasks = [asyncio.create_task(p.run()) for p in pollers]
            try:
                await until(lambda: len(gets) >= 5, "the second worker's polls")
                assert set(gets) == {"8"}
                assert [m.registry.get_sample_value("lapor_bridge_polling", {"agency": "pemda-32-73"})
                        for m in metrics] == [0, 1]
                held[:] = [True, False]  # partition 0 moved (a rebalance)
                await until(lambda: gets[-5:] == ["7"] * 5, "the first worker's polls")
                assert [m.registry.get_sample_value("lapor_bridge_polling", {"agency": "pemda-32-73"})
                        for m in metrics] == [1, 0]
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        assert set(gets) == {"7", "8"}
    finally:
        await server.stop()


async def test_records_of_partitions_taken_over_wait_until_the_shared_memory_is_read() -> None:
    """A worker assigned partitions delivers none of their records before it has read what
    their former owner wrote (its Open311 states): it would file again what that one filed."""
    delivered: list[int] = []

    async def deliver(_: str, record: Record) -> list[Outgoing]:
        delivered.append(record.offset)
        return []

    tp = TopicPartition("agency.pemda-32-73.complaints.v1", 0)
    lanes = LaneRuntime(Settings(), "g", lambda _: "pemda-32-73", "^x$", deliver)
    lanes.consumer = AssignedConsumer(tp)  # (what it uses of one)
    read, reading = asyncio.Event(), asyncio.Event()

    async def read_what_others_wrote() -> None:
        reading.set()
        await read.wait()

    lanes.before_assigned = read_what_others_wrote
    assigning = asyncio.create_task(lanes.on_partitions_assigned([tp]))
    await reading.wait()
    lanes._hand_out(tp, [SimpleNamespace(partition=0, offset=3, timestamp=time.time() * 1000,
                                         key=CID.encode(), value=BODY)])
    await until(lambda: not lanes.lanes["pemda-32-73"].queue, "the lane to take the record")
    assert delivered == []  # taken, and waiting
    read.set()
    await asyncio.wait_for(assigning, 30)
    await until(lambda: delivered == [3], "the record delivered once the memory is read")
    for task in lanes._tasks:
        task.cancel()
    await asyncio.gather(*lanes._tasks, return_exceptions=True)


def gated(*answers: int) -> tuple[web.Application, list[int], asyncio.Event, asyncio.Event]:
    """An endpoint whose calls wait for `release` (`arrived` set while one waits), answering
    `answers` in turn (the last from then on)."""
    app, calls, arrived, release = web.Application(), [], asyncio.Event(), asyncio.Event()

    async def handle(_: web.Request) -> web.Response:
        calls.append(1)
        arrived.set()
        await release.wait()
        return web.Response(status=answers[min(len(calls), len(answers)) - 1])

    app.router.add_post("/in", handle)
    return app, calls, arrived, release


async def test_a_skip_or_an_enable_that_comes_during_a_call_is_not_lost(tmp_path: Path) -> None:
    app, calls, arrived, release = gated(503)
    async with served(app) as server, client_session() as session:
        config = config_for(tmp_path, str(server.make_url("/in")))
        memory = SharedMemory()
        outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger(), control=memory)
        memory.changed = outbound.wake
        delivery = asyncio.create_task(outbound.deliver("pln", record()))
        await arrived.wait()
        memory.apply(command(0, "skip", CID))  # while the call is under way
        release.set()
        outputs = await asyncio.wait_for(delivery, 30)  # not after the hour's backoff
        assert dead(outputs) == ["bridge_skipped"] and len(calls) == 1
    app, calls, arrived, release = gated(410, 200)
    async with served(app) as server, client_session() as session:
        config = config_for(tmp_path, str(server.make_url("/in")))
        memory, health = SharedMemory(), Health()
        outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger(),
                            control=memory, health=health)
        memory.changed = outbound.wake
        delivery = asyncio.create_task(outbound.deliver("pln", record()))
        await arrived.wait()
        memory.apply(command(0, "enable"))  # the agency is back before its 410 arrives
        release.set()
        assert await asyncio.wait_for(delivery, 30) == [] and len(calls) == 2 and health.ok()


async def test_an_open311_complaint_revoked_during_its_intent_write_is_not_posted(tmp_path: Path) -> None:
    server = await GeoReportServer("key-pemda").start()
    try:
        config = pemda_config(tmp_path, server.url)
        held = [True]

        async def intent_written_then_revoked(_: Any) -> None:
            held[0] = False  # the rebalance came while the intent was being written

        async with client_session() as session:
            outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger(),
                                send=intent_written_then_revoked, holds=lambda _: held[0])
            body = json.dumps({**VALID[AgencyComplaint], "agency_id": "pemda-32-73"}).encode()
            with pytest.raises(Abandoned):
                await outbound.deliver("pemda-32-73", Record("agency.pemda-32-73.complaints.v1", 0, 1,
                                                             time.time(), CID.encode(), body))
        assert server.forms == []  # the new owner looks it up and files it; this one posted nothing
    finally:
        await server.stop()


async def test_the_gate_stays_shut_until_the_shared_memory_is_read_however_often_that_fails() -> None:
    delivered: list[int] = []

    async def deliver(_: str, record: Record) -> list[Outgoing]:
        delivered.append(record.offset)
        return []

    tp = TopicPartition("agency.pemda-32-73.complaints.v1", 0)
    lanes = LaneRuntime(Settings(), "g", lambda _: "pemda-32-73", "^x$", deliver)
    lanes.consumer = AssignedConsumer(tp)  # (what it uses of one)
    tries, may_succeed = [0], asyncio.Event()

    async def flaky_sync() -> None:
        tries[0] += 1
        if not may_succeed.is_set():
            raise ConnectionError("the broker is away")

    lanes.before_assigned = flaky_sync
    await lanes.on_partitions_assigned([tp])
    lanes._hand_out(tp, [SimpleNamespace(partition=0, offset=5, timestamp=time.time() * 1000,
                                         key=CID.encode(), value=BODY)])
    await until(lambda: tries[0] >= 2, "the sync tried again")
    assert delivered == [] and lanes.health.failing == {"before_assigned": "ConnectionError"}
    may_succeed.set()
    await until(lambda: delivered == [5], "the record delivered once the memory is read")
    assert lanes.health.ok()
    for task in lanes._tasks:
        task.cancel()
    await asyncio.gather(*lanes._tasks, return_exceptions=True)


async def test_a_poller_taking_over_reads_updates_from_the_oldest_request_not_from_a_stale_intent(
    tmp_path: Path,
) -> None:
    """An intent kept for a complaint given up 40 days ago has no updates: a poller that
    takes over reads from the oldest real request's last update, not from the intent (40
    days of a busy server's updates is an answer too large to read, every poll)."""
    server = await GeoReportServer("key-pemda").start()
    try:
        config = pemda_config(tmp_path, server.url, updates="servicerequestupdates")
        agency = config.agency("pemda-32-73")
        assert isinstance(agency, Open311Agency)
        now = datetime.now(UTC)
        states = {
            "a": Open311Request(agency_id="pemda-32-73", complaint_id=CID, posting=True,
                                filed_at=now - timedelta(days=40)),
            "b": Open311Request(agency_id="pemda-32-73", complaint_id=CID, service_request_id="1001",
                                filed_at=now - timedelta(days=3), last_update_at=now - timedelta(days=1)),
            "c": Open311Request(agency_id="pemda-32-73", complaint_id=CID, service_request_id="1002",
                                filed_at=now - timedelta(hours=2))}

        async def send(_: Any) -> None:
            pass

        async with client_session() as session:
            poller = Poller("pemda-32-73", agency, config, session, states, send,
                            BridgeMetrics(config.agencies), Health(), get_logger())
            await poller.poll_once(now)
        [start] = server.update_windows
        assert now - timedelta(days=1, minutes=6) < start <= now - timedelta(days=1)
    finally:
        await server.stop()


async def test_an_open311_answer_that_cannot_be_read_is_dead_lettered_and_marked_for_the_desk(
    tmp_path: Path,
) -> None:
    app = web.Application()

    async def garbled(_: web.Request) -> web.Response:
        return web.Response(status=201, text="<html>ok</html>")

    app.router.add_post("/georeport/v2/requests.json", garbled)
    async with served(app) as server, client_session() as session:
        config = pemda_config(tmp_path, str(server.make_url("/georeport/v2")))
        outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger())
        body = json.dumps({**VALID[AgencyComplaint], "agency_id": "pemda-32-73"}).encode()
        outputs = await outbound.deliver("pemda-32-73", Record("agency.pemda-32-73.complaints.v1", 0, 1,
                                                               time.time(), CID.encode(), body))
        assert dead(outputs) == ["open311_bad_answer"]
        [mark] = [BridgeUndelivered.model_validate_json(o.value or b"") for o in outputs
                  if o.topic == BRIDGE_UNDELIVERED]
        assert (mark.agency_id, mark.reason, mark.http_status) == ("pemda-32-73", "bridge_refused", 201)
