"""Time for a restarted SLA worker to rebuild its tables from the changelogs.

Usage: LAPOR_BOOTSTRAP_SERVERS=host:port .venv/bin/python bench/sla_recovery.py [N]
(or without the variable: starts the embedded broker). N open complaints (default 20,000) go
through a real worker; it is stopped and started again, and the time from the second start
to "Worker ready" (recovery complete, streams resumed) is printed with the changelog sizes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.common import broker  # noqa: E402
from services.common.admin import create_topics  # noqa: E402
from services.common.settings import Settings  # noqa: E402
from services.common.topics import catalogue  # noqa: E402
from tests.kafka_helpers import produce  # noqa: E402
from tests.sla_scenario import accepted, routed  # noqa: E402
from tests.workers import WorkerProcess  # noqa: E402


async def changelog_size(s: Settings, table: str) -> int:
    topic = f"{s.topic_prefix}lapor-sla_monitor-{table}-changelog"
    c = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, group_id=None)
    await c.start()
    try:
        from aiokafka.structs import TopicPartition

        ends = await c.end_offsets([TopicPartition(topic, p) for p in range(s.partitions)])
        return sum(ends.values())
    finally:
        await c.stop()


def wait_for(log: Path, text: str, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if log.exists() and text in log.read_text(errors="replace"):
            return time.monotonic() - start
        time.sleep(0.05)
    raise TimeoutError(text)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    base = Settings(partitions=2, web_enabled=False, data_dir=Path(tempfile.mkdtemp()),
                    log_level="DEBUG", session_timeout_s=10)
    started = None
    if "LAPOR_BOOTSTRAP_SERVERS" not in os.environ:
        started = base.model_copy(update={"broker_dir": Path(tempfile.mkdtemp())})
        base = base.model_copy(update={"bootstrap_servers": broker.start(started, port=broker.free_port())})
    s = base.model_copy(update={"topic_prefix": f"rec{uuid.uuid4().hex[:6]}."})
    logs = Path(tempfile.mkdtemp())
    try:
        asyncio.run(create_topics(s, catalogue(s)))
        ids = [f"LPR-{i:012d}" for i in range(n)]
        asyncio.run(produce(s, "complaints.accepted.v1", [
            (c.encode(), json.dumps(accepted(c, "2026-03-02T09:00:00+07:00")[2]).encode()) for c in ids]))
        asyncio.run(produce(s, "complaints.routed.v1", [
            (c.encode(), json.dumps(routed(c, "pln", "2026-03-02T09:00:00+07:00")[2]).encode()) for c in ids]))
        first = WorkerProcess("sla_monitor", s, logs / "first.log")
        t0 = time.monotonic()
        log = logs / "first.log"
        while time.monotonic() - t0 < 1800 and (
                not log.exists() or log.read_text(errors="replace").count('"handled"') < 2 * n):
            time.sleep(1)
        build_s = time.monotonic() - t0
        first.stop()
        sizes = {t: asyncio.run(changelog_size(s, t)) for t in ("clocks", "due")}
        second = WorkerProcess("sla_monitor", s, logs / "second.log")
        try:
            ready = wait_for(logs / "second.log", "Worker ready", 1800)
        finally:
            second.stop()
        print(f"\n{n:,} open complaints processed by the worker in {build_s:.0f} s "
              f"({2 * n / build_s:.0f} events/s)")
        print(f"changelog records: clocks {sizes['clocks']:,}, due {sizes['due']:,}")
        print(f"restart to 'Worker ready' (state recovered, memory store): {ready:.1f} s")
    finally:
        if started is not None:
            broker.stop(started)


if __name__ == "__main__":
    main()
