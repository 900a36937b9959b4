"""Lacak as its own stage on the real broker: a complaint goes through intake, the router and
the status gate, PLN acknowledges it on its own status topic, and the lacak worker (running
as svc-lacak, which reads the routings and the judged statuses only) shows the reporter its
progress by a loosely typed tracking id, with the agency's name and never the complaint's
text, the reporter or the note. Behind the trusted proxy each forwarded client has its own
budget and all of them one together; lookups wait on lacak's metrics, not on its budget."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from services.runtime.settings import Settings
from services.runtime.topics import ROUTED, STATUS, SUBMITTED, agency_status_topic_name
from services.tools.broker import free_port
from tests.harness import harness
from tests.ids import make_complaint_id
from tests.workers import running

pytestmark = pytest.mark.broker
REPORTER = {"name": "Rahmat Hidayat", "phone": "+6281398765432", "nik": "3273011203870005"}
BODY = "Token listrik PLN tidak masuk sejak kemarin"


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"
        await asyncio.sleep(0.5)


async def records_read(metrics_url: str, topic: str) -> float:
    """What lacak's /metrics/ says it read of `topic` (0 while it is not answering)."""
    try:
        async with aiohttp.ClientSession() as http, http.get(metrics_url) as answer:
            text = await answer.text()
    except aiohttp.ClientError:
        return 0
    found = re.search(rf'^lapor_lacak_records_total\{{topic="{re.escape(topic)}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0


async def lookup(url: str, client: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, \
            http.get(url, headers={"X-Forwarded-For": client}) as answer:
        return answer.status, await answer.text()


async def test_a_complaint_through_the_pipeline_is_found_on_lacak_with_budgets_per_client(
    request: pytest.FixtureRequest, broker_settings: Settings, tmp_path: Path,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    cid = make_complaint_id("web", "lacak-e2e")
    lacak_port, web_port = free_port(), free_port()
    async with harness(request, "broker", ["intake", "router", "status_gate"], tmp_path, agencies=("pln",),
                       lacak_port=lacak_port, trusted_proxies="127.0.0.1", lacak_per_minute=3,
                       lacak_global_per_minute=6) as h:
        with running("lacak", h.settings.model_copy(update={"web_enabled": True}), tmp_path,
                     web_port=web_port) as worker:
            metrics = f"http://127.0.0.1:{web_port}/metrics/"
            await h.publish(SUBMITTED, [(b"lacak-e2e", json.dumps({
                "submission_id": "lacak-e2e", "channel": "web", "submitted_at": now.isoformat(),
                "body": BODY, "privacy": "anonymous", "reporter": REPORTER}).encode())])

            async def routed() -> bool:
                return await records_read(metrics, ROUTED) >= 1
            await eventually(routed, "lacak read the routing")
            await h.publish(agency_status_topic_name("pln"), [(cid.encode(), json.dumps({
                "event_id": "pln-ack-lacak", "complaint_id": cid, "status": "acknowledged",
                "at": now.isoformat(), "note": "Petugas Budi akan menghubungi Bapak Rahmat"}).encode())])

            async def judged() -> bool:
                return await records_read(metrics, STATUS) >= 1
            await eventually(judged, "lacak read the judged status")

            # One lookup, by the id as a reporter may type it: the steps and PLN's name.
            api = f"http://127.0.0.1:{lacak_port}/api/lacak/"
            status, body = await lookup(api + cid.lower().replace("-", " "), "198.51.100.1")
            assert status == 200, body
            shown = json.loads(body)
            assert shown["complaint_id"] == cid and shown["closed"] is False
            assert [(s["step"], s.get("agency_name")) for s in shown["steps"]] == [
                ("received", None), ("forwarded", "PT PLN (Persero)"), ("acknowledged", "PT PLN (Persero)")]
            for hidden in ("Token", "Rahmat", "6281398765432", "3273011203870005", "Budi"):
                assert hidden not in body

            # Two clients behind the proxy: one walking ids runs out of its own budget (3) ...
            walker = [(await lookup(api + make_complaint_id("web", f"walk-{n}"), "203.0.113.7"))[0]
                      for n in range(4)]
            assert walker == [404, 404, 404, 429]
            # ... the others are still answered, and all of them share one: 6 a minute (the
            # walker's refused lookup spent none of it).
            assert [(await lookup(api + cid, c))[0] for c in ("203.0.113.8", "203.0.113.9")] == [200, 200]
            assert (await lookup(api + cid, "2001:db8:1:2::1"))[0] == 429  # everyone's is spent
            assert "lapor_lacak_lookups_total{status=\"429\"} 2.0" in await _text(metrics)
        log = worker.log_text()  # stopped (SIGTERM) as compose stops it: gracefully
    assert worker.proc.returncode == 0 and "worker_stopped" in log
    assert "worker_ready" in log and "record_skipped" not in log and "Traceback" not in log
    for hidden in ("Rahmat", "6281398765432", "Budi", "Token"):
        assert hidden not in log


async def _text(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        return await answer.text()
