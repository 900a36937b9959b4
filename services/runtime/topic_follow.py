"""Following topics from their beginning with no consumer group: every worker of a view
that must see all of them (the desk) reads everything itself, so any of them can answer
any page. A pattern names the topics, so per-agency topics made later are read too (within
the metadata refresh)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.topic_read import TopicRecord, partitions_of

METADATA_MAX_AGE_MS = 5_000  # a topic made later is followed this soon


def follow_pattern(settings: Settings, exact: Sequence[str], families: Sequence[str]) -> str:
    """One subscription regex: the exact contract topics and the per-agency templates, under
    the deployment's prefix."""
    prefix = re.escape(settings.topic_prefix)
    names = [re.escape(t) for t in exact] + [
        re.escape(head) + r"[a-z0-9][a-z0-9-]*" + re.escape(tail)
        for head, tail in (f.split("{agency_id}") for f in families)]
    return f"^{prefix}(?:{'|'.join(names)})$"


async def follow(settings: Settings, pattern: str, on_record: Callable[[TopicRecord], None],
                 stopping: asyncio.Event, caught_up: asyncio.Event | None = None) -> None:
    """Call `on_record` for every record of the matching topics, oldest first per partition,
    until `stopping` is set. `on_record` must not raise (it is the view's, and pure).
    `caught_up`, if given, is set once every partition first matched has been read up to its
    end offset as of that first match (a topic made later is not waited for)."""
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                metadata_max_age_ms=METADATA_MAX_AGE_MS)
    consumer.subscribe(pattern=pattern)
    await consumer.start()
    strip = len(settings.topic_prefix)
    ends: dict[TopicPartition, int] | None = None
    try:
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batches.items():
                for r in records:
                    on_record(TopicRecord(tp.topic[strip:], tp.partition, r.offset, r.timestamp,
                                          r.key, r.value))
            if caught_up is None or caught_up.is_set():
                continue
            if ends is None:  # the subscription's first match (no group: every partition of it)
                first = list(consumer.assignment())
                if not first:
                    continue
                ends = await consumer.end_offsets(first)
            assigned = set(consumer.assignment())  # (a topic deleted since is not waited for)
            # Positions, not offsets: compaction leaves gaps.
            at = {tp: await consumer.position(tp) for tp in ends if tp in assigned}
            if all(at[tp] >= ends[tp] for tp in at):
                caught_up.set()
    finally:
        await consumer.stop()


class AssignedFollower:
    """Every record of these (existing, contract) topics from their beginning, each partition
    assigned to this consumer (no group), handed to `on_record` until `stopping` is set. For
    a stage's own shared memory that each of its workers keeps whole (the bridge's): read
    once, no second pass over history after a read to the end.

    `caught_up` is set once it has read up to the end offsets found at start; `sync()` returns
    once it has read everything written before the call (a worker that takes over partitions
    knows what their former owner wrote before it starts on them)."""

    def __init__(self, settings: Settings, topics: Sequence[str],
                 on_record: Callable[[TopicRecord], None]):
        self.settings, self.topics, self.on_record = settings, topics, on_record
        self.caught_up = asyncio.Event()
        self._syncs: list[asyncio.Future[None]] = []

    async def sync(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._syncs.append(waiter)
        await waiter

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(**aiokafka_options(self.settings), group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            parts = []
            for name in self.topics:  # one missing would never be followed: refuse to start
                found = await partitions_of(consumer, self.settings.topic(name))
                if not found:
                    raise RuntimeError(f"topic {self.settings.topic(name)} does not exist "
                                       "(lapor topics create)")
                parts += found
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            pending: list[tuple[dict[TopicPartition, int], asyncio.Future[None]]] = []
            strip = len(self.settings.topic_prefix)
            while not stopping.is_set():
                if self._syncs:  # the ends as of now, for each sync asked for since last round
                    now = await consumer.end_offsets(parts)
                    pending += [(now, waiter) for waiter in self._syncs]
                    self._syncs.clear()
                batches = await consumer.getmany(timeout_ms=200, max_records=2000)
                for tp, records in batches.items():
                    for r in records:
                        self.on_record(TopicRecord(tp.topic[strip:], tp.partition, r.offset,
                                                   r.timestamp, r.key, r.value))
                # Positions, not offsets: compaction leaves gaps.
                at = {tp: await consumer.position(tp) for tp in parts}
                if not self.caught_up.is_set() and all(at[tp] >= ends[tp] for tp in parts):
                    self.caught_up.set()
                for target, waiter in list(pending):
                    if all(at[tp] >= target[tp] for tp in parts):
                        pending.remove((target, waiter))
                        if not waiter.done():
                            waiter.set_result(None)
        finally:
            await consumer.stop()
