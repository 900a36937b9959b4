"""Deliveries a second from one bridge worker to 100 webhook agencies, one of them down.

An embedded broker, 100 registered agencies provisioned, a loopback HTTP server that verifies
every signature and answers each agency on its own path (one answers 503 throughout), the
complaints written on the agencies' topics first, then a bridge worker started as its own
principal: the figure is the deliveries to the 99 agencies that are up, divided by the time
from the worker's first delivery to its last. The down agency's complaints must still be
pending (retrying) when the others are done.

    .venv/bin/python -m bench.bridge_fanout [--per-agency 20] [--agencies 100]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import tempfile
import time
from pathlib import Path

from aiohttp import web
from aiokafka import AIOKafkaProducer

from bench.broker_session import bench_broker
from tests.ids import make_complaint_id
from services.domain.registry import load_registry
from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.topics import agency_topic_name
from services.tools.access import provision
from services.tools.broker import free_port
from tests.examples import VALID
from schemas import AgencyComplaint
from tests.workers import WorkerProcess

SECRET = b"bench-secret"


def main(agencies: int, per_agency: int) -> None:
    with bench_broker() as base:  # started outside the event loop (its start-up runs one)
        asyncio.run(run(base, agencies, per_agency))


async def run(base: Settings, agencies: int, per_agency: int) -> None:
    settings = base.model_copy(update={"topic_prefix": f"bench{int(time.time())}."})
    ids = sorted(load_registry().ids())[:agencies]
    down = ids[0]
    print(f"provisioning {len(ids)} agencies ...", flush=True)
    await provision(settings, ids)
    arrivals: dict[str, list[float]] = {a: [] for a in ids}
    bad = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal bad
        agency, body = request.match_info["agency"], await request.read()
        if agency == down:
            return web.Response(status=503)
        stamp = request.headers["X-Lapor-Timestamp"]
        mac = hmac.new(SECRET, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest("sha256=" + mac, request.headers["X-Lapor-Signature"]):
            bad += 1
            return web.Response(status=401)
        arrivals[agency].append(time.monotonic())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/a/{agency}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    folder = Path(tempfile.mkdtemp())
    (folder / "s").write_text(SECRET.decode() + "\n")
    os.chmod(folder / "s", 0o600)
    config = {"retry_base_s": 1.0, "retry_cap_s": 30.0, "agencies": {
        a: {"mode": "webhook", "endpoint": f"http://127.0.0.1:{port}/a/{a}", "secret_file": "s",
            "rate_per_s": 1000, "burst": 100} for a in ids}}
    (folder / "bridge.yaml").write_text(json.dumps(config))

    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", linger_ms=10)
    await producer.start()
    for a in ids:
        for n in range(per_agency):
            cid = make_complaint_id("web", f"{a}-{n}")
            body = {**VALID[AgencyComplaint], "event_id": f"{a}-{n}", "complaint_id": cid, "agency_id": a}
            await producer.send(settings.topic(agency_topic_name(a)), json.dumps(body).encode(), key=cid.encode())
    await producer.flush()
    await producer.stop()
    expected = (len(ids) - 1) * per_agency
    print(f"{expected + per_agency} complaints written; starting the bridge", flush=True)

    worker_settings = settings.model_copy(update={
        "bridge_file": folder / "bridge.yaml", "bridge_port": free_port(), "web_enabled": False})
    worker = WorkerProcess("bridge", worker_settings, folder / "bridge.log")
    started = time.monotonic()
    try:
        while sum(len(v) for v in arrivals.values()) < expected:
            if time.monotonic() - started > 600:
                raise SystemExit("timed out")
            if worker.proc.poll() is not None:
                raise SystemExit(f"the bridge exited: {worker.log_text()[-2000:]}")
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await runner.cleanup()
    times = sorted(t for v in arrivals.values() for t in v)
    span = times[-1] - times[0]
    slowest = max(v[-1] for a, v in arrivals.items() if a != down) - started
    print(f"agencies: {len(ids)} (1 down: {down}), complaints per agency: {per_agency}")
    print(f"delivered to the {len(ids) - 1} up: {len(times)} in {span:.2f} s "
          f"= {len(times) / span:.0f} deliveries/s (first delivery {times[0] - started:.1f} s after start)")
    print(f"last up agency done {slowest:.1f} s after start; the down agency delivered {len(arrivals[down])}; "
          f"bad signatures {bad}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agencies", type=int, default=100)
    parser.add_argument("--per-agency", type=int, default=20)
    args = parser.parse_args()
    main(args.agencies, args.per_agency)
