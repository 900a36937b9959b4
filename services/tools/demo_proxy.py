"""The demo's TLS proxy: Debian's nginx (`lapor proxy`) in front of the desk, the operations
page and lacak, as a deployment runs them, at https://desk.localhost:8443 and its siblings
(browsers resolve *.localhost to this machine). The sites get their public URLs, believe
X-Forwarded-For from the proxy (127.0.0.1) only, and still answer on their loopback ports
for the tools (`lapor show`). The certificate comes from a CA of the demo's own, kept in
.lapor/demo/proxy-ca (trust its ca.pem once, or accept the browser's warning)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.runtime.settings import Settings
from services.tools import web_proxy
from services.tools.broker import free_port

NAMES = {"desk": "desk.localhost", "ops": "ops.localhost", "lacak": "lacak.localhost"}
HTTPS_PORT = 8443
USER = "nobody" if os.geteuid() == 0 else None  # nginx never runs as root


@dataclass(frozen=True)
class DemoProxy:
    settings: Settings  # the sites' settings behind it
    port: int
    ca: Path  # the CA its certificate is from
    process: subprocess.Popen[bytes]


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def behind_proxy(settings: Settings, port: int) -> Settings:
    """The sites' settings behind the demo's proxy on `port`."""
    def url(site: str) -> str:
        return f"https://{NAMES[site]}" + ("" if port == 443 else f":{port}")

    def hosts(site: str) -> str:  # the public name, and loopback for the tools
        return f"{NAMES[site]},127.0.0.1,localhost"

    return settings.model_copy(update={
        "desk_public_url": url("desk"), "ops_public_url": url("ops"), "lacak_public_url": url("lacak"),
        "desk_allowed_hosts": hosts("desk"), "ops_allowed_hosts": hosts("ops"),
        "lacak_allowed_hosts": hosts("lacak"), "trusted_proxies": "127.0.0.1"})


@contextmanager
def demo_proxy(settings: Settings, ca_dir: Path, port: int | None = None) -> Iterator[DemoProxy]:
    """nginx on 127.0.0.1:`port` (8443, or a free port when that one is taken) until the
    block ends; stopped at once then (a live stream would hold a graceful stop)."""
    port = port or (HTTPS_PORT if _free(HTTPS_PORT) else free_port())
    proxied = behind_proxy(settings, port)
    sites = web_proxy.sites_from_settings(proxied)
    prefix = Path(tempfile.mkdtemp(prefix="lapor-demo-proxy-"))  # the unprivileged user's
    try:
        cert, key = web_proxy.issue_server_cert(proxied, sorted(s.host for s in sites), prefix / "tls",
                                                ca_dir=ca_dir)
        web_proxy.write_config(prefix, sites, cert, key, ("127.0.0.1",))
        process = web_proxy.start(prefix, [("127.0.0.1", port)], USER)
        try:
            yield DemoProxy(proxied, port, ca_dir / "ca.pem", process)
        finally:
            web_proxy.stop(process, graceful=False)
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
