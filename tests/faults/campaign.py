"""A fault campaign: the mixed workload through two workers per service (RocksDB, standbys)
on a three-node cluster behind Toxiproxy, while workers are SIGKILLed in turn, a broker node
is SIGKILLed and restarted, and the network between workers and brokers gets slow or is cut.
After quiescence its outputs are compared with the fault-free in-memory run.

Used by tests/faults (a short campaign under the test command) and bench/faults.py (long)."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError

from services.runtime.settings import Settings
from services.runtime.topic_read import read_to_end
from services.runtime.topics import (
    ACCEPTED, COMPLIANCE, ESCALATIONS, ROUTED, SMS, STATUS, SUBMITTED, TICKS,
)
from services.runtime.kafka_client import aiokafka_options
from services.tools import cluster
from services.tools.broker import free_port
from services.tools.broker_security import admin_settings
from tests.faults.toxiproxy import Toxiproxy
from tests.faults.workload import Input, Outcome, expected, submissions, tally, ticks
from tests.kafka_helpers import create_contract_topics, produce
from tests.workers import WorkerProcess

SERVICES = ("intake", "router", "sla_monitor")
INPUTS = {"intake": (SUBMITTED, SMS), "router": (ACCEPTED, STATUS, TICKS),
          "sla_monitor": (ACCEPTED, ROUTED, STATUS, TICKS)}


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


@dataclass
class Report:
    inputs: dict[str, int] = field(default_factory=dict)
    faults: list[tuple[float, str]] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)  # ids the fault-free run made, by kind
    produced: dict[str, int] = field(default_factory=dict)  # distinct ids read from the cluster
    compliance_agencies: int = 0  # agencies with compliance totals in the fault-free run
    lost: dict[str, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    compliance_equal: bool = False
    compliance_diff: dict[str, Any] = field(default_factory=dict)  # agency -> (expected, got)
    unexpected_exits: int = 0
    drain_s: float = 0.0
    total_s: float = 0.0

    def lines(self) -> list[str]:
        return [f"inputs: {self.inputs}",
                f"faults ({len(self.faults)}): " + "; ".join(f"{t:.0f}s {what}" for t, what in self.faults),
                f"expected ids: {self.expected}; produced ids: {self.produced}",
                f"lost ids: {self.lost}", f"extra ids: {self.extra}", f"duplicates (repeated ids): {self.duplicates}",
                f"compliance totals equal: {self.compliance_equal} {self.compliance_diff or ''}",
                f"workers that exited on their own (restarted): {self.unexpected_exits}",
                f"drain after the last fault: {self.drain_s:.1f}s; whole campaign {self.total_s:.0f}s"]


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
    async def lag(self, service: str) -> int | None:
        group = f"{self.settings.topic_prefix}lapor-{service}"
        admin = AIOKafkaAdminClient(**aiokafka_options(self.settings))
        consumer = AIOKafkaConsumer(**aiokafka_options(self.settings), group_id=None)
        try:
            await admin.start()
            await consumer.start()
            committed = await admin.list_consumer_group_offsets(group)
            parts = [TopicPartition(self.settings.topic(t), p) for t in INPUTS[service]
                     for p in range(self.settings.partitions)]
            ends = await consumer.end_offsets(parts)
            return int(sum(max(0, ends[tp] - (committed[tp].offset if tp in committed else 0)) for tp in parts))
        except Exception:  # a coordinator moving during a fault: ask again
            return None
        finally:
            await consumer.stop()
            await admin.close()

    async def settled(self, services: tuple[str, ...], timeout_s: float = 300) -> None:
        """Every group of `services` has read all of its inputs, twice in a row."""
        deadline, calm = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline:
            self.supervise()
            lags = [await self.lag(s) for s in services]
            calm = calm + 1 if all(x == 0 for x in lags) else 0
            if calm >= 2:
                return
            await asyncio.sleep(1.0)
        raise AssertionError(f"{services} did not catch up within {timeout_s}s (lags {lags})")

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
        await self.topics_visible([SUBMITTED, SMS, STATUS, TICKS])
        for service in SERVICES:
            for n in (1, 2):
                self._start(f"{service}-{n}")
        early = (plan.worker_kills + 1) // 2  # the other kills come during the ticks
        await self.publish(inputs, [self._kill, self._latency, *[self._kill] * (early - 1)])
        await self.settled(("intake", "router"))
        await self.publish(statuses, [*([self._node] * plan.node_kills), self._cut])
        await self.settled(("router", "sla_monitor"))
        late = plan.worker_kills - early
        tick_faults = {int(plan.days * (i + 1) / (late + 1)) for i in range(late)}
        for day, as_of in enumerate(ticks(plan.days)):
            for p in range(self.settings.partitions):
                await produce(self.settings, TICKS, [(None, f'{{"as_of": "{as_of}"}}'.encode())], partition=p)
            if day in tick_faults:
                self.kill_worker()
            await self.settled(("router", "sla_monitor"))  # ticks are watermarks: read in order
        await self.settled(SERVICES)
        self.report.drain_s = time.monotonic() - self._last_fault
        got = tally({t: [(r.key, r.value or b"") for r in await read_to_end(self.settings, t)]
                     for t in (ACCEPTED, ROUTED, ESCALATIONS, COMPLIANCE)})
        self.compare(want, got)
        self.report.total_s = time.monotonic() - self.t0
        return self.report

    def compare(self, want: Outcome, got: Outcome) -> None:
        r = self.report
        for kind in ("accepted", "routed", "escalations"):
            w, g = getattr(want, kind), getattr(got, kind)
            r.lost[kind], r.extra[kind] = len(w - g), len(g - w)
            r.expected[kind], r.produced[kind] = len(w), len(g)
        r.duplicates = got.duplicates
        r.compliance_agencies = len(want.compliance)
        r.compliance_equal = want.compliance == got.compliance
        r.compliance_diff = {a: (want.compliance.get(a), got.compliance.get(a))
                             for a in want.compliance.keys() | got.compliance.keys()
                             if want.compliance.get(a) != got.compliance.get(a)}

    def close(self) -> None:
        for w in self.workers.values():
            w.stop(signal.SIGTERM, timeout_s=15)
        self.proxy.stop()
        cluster.stop(self.broker_settings)
