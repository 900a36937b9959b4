"""Run a service as a real worker process (`lapor worker …`) for integration and e2e tests."""

from __future__ import annotations

import json

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.runtime.settings import Settings
from services.tools.access_plan import service_user
from services.tools.access import as_principal


def as_service(settings: Settings, service: str) -> Settings:
    """A worker runs as its service's principal, with exactly that service's ACLs (the
    operator's super user would hide a missing grant)."""
    return as_principal(settings, service_user(settings, service))


class WorkerProcess:
    def __init__(self, service: str, settings: Settings, log: Path, web_port: int | None = None):
        settings = as_service(settings, service)
        self.service, self.settings, self.log_path = service, settings, log
        cmd = [sys.executable, "-m", "services.tools.cli", "worker", service]
        if web_port is not None:
            cmd += ["--web-port", str(web_port)]
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, env=settings.environment(), stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running(service: str, settings: Settings, log_dir: Path, name: str | None = None,
            web_port: int | None = None) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(service, settings, log_dir / f"{name or service}.log", web_port)
    try:
        yield worker
    finally:
        worker.stop()


# A terminal control sequence faust writes before the first line that follows its tables
# (ESC [?25h, "show the cursor"): the JSON line after it is a log line like any other.
_CONTROL = re.compile(r"^(?:\x1b?\[\?\d+[hl])+")


def logged_events(text: str) -> list[str]:
    """The `event` of each JSON line of a worker's log (its other lines are faust's own)."""
    events = []
    for line in text.splitlines():
        line = _CONTROL.sub("", line)
        if line.startswith("{"):
            try:
                events.append(str(json.loads(line).get("event")))
            except ValueError:
                continue
    return events
