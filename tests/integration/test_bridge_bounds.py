"""The bridge against broken or hostile agency endpoints (#33), on real sockets: an answer is
read to 1 MiB at most, counted after decompression, and a bigger one is a refusal with its
first bytes kept; a poller that hits any error keeps polling and shows in /health/ until it
recovers; a lane whose outputs cannot be sent tries until they are (the record is done only
then) and shows meanwhile; a lane or supervised task that dies stops the lanes' run."""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import TopicPartition

from schemas import AgencyComplaint, RejectedEvent
from schemas.bridge import Open311Request
from services.bridge import app as bridge_app
from services.bridge.config import BridgeConfig, Open311Agency, parse_config
from services.bridge.delivery import Verdict
from services.bridge.http import ANSWER_KEPT, ANSWER_MAX, call, client_session
from services.bridge.inbound import SeenSignatures
from services.bridge.metrics import BridgeMetrics
from services.bridge.outbound import NotSettled, Outbound
from services.bridge.poller import Poller
from services.bridge.web import inbound_app, metrics_app
from services.runtime import lane_runtime
from services.runtime.health import Health
from services.runtime.lane_runtime import Lane, LaneRuntime, Outgoing
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.stage import Record
from services.runtime.topics import (
    BRIDGE_DELIVERIES, BRIDGE_SEEN_CALLS, BRIDGE_UNDELIVERED, OPEN311_REQUESTS, REJECTED, agency_status_topic_name,
)
from tests.ids import make_complaint_id
from tests.agency_peers import GeoReportServer, post_status, repost, until, whsec
from tests.examples import CID, VALID
from tests.web_sites import served

BOMB_INFLATED = 100 * 1024 * 1024


