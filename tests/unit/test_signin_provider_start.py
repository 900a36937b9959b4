"""What `lapor provider start` does when Keycloak comes up but its realm cannot go in: the
process must not outlive the failure (an orphaned JVM took a core from a whole CI run), and
the reason must be left where the test processes waiting for the provider read it.

Keycloak itself is started by the integration and e2e tests; here a stand-in `kc.sh` answers
the discovery request and refuses the admin token, which is the failure under test."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from services.runtime.settings import Settings
from services.tools import signin_provider

REFUSING_ADMIN = textwrap.dedent('''\
    #!/usr/bin/env python3
    import http.server, sys
    port = next(int(a.split("=")[1]) for a in sys.argv if a.startswith("--http-port="))
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
        def do_POST(self):
            self.send_response(500); self.end_headers()
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", port), Answer).serve_forever()
''')


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a child that exited but was not reaped yet is gone for our purpose
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def test_a_start_whose_realm_cannot_go_in_stops_the_provider_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "keycloak"
    (home / "bin").mkdir(parents=True)
    kc = home / "bin" / "kc.sh"
    kc.write_text(REFUSING_ADMIN)
    kc.chmod(0o755)
    monkeypatch.setattr(signin_provider, "fetch", lambda settings: home)
    settings = Settings(broker_dir=tmp_path / "state")
    started: list[int] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kwargs)
        started.append(proc.pid)
        return proc

    monkeypatch.setattr(subprocess, "Popen", recording_popen)  # the module's own import

    with pytest.raises(signin_provider.ProviderError, match="realm could not be set up"):
        signin_provider.start(settings, signin_provider.LOOPBACK_REDIRECTS, timeout_s=30)

    assert started, "the stand-in provider was started"
    error = signin_provider.start_error(settings)
    assert error is not None and "HTTP Error 500" in error
    # start returns only once the process is gone (stop waits for it), so no waiting here
    assert not alive(started[0]), "the provider process outlived the failed start"
    assert signin_provider.running_provider(settings) is None
    assert not (signin_provider.state_dir(settings) / "provider.pid").exists()
