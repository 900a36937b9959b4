"""A running worker serves its Prometheus metrics at /metrics/ on its web port."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from services.runtime.settings import Settings
from services.tools.broker import free_port
from tests.examples import CID, VALID
from schemas import AcceptedComplaint
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.workers import running


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_the_intake_worker_exports_its_metrics(broker_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    settings = isolated(broker_settings).model_copy(update={"web_enabled": True, "web_port": port})
    await create_contract_topics(settings)
    good = json.dumps({"submission_id": "p-1", "channel": "web",
                       "submitted_at": "2026-03-02T09:15:00+07:00", "body": "Jalan rusak"}).encode()
    with running("intake", settings, tmp_path):
        await produce(settings, "complaints.submitted.v1", [(b"p-1", good), (b"bad", b"[1]")])
        await consume(settings, "complaints.rejected.v1", expected=1, timeout_s=60)
        await asyncio.sleep(1)
        got = await asyncio.to_thread(scrape, port)
    intake = ("stage", "intake")
    assert got[("lapor_records_in_total", (intake, ("topic", "complaints.submitted.v1")))] == 2
    assert got[("lapor_handled_total", (("event", "accepted"), intake))] == 1
    assert got[("lapor_dead_letters_total", (("reason", "not_an_object"), intake))] == 1
    assert got[("lapor_batch_seconds_count", (intake,))] >= 1
    lags = [v for (name, labels), v in got.items() if name == "lapor_consumer_lag"]
    assert lags and all(v == 0 for v in lags)  # caught up


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def test_a_worker_serves_metrics_and_health_only_and_stops_without_a_crash(
        broker_settings: Settings, tmp_path: Path) -> None:
    """The router keeps reporter identities in its holdings table: its web port must not
    show tables (faust's `/table/` views) or anything else but metrics and health. A
    SIGTERM, as `podman stop` sends, ends it cleanly: no agent logged as crashed."""
    port = free_port()
    settings = isolated(broker_settings).model_copy(update={"web_enabled": True, "web_port": port})
    await create_contract_topics(settings)
    accepted = json.dumps({**VALID[AcceptedComplaint], "privacy": "public",
                           "reporter": {"name": "Siti", "phone": "+6281234567890"}}).encode()
    with running("router", settings, tmp_path) as router:
        await produce(settings, "complaints.accepted.v1", [(CID.encode(), accepted)])
        await consume(settings, "complaints.routed.v1", expected=1, timeout_s=60)
        # The holding exists now (the routed event is written after it is staged).
        assert await asyncio.to_thread(http_status, port, "/health/") == 200
        assert await asyncio.to_thread(http_status, port, "/metrics/") == 200
        for path in ("/table/", "/table/holdings/", f"/table/holdings/{CID}/", "/router/",
                     "/graph/", "/stats/"):
            assert await asyncio.to_thread(http_status, port, path) == 404, path
        router.stop()  # SIGTERM
        assert router.proc.returncode == 0
    log = router.log_text()
    assert "worker_batch" in log or "routed" in log  # it did work before it stopped
    assert "Crashed" not in log and "Traceback" not in log, log[-3000:]
