"""A worker started before the cluster waits for it (bounded backoff), and gives up with a
clear error and a non-zero exit after LAPOR_BROKER_WAIT_S."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

from schemas import AcceptedComplaint
from services.runtime.settings import Settings
from services.tools.broker import free_port
from services.tools.access_plan import service_user
from services.tools.broker_security import secret_file, write_secret
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.workers import WorkerProcess, logged_events


@contextlib.asynccontextmanager
async def forwarder(port: int, target: str) -> AsyncIterator[None]:
    """A TCP forwarder on `port` to the real broker: the cluster 'appearing' at an address."""
    host, target_port = target.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(host, int(target_port))
        await asyncio.gather(pipe(client_r, broker_w), pipe(broker_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


async def tries_logged(worker: WorkerProcess, at_least: int, timeout_s: float = 30) -> int:
    """How many times the worker logged a try for the cluster, once it reached `at_least`."""
    for _ in range(int(timeout_s * 10)):
        tries = logged_events(worker.log_text()).count("waiting_for_broker")
        if tries >= at_least:
            return tries
        await asyncio.sleep(0.1)
    return logged_events(worker.log_text()).count("waiting_for_broker")


async def test_a_worker_waits_for_the_cluster_then_works(broker_settings: Settings,
                                                          tmp_path: Path) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    port = free_port()
    late = settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}"})
    worker = WorkerProcess("intake", late, tmp_path / "intake.log")
    try:
        # Nothing listens there yet: the worker waits and tries again (a positive marker: its
        # third try logged), it does not exit.
        assert await tries_logged(worker, 3) >= 3
        assert worker.proc.poll() is None
        async with forwarder(port, settings.bootstrap_servers):
            value = {"submission_id": "late-1", "channel": "web",
                     "submitted_at": "2026-03-02T09:15:00+07:00", "body": "Jalan rusak"}
            await produce(settings, "complaints.submitted.v1", [(b"late-1", json.dumps(value).encode())])
            accepted = await consume(settings, "complaints.accepted.v1", expected=1, timeout_s=90)
            assert [AcceptedComplaint.model_validate_json(r.value).submission_id
                    for r in accepted] == ["late-1"]
            assert "broker_reachable" in logged_events(worker.log_text())
    finally:
        worker.stop()


def test_a_worker_gives_up_after_the_limit(broker_settings: Settings, tmp_path: Path) -> None:
    nowhere = broker_settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}",
                                                 "broker_wait_s": 3.0, "access_dir": tmp_path})
    write_secret(secret_file(tmp_path, service_user(nowhere, "router")), "unused")  # nothing answers
    worker = WorkerProcess("router", nowhere, tmp_path / "router.log")
    started = time.monotonic()
    code = worker.proc.wait(60)
    log = worker.log_text()
    worker.stop()
    assert code == 2 and time.monotonic() - started < 60
    assert logged_events(log).count("waiting_for_broker") >= 2
    assert "broker_unreachable_giving_up" in logged_events(log) and "LAPOR_BROKER_WAIT_S" in log
