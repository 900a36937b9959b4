"""The demo starts the TLS proxy (Debian's nginx) in front of its sites and stops it at the
end (services/tools/demo_proxy.py, used by `lapor demo`): the sites get their https public
URLs, trust X-Forwarded-For from the proxy only, and each name reaches its site over TLS with
a certificate from the demo's own CA. Stand-in sites; no broker, no provider."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from services.runtime.settings import Settings
from services.tools.broker import free_port
from services.tools.demo_proxy import NAMES, demo_proxy
from tests.web_sites import served


def stand_in(name: str) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"site": name, "host": request.host,
                                  "forwarded_for": request.headers.get("X-Forwarded-For")})

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", echo)
    return app


async def test_the_demo_serves_its_sites_over_https_by_name_and_stops_nginx(tmp_path: Path) -> None:
    async with served(stand_in("desk")) as desk, served(stand_in("ops")) as ops, \
            served(stand_in("lacak")) as lacak:
        settings = Settings(access_dir=tmp_path / "access", desk_port=desk.port, ops_port=ops.port,
                            lacak_port=lacak.port)
        port = free_port()
        with demo_proxy(settings, tmp_path / "proxy-ca", port) as proxy:
            behind = proxy.settings
            assert (behind.desk_public_url, behind.ops_public_url, behind.lacak_public_url) == (
                f"https://desk.localhost:{port}", f"https://ops.localhost:{port}",
                f"https://lacak.localhost:{port}")
            assert behind.trusted_proxies == "127.0.0.1"
            assert behind.desk_allowed_hosts.split(",")[0] == "desk.localhost"
            assert behind.ops_allowed_hosts.split(",")[0] == "ops.localhost"
            assert behind.lacak_allowed_hosts.split(",")[0] == "lacak.localhost"
            assert proxy.ca == tmp_path / "proxy-ca" / "ca.pem"
            context = ssl.create_default_context(cafile=str(proxy.ca))  # verified, names too
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
                for site, name in NAMES.items():
                    async with http.get(f"https://127.0.0.1:{port}/x", server_hostname=name,
                                        headers={"Host": f"{name}:{port}",
                                                 "X-Forwarded-For": "203.0.113.7"}) as answer:
                        got = json.loads(await answer.read())
                    assert answer.status == 200 and got["site"] == site, got
                    assert got["host"] == name and got["forwarded_for"] == "203.0.113.7, 127.0.0.1"
            nginx = proxy.process
        assert nginx.poll() is not None  # stopped with the demo
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
