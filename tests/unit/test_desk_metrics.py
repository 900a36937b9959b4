"""The desk's metrics and health on its worker web port: one series for all agency topics,
the view's size as of the scrape, and nothing else served there (the desk's pages, with
their sign-in, are on another port)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from services.desk.metrics import DeskMetrics, metrics_app
from services.runtime.topics import AGENCY_TOPIC, STATUS, TICKS, agency_topic_name
from tests.web_sites import served


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_the_desk_serves_its_counts_and_health_and_nothing_else() -> None:
    metrics = DeskMetrics()
    for topic in (agency_topic_name("pln"), agency_topic_name("bpjs-kesehatan"),
                  agency_topic_name("pln"), STATUS, TICKS):
        metrics.read(topic)
    metrics.skipped.labels("invalid").inc()
    metrics.statuses.labels("pln", "acknowledged").inc()
    held = {"complaints": 0}

    def refresh() -> None:  # as the worker's: the view's size, read at the scrape
        metrics.complaints.set(held["complaints"])

    async with served(metrics_app(metrics, refresh)) as server, aiohttp.ClientSession() as http:
        held["complaints"] = 7
        async with http.get(server.make_url("/metrics/")) as answer:
            assert answer.status == 200 and answer.content_type == "text/plain"
            got = samples(await answer.text())
        async with http.get(server.make_url("/health/")) as answer:
            assert answer.status == 200 and await answer.json() == {"status": "ok", "service": "desk"}
        for path in ("/", "/a/pln/", "/table/"):
            async with http.get(server.make_url(path)) as answer:
                assert answer.status == 404, path
    records = {labels: v for (name, labels), v in got.items() if name == "lapor_desk_records_total"}
    assert records == {(("topic", AGENCY_TOPIC),): 3, (("topic", STATUS),): 1, (("topic", TICKS),): 1}
    assert got[("lapor_desk_records_skipped_total", (("reason", "invalid"),))] == 1
    assert got[("lapor_desk_statuses_sent_total", (("agency", "pln"), ("status", "acknowledged")))] == 1
    assert got[("lapor_desk_complaints", ())] == 7
