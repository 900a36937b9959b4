"""A running worker serves its Prometheus metrics at /metrics/ on its web port."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from services.runtime.settings import Settings
from services.tools.broker import free_port
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
