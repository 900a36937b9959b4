"""The broker a benchmark runs on: the one LAPOR_BOOTSTRAP_SERVERS names (as the operator of
LAPOR_KAFKA_*), else an embedded broker started for the run and stopped after it, secured as
every deployment is (SASL/SCRAM over TLS, ACLs; the benchmark's clients run as lapor-admin,
its workers as their services)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.tools import broker
from services.runtime.settings import Settings
from services.tools.broker_security import admin_settings


@contextmanager
def bench_broker(partitions: int = 2) -> Iterator[Settings]:
    base = Settings(partitions=partitions, web_enabled=False, data_dir=Path(tempfile.mkdtemp()))
    if "LAPOR_BOOTSTRAP_SERVERS" in os.environ:
        yield base
        return
    state = Path(tempfile.mkdtemp())
    started = base.model_copy(update={"broker_dir": state, "access_dir": state / "access"})
    try:
        bootstrap = broker.start(started, port=broker.free_port())
        yield admin_settings(started.model_copy(update={"bootstrap_servers": bootstrap}))
    finally:
        broker.stop(started)
