"""Bridge workers as processes on the real broker: two of them file every Open311 complaint
once through a rebalance and one of them polls; a call accepted by one is a replay at the
other and after a restart; a bridge SIGKILLed between the server's answer and its state
write files nothing twice; an operator skips a stuck complaint and enables a disabled
endpoint with `lapor bridge`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import RejectedEvent
from schemas.bridge import BridgeUndelivered, Open311Request
from tests.ids import make_complaint_id
from services.runtime.settings import Settings
from services.runtime.topic_follow import AssignedFollower
from services.runtime.topic_read import read_to_end
from services.runtime.topics import (
    BRIDGE_UNDELIVERED, OPEN311_REQUESTS, REJECTED, agency_topic_name,
)
from services.tools.broker import free_port
from tests.agency_peers import GeoReportServer, WebhookReceiver, post_status, repost, until, whsec
from tests.integration.test_bridge_delivery import complaint, lapor, metrics, secret
from tests.kafka_helpers import create_contract_topics, isolated, produce
from tests.workers import WorkerProcess

pytestmark = pytest.mark.broker

PEMDA = "pemda-32-73"


def bridge_file(tmp_path: Path, georeport: str, pln: str = "http://127.0.0.1:9/in") -> Path:
    (tmp_path / "pemda.key").write_text("key-pemda\n")
    (tmp_path / "pemda.key").chmod(0o600)
    path = tmp_path / "bridge.yaml"
    path.write_text(json.dumps({"retry_base_s": 0.2, "retry_cap_s": 1.0, "agencies": {
        "pln": {"mode": "webhook", "endpoint": pln, "secret_file": secret(tmp_path, "pln"),
                "rate_per_s": 50, "burst": 50},
        PEMDA: {"mode": "open311", "endpoint": georeport, "api_key_file": "pemda.key",
                "poll_interval_s": 0.5, "default_address": "Balai Kota Bandung",
                "service_codes": {"default": "UMUM"}}}}))
    return path


def worker(settings: Settings, log: Path) -> tuple[WorkerProcess, int, str]:
    """A bridge worker with its own inbound and web ports."""
    web, inbound = free_port(), free_port()
    own = settings.model_copy(update={"bridge_port": inbound, "web_enabled": True, "web_port": web})
    process = WorkerProcess("bridge", own, log)
    return process, web, f"http://127.0.0.1:{inbound}"


def scrape(port: int) -> dict[str, float]:
    try:
        return metrics(port)
    except OSError:  # not serving yet
        return {}


def described(server: GeoReportServer) -> list[str]:
    return [f["description"].split("]")[0].removeprefix("[LAPOR! ") for f in server.forms]


async def filed_states(settings: Settings) -> dict[str, Open311Request]:
    last: dict[str, bytes | None] = {}
    for r in await read_to_end(settings, OPEN311_REQUESTS):
        last[(r.key or b"").decode()] = r.value
    return {k: Open311Request.model_validate_json(v) for k, v in last.items() if v is not None}


async def test_two_workers_file_each_complaint_once_poll_once_and_share_the_replay_cache(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    # Each POST is in transit a while before the server files it: a rebalance mid-POST is
    # where a second worker, unaware, would file the same complaint again.
    server = await GeoReportServer("key-pemda", post_delay_s=0.4).start()
    settings = isolated(broker_settings).model_copy(update={"bridge_file": bridge_file(tmp_path, server.url)})
    await create_contract_topics(settings, ["pln", PEMDA])
    n = 16
    await produce(settings, agency_topic_name(PEMDA), [complaint(PEMDA, i) for i in range(1, n + 1)])
    first, web1, inbound1 = worker(settings, tmp_path / "bridge-1.log")
    second = None
    try:
        await until(lambda: len(server.forms) >= 3, "the first worker's first filings")
        second, web2, inbound2 = worker(settings, tmp_path / "bridge-2.log")
        await until(lambda: len(server.requests) == n, "every complaint filed", timeout_s=120)
        await until(lambda: "worker_ready" in second.log_text(), "the second worker ready")
        cids = sorted(make_complaint_id("web", f"{PEMDA}-{i}") for i in range(1, n + 1))
        assert sorted(described(server)) == cids  # each POSTed once: none filed twice
        # Each request is polled by one worker: the one that holds partition 0 of the topic.
        polling = f'lapor_bridge_polling{{agency="{PEMDA}"}}'
        await until(lambda: sorted([scrape(web1).get(polling, -1), scrape(web2).get(polling, -1)]) == [0, 1],
                    "one poller between the two workers")

        # A status call accepted by the first worker is a replay at the second.
        status = {"event_id": "pln-ack-1", "complaint_id": make_complaint_id("web", "pln-1"),
                  "status": "acknowledged", "at": "2026-03-02T10:00:00+07:00"}
        code, _, raw, headers = await post_status(inbound1, "pln", status, whsec("pln"))
        assert code == 202
        remembered = "lapor_bridge_calls_remembered"
        await until(lambda: scrape(web2).get(remembered, 0) >= 1, "the second worker to know the call")
        assert (await repost(inbound2, "pln", raw, headers))[:2] == (400, {"error": "replayed"})
    finally:
        first.stop()
        if second is not None:
            second.stop()
    # And at a worker started afresh (it reads the cache before it answers).
    third, _, inbound3 = worker(settings, tmp_path / "bridge-3.log")
    try:
        await until(lambda: "worker_ready" in third.log_text(), "the restarted worker")
        assert (await repost(inbound3, "pln", raw, headers))[:2] == (400, {"error": "replayed"})
    finally:
        third.stop()
        await server.stop()
    assert len(server.forms) == n


async def test_a_bridge_killed_between_the_servers_answer_and_its_state_write_files_once(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    """SIGKILL right after the server filed the request, before its answer reaches the
    bridge: the restarted bridge finds its intent, looks the complaint up and files nothing
    again."""
    server = await GeoReportServer("key-pemda").start()
    settings = isolated(broker_settings).model_copy(update={"bridge_file": bridge_file(tmp_path, server.url)})
    await create_contract_topics(settings, ["pln", PEMDA])
    first, _, _ = worker(settings, tmp_path / "bridge-1.log")

    def kill_the_bridge(_: object) -> None:
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(30)
        server.on_filed = None

    server.on_filed = kill_the_bridge
    await produce(settings, agency_topic_name(PEMDA), [complaint(PEMDA, 1)])
    try:
        await until(lambda: first.proc.poll() is not None, "the kill after filing")
    finally:
        first.stop()
    cid = make_complaint_id("web", f"{PEMDA}-1")
    states = await filed_states(settings)
    assert states[f"{PEMDA}|{cid}"].posting  # only the intent was written
    second, _, _ = worker(settings, tmp_path / "bridge-2.log")
    try:
        filed: dict[str, Open311Request] = {}
        for _ in range(600):
            filed = await filed_states(settings)
            if filed.get(f"{PEMDA}|{cid}") and not filed[f"{PEMDA}|{cid}"].posting:
                break
            await asyncio.sleep(0.1)
        assert filed[f"{PEMDA}|{cid}"].service_request_id == "1001"
    finally:
        second.stop()
        await server.stop()
    assert len(server.forms) == 1 and "open311_found_filed" in second.log_text()


async def test_an_operator_skips_a_stuck_complaint_and_enables_a_disabled_endpoint(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    pln = await WebhookReceiver(whsec("pln"), mode="down").start()
    georeport = await GeoReportServer("key-pemda").start()
    settings = isolated(broker_settings).model_copy(update={
        "bridge_file": bridge_file(tmp_path, georeport.url, pln=pln.url)})
    await create_contract_topics(settings, ["pln", PEMDA])
    one, two = (make_complaint_id("web", f"pln-{i}") for i in (1, 2))
    # Both on one partition, in order: the second waits behind the first.
    records: list[tuple[bytes | None, bytes]] = [complaint("pln", i) for i in (1, 2)]
    await produce(settings, agency_topic_name("pln"), records, partition=0)
    bridge, web, _ = worker(settings, tmp_path / "bridge.log")
    try:
        await until(lambda: scrape(web).get('lapor_bridge_failed_tries_total{agency="pln"}', 0) >= 2,
                    "the first complaint failing")
        done = await lapor(settings, "bridge", "skip", "pln", one, "--note", "PLN cannot take it")
        assert done.returncode == 0, done.stderr

        async def skipped() -> list[RejectedEvent]:
            return [e for e in (RejectedEvent.model_validate_json(r.value or b"")
                                for r in await read_to_end(settings, REJECTED))
                    if e.reason == "bridge_skipped"]

        for _ in range(600):
            if await skipped():
                break
            await asyncio.sleep(0.1)
        [dead] = await skipped()
        assert json.loads(dead.raw)["complaint_id"] == one
        [mark] = [BridgeUndelivered.model_validate_json(r.value or b"")
                  for r in await read_to_end(settings, BRIDGE_UNDELIVERED)]
        assert (mark.agency_id, mark.complaint_id, mark.reason) == ("pln", one, "bridge_skipped")
        # The second one comes up next: the endpoint is gone now, and it is held.
        pln.mode = "gone"
        await until(lambda: scrape(web).get('lapor_bridge_disabled{agency="pln"}') == 1, "the hold")
        pln.mode = "up"
        done = await lapor(settings, "bridge", "enable", "pln")
        assert done.returncode == 0, done.stderr
        await until(lambda: [r["complaint_id"] for r in pln.received] == [two], "the held complaint delivered")
        await until(lambda: scrape(web).get('lapor_bridge_disabled{agency="pln"}') == 0, "enabled")
        refused = await lapor(settings, "bridge", "skip", "pln")
        assert refused.returncode != 0 and "complaint id" in refused.stderr
        stray = await lapor(settings, "bridge", "enable", "pln", one)
        assert stray.returncode != 0 and "takes no complaint id" in stray.stderr
        # An operator's redelivery of both: the skip holds, the other is delivered again.
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        again = await lapor(settings, "bridge", "redeliver", "pln", "--since", since)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "2 records" in again.stdout
    finally:
        bridge.stop()
        await pln.stop()
        await georeport.stop()
    assert one not in [r["complaint_id"] for r in pln.received]
    assert len([b for b in pln.bodies if json.loads(b)["complaint_id"] == two]) >= 3  # 410, 200, again


async def test_a_bridge_worker_refuses_to_start_without_its_shared_topics(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    follower = AssignedFollower(settings, ["bridge.no-such-topic.v1"], lambda _: None)
    with pytest.raises(RuntimeError, match="does not exist"):
        await follower.run(asyncio.Event())
