"""The whole pipeline's benchmark, in one run on one broker, printed as a table:

1. the limits: a batched aiokafka loop (getmany, parse, send all, await the acks together,
   commit), the same loop one message at a time (awaiting each ack), and a faust-only
   passthrough worker (take_events(500, 0.01), parse, app.producer.send; no tables):
   what a faust stage can reach at most here;
2. each stage alone (intake, router, SLA monitor), as a real worker process draining a backlog;
3. the whole pipeline (three worker processes): events/s and the latency from publish to the
   agency topic (p50, p99) at fixed offered rates (100/s, 1,000/s) and at the maximum (the
   whole batch published at once).

Usage: .venv/bin/python bench/pipeline.py [N] [--stages-only | --pipeline-only] [--py-spy]
       (N = backlog size, default 20000; --py-spy samples each stage alone with py-spy and
       prints where its time goes: its samples by part, and the functions with most own time)
Starts the embedded broker unless LAPOR_BOOTSTRAP_SERVERS is set.

Latency is measured on Kafka record timestamps (CreateTime, one machine clock): the
submission's, set when the channel published it, and the agency record's, set when the router
produced it. The SLA monitor alone is timed by its consumer group's committed offsets (it
commits every second), so that row is accurate to about a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.broker_session import bench_broker  # noqa: E402
from services.runtime.admin import create_topics  # noqa: E402
from services.tools.access import provision  # noqa: E402
from services.tools.generator import web_submission  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.domain.registry import load_registry  # noqa: E402
from services.runtime.topics import (  # noqa: E402
    ACCEPTED, ROUTED, SUBMITTED, TRIAGE, TopicSpec, agency_topic, agency_topic_name, catalogue,
)
from services.runtime.kafka_client import aiokafka_options  # noqa: E402
from tests.ids import key_file, make_complaint_id  # noqa: E402

# Intake keys complaint ids (services/domain/complaint_id.py): its workers and this bench use
# the tests' key, so the bench knows the id of each submission it sends.
os.environ["LAPOR_COMPLAINT_ID_KEY_FILE"] = str(key_file())
from tests.workers import WorkerProcess  # noqa: E402

SUBMITTED_AT = "2026-03-02T09:15:00+07:00"
SINK = "bench.sink.v1"  # where the passthrough rows write


def submission(tag: str, i: int) -> tuple[bytes, bytes]:
    return web_submission(f"{tag}-{i}", i, SUBMITTED_AT)


async def produce_all(s: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    p = AIOKafkaProducer(**aiokafka_options(s), acks="all", linger_ms=5)
    await p.start()
    try:
        for k, v in records:
            await p.send(s.topic(topic), v, key=k)
        await p.flush()
    finally:
        await p.stop()


async def bare_loop(s: Settings, n: int, batched: bool) -> float:
    """Consume, parse JSON, produce: awaiting the acks of a whole fetched batch together and
    committing after them (`batched`), or awaiting each ack in turn."""
    c = AIOKafkaConsumer(s.topic(SUBMITTED), **aiokafka_options(s),
                         auto_offset_reset="earliest", group_id=f"bare-{uuid.uuid4().hex[:6]}",
                         enable_auto_commit=False, max_poll_records=500)
    p = AIOKafkaProducer(**aiokafka_options(s), acks="all")
    await c.start()
    await p.start()
    done, t0, sink = 0, time.monotonic(), s.topic(SINK)
    try:
        while done < n:
            batch = await c.getmany(timeout_ms=200, max_records=500)
            acks = []
            for recs in batch.values():
                for r in recs:
                    json.loads(r.value)
                    ack = await p.send(sink, r.value, key=r.key)
                    if batched:
                        acks.append(ack)
                    else:
                        await ack
                    done += 1
            await asyncio.gather(*acks)
            if batch:
                await c.commit()
        return n / (time.monotonic() - t0)
    finally:
        await c.stop()
        await p.stop()


class CpuClock:
    """The CPU time (user + system, all threads) a worker process spends from `start` to
    `stop`: per event, a steadier figure than the rate on a machine the broker shares."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid, self.began, self.per_event_us = pid, 0.0, float("nan")

    def _now(self) -> float:
        if self.pid is None:
            return 0.0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self.began = self._now()

    def stop(self, events: int) -> None:
        if self.pid is not None and events > 0:
            self.per_event_us = (self._now() - self.began) * 1e6 / events


