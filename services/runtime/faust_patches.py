"""Every patch of faust-streaming 0.15.3 / aiokafka 0.14.0 that this project needs, in one place.

Each keeps a restarted or rebalanced worker from skipping input; each was found by the intake
crash test (a worker killed mid-batch and restarted onto the backlog read nothing, or skipped
dozens of records, in about one run of three). They are applied by `faust_runtime.make_app`
(the consumer class and table manager) and `faust_runtime.run_worker` (the offsets guard),
and only for the versions in VERIFIED: `check_versions` refuses any other.

1. SeekFirstRecovery: faust resumes the source partitions *then* awaits the seek to the
   committed offsets after table recovery; records fetched in between are dropped while the
   fetch position moves past them. Here the sources stay paused until the seek is done.
2. GuardedConsumer.seek_to_committed: aiokafka seeks only when the committed offset is
   truthy, so a partition committed at offset 0 keeps the prefetch's position. Offset 0 is
   sought too.
3. GuardedConsumer._getmany: faust hands aiokafka its live set of active partitions; when
   recovery empties it while a fetch waits, aiokafka reads the empty set as "every
   partition" and drains paused sources, whose records faust then drops. aiokafka gets a
   view of the set that is never falsy.
4. ensure_committed_offsets: for a partition with no committed offset at all, the seek of 1.
   has nothing to seek to; before a worker starts, each such partition gets its log-start
   offset committed.

One is for speed, not safety, and keeps faust's behaviour:

5. InlineDeliveryConsumer.wait_first: each fetched record reached its stream through a race
   of four new tasks (`wait_first`); a delivery that does not block now runs inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP, ConsumerT
from mode.services import WaitResults

from services.runtime.kafka_client import aiokafka_options
from services.runtime.logging import get_logger
from services.runtime.settings import Settings

# The versions these patches were verified against (pyproject pins the same).
VERIFIED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class UnverifiedVersionError(RuntimeError):
    pass


def check_versions(installed: Mapping[str, str] | None = None) -> None:
    """Refuse to start on versions the patches were not verified against: a patch applied to
    other internals could silently do nothing, and records would be skipped again."""
    have = installed if installed is not None else {name: version(name) for name in VERIFIED}
    wrong = [f"{name} {have.get(name)} (verified: {want})" for name, want in VERIFIED.items()
             if have.get(name) != want]
    if wrong:
        raise UnverifiedVersionError(
            "refusing to start: the faust patches in services/runtime/faust_patches.py were "
            f"verified only for {VERIFIED}; installed: {', '.join(wrong)}. Re-verify them "
            "(tests/integration, the crash tests) before changing VERIFIED.")


# --- 1. recovery seeks before it resumes the sources ----------------------------------------
class SeekFirstRecovery(Recovery):
    @contextmanager
    def _sources_held(self) -> Iterator[None]:
        consumer = self.app.consumer
        original = consumer.resume_partitions
        held: set[Any] = set()

        def resume_changelogs_only(partitions: Any) -> None:
            partitions = set(partitions)
            sources = {tp for tp in partitions if not self._is_changelog_tp(tp)}
            held.update(sources)
            original(partitions - sources)

        consumer.resume_partitions = resume_changelogs_only  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            consumer.resume_partitions = original  # type: ignore[method-assign]
            assignment = consumer.assignment()
            resumed = {tp for tp in held if tp in assignment}
            if resumed:
                original(resumed)
            self.log.info("Resumed %d of %d held source partitions after the seek",
                          len(resumed), len(held))

    async def _resume_streams(self, generation_id: int = 0) -> None:
        with self._sources_held():
            await super()._resume_streams(generation_id)

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        with self._sources_held():
            await super().on_recovery_completed(generation_id)


class SeekFirstTableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


# --- 2., 3. and 5. the consumer ------------------------------------------------------------
class ActiveView:
    """The live set of active partitions, always truthy (membership is all aiokafka asks)."""

    def __init__(self, live: set[TP]) -> None:
        self._live = live

    def __contains__(self, tp: object) -> bool:
        return tp in self._live

    def __iter__(self) -> Iterator[TP]:
        return iter(set(self._live))

    def __len__(self) -> int:
        return len(self._live)

    def __bool__(self) -> bool:
        return True


class _Resumed:
    """The rest of a coroutine that was stepped once by hand and suspended on `pending`: an
    awaitable that a task can run from there, as `yield from` would have."""

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro, self._pending = coro, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation included: it goes to the coroutine
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as done:
                    return done.value


class GuardedConsumer(Consumer):
    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        view: Any = None if active_partitions is None else ActiveView(active_partitions)
        return await super()._getmany(view, timeout)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        for tp, offset in committed.items():
            if offset == 0:  # aiokafka skipped it (see 2. above)
                await self._seek(tp, 0)
        return committed


class InlineDeliveryConsumer(GuardedConsumer):
    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        """5. The consumer hands every fetched record to the conductor through
        `wait_first(callback(message), suspend_flow.wait())`, so that a delivery blocked on a
        full stream buffer gives way when faust suspends the flow. That makes four tasks and an
        `asyncio.wait` per record (about a third of a stage's time), although a delivery
        almost never blocks. Here the delivery runs inline first; only one that suspends is
        handed, from where it stopped, to the original race. While the flow is suspended, or
        the consumer stops or crashes, every delivery takes the original path."""
        if (timeout is not None or len(coros) != 2 or not asyncio.iscoroutine(coros[0])
                or self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set()):
            return await super().wait_first(*coros, timeout=timeout)
        delivery, suspended = coros
        try:
            pending = delivery.send(None)
        except BaseException as ended:  # done (StopIteration) or failed, without suspending
            if asyncio.iscoroutine(suspended):
                suspended.close()  # never started: nothing to cancel
            if isinstance(ended, StopIteration):
                return WaitResults([delivery], [ended.value], False)
            raise
        return await super().wait_first(_Resumed(delivery, pending), suspended)


class PatchedApp(faust.App):
    """faust.App whose consumer has every patch (2., 3. and 5.)."""

    consumer_type: type[GuardedConsumer] = InlineDeliveryConsumer

    def _new_consumer(self) -> ConsumerT:
        return self.consumer_type(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.transport.loop,
        )


class StockDeliveryApp(PatchedApp):
    """The safety patches only, records delivered as faust does: the benchmark's reference
    row of what faust itself reaches."""

    consumer_type = GuardedConsumer


# --- 4. every source partition has a committed offset -------------------------------------
async def ensure_committed_offsets(settings: Settings, group_id: str, topics: list[str]) -> int:
    """Commit the beginning offset for each partition of `topics` that has no commit in
    `group_id`; returns how many were committed. A group that is already running (and so
    refuses an outside commit) is left alone."""
    # The consumer's own metadata only covers assigned topics: ask the admin client.
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described
           if d.get("error_code", 0) == 0 for p in d["partitions"]]
    if not tps:
        return 0
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=group_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        missing = [tp for tp in tps if await consumer.committed(tp) is None]
        if not missing:
            return 0
        begins = await consumer.beginning_offsets(missing)
        await consumer.commit({tp: OffsetAndMetadata(begins[tp], "") for tp in missing})
        return len(missing)
    except KafkaError as exc:
        get_logger(group=group_id).warning("initial_offsets_not_committed", error=type(exc).__name__)
        return 0
    finally:
        await consumer.stop()