def gzip_bomb() -> bytes:
    """~100 KiB of gzip that inflates to 100 MiB of zeros (made a mebibyte at a time)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(BOMB_INFLATED // len(block))) + packer.flush()


def hostile_app() -> web.Application:
    bomb = gzip_bomb()

    async def bombing(_: web.Request) -> web.Response:
        return web.Response(status=503, body=bomb, headers={"Content-Encoding": "gzip"})

    async def big(_: web.Request) -> web.Response:
        return web.Response(status=200, body=b"A" * (2 * ANSWER_MAX))

    async def exact(_: web.Request) -> web.Response:
        return web.Response(status=200, body=b"B" * ANSWER_MAX)

    app = web.Application()
    app.router.add_route("*", "/bomb", bombing)
    app.router.add_route("*", "/big", big)
    app.router.add_route("*", "/exact", exact)
    return app


def webhook_config(tmp_path: Path, endpoint: str) -> BridgeConfig:
    (tmp_path / "pln.secret").write_text("secret-pln\n")
    (tmp_path / "pln.secret").chmod(0o600)
    text = json.dumps({"agencies": {"pln": {"mode": "webhook", "endpoint": endpoint,
                                            "secret_file": "pln.secret"}}})
    return parse_config(text, "bridge.yaml", {"pln"}, tmp_path)


async def test_an_answer_past_one_mebibyte_is_a_refusal_with_its_first_bytes_kept(tmp_path: Path) -> None:
    async with served(hostile_app()) as server, client_session() as session:
        tracemalloc.start()
        try:
            bomb = await call(session, "POST", str(server.make_url("/bomb")), 30)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # Read as it inflates and stopped at the bound: never the 100 MiB in memory.
        assert peak < 16 * 1024 * 1024, peak
        assert (bomb.status, bomb.too_large, bomb.verdict()) == (503, True, Verdict.refused)
        assert bomb.text == "\0" * ANSWER_KEPT
        big = await call(session, "GET", str(server.make_url("/big")), 30)
        assert (big.status, big.too_large, big.verdict()) == (200, True, Verdict.refused)
        with pytest.raises(ValueError):
            big.json()
        exact = await call(session, "GET", str(server.make_url("/exact")), 30)
        assert (exact.too_large, exact.verdict(), len(exact.text)) == (False, Verdict.delivered, ANSWER_MAX)

        # Through a delivery: dead-lettered at once (no retry reads it again), its answer named.
        config = webhook_config(tmp_path, str(server.make_url("/bomb")))
        tries: list[float] = []

        async def no_wait(s: float) -> None:
            tries.append(s)

        outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, get_logger(),
                            sleep=no_wait)
        body = {**VALID[AgencyComplaint], "agency_id": "pln"}
        outputs = await outbound.deliver("pln", Record("agency.pln.complaints.v1", 0, 7, 0.0, CID.encode(),
                                                      json.dumps(body).encode()))
        [dead] = [RejectedEvent.model_validate_json(o.value or b"") for o in outputs if o.topic == REJECTED]
        assert dead.reason == "bridge_refused" and tries == []
        assert "answer larger than 1048576 bytes" in dead.errors[0].msg


def open311_config(tmp_path: Path, endpoint: str) -> BridgeConfig:
    (tmp_path / "pemda.key").write_text("key-pemda\n")
    (tmp_path / "pemda.key").chmod(0o600)
    text = json.dumps({"agencies": {"pemda-32-73": {
        "mode": "open311", "endpoint": endpoint, "api_key_file": "pemda.key", "poll_interval_s": 0.05,
        "service_codes": {"default": "UMUM"}}}})
    return parse_config(text, "bridge.yaml", {"pemda-32-73"}, tmp_path)


async def test_a_poller_that_hits_any_error_keeps_polling_and_shows_until_it_recovers(tmp_path: Path) -> None:
    polls: list[str] = []
    sane = asyncio.Event()

    async def requests(_: web.Request) -> web.Response:
        polls.append("requests")
        if sane.is_set():
            return web.json_response([])
        # Nested past any parser's recursion limit: json.loads raises RecursionError (no
        # ValueError), which ended the agency's poller for good before.
        return web.Response(status=200, text="[" * 200_000 + "]" * 200_000,
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/georeport/v2/requests.json", requests)
    async with served(app) as server, client_session() as session:
        config = open311_config(tmp_path, str(server.make_url("/georeport/v2")))
        agency = config.agency("pemda-32-73")
        assert isinstance(agency, Open311Agency)
        state = Open311Request(agency_id="pemda-32-73", complaint_id=CID, service_request_id="7",
                               filed_at=datetime(2026, 3, 2, tzinfo=UTC))
        sent: list[Sequence[Outgoing]] = []

        async def send(items: Sequence[Outgoing]) -> None:
            sent.append(items)

        health, metrics = Health(), BridgeMetrics(config.agencies)
        poller = Poller("pemda-32-73", agency, config, session, {"k": state}, send, metrics,
                        health, get_logger())
        task = asyncio.create_task(poller.run())
        try:
            await until(lambda: (metrics.registry.get_sample_value(
                "lapor_bridge_polls_failed_total", {"agency": "pemda-32-73"}) or 0) >= 3, "three failed polls")
            assert not task.done()
            assert health.failing == {"poller:pemda-32-73": "RecursionError"}
            sane.set()
            await until(lambda: health.ok(), "the poller to recover")
            assert not task.done()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class FlakySend:
    """The lane's output send, failing with a Kafka time-out until `allow` is set."""

    def __init__(self) -> None:
        self.allow = asyncio.Event()
        self.failures = 0
        self.sent: list[Sequence[Outgoing]] = []

    async def __call__(self, items: Sequence[Outgoing]) -> None:
        if not self.allow.is_set():
            self.failures += 1
            raise KafkaTimeoutError()
        self.sent.append(items)