async def output_rate(s: Settings, topic: str, n: int, timeout: float = 900, skip: int = 0,
                      cpu: CpuClock | None = None) -> float:
    """events/s of a stage draining a backlog: n over first-to-last output record (after
    `skip` records already on the topic)."""
    cpu = cpu or CpuClock()
    c = AIOKafkaConsumer(s.topic(topic), **aiokafka_options(s),
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    got, first, end = -skip, 0.0, time.monotonic() + timeout
    try:
        while got < n and time.monotonic() < end:
            for recs in (await c.getmany(timeout_ms=200)).values():
                got += len(recs)
                if got > 0 and not first:
                    first = time.monotonic()
                    cpu.start()
        cpu.stop(n)
        if got < n:
            raise RuntimeError(f"{topic}: {got} of {n} records within {timeout} s")
        return n / max(time.monotonic() - first, 1e-9)
    finally:
        await c.stop()


async def committed_rate(s: Settings, group: str, topics: list[str], timeout: float = 900,
                         cpu: CpuClock | None = None) -> float:
    """events/s of a stage with no per-event output: the group's commits over the backlog."""
    cpu = cpu or CpuClock()
    admin = AIOKafkaAdminClient(**aiokafka_options(s))
    probe = AIOKafkaConsumer(**aiokafka_options(s), group_id=None)
    await admin.start()
    await probe.start()
    try:
        parts = [TopicPartition(s.topic(t), p) for t in topics for p in range(s.partitions)]
        ends = await probe.end_offsets(parts)
        total = sum(ends.values())
        first, at_first, deadline = 0.0, 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            offsets = await admin.list_consumer_group_offsets(group)
            done = sum(offsets[tp].offset for tp in parts if tp in offsets)
            if done and not first:  # rate between the first commit and the last
                first, at_first = time.monotonic(), done
                cpu.start()
            if done >= total:
                cpu.stop(total - at_first)
                return float(total - at_first) / max(time.monotonic() - first, 1e-9)
            await asyncio.sleep(0.2)
        raise RuntimeError(f"group {group} did not commit {total} offsets within {timeout} s")
    finally:
        await probe.stop()
        await admin.close()


@dataclass
class Phase:
    name: str
    offered: float | None  # events/s, None = everything at once
    count: int


class AgencyReader:
    """Reads every agency topic and triage (all made up front: `fresh(agencies=True)`) and
    keeps each complaint's record timestamp; and the accepted topic, to split the latency into
    the intake hop and the router hop. Subscribed by name: a pattern subscription refreshes
    the whole cluster's metadata every few hundred ms, a load of its own on this machine."""

    def __init__(self, s: Settings) -> None:
        self.consumer = AIOKafkaConsumer(
            **aiokafka_options(s), auto_offset_reset="earliest", group_id=None)
        self.topics = [s.topic(ACCEPTED), s.topic(TRIAGE),
                       *(s.topic(agency_topic_name(a)) for a in sorted(load_registry().ids()))]
        self.accepted_topic = s.topic(ACCEPTED)
        self.arrived: dict[str, int] = {}
        self.accepted: dict[str, int] = {}

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe(self.topics)

    async def wait_for(self, ids: set[str], timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while not ids <= self.arrived.keys():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(ids - self.arrived.keys())} complaints never reached an agency topic")
            for tp, recs in (await self.consumer.getmany(timeout_ms=200)).items():
                seen = self.accepted if tp.topic == self.accepted_topic else self.arrived
                for r in recs:
                    if r.key:
                        seen.setdefault(r.key.decode(), r.timestamp)


@dataclass(frozen=True)
class Hops:
    """p99 of each hop: channel publish -> accepted, accepted -> agency topic."""

    intake_p99: float
    router_p99: float


Result = tuple[Phase, float, float, float, Hops]  # phase, events/s, p50 ms, p99 ms, hops


def p99(values: Iterable[float]) -> float:
    return statistics.quantiles(sorted(values), n=100)[98]


async def run_phase(s: Settings, reader: AgencyReader, phase: Phase) -> tuple[float, float, float, Hops]:
    """(achieved events/s, p50 ms, p99 ms, each hop's p99) for one offered rate."""
    p = AIOKafkaProducer(**aiokafka_options(s), acks="all", linger_ms=1)
    await p.start()
    sent: dict[str, int] = {}
    topic = s.topic(SUBMITTED)
    try:
        t0 = time.monotonic()
        for i in range(phase.count):
            key, value = submission(phase.name, i)
            now_ms = int(time.time() * 1000)
            await p.send(topic, value, key=key, timestamp_ms=now_ms)
            sent[make_complaint_id("web", key.decode())] = now_ms
            if phase.offered is not None:  # pace: sleep until this record's slot
                ahead = t0 + (i + 1) / phase.offered - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await p.flush()
    finally:
        await p.stop()
    await reader.wait_for(set(sent))
    latencies = sorted(reader.arrived[cid] - at for cid, at in sent.items())
    span_ms = max(reader.arrived[cid] for cid in sent) - min(sent.values())
    q = statistics.quantiles(latencies, n=100)
    hops = Hops(p99(reader.accepted[cid] - at for cid, at in sent.items() if cid in reader.accepted),
                p99(reader.arrived[cid] - reader.accepted[cid] for cid in sent if cid in reader.accepted))
    return phase.count / max(span_ms / 1000, 1e-9), q[49], q[98], hops


async def whole_pipeline(s: Settings, phases: list[Phase]) -> list[Result]:
    reader = AgencyReader(s)
    await reader.start()
    try:
        # Workers assigned and warm, and the broker done with the 1,100 agency partitions
        # just made (the first seconds after that ran slower in every hop).
        await run_phase(s, reader, Phase("warmup", 50.0, 500))
        return [(ph, *await run_phase(s, reader, ph)) for ph in phases]
    finally:
        await reader.consumer.stop()


def fresh(base: Settings, agencies: bool = False) -> Settings:
    """New topics under a new prefix; with `agencies`, every agency's topic up front, as a
    deployment does (`lapor topics create --agencies`): a topic created on first use costs
    its first complaint the creation and a metadata round trip."""
    s = base.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}."})
    specs = [*catalogue(s), TopicSpec(SINK, "as input", s.partitions, s.replication_factor)]
    if agencies:
        specs += [agency_topic(s, a) for a in sorted(load_registry().ids())]
    asyncio.run(create_topics(s, specs))
    asyncio.run(provision(s, []))  # the workers' principals
    return s


