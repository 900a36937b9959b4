"""The in-memory runtime: the same stages and handlers as the faust runtime, with topics as
lists and stores as dicts. Tests (and `lapor sla what-if`-style tools) use it to run a
service, or the whole pipeline, without a broker.

Keys are partitioned with Kafka's default partitioner (murmur2), so co-partitioned topics
line up exactly as they do on the broker.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka.partitioner import murmur2

from services.runtime.stage import BatchResult, Record, Stage, StagedStores, run_batch


def partition_for(key: bytes | None, partitions: int, fallback: int = 0) -> int:
    if key is None:
        return fallback % partitions
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class MemoryTopics:
    """Topics by contract name; each a list of partitions, each a list of records. `order`
    keeps every record in publishing order: workers read in that order, which is one of the
    orders a Kafka consumer may read in, and the one that makes a test reproducible."""

    partitions: int
    logs: dict[str, list[list[Record]]] = field(default_factory=dict)
    order: list[Record] = field(default_factory=list)
    clock: float = 1_893_456_000.0  # record time (2030-01-01): settable, never the machine's
    _round_robin: Iterator[int] = field(default_factory=itertools.count)

    def _log(self, topic: str) -> list[list[Record]]:
        return self.logs.setdefault(topic, [[] for _ in range(self.partitions)])

    def publish(self, topic: str, key: bytes | None, value: bytes | None,
                partition: int | None = None, timestamp: float | None = None) -> Record:
        log = self._log(topic)
        p = partition if partition is not None else partition_for(key, self.partitions,
                                                                    next(self._round_robin))
        record = Record(topic, p, len(log[p]), self.clock if timestamp is None else timestamp,
                        key, value)
        log[p].append(record)
        self.order.append(record)
        return record

    def read(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (order holds per partition)."""
        return [r for part in self._log(topic) for r in part]

    def topics(self) -> list[str]:
        return sorted(self.logs)


class MemoryWorker:
    """One worker of a stage: stores as dicts, a committed offset per input partition."""

    def __init__(self, stage: Stage, topics: MemoryTopics, batch_max: int = 500):
        self.stage, self.topics, self.batch_max = stage, topics, batch_max
        self.stores: dict[str, dict[str, Any]] = {s.value: {} for s in stage.stores}
        self.offsets: dict[tuple[str, int], int] = {}
        self.results: list[BatchResult] = []
        self._cursor = 0  # position in topics.order before which every input was handled

    def _pending(self) -> Iterable[tuple[int, Record]]:
        reads = self.stage.reads
        for position in range(self._cursor, len(self.topics.order)):
            record = self.topics.order[position]
            if reads(record.topic):
                yield position, record

    def poll(self) -> int:
        """Handle one batch of what is pending; returns how many records it took."""
        taken = list(itertools.islice(self._pending(), self.batch_max))
        if not taken:
            self._cursor = len(self.topics.order)
            return 0
        self._cursor = taken[-1][0] + 1
        batch = [record for _, record in taken]
        stores = StagedStores(self.stores)
        result = run_batch(self.stage, batch, stores)
        for o in result.outputs:
            self.topics.publish(o.topic, o.key, o.value)
        stores.commit()
        for r in batch:
            self.offsets[(r.topic, r.partition)] = r.offset + 1
        self.results.append(result)
        return len(batch)


def run_until_idle(workers: list[MemoryWorker], max_rounds: int = 10_000) -> int:
    """Poll every worker in turn until none has anything left; returns records handled."""
    total = 0
    for _ in range(max_rounds):
        handled = sum(w.poll() for w in workers)
        if not handled:
            return total
        total += handled
    raise RuntimeError(f"workers still busy after {max_rounds} rounds (a loop between stages?)")