async def test_a_lane_whose_outputs_cannot_be_sent_tries_until_they_are_and_shows_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lane_runtime, "SEND_RETRY_BASE_S", 0.001)
    dead = Outgoing(REJECTED, b"k", b"dead letter")

    async def deliver(_: str, __: Record) -> list[Outgoing]:
        return [dead]

    lanes = LaneRuntime(Settings(), "g", lambda _: "pln", "^x$", deliver)
    flaky = FlakySend()
    lanes.send = flaky  # type: ignore[method-assign]
    tp = TopicPartition("agency.pln.complaints.v1", 0)
    lane = lanes.lanes["pln"] = Lane("pln")
    lane.put((tp, 0, Record(tp.topic, 0, 41, 0.0, b"k", b"v")))
    worker = asyncio.create_task(lanes._work(lane))
    try:
        await until(lambda: flaky.failures >= 3, "three failed sends")
        assert lanes.health.failing == {"lane:pln": "KafkaTimeoutError"}
        assert tp not in lanes._done and not worker.done()  # not done until sent, lane alive
        flaky.allow.set()
        await until(lambda: tp in lanes._done, "the record to be done")
        assert lanes._done[tp] == 42 and flaky.sent == [[dead]] and lanes.health.ok()
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


class IdleConsumer:
    """A consumer with nothing to fetch: the lanes' run loop turns over and over."""

    def __init__(self) -> None:
        self.fetches = 0

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        self.fetches += 1
        await asyncio.sleep(0.01)
        return {}

    def assignment(self) -> set[TopicPartition]:
        return set()


async def test_a_supervised_task_that_dies_stops_the_lanes_run() -> None:
    async def deliver(_: str, __: Record) -> list[Outgoing]:
        return []

    lanes = LaneRuntime(Settings(), "g", lambda _: "pln", "^x$", deliver)
    consumer = lanes.consumer = IdleConsumer()
    crashed = asyncio.Event()

    async def poller() -> None:
        await crashed.wait()
        raise RecursionError("nested")

    lanes.supervise(asyncio.create_task(poller(), name="poller:pemda"))
    running = asyncio.create_task(lanes.run(asyncio.Event()))
    await until(lambda: consumer.fetches >= 3, "the run loop to turn")
    assert not running.done()  # runs while everything it supervises does
    crashed.set()
    with pytest.raises(RuntimeError, match="poller:pemda") as ended:
        await asyncio.wait_for(running, 60)
    assert isinstance(ended.value.__cause__, RecursionError)


async def test_health_and_metrics_name_a_part_that_cannot_make_progress() -> None:
    health, metrics = Health(), BridgeMetrics({"pln"})
    async with served(metrics_app(metrics, lambda: None, health)) as server, aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/health/")) as ok:
            assert ok.status == 200 and (await ok.json())["status"] == "ok"
        assert health.failed("lane:pln", KafkaTimeoutError())
        async with http.get(server.make_url("/health/")) as failing:
            assert failing.status == 503
            assert (await failing.json())["failing"] == {"lane:pln": "KafkaTimeoutError"}
        async with http.get(server.make_url("/metrics/")) as scrape:
            assert 'lapor_bridge_failing{part="lane:pln"} 1.0' in await scrape.text()
        assert health.recovered("lane:pln")
        async with http.get(server.make_url("/health/")) as again:
            assert again.status == 200
        async with http.get(server.make_url("/metrics/")) as scrape:
            assert "lane:pln" not in await scrape.text()


async def test_a_delivery_report_that_cannot_be_sent_is_sent_once_it_can(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setattr(bridge_app, "REPORT_EVERY_S", 0.01)

    async def deliver(_: str, __: Record) -> list[Outgoing]:
        return []

    config = webhook_config(tmp_path, "http://127.0.0.1:9/in")
    lanes = LaneRuntime(Settings(), "g", lambda _: "pln", "^x$", deliver)
    flaky = FlakySend()
    lanes.send = flaky  # type: ignore[method-assign]
    reporter = asyncio.create_task(bridge_app.report_deliveries(
        config, lanes, BridgeMetrics(config.agencies), get_logger()))
    try:
        await until(lambda: flaky.failures >= 3, "three failed reports")
        assert lanes.health.failing == {"reporter": "KafkaTimeoutError"} and not reporter.done()
        flaky.allow.set()
        await until(lambda: bool(flaky.sent), "the report to be sent")
        [[report]] = flaky.sent
        assert (report.topic, report.key) == (BRIDGE_DELIVERIES, b"pln")
        await until(lambda: lanes.health.ok(), "the reporter to recover")
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)


