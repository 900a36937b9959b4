"""A fault campaign: the mixed workload through two workers per service (RocksDB, standbys)
on a three-node cluster behind Toxiproxy, while workers are SIGKILLed in turn, a broker node
is SIGKILLed and restarted, and the network between workers and brokers gets slow or is cut.
Once the system is drained (below) its outputs are compared with the fault-free in-memory run.

Drained, not merely quiet: every stage's consumer group has committed every record of every
one of its input topics, on two passes in a row that find the same end offsets (nothing new
came in between). A stage commits an input only after the outputs it made of it are
acknowledged, so then every input's effect is written and no further one can come: an id
still missing is lost, not late. Each phase (the complaints, the statuses, every tick) waits
for that before the next begins, polling; a phase that takes longer than the plan's bound is
reported with what was still unread, and the campaign then waits out a second bound to tell
late effects (in after the bound) from lost ones.

Used by tests/faults (a short campaign under the test command) and bench/faults.py (long)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError

from services.intake.compose import build as build_intake
from services.router.compose import build as build_router
from services.runtime.settings import Settings
from services.runtime.topic_read import read_to_end
from services.runtime.topics import ACCEPTED, COMPLIANCE, ESCALATIONS, ROUTED, SMS, SUBMITTED, TICKS
from services.sla_monitor.compose import build as build_sla
from services.runtime.kafka_client import aiokafka_options
from services.tools import cluster
from services.tools.broker import free_port
from services.tools.broker_security import admin_settings
from tests.faults.toxiproxy import Toxiproxy
from tests.faults.workload import Input, Outcome, expected, status_topic, submissions, tally, ticks
from tests.kafka_helpers import create_contract_topics, produce
from tests.workers import WorkerProcess

SERVICES = ("intake", "router", "sla_monitor")  # in pipeline order: a drain pass reads them so
OUTPUTS = (ACCEPTED, ROUTED, ESCALATIONS, COMPLIANCE)
KINDS = ("accepted", "routed", "escalations")


def stage_inputs(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Each service's input topics, as its stage declares them (not a copy that can go stale)."""
    return {"intake": build_intake(settings).inputs, "router": build_router(settings).inputs,
            "sla_monitor": build_sla(settings).inputs}


@dataclass
class Plan:
    complaints: int = 150
    days: int = 20
    seed: int = 7
    rate_per_s: float = 20.0
    worker_kills: int = 3  # SIGKILLs of workers, in turn over the services
    node_kills: int = 1  # SIGKILL of a broker node, restarted after `node_down_s`
    node_down_s: float = 10.0
    latency_ms: int = 300
    latency_s: float = 6.0
    cut_s: float = 5.0
    # The longest a phase may take to drain (a maximum, never waited out: the drain polls).
    # Past it the phase is reported as late, with what was still unread, and the campaign
    # waits once more as long to tell late effects from lost ones; past that it gives up.
    drain_bound_s: float = 300.0
    poll_s: float = 0.5


@dataclass
class Backlog:
    """One pass over the stages' consumer groups: what each has not committed yet."""

    behind: dict[tuple[str, str, int], int]  # (service, topic, partition) -> records not committed
    ends: dict[tuple[str, int], int]  # (topic, partition) -> end offset

    @property
    def empty(self) -> bool:
        return not any(self.behind.values())

    def describe(self) -> str:
        rows = [f"{service} {topic}[{p}] {n} behind" for (service, topic, p), n in sorted(self.behind.items()) if n]
        return "; ".join(rows) or "nothing behind (not yet twice in a row)"


