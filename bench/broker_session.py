"""The broker a benchmark runs on: the one LAPOR_BOOTSTRAP_SERVERS names, else an embedded
broker started for the run and stopped after it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.tools import broker
from services.runtime.settings import Settings


@contextmanager
def bench_broker(partitions: int = 2) -> Iterator[Settings]:
    base = Settings(partitions=partitions, web_enabled=False, data_dir=Path(tempfile.mkdtemp()))
    if "LAPOR_BOOTSTRAP_SERVERS" in os.environ:
        yield base
        return
    started = base.model_copy(update={"broker_dir": Path(tempfile.mkdtemp())})
    try:
        yield base.model_copy(update={"bootstrap_servers": broker.start(started, port=broker.free_port())})
    finally:
        broker.stop(started)