async def test_a_complaint_never_taken_is_given_up_after_its_time_and_tried_once_at_least(tmp_path: Path) -> None:
    refusing = web.Application()
    calls: list[float] = []
    clock = [1_780_000_000.0]

    async def unavailable(_: web.Request) -> web.Response:
        calls.append(clock[0])
        return web.Response(status=503, text="maintenance")

    refusing.router.add_post("/in", unavailable)
    async with served(refusing) as server, client_session() as session:
        config = webhook_config(tmp_path, str(server.make_url("/in")))
        agency = config.agency("pln")
        agency.give_up_after_s = 3600
        agency.burst = 100  # no wait for the rate limit (its clock is the real one)

        async def ten_minutes_pass(_: float) -> None:
            clock[0] += 600

        metrics = BridgeMetrics(config.agencies)
        outbound = Outbound(config, session, metrics, {}, get_logger(), sleep=ten_minutes_pass,
                            clock=lambda: clock[0])
        body = json.dumps({**VALID[AgencyComplaint], "agency_id": "pln"}).encode()
        fresh = Record("agency.pln.complaints.v1", 0, 7, clock[0], CID.encode(), body)
        outputs = await outbound.deliver("pln", fresh)
        [dead] = [RejectedEvent.model_validate_json(o.value or b"") for o in outputs if o.topic == REJECTED]
        assert dead.reason == "bridge_gave_up" and "HTTP 503" in dead.errors[0].msg
        assert len(calls) == 7 and calls[-1] - calls[0] == 3600  # tried until the hour was up
        assert metrics.total("gave_up", "pln") == 1

        # A complaint already older than that when first read (the bridge itself was down):
        # tried once all the same before it is given up.
        calls.clear()
        old = Record("agency.pln.complaints.v1", 0, 8, clock[0] - 2 * 86_400, CID.encode(), body)
        [dead] = [RejectedEvent.model_validate_json(o.value or b"")
                  for o in await outbound.deliver("pln", old) if o.topic == REJECTED]
        assert dead.reason == "bridge_gave_up" and len(calls) == 1

        # An operator's redelivery does not give up: it tries its number of times.
        calls.clear()
        redelivery = Outbound(config, session, metrics, {}, get_logger(), sleep=ten_minutes_pass,
                              clock=lambda: clock[0], max_tries=3, gives_up=False)
        with pytest.raises(NotSettled):
            await redelivery.deliver("pln", old)
        assert len(calls) == 3


async def test_an_endpoint_gone_is_disabled_with_its_complaint_held(tmp_path: Path) -> None:
    gone = web.Application()
    calls: list[str] = []

    async def answer_gone(request: web.Request) -> web.Response:
        calls.append(request.headers.get("webhook-id", ""))
        return web.Response(status=410, text="this endpoint was retired")

    gone.router.add_post("/in", answer_gone)
    async with served(gone) as server, client_session() as session:
        config = webhook_config(tmp_path, str(server.make_url("/in")))
        metrics, health = BridgeMetrics(config.agencies), Health()
        outbound = Outbound(config, session, metrics, {}, get_logger(), health=health)
        body = json.dumps({**VALID[AgencyComplaint], "agency_id": "pln"}).encode()
        record = Record("agency.pln.complaints.v1", 0, 7, time.time(), CID.encode(), body)
        delivery = asyncio.create_task(outbound.deliver("pln", record))
        try:
            await until(lambda: not health.ok(), "the endpoint to be disabled")
            assert health.failing == {"endpoint:pln": "EndpointGone"}
            assert metrics.registry.get_sample_value("lapor_bridge_disabled", {"agency": "pln"}) == 1
            # Held: neither done nor dead-lettered, and the endpoint is not called again.
            assert not delivery.done() and len(calls) == 1
            assert metrics.total("refused", "pln") == 0
        finally:
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)
        # An operator's redelivery is told at once, and holds nothing.
        redelivery = Outbound(config, session, metrics, {}, get_logger(), max_tries=3, gives_up=False)
        with pytest.raises(NotSettled, match="410 Gone"):
            await redelivery.deliver("pln", record)
        assert len(calls) == 2