@dataclass
class Report:
    inputs: dict[str, int] = field(default_factory=dict)
    faults: list[tuple[float, str]] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)  # ids the fault-free run made, by kind
    produced: dict[str, int] = field(default_factory=dict)  # distinct ids read from the cluster
    compliance_agencies: int = 0  # agencies with compliance totals in the fault-free run
    # After a true drain (below): expected ids absent (lost) and ids the fault-free run did not
    # make (extra), by kind, with what each stands for.
    lost: dict[str, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)
    lost_ids: dict[str, list[str]] = field(default_factory=dict)
    extra_ids: dict[str, list[str]] = field(default_factory=dict)
    # Expected ids that were absent when the final drain bound passed and came afterwards.
    late: dict[str, int] = field(default_factory=dict)
    # Escalations made under the same id as the fault-free run's but on another tick (a
    # deadline seen late, or early, by the SLA monitor): id -> (expected as_of, as_of here).
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    compliance_equal: bool = False
    compliance_diff: dict[str, Any] = field(default_factory=dict)  # agency -> (expected, got)
    unexpected_exits: int = 0
    # faust's "Crashed reason=..." lines in the workers' logs: an agent whose batch raised
    # (its batch is then acked without its outputs, see the test).
    crashes: list[str] = field(default_factory=list)
    # Statuses the SLA monitor counted late (its `late_status` note: read after the ticks had
    # passed their time by the allowed lateness), by event id.
    late_statuses: list[str] = field(default_factory=list)
    drained: bool = False  # the final drain was reached (two passes, nothing behind)
    # Phases whose drain took longer than the bound: (phase, seconds it took, what was behind
    # at the bound); seconds is None when it never drained.
    overruns: list[tuple[str, float | None, str]] = field(default_factory=list)
    drains: list[tuple[str, float]] = field(default_factory=list)  # (phase, seconds to drain)
    drain_s: float = 0.0
    total_s: float = 0.0

    def lines(self) -> list[str]:
        slowest = sorted(self.drains, key=lambda d: -d[1])[:3]
        return [f"inputs: {self.inputs}",
                f"faults ({len(self.faults)}): " + "; ".join(f"{t:.0f}s {what}" for t, what in self.faults),
                f"expected ids: {self.expected}; produced ids: {self.produced}",
                f"drained: {self.drained}; phases past the drain bound: {self.overruns or 'none'}",
                (f"lost ids (absent after the drain): {self.lost} {_named(self.lost_ids)}" if self.drained else
                 f"missing ids (NOT drained: lost or still on their way): {self.lost} {_named(self.lost_ids)}"),
                f"extra ids: {self.extra} {_named(self.extra_ids)}",
                f"late ids (absent at the drain bound, came after it): {self.late}",
                f"escalations on another tick than the fault-free run's: {len(self.moved)} "
                + "; ".join(f"{i} {a} -> {b}" for i, (a, b) in list(self.moved.items())[:5]),
                f"duplicates (repeated ids): {self.duplicates}",
                f"compliance totals equal: {self.compliance_equal} {self.compliance_diff or ''}",
                f"workers that exited on their own (restarted): {self.unexpected_exits}",
                f"agents crashed in a worker: {len(self.crashes)} {'; '.join(self.crashes)}",
                f"statuses the SLA monitor counted late: {len(self.late_statuses)} "
                + " ".join(self.late_statuses[:8]),
                f"drains: {len(self.drains)}, slowest " + ", ".join(f"{p} {t:.1f}s" for p, t in slowest),
                f"drain after the last fault: {self.drain_s:.1f}s; whole campaign {self.total_s:.0f}s"]


def _named(ids: dict[str, list[str]]) -> str:
    return " ".join(f"{kind}: {'; '.join(v)}" for kind, v in ids.items() if v)


class LagProbe:
    """Committed offsets of each stage's group against the end offsets of its inputs, with
    one admin client and one consumer kept across passes (made again after an error)."""

    def __init__(self, settings: Settings, inputs: dict[str, tuple[str, ...]]):
        self.settings, self.inputs = settings, inputs
        self.parts = {s: [TopicPartition(settings.topic(t), p) for t in topics
                          for p in range(settings.partitions)] for s, topics in inputs.items()}
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(**aiokafka_options(self.settings))
            consumer = AIOKafkaConsumer(**aiokafka_options(self.settings), group_id=None)
            self._admin, self._consumer = admin, consumer
            await admin.start()
            await consumer.start()
        return self._admin, self._consumer

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for stop in ((consumer.stop,) if consumer else ()) + ((admin.close,) if admin else ()):
            try:
                await stop()
            except Exception:
                pass

    async def measure(self) -> Backlog | None:
        """One pass: the committed offsets, service by service in pipeline order, then the end
        offsets (read last, so a record that came meanwhile counts as behind). None when the
        cluster did not answer (a coordinator moving during a fault): ask again."""
        try:
            admin, consumer = await self._clients()
            committed = {s: await asyncio.wait_for(admin.list_consumer_group_offsets(
                f"{self.settings.topic_prefix}lapor-{s}"), 30) for s in SERVICES}
            every = sorted({tp for parts in self.parts.values() for tp in parts})
            ends = await asyncio.wait_for(consumer.end_offsets(every), 30)
        except Exception:
            await self.close()
            return None
        prefix = len(self.settings.topic_prefix)
        behind = {(s, tp.topic[prefix:], tp.partition):
                  max(0, ends[tp] - max(0, committed[s][tp].offset if tp in committed[s] else 0))
                  for s in SERVICES for tp in self.parts[s]}
        return Backlog(behind, {(tp.topic[prefix:], tp.partition): ends[tp] for tp in every})


