"""Time and memory for a restarted SLA worker to rebuild N open complaints from its changelogs.

Usage: .venv/bin/python bench/sla_recovery.py [N]     (default 1,000,000)
Starts the embedded broker unless LAPOR_BOOTSTRAP_SERVERS is set.

Driving a million complaints through a real worker would take hours here (about 800 events/s),
so the changelogs are written the way the worker writes them: the processor's own event
handlers run in this process, partition by partition as the producer's key hash places each
complaint, and every table write of every event becomes one changelog record, in order,
on the partition of the event that made it (what faust does). A real worker is then started on
those changelogs; the script prints the time to "Worker ready" (state recovered, streams
resumed) beside the same worker's start-up with empty changelogs, its resident memory, and
then proves the state is live: two ticks must yield exactly the escalations the processor
predicts (100 complaints due, then 10,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.broker_session import bench_broker  # noqa: E402
from bench.sla_state import LATER_TICK, STORES, TICKS, WATERMARK_TICK, build, new_processor, rss_mib  # noqa: E402
from services.runtime.admin import create_topics  # noqa: E402
from services.tools.access import provision  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.ticker.ticker import publish_tick  # noqa: E402
from services.runtime.topics import TopicSpec, catalogue  # noqa: E402
from schemas import Escalation  # noqa: E402
from services.runtime.stage import StagedStores  # noqa: E402
from services.runtime.kafka_client import aiokafka_options
from services.sla_monitor.processor import Result  # noqa: E402
from tests.workers import WorkerProcess  # noqa: E402


def changelog(store: str) -> str:
    """faust's name for a table's changelog (app id + table), without the deployment prefix."""
    return f"lapor-sla_monitor-{store}-changelog"


class ChangelogWriter:
    """Writes each staged table write as faust would: json key and value, None = delete."""

    def __init__(self, s: Settings, producer: AIOKafkaProducer, loop: asyncio.AbstractEventLoop):
        self.s, self.producer, self.loop = s, producer, loop
        self.records, self.bytes = 0, 0
        self.pending: list[Any] = []

    def __call__(self, partition: int, res: Result) -> None:
        for (store, key), (value, _) in res.view.writes.items():
            k = json.dumps(key).encode()
            v = None if value is None else json.dumps(value).encode()
            self.pending.append((self.s.topic(changelog(store)), k, v, partition))
            self.records += 1
            self.bytes += len(k) + (len(v) if v else 0)
        if len(self.pending) >= 5000:
            self.loop.run_until_complete(self.flush())

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        for topic, k, v, p in batch:
            await self.producer.send(topic, v, key=k, partition=p)
        await self.producer.flush()


def partition_of(partitions: int) -> Any:
    # aiokafka's (and the Java client's) default partitioner: murmur2 of the key, positive.
    return lambda cid: (murmur2(cid.encode()) & 0x7FFFFFFF) % partitions


def seed_changelogs(s: Settings, n: int) -> tuple[int, int, float, list[int]]:
    """Build n complaints and write their changelogs: (records, bytes, seconds, and for each
    of TICKS and LATER_TICK the escalations the processor emits, all partitions together)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # the producer binds to it; the build itself is synchronous

    async def start() -> AIOKafkaProducer:  # aiokafka wants to be created inside the loop
        p = AIOKafkaProducer(**aiokafka_options(s), acks="all", linger_ms=20,
                             max_batch_size=1 << 20)
        await p.start()
        return p

    producer = loop.run_until_complete(start())
    writer = ChangelogWriter(s, producer, loop)
    processor, stores = new_processor()
    t0 = time.monotonic()
    try:
        build(processor, stores, n, partition_of=partition_of(s.partitions), on_result=writer)
        loop.run_until_complete(writer.flush())
    finally:
        loop.run_until_complete(producer.stop())
        loop.close()
        asyncio.set_event_loop(None)
    seconds = time.monotonic() - t0
    expected = []  # the worker gets the same ticks; the writes stay here (not in the changelog)
    for as_of in (WATERMARK_TICK, *(t[1] for t in TICKS), LATER_TICK[1]):
        results = [processor.tick(StagedStores(stores), p, as_of) for p in range(s.partitions)]
        for res in results:
            res.view.commit()
        expected.append(sum(isinstance(o.event, Escalation) for r in results for o in r.outputs))
    return writer.records, writer.bytes, seconds, expected[1:]