class FaustPassthrough:
    """bench/faust_passthrough.py as a worker process (the same process handling as a stage)."""

    def __init__(self, s: Settings, log: Path) -> None:
        self._log = open(log, "ab")
        script = Path(__file__).resolve().parent / "faust_passthrough.py"
        self.proc = subprocess.Popen([sys.executable, str(script), SUBMITTED, SINK],
                                     env=s.environment(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)
        self._log.close()


class Sampler:
    """py-spy recording a worker process (folded stacks), summarised when stopped: the shares
    of the worker's samples after start-up by part (the README's "Where the time goes"
    table), then the functions with the most own time. Sampling costs the worker a little:
    the rate of a sampled run reads low."""

    # A sample belongs to the first part one of its frames names (function, without line).
    PARTS = (
        ("start-up", ("_find_and_load (", "settle_heap (")),
        ("handlers (run_batch)", ("run_batch (",)),
        ("sends and the producer's requests and responses",
         ("send_batched (", "Sender._send_produce_req (", "AIOKafkaConnection._read (",
          "_read_ready (")),
        ("log lines", ("log_notes (",)),
        ("metrics", ("StageMetrics.observe (",)),
        ("changelog writes", ("BatchRunner._apply (",)),
    )
    REST = "faust's fetch and delivery of records, the event loop, the consumer thread"

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
             "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def report(self, service: str, top: int = 15) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)
        parts: dict[str, int] = {}
        own: dict[str, int] = {}
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]  # lines apart
            part = next((name for name, marks in self.PARTS
                         if any(f.startswith(marks) for f in frames)), self.REST)
            parts[part] = parts.get(part, 0) + int(count)
            own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        running = sum(parts.values()) - parts.get("start-up", 0)
        print(f"\n== {service}: {running} samples after start-up, by part")
        for name, n in sorted(parts.items(), key=lambda kv: -kv[1]):
            if name != "start-up":
                print(f"{100 * n / max(running, 1):6.1f}%  {name}")
        print(f"-- {service}: own time by function (all samples)")
        for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{100 * n / max(sum(own.values()), 1):6.1f}%  {name}")


def main() -> None:
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    n = int(numbers[0]) if numbers else 20_000
    with bench_broker(partitions=4) as base:
        run(base, n)


