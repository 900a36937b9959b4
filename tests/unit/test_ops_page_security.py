"""The operations page's HTTP surface, hardened to OWASP ASVS level 1: it answers only the
host names it is configured for (DNS rebinding), sends its security headers on every answer,
answers every malformed parameter with a 4xx and a message, and bounds the live streams a
client may hold. Served by aiohttp's test server over a real socket, stores as dicts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiohttp import ClientSession, ClientTimeout, web
from aiohttp.http_writer import StreamWriter
from aiohttp.test_utils import make_mocked_request

from services.domain.calendar import load_calendar
from services.domain.registry import load_registry
from services.ops_view.handlers import BOARD, TIMELINES
from services.ops_view.web import OpsSite
from services.web.site import SECURITY_HEADERS, host_name
from services.runtime.settings import Settings
from tests.web_sites import served


@pytest.fixture
async def page() -> AsyncIterator[str]:
    settings = Settings()  # LAPOR_OPS_HOST 127.0.0.1: the page answers 127.0.0.1 and localhost
    site = OpsSite({BOARD: {}, TIMELINES: {}}, load_registry(None), load_calendar(None),
                   settings.ops_hosts(), streams_per_client=2)
    async with served(site.app()) as server:
        yield f"http://127.0.0.1:{server.port}"


async def get(url: str, host: str | None = None) -> tuple[int, dict[str, str], str]:
    headers = {"Host": host} if host else {}
    async with ClientSession(timeout=ClientTimeout(total=10)) as session:
        async with session.get(url, headers=headers) as answer:
            return answer.status, dict(answer.headers), await answer.text()


def test_the_default_hosts_are_the_bind_address_and_localhost() -> None:
    assert Settings().ops_hosts() == {"127.0.0.1", "localhost"}
    assert Settings(ops_host="0.0.0.0", ops_allowed_hosts="ops.lapor.go.id, 127.0.0.1").ops_hosts() \
        == {"ops.lapor.go.id", "127.0.0.1"}
    assert [host_name(h) for h in ("127.0.0.1:8070", "LOCALHOST", "[::1]:8070", "evil.example:80", "")] \
        == ["127.0.0.1", "localhost", "::1", "evil.example", None]


async def test_a_foreign_host_is_refused_and_a_known_one_served(page: str) -> None:
    for host in ("evil.example", "evil.example:8070", "127.0.0.1.evil.example"):
        status, headers, body = await get(f"{page}/api/overview", host)
        assert status == 421 and "unknown host" in body, host
        assert headers["X-Frame-Options"] == "DENY"  # refusals carry the headers too
    for known in (None, "localhost:8070"):
        status, _, body = await get(f"{page}/api/overview", known)
        assert status == 200 and '"triage"' in body, known


async def test_every_answer_carries_the_security_headers(page: str) -> None:
    for path in ("/", "/static/app.js", "/api/overview", "/api/escalations", "/api/units", "/nope",
                 "/api/timeline/LPR-XXXX"):
        _, headers, _ = await get(page + path)
        for name, value in SECURITY_HEADERS.items():
            assert headers.get(name) == value, (path, name)
    _, headers, _ = await get(page + "/")
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp


@pytest.mark.parametrize("query", [
    "/api/escalations?level=²", "/api/escalations?level=4", "/api/escalations?level=-1",
    "/api/escalations?level=1.0", "/api/escalations?agency=PLN%00", "/api/escalations?agency=../x",
    "/api/compliance?period=year", "/api/timeline/%F0%9F%92%A9", "/api/timeline/LPR-1",
    "/static/..%2Fweb.py", "/static/app.py",
])
async def test_a_malformed_parameter_is_a_4xx_with_a_message(page: str, query: str) -> None:
    status, headers, body = await get(page + query)
    assert 400 <= status < 500, (query, status, body)
    assert headers["Content-Type"].startswith("application/json") and '"error"' in body, query


async def test_well_formed_parameters_answer(page: str) -> None:
    for query in ("/api/escalations?level=2", "/api/escalations?agency=pln",
                  "/api/escalations?level=", "/api/compliance?period=week"):
        status, _, body = await get(page + query)
        assert status == 200 and body.startswith("["), query


async def test_a_client_holds_a_bounded_number_of_live_streams(page: str) -> None:
    async with ClientSession() as session:
        first = await session.get(page + "/events")
        second = await session.get(page + "/events")
        assert first.status == second.status == 200
        assert first.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        third = await session.get(page + "/events")
        assert third.status == 429 and "too many" in await third.text()
        third.release()
        first.close()  # one stream ends: its place is free again
        for _ in range(50):
            again = await session.get(page + "/events")
            if again.status == 200:
                break
            again.release()
            await asyncio.sleep(0.1)
        assert again.status == 200
        again.close()
        second.close()


class ClosedTransport:
    """What a browser that left leaves behind: a transport already closing."""

    def is_closing(self) -> bool:
        return True

    def write(self, data: bytes) -> None:
        raise AssertionError("nothing may be written to a closing transport")


async def test_a_stream_whose_client_left_before_its_headers_ends_quietly() -> None:
    # A reload or a closed tab can drop the connection before the event stream's headers go
    # out; aiohttp then raises ClientConnectionResetError from prepare(). That is the
    # stream's end, not an "Error handling request" traceback in the worker's log.
    protocol = SimpleNamespace(transport=ClosedTransport())
    writer = StreamWriter(protocol, asyncio.get_running_loop())  # type: ignore[arg-type]
    request = make_mocked_request("GET", "/events", writer=writer)
    site = OpsSite({BOARD: {}, TIMELINES: {}}, load_registry(None), load_calendar(None))
    with pytest.raises(ConnectionResetError):  # the precondition: this writer refuses headers
        await web.StreamResponse().prepare(make_mocked_request("GET", "/", writer=writer))
    response = await site.events(request)  # returns: aiohttp closes it without a log
    assert response.status == 200
    assert site.streams == {}  # its place is given back
