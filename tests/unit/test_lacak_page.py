"""The public tracking page (lacak, its own worker: services/lacak) over a real socket: progress by a loosely typed id,
clear answers to a wrong or unknown id, the security headers on every answer, only its own
host names, GET only, and a request budget per client address (ids cannot be walked)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout

from tests.ids import make_complaint_id
from services.domain.registry import load_registry
from services.lacak.metrics import LacakMetrics, metrics_app
from services.lacak.view import TrackingView, apply_record
from services.lacak.web import LacakSite
from services.runtime.topics import ROUTED, STATUS
from services.web.forwarded import trusted_networks
from services.web.site import SECURITY_HEADERS
from services.runtime.settings import Settings
from tests.web_sites import served

CID = make_complaint_id("sms", "m-77")


def timelines() -> dict[str, Any]:
    """Lacak's view of one complaint, from the records it reads."""
    view = TrackingView(closed_days=30)
    for topic, value in (
            (ROUTED, {"event_id": "r1", "complaint_id": CID, "agency_id": "pln", "role": "primary",
                      "rule_id": "pln", "reason": "keywords", "attempt": 1,
                      "routed_at": "2026-03-02T09:15:00+07:00"}),
            (STATUS, {"event_id": "s1", "complaint_id": CID, "status": "responded", "agency_id": "pln",
                      "at": "2026-03-04T10:00:00+07:00", "note": "Sudah diperbaiki"})):
        assert apply_record(view, topic, json.dumps(value).encode()) is None
    return view.timelines


TIMELINES = timelines()


@pytest.fixture
async def lacak() -> AsyncIterator[str]:
    site = LacakSite(TIMELINES, load_registry(None), Settings().lacak_hosts(), per_minute=6)
    async with served(site.app()) as server:
        yield f"http://127.0.0.1:{server.port}"


async def call(url: str, method: str = "GET", host: str | None = None) -> tuple[int, dict[str, str], str]:
    async with ClientSession(timeout=ClientTimeout(total=10)) as session:
        async with session.request(method, url, headers={"Host": host} if host else {}) as answer:
            return answer.status, dict(answer.headers), await answer.text()


async def test_progress_by_a_loosely_typed_id_and_clear_refusals(lacak: str) -> None:
    typed = CID.lower().replace("-", " ").replace("0", "o")
    status, headers, body = await call(f"{lacak}/api/lacak/{typed}")
    assert status == 200, body
    assert f'"complaint_id": "{CID}"' in body and '"step": "responded"' in body
    assert '"step": "received"' in body and "Sudah diperbaiki" not in body
    assert '"agency_name": "PT PLN (Persero)"' in body and "keywords" not in body
    for header, value in SECURITY_HEADERS.items():
        assert headers[header] == value
    status, _, body = await call(f"{lacak}/api/lacak/{CID[:-1]}{'A' if CID[-1] != 'A' else 'B'}")
    assert status == 400 and "check character" in body
    status, _, body = await call(f"{lacak}/api/lacak/{make_complaint_id('web', 'never')}")
    assert status == 404 and "no such complaint" in body
    status, _, body = await call(f"{lacak}/lacak")
    assert status == 200 and 'src="/static/lacak.js"' in body and 'href="/static/lacak.css"' in body
    assert (await call(f"{lacak}/static/lacak.css"))[0] == 200
    assert (await call(f"{lacak}/static/index.html"))[0] == 404  # the operations page is not here
    assert (await call(f"{lacak}/api/lacak/{CID}", method="POST"))[0] == 405
    assert (await call(f"{lacak}/api/lacak/{CID}", host="evil.example"))[0] == 421


async def test_a_client_that_walks_ids_is_slowed_down(lacak: str) -> None:
    answers = [(await call(f"{lacak}/api/lacak/{make_complaint_id('web', str(n))}"))[0] for n in range(8)]
    assert answers[:6] == [404] * 6 and answers[6:] == [429, 429]
    status, headers, body = await call(f"{lacak}/api/lacak/{CID}")
    assert status == 429 and headers["Retry-After"] == "10" and "terlalu banyak" in body


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget_and_all_share_one() -> None:
    site = LacakSite(TIMELINES, load_registry(None), Settings().lacak_hosts(), per_minute=2,
                     global_per_minute=7, proxies=trusted_networks("127.0.0.1"))
    async with served(site.app()) as server:
        url = f"http://127.0.0.1:{server.port}/api/lacak/{CID}"

        async def asked_by(client: str) -> int:
            async with ClientSession(timeout=ClientTimeout(total=10)) as session:
                async with session.get(url, headers={"X-Forwarded-For": client}) as answer:
                    return answer.status

        # Each client its own budget (the proxy's address is not the client's) ...
        assert [await asked_by("203.0.113.7") for _ in range(3)] == [200, 200, 429]
        assert [await asked_by("203.0.113.8") for _ in range(2)] == [200, 200]
        # ... an IPv6 client's whole /64 one budget (6 served so far of everyone's 7) ...
        assert [await asked_by(f"2001:db8:1:2::{n}") for n in (1, 2, 3)] == [200, 200, 429]
        # ... and everyone's together: the seventh served of this minute was the last.
        assert [await asked_by("198.51.100.1"), await asked_by("198.51.100.2")] == [200, 429]


async def test_the_worker_port_serves_health_and_metrics_never_the_page() -> None:
    metrics = LacakMetrics()
    metrics.lookups.labels("429").inc()
    async with served(metrics_app(metrics, lambda: metrics.complaints.set(len(TIMELINES)))) as server:
        base = f"http://127.0.0.1:{server.port}"
        status, _, body = await call(f"{base}/health/")
        assert status == 200 and '"service": "lacak"' in body
        status, _, body = await call(f"{base}/metrics/")
        assert status == 200 and "lapor_lacak_complaints 1.0" in body
        assert 'lapor_lacak_lookups_total{status="429"} 1.0' in body
        assert (await call(f"{base}/lacak"))[0] == 404 and (await call(f"{base}/api/lacak/{CID}"))[0] == 404