def run(base: Settings, n: int) -> None:
    logs = Path(tempfile.mkdtemp())
    rows: list[Row] = []
    bare = faust_rate = float("nan")
    if "--pipeline-only" not in sys.argv:
        rows, bare, faust_rate = stages_alone(base, n, logs)
    # The whole pipeline: three workers, fresh topics, fixed offered rates.
    results: list[Result] = []
    if "--stages-only" not in sys.argv:
        s = fresh(base, agencies=True)
        workers = [WorkerProcess(svc, s, logs / f"pipeline-{svc}.log")
                   for svc in ("intake", "router", "sla_monitor")]
        try:
            phases = [Phase("r100", 100.0, 1500), Phase("r1000", 1000.0, 3000), Phase("max", None, n)]
            results = asyncio.run(whole_pipeline(s, phases))
        finally:
            for w in workers:
                w.stop()
    print_tables(n, base.partitions, rows, bare, faust_rate, results)


Row = tuple[str, float, float]  # name, events/s, worker CPU µs per event (nan: not a worker)


def stages_alone(base: Settings, n: int, logs: Path) -> tuple[list[Row], float, float]:
    """The limits and each stage alone, each draining the backlog the previous one left; the
    agency topics made up front, as for the whole pipeline."""
    s = fresh(base, agencies=True)
    asyncio.run(produce_all(s, SUBMITTED, [submission("b", i) for i in range(n)]))
    asyncio.run(bare_loop(s, n, batched=True))  # warm-up: the broker's JIT and page cache
    bare = asyncio.run(bare_loop(s, n, batched=True))
    rows = [("batched aiokafka loop (getmany, send all, acks together)", bare, float("nan")),
            ("per-message aiokafka loop (await each ack)", asyncio.run(bare_loop(s, n, batched=False)),
             float("nan"))]
    passthrough = FaustPassthrough(s, logs / "faust-passthrough.log")
    cpu = CpuClock(passthrough.proc.pid)
    try:
        faust_rate = asyncio.run(output_rate(s, SINK, n, skip=3 * n, cpu=cpu))  # after the bare loops' 3n
    finally:
        passthrough.stop()
    rows.append(("faust passthrough (take_events 500/10 ms, producer.send)", faust_rate,
                 cpu.per_event_us))
    stages: list[tuple[str, Callable[[CpuClock], Coroutine[Any, Any, float]]]] = [
        ("intake", lambda cpu: output_rate(s, ACCEPTED, n, cpu=cpu)),
        ("router", lambda cpu: output_rate(s, ROUTED, n, cpu=cpu)),
        ("sla_monitor", lambda cpu: committed_rate(s, f"{s.topic_prefix}lapor-sla_monitor",
                                                   [ACCEPTED, ROUTED], cpu=cpu)),
    ]
    for service, measure in stages:
        worker = WorkerProcess(service, s, logs / f"{service}.log")
        sampler = Sampler(worker.proc.pid, logs / f"{service}.folded") if "--py-spy" in sys.argv else None
        cpu = CpuClock(worker.proc.pid)
        try:
            rows.append((f"{service} alone (events/s)", asyncio.run(measure(cpu)), cpu.per_event_us))
        finally:
            if sampler is not None:
                sampler.report(service)
            worker.stop()

    return rows, bare, faust_rate


def print_tables(n: int, partitions: int, rows: list[Row], bare: float,
                 faust_rate: float, results: list[Result]) -> None:
    print(f"\n{n} complaints backlog, {partitions} partitions, one worker per stage, broker on 127.0.0.1")
    print(f"{'stage':58} {'events/s':>9} {'vs batched':>10} {'vs faust':>9} {'CPU µs/event':>12}")
    for name, rate, cpu_us in rows:
        print(f"{name:58} {rate:9.0f} {rate / bare:10.2f} {rate / faust_rate:9.2f} {cpu_us:12.0f}")
    print(f"\n{'whole pipeline, offered rate':30} {'count':>6} {'events/s':>9} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'p99 intake hop':>15} {'p99 router hop':>15}")
    for ph, rate, p50, p99_ms, hops in results:
        offered = "max (all at once)" if ph.offered is None else f"{ph.offered:.0f}/s"
        print(f"{offered:30} {ph.count:6d} {rate:9.0f} {p50:8.0f} {p99_ms:8.0f} "
              f"{hops.intake_p99:15.0f} {hops.router_p99:15.0f}")


if __name__ == "__main__":
    main()
