"""The runtime of a stage whose work waits on someone else (an agency's HTTP endpoint): one
ordered lane per agency, so that one agency's endpoint being down for a day delays no other.

A consumer group reads the lanes' topics and hands each record to its lane's queue; each lane
works through its queue in order with the stage's `deliver` coroutine (which retries as long
as it must), sends what it returns (dead letters, state), awaits the acks, and only then
counts the record done. Offsets are committed per partition up to the records done, so a
crash (SIGKILL included) repeats the unfinished ones and loses none. A lane whose queue grows
past `HIGH` has its partitions paused (the consumer stops fetching them) until it drains
below `LOW`: a stalled agency holds a bounded number of records in memory, and the others'
partitions keep flowing.

Nothing ends a lane quietly: a record's outputs that cannot be sent (the cluster unreachable,
a send timing out) are retried with a growing pause until they are sent, the lane showing in
`health` meanwhile; and a lane or supervised task that ends with an error stops `run`, so the
worker exits and restarts instead of running on with an agency no longer served.

A partition that moves to another worker mid-delivery (a rebalance) is let go cleanly: the
stage's `deliver` asks `holds(lane)` before each try and raises `Abandoned` when it no longer
does, and the revocation waits (up to `REVOKE_WAIT_S`) for a call in flight on it to end, so
the new owner never calls the endpoint for a record while the old one still does.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from services.runtime.batch_send import PRODUCER_BATCH_BYTES
from services.runtime.group_commit import commit_held
from services.runtime.health import Health
from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.logging import get_logger
from services.runtime.stage import Record, internal_error

HIGH, LOW = 200, 50  # records queued in one lane: pause its partitions above, resume below
COMMIT_EVERY_S = 1.0
METADATA_MAX_AGE_MS = 5_000  # an agency topic the router creates later is read this soon
SEND_RETRY_BASE_S, SEND_RETRY_CAP_S = 0.5, 30.0  # pause between tries to send a lane's outputs
REVOKE_WAIT_S = 60.0  # how long a revocation waits for deliveries in flight on its partitions


class Abandoned(Exception):
    """Raised by a `deliver` whose record's partition went to another worker: stop, not done
    (the new owner delivers it from the committed offset)."""

# A lane's work on one record: what to send before the record counts as done.
Deliver = Callable[[str, Record], Awaitable[Sequence["Outgoing"]]]


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str  # contract name, without the deployment prefix
    key: bytes | None
    value: bytes | None  # None: a tombstone (a compacted topic forgets the key)


@dataclass
class Lane:
    name: str
    queue: deque[tuple[TopicPartition, int, Record]] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    paused: bool = False
    head: Record | None = None  # the record being worked on
    head_from: tuple[TopicPartition, int] | None = None  # its partition and generation
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # set while no record is worked on

    def put(self, item: tuple[TopicPartition, int, Record]) -> None:
        self.queue.append(item)
        self.arrived.set()

    async def take(self) -> tuple[TopicPartition, int, Record]:
        while not self.queue:
            self.arrived.clear()
            await self.arrived.wait()
        return self.queue.popleft()

    def oldest_timestamp(self) -> float | None:
        """Kafka time of the oldest record not yet done (the head, else the first queued)."""
        if self.head is not None:
            return self.head.timestamp
        return self.queue[0][2].timestamp if self.queue else None

    def pending(self) -> int:
        return len(self.queue) + (1 if self.head is not None else 0)


class LaneRuntime(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, settings: Settings, group: str, lane_of_topic: Callable[[str], str | None],
                 pattern: str, deliver: Deliver):
        self.settings, self.group, self.deliver = settings, group, deliver
        self._lane_of_topic, self._pattern = lane_of_topic, pattern
        self.lanes: dict[str, Lane] = {}
        self._done: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._generation: dict[TopicPartition, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.health = Health()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self._log: Any = get_logger()
        # The stage's way to cut short a lane's wait between tries (a revocation calls it).
        self.wake: Callable[[str], None] = lambda lane: None
        # Awaited when partitions are assigned, before their records are fetched: the stage
        # reads what their former owner wrote (its shared state) first.
        self.before_assigned: Callable[[], Awaitable[None]] | None = None
        self._assigned_ready = asyncio.Event()  # clear until `before_assigned` succeeded
        self._assigned_ready.set()
        self._syncing: asyncio.Task[None] | None = None

    def holds(self, lane_name: str) -> bool:
        """Whether the record the lane works on is still this worker's to deliver."""
        lane = self.lanes.get(lane_name)
        if lane is None or lane.head_from is None:
            return True  # not a lane's record (an operator's command delivering)
        tp, generation = lane.head_from
        return generation == self._generation.get(tp, 0)

    def holds_partition(self, topic: str, partition: int) -> bool:
        """Whether this worker is assigned that partition (contract topic name) now."""
        if self.consumer is None:
            return False
        return TopicPartition(self.settings.topic_prefix + topic, partition) in self.consumer.assignment()

    async def start(self) -> None:
        options = aiokafka_options(self.settings)
        self.producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True,
                                         max_batch_size=PRODUCER_BATCH_BYTES)
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            **options, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", metadata_max_age_ms=METADATA_MAX_AGE_MS,
            session_timeout_ms=int(self.settings.session_timeout_s * 1000))
        self.consumer.subscribe(pattern=self._pattern, listener=self)
        await self.consumer.start()

    async def send(self, items: Sequence[Outgoing]) -> None:
        """Send records and wait until the cluster has them all (acks=all)."""
        assert self.producer is not None
        prefix = self.settings.topic_prefix
        futures = [await self.producer.send(prefix + o.topic, value=o.value, key=o.key) for o in items]
        await asyncio.gather(*futures)

    def supervise(self, task: asyncio.Task[None]) -> None:
        """A task that must run as long as the lanes do (a poller, a reporter): if it ends
        with an error, `run` raises it; it is cancelled when `run` ends."""
        self._tasks.append(task)

    def _raise_if_a_task_died(self) -> None:
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError(f"a lane task ended: {task.get_name()}") from task.exception()

    async def run(self, stopping: asyncio.Event) -> None:
        """Fetch and hand out records until `stopping` is set; then commit what is done."""
        assert self.consumer is not None
        self._tasks.append(asyncio.create_task(self._commit_loop(), name="commit"))
        try:
            while not stopping.is_set():
                self._raise_if_a_task_died()
                fetched = await self.consumer.getmany(timeout_ms=500,
                                                      max_records=self.settings.batch_max)
                for tp, batch in fetched.items():
                    self._hand_out(tp, batch)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._commit()

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()

    def _hand_out(self, tp: TopicPartition, batch: list[Any]) -> None:
        contract = tp.topic[len(self.settings.topic_prefix):]
        name = self._lane_of_topic(contract)
        if name is None:
            return
        lane = self.lanes.get(name)
        if lane is None:
            lane = self.lanes[name] = Lane(name)
            lane.idle.set()
            self._tasks.append(asyncio.create_task(self._work(lane), name=f"lane:{name}"))
        generation = self._generation.get(tp, 0)
        for r in batch:
            lane.put((tp, generation, Record(contract, r.partition, r.offset, r.timestamp / 1000,
                                             r.key, r.value)))
        if len(lane.queue) > HIGH and not lane.paused:
            lane.paused = True
            self._set_paused(lane, True)

    def _set_paused(self, lane: Lane, paused: bool) -> None:
        assert self.consumer is not None
        prefix = self.settings.topic_prefix
        mine = [tp for tp in self.consumer.assignment()
                if self._lane_of_topic(tp.topic[len(prefix):]) == lane.name]
        (self.consumer.pause if paused else self.consumer.resume)(*mine)

    async def _work(self, lane: Lane) -> None:
        while True:
            tp, generation, record = await lane.take()
            await self._assigned_ready.wait()  # (records may be fetched while it runs)
            if generation != self._generation.get(tp, 0):
                continue  # its partition went to another worker since: that one does it
            lane.head, lane.head_from = record, (tp, generation)
            lane.idle.clear()
            try:
                outputs = await self.deliver(lane.name, record)
            except Abandoned:
                lane.head, lane.head_from = None, None
                lane.idle.set()
                continue
            except Exception as exc:  # a poison record must not stop its agency's lane
                self._log.error("internal_error", topic=record.topic, partition=record.partition,
                                offset=record.offset, error=type(exc).__name__)
                outputs = [Outgoing(o.topic, o.key, o.value)
                           for o in internal_error(self.group, record, exc).outputs]
            if outputs:
                await self._send_until_sent(lane, outputs)
            lane.head, lane.head_from = None, None
            lane.idle.set()
            if generation == self._generation.get(tp, 0):
                self._done[tp] = record.offset + 1
            if lane.paused and len(lane.queue) < LOW:
                lane.paused = False
                self._set_paused(lane, False)

    async def _send_until_sent(self, lane: Lane, outputs: Sequence[Outgoing]) -> None:
        """The record counts as done only once its outputs are sent: try until they are."""
        part, failures = f"lane:{lane.name}", 0
        while True:
            try:
                await self.send(outputs)
            except Exception as exc:  # a timeout, the cluster away: the lane waits, never ends
                failures += 1
                if self.health.failed(part, exc):
                    self._log.error("lane_send_failed", lane=lane.name, error=type(exc).__name__)
                await asyncio.sleep(min(SEND_RETRY_CAP_S, SEND_RETRY_BASE_S * 2 ** min(failures - 1, 10)))
                continue
            if self.health.recovered(part):
                self._log.info("lane_send_recovered", lane=lane.name, tries=failures + 1)
            return

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(COMMIT_EVERY_S)
            await self._commit()

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        assert self.consumer is not None
        todo = {tp: OffsetAndMetadata(offset, "") for tp, offset in self._done.items()
                if (only is None or tp in only) and self._committed.get(tp) != offset}
        committed = await commit_held(self.consumer, todo, self._log)
        self._committed.update({tp: meta.offset for tp, meta in committed.items()})

    # ConsumerRebalanceListener: before partitions move, commit what is done on them, and
    # make their queued records stale (the new owner starts from the committed offset).
    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._commit(set(revoked))
        for tp in revoked:
            self._generation[tp] = self._generation.get(tp, 0) + 1
            self._done.pop(tp, None)
            self._committed.pop(tp, None)
        # A delivery in flight on a revoked partition ends before the new owner may start it:
        # woken from any wait, it stops before its next try (`holds`); a call under way ends.
        busy = [lane for lane in self.lanes.values()
                if lane.head_from is not None and lane.head_from[0] in revoked]
        for lane in busy:
            self.wake(lane.name)
        if busy:
            done, late = await asyncio.wait([asyncio.ensure_future(lane.idle.wait()) for lane in busy],
                                            timeout=REVOKE_WAIT_S)
            for waiting in late:
                waiting.cancel()
            if late:
                self._log.warning("revoked_while_delivering", lanes=len(late))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for lane in self.lanes.values():  # a new assignment starts unpaused
            lane.paused = False
        if self.before_assigned is None or not assigned:
            return
        self._assigned_ready.clear()
        if self._syncing is not None:
            self._syncing.cancel()
        # Not awaited here: the gate stays shut until it succeeds, however long that takes.
        self._syncing = asyncio.create_task(self._open_when_synced(self.before_assigned),
                                            name="before_assigned")
        self._tasks.append(self._syncing)

    async def _open_when_synced(self, sync: Callable[[], Awaitable[None]]) -> None:
        """Open the lanes' gate once `sync` succeeded; until then try again, and show it in
        health (a delivery without the former owner's state could file a complaint twice)."""
        failures = 0
        while True:
            try:
                await asyncio.wait_for(sync(), REVOKE_WAIT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if self.health.failed("before_assigned", exc):
                    self._log.error("before_assigned_failed", error=type(exc).__name__)
                await asyncio.sleep(min(SEND_RETRY_CAP_S, SEND_RETRY_BASE_S * 2 ** min(failures - 1, 10)))
                continue
            self.health.recovered("before_assigned")
            self._assigned_ready.set()
            return


def lane_pattern(prefix: str, template: str, lanes: Sequence[str]) -> str:
    """The subscription of per-agency topics of `template` for the given agency ids only."""
    head, tail = template.split("{agency_id}")
    names = "|".join(re.escape(a) for a in sorted(lanes))
    return "^" + re.escape(prefix + head) + f"({names})" + re.escape(tail) + "$"

