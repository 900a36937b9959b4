"""Toxiproxy (github.com/Shopify/toxiproxy, built from its Go module by scripts/setup): a TCP
proxy in front of each broker node's client listener, whose HTTP API adds latency or cuts
the connection, for the fault suite."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

VERSION = "v2.12.0"
MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
GO_MINOR = 23  # its go.mod asks for go 1.23.0


def binary(cache: Path) -> Path:
    """The server binary, built once into the project's cache (`go install`)."""
    target = cache / "toxiproxy" / VERSION / "toxiproxy-server"
    if target.exists():
        return target
    go = shutil.which("go")
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout if go else ""
    minor = version.strip().removeprefix("go1.").split(".")[0]
    if not minor.isdigit() or int(minor) < GO_MINOR:
        raise RuntimeError(f"the fault suite builds Toxiproxy {VERSION} with Go 1.{GO_MINOR} or "
                           f"later and found {version.strip() or 'no go on PATH'} (Debian 12's "
                           "golang-go is 1.19): install a current Go toolchain")
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(target.parent), "GOFLAGS": "-mod=mod"}
    subprocess.run(["go", "install", f"{MODULE}@{VERSION}"], env=env, check=True,
                   capture_output=True, timeout=600)
    (target.parent / "server").rename(target)
    return target


class Toxiproxy:
    def __init__(self, cache: Path, api_port: int, log: Path):
        self.api = f"http://127.0.0.1:{api_port}"
        self._log = open(log, "ab")
        self.proc = subprocess.Popen([str(binary(cache)), "-host", "127.0.0.1", "-port", str(api_port)],
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(100):
            try:
                self._call("GET", "/version")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("toxiproxy did not start")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.api + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text.strip() else None

    def proxy(self, name: str, listen_port: int, upstream_port: int) -> None:
        self._call("POST", "/proxies", {"name": name, "listen": f"127.0.0.1:{listen_port}",
                                        "upstream": f"127.0.0.1:{upstream_port}", "enabled": True})

    def latency(self, name: str, ms: int, jitter_ms: int = 0) -> None:
        for stream in ("upstream", "downstream"):
            self._call("POST", f"/proxies/{name}/toxics", {
                "name": f"latency-{stream}", "type": "latency", "stream": stream,
                "attributes": {"latency": ms, "jitter": jitter_ms}})

    def clear(self, name: str) -> None:
        for toxic in self._call("GET", f"/proxies/{name}/toxics") or []:
            self._call("DELETE", f"/proxies/{name}/toxics/{toxic['name']}")

    def enabled(self, name: str, on: bool) -> None:
        """Off: every connection through it is cut and new ones refused."""
        self._call("POST", f"/proxies/{name}", {"enabled": on})

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self._log.close()