async def test_an_open311_complaint_is_filed_once_whatever_became_of_an_earlier_post(tmp_path: Path) -> None:
    """A POST the server took but answered too late, and a kill between the server's answer
    and the state write (the bridge restarts with only the intent): the complaint is looked
    up on the server before it is posted again, and filed once."""
    server = await GeoReportServer("key-bandung", slow_posts=1, slow_s=3.0).start()
    try:
        (tmp_path / "bandung.key").write_text("key-bandung\n")
        (tmp_path / "bandung.key").chmod(0o600)
        text = json.dumps({"retry_base_s": 0.05, "retry_cap_s": 0.1, "agencies": {"pemda-32-73": {
            "mode": "open311", "endpoint": server.url, "api_key_file": "bandung.key", "timeout_s": 0.5,
            "service_codes": {"default": "UMUM"}}}})
        config = parse_config(text, "bridge.yaml", {"pemda-32-73"}, tmp_path)
        written: list[Outgoing] = []

        async def send(items: Sequence[Outgoing]) -> None:
            written.extend(items)

        def deliverer(states: dict[str, Open311Request]) -> Outbound:
            return Outbound(config, session, BridgeMetrics(config.agencies), states, get_logger(), send=send)

        def record(n: int) -> Record:
            body = {**VALID[AgencyComplaint], "agency_id": "pemda-32-73", "event_id": f"ag-{n}",
                    "complaint_id": make_complaint_id("web", f"bandung-{n}")}
            return Record("agency.pemda-32-73.complaints.v1", 0, n, time.time(), b"k", json.dumps(body).encode())

        def intent_only(n: int) -> dict[str, Open311Request]:
            """What a restarted bridge reads when only the intent was written (a minute ago)."""
            cid = make_complaint_id("web", f"bandung-{n}")
            return {f"pemda-32-73|{cid}": Open311Request(
                agency_id="pemda-32-73", complaint_id=cid, posting=True,
                filed_at=datetime.now(UTC) - timedelta(minutes=1))}

        def states_of(outputs: list[Outgoing]) -> list[Open311Request]:
            return [Open311Request.model_validate_json(o.value) for o in outputs
                    if o.topic == OPEN311_REQUESTS and o.value is not None]

        async with client_session() as session:
            # 1. The first POST times out after the server filed it: found, not filed again.
            outputs = await deliverer({}).deliver("pemda-32-73", record(1))
            assert len(server.forms) == 1
            [intent] = states_of(written)
            assert intent.posting and intent.service_request_id is None  # written before the POST
            [filed] = states_of(outputs)
            assert (filed.service_request_id, filed.posting) == ("1001", False)

            # 2. Filed, then killed before the state write: the restarted bridge has the intent.
            await deliverer({}).deliver("pemda-32-73", record(2))
            assert len(server.forms) == 2
            outputs = await deliverer(intent_only(2)).deliver("pemda-32-73", record(2))
            assert len(server.forms) == 2
            assert [s.service_request_id for s in states_of(outputs)] == ["1002"]

            # 3. An intent whose POST never reached the server: looked up, not found, posted once.
            outputs = await deliverer(intent_only(3)).deliver("pemda-32-73", record(3))
            assert len(server.forms) == 3
            assert [s.service_request_id for s in states_of(outputs)] == ["1003"]

            # 4. A POST refused for good (a service code the server does not offer): nothing
            # was filed, so the intent ends (a tombstone) beside the dead letter.
            server.services = ("JALAN",)
            states: dict[str, Open311Request] = {}
            outputs = await deliverer(states).deliver("pemda-32-73", record(4))
            cid = make_complaint_id("web", "bandung-4")
            assert [(o.topic, o.key, o.value) for o in outputs if o.topic == OPEN311_REQUESTS] == [
                (OPEN311_REQUESTS, f"pemda-32-73|{cid}".encode(), None)]
            assert states == {} and any(o.topic == REJECTED for o in outputs)

            # 5. A POST filed but unanswered, a lookup that cannot see it yet, and a second
            # POST refused: the first may be real, so the intent stays (to be looked up
            # again by a redelivery) beside the dead letter.
            server.services, server.slow_posts = ("JALAN", "UMUM"), 1
            server.lookups_blind, server.refuse_posts_after = True, len(server.requests) + 1
            states = {}
            outputs = await deliverer(states).deliver("pemda-32-73", record(5))
            cid = make_complaint_id("web", "bandung-5")
            assert len(server.forms) == 6  # 4 before, then the unanswered one and the refused one
            assert [o for o in outputs if o.topic == OPEN311_REQUESTS] == []
            assert states[f"pemda-32-73|{cid}"].posting and any(o.topic == REJECTED for o in outputs)
    finally:
        await server.stop()


