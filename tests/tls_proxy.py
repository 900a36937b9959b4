"""The TLS proxy of a deployment (Debian's nginx, configured by services/tools/web_proxy.py)
in front of sites under test: a server certificate for the sites' names from the given
settings' development CA, the configuration `lapor proxy config` writes, and nginx as an
unprivileged user (`nobody` when the tests run as root). Browsers are told to trust exactly
that certificate's key (`chromium_args`), nothing else."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.runtime.settings import Settings
from services.tools import web_proxy
from services.tools.web_proxy import ProxiedSite

USER = "nobody" if os.geteuid() == 0 else None  # nginx never runs as root here


@dataclass(frozen=True)
class RunningProxy:
    prefix: Path
    ca: Path  # the CA that signed its certificate
    cert: Path
    process: subprocess.Popen[bytes]

    def chromium_args(self) -> list[str]:
        """Chromium trusting this proxy's certificate key and no other certificate error."""
        return [f"--ignore-certificate-errors-spki-list={web_proxy.spki_sha256(self.cert)}"]

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the proxy against its CA (names included)."""
        return ssl.create_default_context(cafile=str(self.ca))


@contextmanager
def tls_proxy(settings: Settings, sites: list[ProxiedSite], resolver: str | None = None,
              status_listen: str | None = None) -> Iterator[RunningProxy]:
    """nginx on 127.0.0.1 at the sites' public ports until the block ends. Its folder is
    under LAPOR_TEST_STATE when set (scripts/test's clean-up finds its processes there)."""
    base = os.environ.get("LAPOR_TEST_STATE")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    prefix = Path(tempfile.mkdtemp(prefix="proxy-" if base else "lapor-proxy-", dir=base))
    try:
        cert, key = web_proxy.issue_server_cert(settings, sorted({s.host for s in sites}), prefix / "tls")
        web_proxy.write_config(prefix, sites, cert, key, ("127.0.0.1",), resolver=resolver,
                               status_listen=status_listen)
        process = web_proxy.start(prefix, sorted({("127.0.0.1", s.port) for s in sites}), USER)
        try:
            yield RunningProxy(prefix, prefix / "tls" / "ca.pem", cert, process)
        finally:
            web_proxy.stop(process, graceful=False)  # live streams would hold a graceful stop
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
