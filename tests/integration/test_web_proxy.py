"""The TLS proxy (Debian's nginx, with the configuration `lapor proxy config` writes) in front
of three stand-in sites that answer with what reached them. No broker, no browser: each rule
of the proxy, one request or two.

- Each name reaches its own site, over TLS with a certificate the CA vouches for; the site
  gets `Host` as published, `X-Forwarded-Proto: https`, `X-Forwarded-Host` the public
  address, and `X-Forwarded-For` ending with the address the proxy saw, whatever the client
  wrote (so the sites, trusting only the proxy, find the real client); a client's own
  `Forwarded` and `X-Real-IP` are dropped.
- A name the proxy does not serve gets no TLS handshake; another `Host` on a served name
  gets 421 from the proxy, and no site sees the request.
- Bodies beyond a site's limit are refused (413) before the site; HSTS is on every answer,
  the proxy's own refusals included.
- The operations page's live stream comes through as it is written (a buffering proxy
  would hold it).
- nginx runs as an unprivileged user and writes no access log.
- The sign-in provider and the bridge's door are published only on their paths (the
  provider's realms and static files, not its admin console; the agencies' status door),
  and the provider's large headers come through."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from services.web.forwarded import client_address, trusted_networks
from services.runtime.settings import Settings
from services.tools.broker import free_port
from services.tools.web_proxy import HSTS, ProxiedSite
from tests.tls_proxy import USER, RunningProxy, tls_proxy
from tests.web_sites import served

NAMES = {"desk": "desk.localhost", "ops": "ops.localhost", "lacak": "lacak.localhost"}
DOORS = {"signin": "masuk.localhost", "bridge": "agencies.localhost"}  # only some paths
CLIENT = "127.0.0.2"  # the client's own address (the proxy is at 127.0.0.1)


def stand_in(name: str, seen: list[str]) -> web.Application:
    """A site that answers with what reached it; /events is a live stream."""
    async def echo(request: web.Request) -> web.Response:
        seen.append(request.path)
        body = await request.read()
        # Keycloak's answers carry large headers (cookies, a long Location)
        big = {"X-Big-1": "b" * 5_000, "X-Big-2": "c" * 5_000} if request.path.endswith("/big") else {}
        return web.json_response({"site": name, "headers": dict(request.headers), "remote": request.remote,
                                  "length": len(body)}, headers=big)

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": connected\n\n")
        for _ in range(10):  # then it ends (a buffering proxy passes it on only then)
            await asyncio.sleep(1)
            await response.write(b": idle\n\n")
        return response

    app = web.Application(client_max_size=1 << 20)
    app.router.add_get("/events", events)
    app.router.add_route("*", "/{path:.*}", echo)
    return app


@pytest.fixture(scope="module")
async def proxied(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[RunningProxy, int, dict[str, list[str]]]]:
    port = free_port()
    seen: dict[str, list[str]] = {name: [] for name in {**NAMES, **DOORS}}
    names = {**NAMES, **DOORS}
    async with served(stand_in("desk", seen["desk"])) as desk, served(stand_in("ops", seen["ops"])) as ops, \
            served(stand_in("lacak", seen["lacak"])) as lacak, \
            served(stand_in("signin", seen["signin"])) as signin, \
            served(stand_in("bridge", seen["bridge"])) as bridge:
        sites = [ProxiedSite(name, f"https://{names[name]}:{port}", f"127.0.0.1:{server.port}")
                 for name, server in (("desk", desk), ("ops", ops), ("lacak", lacak),
                                      ("signin", signin), ("bridge", bridge))]
        with tls_proxy(Settings(access_dir=tmp_path_factory.mktemp("proxy") / "access"), sites) as proxy:
            yield proxy, port, seen


async def ask(proxy: RunningProxy, port: int, name: str, path: str = "/", method: str = "GET",
              host: str | None = None, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    """A request from CLIENT for `name` (its TLS name), with `host` as Host when given."""
    connector = aiohttp.TCPConnector(ssl=proxy.ssl_context(), local_addr=(CLIENT, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        headers = {"Host": f"{host or name}:{port}", **kwargs.pop("headers", {})}
        async with http.request(method, f"https://127.0.0.1:{port}{path}", server_hostname=name,
                                headers=headers, **kwargs) as answer:
            return answer.status, dict(answer.headers), await answer.read()


async def test_each_name_reaches_its_site_with_the_proxys_forwarding_headers(
        proxied: tuple[RunningProxy, int, dict[str, list[str]]]) -> None:
    proxy, port, _ = proxied
    for site, name in NAMES.items():
        status, headers, body = await ask(proxy, port, name, "/lacak?id=LPR-1", headers={
            "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": "evil.example", "Forwarded": "for=198.51.100.1", "X-Real-IP": "198.51.100.2"})
        assert status == 200, (site, body)
        got = json.loads(body)
        assert got["site"] == site
        given = got["headers"]
        assert given["Host"] == name
        assert given["X-Forwarded-Proto"] == "https"
        assert given["X-Forwarded-Host"] == f"{name}:{port}"
        assert given["X-Forwarded-For"] == f"203.0.113.9, {CLIENT}"
        assert "Forwarded" not in given and "X-Real-IP" not in given
        assert headers["Strict-Transport-Security"] == HSTS
        assert headers["Server"] == "nginx"  # no version
        # The site, trusting only the proxy, finds the client the proxy saw.
        assert client_address(got["remote"], [given["X-Forwarded-For"]], trusted_networks("127.0.0.1")) == CLIENT


async def test_other_names_and_hosts_are_refused_at_the_proxy(
        proxied: tuple[RunningProxy, int, dict[str, list[str]]]) -> None:
    proxy, port, seen = proxied
    before = {name: list(paths) for name, paths in seen.items()}
    for unserved in ("evil.example", None):  # another name; none (an address)
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            connector = aiohttp.TCPConnector(ssl=False)
            async with aiohttp.ClientSession(connector=connector) as http:
                kwargs: dict[str, Any] = {"server_hostname": unserved} if unserved else {}
                await http.get(f"https://127.0.0.1:{port}/", **kwargs)
        assert isinstance(refused.value.os_error, ssl.SSLError)
    status, _, body = await ask(proxy, port, NAMES["desk"], "/a/pln/", host="evil.example")
    assert (status, body) == (421, b"unknown host\n")
    assert seen == before  # no site saw a thing


async def test_bodies_beyond_a_sites_limit_are_refused_before_it(
        proxied: tuple[RunningProxy, int, dict[str, list[str]]]) -> None:
    proxy, port, seen = proxied
    before = {name: list(paths) for name, paths in seen.items()}
    status, _, body = await ask(proxy, port, NAMES["desk"], "/a/pln/c/x/status", "POST", data=b"n" * 60_000)
    assert status == 200 and json.loads(body)["length"] == 60_000  # a long note fits
    status, headers, _ = await ask(proxy, port, NAMES["desk"], "/a/pln/c/y/status", "POST", data=b"n" * 70_000)
    assert status == 413 and headers["Strict-Transport-Security"] == HSTS
    status, _, _ = await ask(proxy, port, NAMES["ops"], "/api/triage/z/assign", "POST", data=b"a" * 20_000)
    assert status == 413
    status, _, _ = await ask(proxy, port, NAMES["lacak"], "/api/lacak/w", "POST", data=b"l" * 2_000)
    assert status == 413
    assert seen == {**before, "desk": [*before["desk"], "/a/pln/c/x/status"]}


async def test_the_live_stream_comes_through_as_it_is_written(
        proxied: tuple[RunningProxy, int, dict[str, list[str]]]) -> None:
    proxy, port, _ = proxied
    connector = aiohttp.TCPConnector(ssl=proxy.ssl_context())
    async with aiohttp.ClientSession(connector=connector) as http, asyncio.timeout(5):
        # the headers and the first comment, well before the stand-in's stream ends (10 s)
        async with http.get(f"https://127.0.0.1:{port}/events", server_hostname=NAMES["ops"],
                            headers={"Host": f"{NAMES['ops']}:{port}"}) as stream:
            assert stream.status == 200
            assert await stream.content.readuntil(b"\n\n") == b": connected\n\n"


async def test_nginx_runs_unprivileged_and_keeps_no_access_log(
        proxied: tuple[RunningProxy, int, dict[str, list[str]]]) -> None:
    proxy, port, _ = proxied
    await ask(proxy, port, NAMES["lacak"], "/api/lacak/LPR-SECRET1")
    uids = [line.split()[1:] for line in Path(f"/proc/{proxy.process.pid}/status").read_text().splitlines()
            if line.startswith("Uid:")][0]
    assert "0" not in uids  # real, effective, saved, filesystem: none is root
    if USER is None:
        import os
        assert uids[0] == str(os.getuid())
    logs = [p for p in proxy.prefix.rglob("*") if p.is_file() and p.suffix == ".log"]
    assert all(b"LPR-SECRET1" not in p.read_bytes() for p in logs)
    assert not (proxy.prefix / "logs" / "access.log").exists()


async def test_the_provider_and_the_bridge_door_are_published_on_their_paths_only(
        proxied: tuple[RunningProxy, int, dict[str, list[str]]]) -> None:
    proxy, port, seen = proxied
    before = {name: list(paths) for name, paths in seen.items()}
    signin, bridge = DOORS["signin"], DOORS["bridge"]
    for path in ("/realms/lapor/protocol/openid-connect/auth", "/resources/x/login.css"):
        status, _, body = await ask(proxy, port, signin, path)
        assert status == 200 and json.loads(body)["site"] == "signin", path
        assert json.loads(body)["headers"]["X-Forwarded-Proto"] == "https"  # Keycloak reads them
    status, headers, _ = await ask(proxy, port, signin, "/realms/lapor/big")
    assert status == 200 and len(headers["X-Big-1"] + headers["X-Big-2"]) == 10_000  # not a 502
    for path in ("/admin/master/console/", "/", "/metrics", "/health/ready"):
        status, headers, body = await ask(proxy, port, signin, path)
        assert (status, body) == (404, b"not here\n"), path
        assert headers["Strict-Transport-Security"] == HSTS
    status, _, body = await ask(proxy, port, bridge, "/agencies/pln/statuses", "POST", data=b"s" * 60_000)
    assert status == 200 and json.loads(body)["site"] == "bridge"
    status, _, _ = await ask(proxy, port, bridge, "/agencies/pln/statuses", "POST", data=b"s" * 70_000)
    assert status == 413
    for path in ("/metrics/", "/health/", "/"):
        assert (await ask(proxy, port, bridge, path))[0] == 404, path
    assert seen == {**before,
                    "signin": [*before["signin"], "/realms/lapor/protocol/openid-connect/auth",
                               "/resources/x/login.css", "/realms/lapor/big"],
                    "bridge": [*before["bridge"], "/agencies/pln/statuses"]}


async def test_with_a_resolver_nginx_starts_before_a_site_has_a_name(tmp_path: Path) -> None:
    """On a container network the proxy looks its upstreams up as requests come (`--resolver
    auto`): a site whose name does not resolve yet (not started) is a 502 for its own
    requests, and the proxy starts and serves the others (looked up once at start, the
    unknown name would stop nginx from starting at all)."""
    port, dns = free_port(), free_port()  # nothing answers DNS there: no name resolves
    seen: list[str] = []
    async with served(stand_in("desk", seen)) as desk:
        sites = [ProxiedSite("desk", f"https://desk.localhost:{port}", f"127.0.0.1:{desk.port}"),
                 ProxiedSite("ops", f"https://ops.localhost:{port}", "ops-not-started.invalid:8070")]
        with tls_proxy(Settings(access_dir=tmp_path / "access"), sites, resolver=f"127.0.0.1:{dns}") as proxy:
            assert "resolver 127.0.0.1:" in (proxy.prefix / "nginx.conf").read_text()
            status, _, body = await ask(proxy, port, "desk.localhost", "/a/pln/")
            assert status == 200 and json.loads(body)["headers"]["X-Forwarded-Proto"] == "https"
            status, headers, _ = await ask(proxy, port, "ops.localhost", "/")
            assert status == 502 and headers["Strict-Transport-Security"] == HSTS
    assert seen == ["/a/pln/"]


async def test_the_status_port_serves_connection_counts_and_nothing_else(tmp_path: Path) -> None:
    """For the metrics exporter (compose's proxy-metrics): nginx's counts in plain HTTP on a
    port of their own; no site behind it."""
    port, status_port = free_port(), free_port()
    seen: list[str] = []
    async with served(stand_in("desk", seen)) as desk:
        sites = [ProxiedSite("desk", f"https://desk.localhost:{port}", f"127.0.0.1:{desk.port}")]
        with tls_proxy(Settings(access_dir=tmp_path / "access"), sites,
                       status_listen=f"127.0.0.1:{status_port}") as proxy:
            await ask(proxy, port, "desk.localhost", "/a/pln/")
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{status_port}/stub_status") as answer:
                    counts = await answer.text()
                    assert answer.status == 200 and counts.startswith("Active connections:"), counts
                    assert int(counts.split("\n")[2].split()[2]) >= 1  # requests handled
                async with http.get(f"http://127.0.0.1:{status_port}/a/pln/") as answer:
                    assert (answer.status, await answer.text()) == (404, "not here\n")
    assert seen == ["/a/pln/"]