class Campaign:
    def __init__(self, base: Settings, work: Path, plan: Plan):
        self.plan, self.work = plan, work
        self.t0 = time.monotonic()
        self.report = Report()
        # The cluster gets its own CA and admin secret (SASL/SCRAM over TLS, ACLs): the
        # clients here run as its operator, the workers as their services.
        self.broker_settings = base.model_copy(update={"broker_dir": work / "broker",
                                                       "access_dir": work / "access"})
        clients, proxied = [free_port() for _ in range(3)], [free_port() for _ in range(3)]
        self.proxy = Toxiproxy(base.broker_cache, free_port(), work / "toxiproxy.log")
        for i in range(3):
            self.proxy.proxy(f"node-{i + 1}", proxied[i], clients[i])
        bootstrap = cluster.start(self.broker_settings, 3, clients, proxied)
        self.settings = admin_settings(self.broker_settings).model_copy(update={
            "bootstrap_servers": bootstrap, "replication_factor": 3, "partitions": 4,
            "store": "rocksdb://", "standby_replicas": 1, "session_timeout_s": 10.0,
            "topic_prefix": f"f{int(time.time())}.", "web_enabled": False})
        self.inputs = stage_inputs(self.settings)
        self.probe = LagProbe(self.settings, self.inputs)
        self.behind = ""  # what the last drain that passed its bound found still unread
        self.workers: dict[str, WorkerProcess] = {}
        self._kills = 0
        self._last_fault = self.t0

    def fault(self, what: str) -> None:
        self.report.faults.append((time.monotonic() - self.t0, what))
        self._last_fault = time.monotonic()

    # --- workers -------------------------------------------------------------------------------
    def _start(self, name: str) -> None:
        service = name.rsplit("-", 1)[0]
        disk = self.settings.model_copy(update={"data_dir": self.work / "disks" / name})
        self.workers[name] = WorkerProcess(service, disk, self.work / f"{name}.log")

    def supervise(self) -> None:
        """Restart any worker that is not running (as a process supervisor would)."""
        for name, w in list(self.workers.items()):
            if w.proc.poll() is not None:
                self.report.unexpected_exits += 1
                self._start(name)

    def kill_worker(self) -> None:
        name = f"{SERVICES[self._kills % 3]}-{1 + (self._kills // 3) % 2}"
        self._kills += 1
        self.workers[name].kill()
        self.fault(f"SIGKILL {name}")
        self._start(name)

    # --- waiting -------------------------------------------------------------------------------
    async def drain(self, phase: str, bound_s: float | None = None) -> bool:
        """Wait until the system is drained: two passes in a row find every stage's group with
        every input record committed, and the same end offsets (nothing came in between).
        Then every input's effect is written (a stage commits only after its outputs are
        acknowledged) and none can follow. Returns False if `bound_s` (the plan's bound)
        passed first; nothing here sleeps longer than a poll."""
        bound = self.plan.drain_bound_s if bound_s is None else bound_s
        started = time.monotonic()
        previous: Backlog | None = None
        last: Backlog | None = None
        while True:
            self.supervise()
            backlog = await self.probe.measure()
            if backlog is not None:
                last = backlog
                if backlog.empty and previous is not None and previous.ends == backlog.ends:
                    took = time.monotonic() - started
                    self.report.drains.append((phase, took))
                    # (progress, shown with a failure's captured output)
                    print(f"{time.monotonic() - self.t0:.0f}s {phase}: drained in {took:.1f}s", flush=True)
                    return True
                previous = backlog if backlog.empty else None
            if time.monotonic() - started > bound:
                self.behind = last.describe() if last else "the cluster did not answer"
                return False
            await asyncio.sleep(self.plan.poll_s)

    async def phase_drained(self, phase: str) -> None:
        """A phase's drain; past its bound it is reported, and waited for once more as long
        (its effects are then late, not lost); past that the campaign stops, naming what was
        still behind."""
        started = time.monotonic()
        if await self.drain(phase):
            return
        at_bound = self.behind
        if await self.drain(phase):
            self.report.overruns.append((phase, time.monotonic() - started, at_bound))
            return
        self.report.overruns.append((phase, None, at_bound))
        self.report.crashes = self.crashes()
        raise AssertionError(f"{phase}: not drained within {2 * self.plan.drain_bound_s:.0f}s; "
                             f"behind at the bound: {at_bound}; at the end: {self.behind}; "
                             f"report so far: {self.report.lines()}")

    async def topics_visible(self, topics: list[str], timeout_s: float = 60) -> None:
        """New topics reach every node's metadata a moment after their creation: wait until a
        client sees them (a produce before that fails with UnknownTopicOrPartition)."""
        producer = AIOKafkaProducer(**aiokafka_options(self.settings))
        await producer.start()
        try:
            for topic in topics:
                deadline = time.monotonic() + timeout_s
                while True:
                    try:
                        if await producer.partitions_for(self.settings.topic(topic)):
                            break
                    except UnknownTopicOrPartitionError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{topic} not visible {timeout_s:.0f}s after its creation")
                    await asyncio.sleep(0.5)
        finally:
            await producer.stop()

    # --- phases --------------------------------------------------------------------------------
    async def publish(self, records: list[Input], faults: list[Any]) -> None:
        """Publish at the plan's rate, running each fault when its share of the records is out."""
        marks = {int(len(records) * (i + 1) / (len(faults) + 1)): f for i, f in enumerate(faults)}
        chunk = max(1, int(self.plan.rate_per_s))
        for start in range(0, len(records), chunk):
            for i in range(start, min(start + chunk, len(records))):
                if i in marks:
                    await marks[i]()
            part = records[start:start + chunk]
            for topic in {t for t, _, _ in part}:
                await produce(self.settings, topic, [(k, v) for t, k, v in part if t == topic])
            self.supervise()
            await asyncio.sleep(1.0)

    async def _kill(self) -> None:
        self.kill_worker()

    async def _latency(self) -> None:
        self.proxy.latency("node-1", self.plan.latency_ms, self.plan.latency_ms // 5)
        self.fault(f"latency {self.plan.latency_ms} ms on node-1 for {self.plan.latency_s:.0f}s")
        await asyncio.sleep(self.plan.latency_s)
        self.proxy.clear("node-1")

    async def _cut(self) -> None:
        self.proxy.enabled("node-3", False)
        self.fault(f"network cut to node-3 for {self.plan.cut_s:.0f}s")
        await asyncio.sleep(self.plan.cut_s)
        self.proxy.enabled("node-3", True)

    async def _node(self) -> None:
        cluster.kill_node(self.broker_settings, 2)
        self.fault(f"SIGKILL broker node 2 for {self.plan.node_down_s:.0f}s")
        await asyncio.sleep(self.plan.node_down_s)
        await asyncio.to_thread(cluster.start_node, self.broker_settings, 2)

    async def run(self) -> Report:
        plan = self.plan
        inputs = submissions(plan.complaints, plan.seed)
        want, statuses = expected(self.settings, inputs, plan.seed, plan.days)
        self.report.inputs = {"submissions+sms": len(inputs), "statuses": len(statuses),
                              "ticks": plan.days * self.settings.partitions}
        await create_contract_topics(self.settings)
        await self.topics_visible([SUBMITTED, SMS, status_topic(self.settings), TICKS])
        for service in SERVICES:
            for n in (1, 2):
                self._start(f"{service}-{n}")
        try:
            early = (plan.worker_kills + 1) // 2  # the other kills come during the ticks
            await self.publish(inputs, [self._kill, self._latency, *[self._kill] * (early - 1)])
            await self.phase_drained("complaints")
            await self.publish(statuses, [*([self._node] * plan.node_kills), self._cut])
            await self.phase_drained("statuses")
            late = plan.worker_kills - early
            tick_faults = {int(plan.days * (i + 1) / (late + 1)) for i in range(late)}
            for day, as_of in enumerate(ticks(plan.days)):
                for p in range(self.settings.partitions):
                    await produce(self.settings, TICKS, [(None, f'{{"as_of": "{as_of}"}}'.encode())], partition=p)
                if day in tick_faults:
                    self.kill_worker()
                if day < plan.days - 1:  # ticks are watermarks: each read after what came before
                    await self.phase_drained(f"tick {day + 1}")
            await self.final(want)
        finally:
            await self.probe.close()
        self.report.total_s = time.monotonic() - self.t0
        return self.report

    async def final(self, want: Outcome) -> None:
        """The last tick's drain, then the comparison. Past the bound, the ids still missing
        are noted, and after a second bound (or the drain) those that came are late, those
        still missing lost."""
        phase = f"tick {self.plan.days} (the last)"
        started = time.monotonic()
        self.report.drained = await self.drain(phase)
        if not self.report.drained:
            at_bound = self.behind
            missing = self.compare(want, await self.outputs())
            self.report.drained = await self.drain(phase)
            self.report.overruns.append((phase, time.monotonic() - started if self.report.drained else None,
                                         at_bound))
            got = await self.outputs()
            self.report.late = {k: len(missing[k] & getattr(got, k)) for k in KINDS}
        else:
            got = await self.outputs()
            self.report.late = {k: 0 for k in KINDS}
        self.report.drain_s = time.monotonic() - self._last_fault
        self.compare(want, got)
        self.report.crashes = self.crashes()
        self.report.late_statuses = sorted({e.get("event_id", "?") for e in self.logged("sla_monitor", "late_status")})

    def logged(self, service: str, event: str) -> list[dict[str, Any]]:
        """The JSON log lines of `service`'s workers with that `event`."""
        found = []
        for name in sorted(n for n in self.workers if n.rsplit("-", 1)[0] == service):
            for line in (self.work / f"{name}.log").read_text(errors="replace").splitlines():
                if line.startswith("{") and f'"{event}"' in line:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("event") == event:
                        found.append(entry)
        return found

    def crashes(self) -> list[str]:
        """Each agent crash faust logged, by worker (a restarted worker appends to its log)."""
        found = []
        for name in sorted(self.workers):
            text = (self.work / f"{name}.log").read_text(errors="replace")
            found += [f"{name}: {line.strip()[:200]}" for line in text.splitlines() if "Crashed reason=" in line]
        return found

    async def outputs(self) -> Outcome:
        return tally({t: [(r.key, r.value or b"") for r in await read_to_end(self.settings, t)]
                      for t in OUTPUTS})

    def compare(self, want: Outcome, got: Outcome) -> dict[str, set[str]]:
        """Fill the report from `got`; returns the expected ids missing, by kind."""
        r = self.report
        missing = {}
        for kind in KINDS:
            w, g = getattr(want, kind), getattr(got, kind)
            missing[kind] = w - g
            r.lost[kind], r.extra[kind] = len(w - g), len(g - w)
            r.lost_ids[kind] = [f"{i} ({want.about.get(i, '')})" for i in sorted(w - g)[:8]]
            r.extra_ids[kind] = [f"{i} ({got.about.get(i, '')})" for i in sorted(g - w)[:8]]
            r.expected[kind], r.produced[kind] = len(w), len(g)
        r.moved = {i: (a, got.fired[i]) for i, a in sorted(want.fired.items())
                   if i in got.fired and got.fired[i] != a}
        r.duplicates = got.duplicates
        r.compliance_agencies = len(want.compliance)
        r.compliance_equal = want.compliance == got.compliance
        r.compliance_diff = {a: (want.compliance.get(a), got.compliance.get(a))
                             for a in want.compliance.keys() | got.compliance.keys()
                             if want.compliance.get(a) != got.compliance.get(a)}
        return missing

    def close(self) -> None:
        for w in self.workers.values():
            w.stop(signal.SIGTERM, timeout_s=15)
        self.proxy.stop()
        cluster.stop(self.broker_settings)