async def test_a_status_not_passed_on_is_answered_503_and_its_retry_passes(tmp_path: Path) -> None:
    secret = whsec("pln")
    (tmp_path / "pln.secret").write_text(secret + "\n")
    (tmp_path / "pln.secret").chmod(0o600)
    text = json.dumps({"agencies": {"pln": {"mode": "webhook", "endpoint": "https://crm.pln.example/in",
                                            "secret_file": "pln.secret"}}})
    config = parse_config(text, "bridge.yaml", {"pln"}, tmp_path)
    flaky = FlakySend()
    seen = SeenSignatures(config.file.replay_window_s)
    async with served(inbound_app(config, flaky, BridgeMetrics(config.agencies), get_logger(), seen)) as bridge:
        status = {"event_id": "pln-ack-1", "complaint_id": CID, "status": "acknowledged",
                  "at": "2026-03-02T10:00:00+07:00"}
        code, answer, raw, headers = await post_status(str(bridge.make_url("")).rstrip("/"), "pln",
                                                       status, secret)
        assert (code, flaky.failures, flaky.sent) == (503, 1, [])  # Kafka failed: not passed on
        flaky.allow.set()
        retry = await repost(str(bridge.make_url("")).rstrip("/"), "pln", raw, headers)
        assert (retry[0], retry[1]) == (202, {"accepted": "pln-ack-1"})
        # The status, then its entry in the replay cache every bridge worker follows.
        assert [[o.topic for o in batch] for batch in flaky.sent] == [[agency_status_topic_name("pln")],
                                                                     [BRIDGE_SEEN_CALLS]]
        replay = await repost(str(bridge.make_url("")).rstrip("/"), "pln", raw, headers)
        assert (replay[0], replay[1]) == (400, {"error": "replayed"})  # once it passed, a replay


async def test_an_answer_in_a_charset_no_codec_knows_is_read_as_utf8() -> None:
    async def odd(_: web.Request) -> web.Response:
        return web.Response(status=200, body="diterima \u2713".encode(),
                            headers={"Content-Type": "text/plain; charset=bogus"})

    app = web.Application()
    app.router.add_post("/in", odd)
    async with served(app) as server, client_session() as session:
        answer = await call(session, "POST", str(server.make_url("/in")), 10)
        assert (answer.status, answer.text, answer.verdict()) == (200, "diterima \u2713", Verdict.delivered)