async def escalations_until(s: Settings, expected: int, timeout: float = 600) -> tuple[int, float]:
    """(records on sla.escalations.v1, seconds until `expected` had arrived)."""
    c = AIOKafkaConsumer(s.topic("sla.escalations.v1"), **aiokafka_options(s),
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    got, t0 = 0, time.monotonic()
    try:
        while got < expected and time.monotonic() - t0 < timeout:
            got += sum(len(r) for r in (await c.getmany(timeout_ms=200)).values())
        took = time.monotonic() - t0
        await asyncio.sleep(3)  # catch extras
        got += sum(len(r) for r in (await c.getmany(timeout_ms=500)).values())
        return got, took
    finally:
        await c.stop()


async def tick(s: Settings, as_of: Any) -> None:
    p = AIOKafkaProducer(**aiokafka_options(s), acks="all")
    await p.start()
    try:
        await publish_tick(p, s.topic("sla.ticks.v1"), as_of)
    finally:
        await p.stop()


def wait_for(log: Path, text: str, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if log.exists() and text in log.read_text(errors="replace"):
            return time.monotonic() - start
        time.sleep(0.1)
    raise TimeoutError(f"{text!r} not in {log} after {timeout} s")


def fresh(base: Settings) -> Settings:
    s = base.model_copy(update={"topic_prefix": f"rec{uuid.uuid4().hex[:6]}."})
    specs = [*catalogue(s), *(TopicSpec(changelog(t), "table key", s.partitions,
                                         s.replication_factor, cleanup_policy="compact") for t in STORES)]
    asyncio.run(create_topics(s, specs))
    asyncio.run(provision(s, []))  # the worker's principal
    return s


def start(s: Settings, log: Path, timeout: float = 3600) -> tuple[WorkerProcess, float, float]:
    """A worker, the seconds from its start to "Worker ready", and its resident MiB then."""
    worker = WorkerProcess("sla_monitor", s, log)
    try:
        ready = wait_for(log, "Worker ready", timeout)
        return worker, ready, rss_mib(worker.proc.pid)
    except BaseException:
        worker.stop()
        raise


def check_ticks(s: Settings, expected: list[int]) -> list[tuple[str, int, int, float]]:
    """Send the benchmark's ticks; each must yield exactly the predicted escalations."""
    asyncio.run(tick(s, WATERMARK_TICK))
    checks, total = [], 0
    for (label, as_of, _due), want in zip(TICKS, expected[:len(TICKS)], strict=True):
        total += want
        asyncio.run(tick(s, as_of))
        got, took = asyncio.run(escalations_until(s, total))
        checks.append((label, want, got - (total - want), took))
        if got != total:
            raise SystemExit(f"{label}: {got} escalations in all, the processor predicts {total}")
    return checks


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("n", nargs="?", type=int, default=1_000_000, help="open complaints")
    args.add_argument("--stores", default="memory,rocksdb",
                      help="which stores to time, comma-separated (default: both)")
    opts = args.parse_args()
    n, stores = opts.n, opts.stores.split(",")
    with bench_broker() as base:
        run(base, n, stores)


def run(base: Settings, n: int, stores: list[str]) -> None:
    logs = Path(tempfile.mkdtemp())
    rows: list[tuple[str, float, float]] = []
    checks: list[tuple[str, int, int, float]] = []
    worker, empty_ready, rss = start(fresh(base), logs / "empty.log", 300)
    worker.stop()
    rows.append(("empty changelogs", empty_ready, rss))

    s = fresh(base)
    records, size, seed_s, expected = seed_changelogs(s, n)
    if "memory" in stores:
        worker, ready, rss = start(s, logs / "memory.log")
        try:
            checks = check_ticks(s, expected)
        finally:
            worker.stop()
        rows.append((f"memory store, {n:,} open", ready, rss))
    if "rocksdb" in stores:
        # Production's store: the first start fills the local RocksDB from the changelogs;
        # a restart on the same disk reads only what the changelogs gained since.
        rocks = s.model_copy(update={"store": "rocksdb://", "data_dir": Path(tempfile.mkdtemp())})
        worker, ready, rss = start(rocks, logs / "rocks1.log")
        try:
            if not checks:
                checks = check_ticks(rocks, expected)
        finally:
            worker.stop()
        rows.append((f"rocksdb store, {n:,} open, empty disk", ready, rss))
        worker, ready, rss = start(rocks, logs / "rocks2.log")
        try:  # the state on disk is live: the next tick's escalations are all there
            label, as_of, _ = LATER_TICK
            asyncio.run(tick(s, as_of))
            want, total = expected[-1], sum(expected)
            got, took = asyncio.run(escalations_until(s, total))
            checks.append((f"{label} (after the restart)", want, got - (total - want), took))
            if got != total:
                raise SystemExit(f"{label}: {got} escalations in all, the processor predicts {total}")
        finally:
            worker.stop()
        rows.append((f"rocksdb store, {n:,} open, restart", ready, rss))
    first_full = rows[1][1] if len(rows) > 1 else float("nan")

    print(f"\n{n:,} open complaints, {s.partitions} partitions; worker logs in {logs}")
    print(f"changelogs written: {records:,} records, {size / 2**20:,.0f} MiB, in {seed_s:.0f} s")
    print(f"{'worker start':42} {'to Worker ready':>16} {'resident memory':>16}")
    for label, ready, rss in rows:
        print(f"{label:42} {ready:15.1f}s {rss:12,.0f} MiB")
    print(f"recovery from the changelogs: {records / max(first_full - empty_ready, 1e-9):,.0f} records/s")
    print(f"\n{'ticks after the first recovery':42} {'predicted':>10} {'escalations':>12} {'seconds':>8}")
    for label, want, got, took in checks:
        print(f"{label:42} {want:10,} {got:12,} {took:8.1f}")


if __name__ == "__main__":
    main()
