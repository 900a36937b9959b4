"""The runtime of a stage without stores: a batched aiokafka consumer group, no faust.

faust cannot subscribe to a topic pattern (its aiokafka driver passes names only), and a
stage that reads every agency's own topic must follow agencies provisioned while it runs.
With no tables there is nothing for faust to keep, so this loop does what the faust runtime
does for a batch, with the Kafka client only: take what the consumer has fetched, up to
`LAPOR_BATCH_MAX` records (getmany returns as soon as there is any), run the handlers, send every
output, await the acks together, then commit the offsets. A crash repeats the batch under
the same ids and loses nothing; outputs are sent in input order, so per-key order holds.

A stage whose handler decides by reference data it follows (the disposition stage: every
agency's units) gives the worker a `Prerequisite`: the worker polls nothing before it has
read that data to its end once (a decision by a stale copy would stand: its event id makes
a later one a repeat), keeps it following while it runs, and stops if it fails. Until then
/health/ answers 503 "starting".
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from services.runtime.batch_send import PRODUCER_BATCH_BYTES, send_batched
from services.runtime.group_commit import commit_held
from services.runtime.heap import settle_heap
from services.runtime.kafka_client import aiokafka_options
from services.runtime.logging import get_logger, log_notes
from services.runtime.metrics import StageMetrics
from services.runtime.settings import Settings
from services.runtime.signals import run_until_signalled
from services.runtime.stage import Record, Stage, StagedStores, run_batch

# How soon a topic created after start (a newly provisioned agency) is read.
METADATA_MAX_AGE_MS = 5_000


def subscription_pattern(stage: Stage, prefix: str) -> str:
    """One regular expression for the stage's fixed inputs and per-agency families."""
    names = [re.escape(prefix + t) for t in stage.inputs]
    for family in stage.input_families:
        head, tail = family.split("{agency_id}")
        names.append(re.escape(prefix + head) + "[a-z0-9-]+" + re.escape(tail))
    return "^(" + "|".join(names) + ")$"


class Prerequisite(Protocol):
    """What a worker reads before its first poll and follows while it runs (a
    `topic_follow.AssignedFollower`): `caught_up` is set once it has read to the end offsets
    found at its start; `run` follows until `stopping` is set, raising if it cannot."""

    caught_up: asyncio.Event

    async def run(self, stopping: asyncio.Event) -> None: ...


async def _ended(task: asyncio.Task[None]) -> None:
    """`task` over: cancelled if it still runs (the worker stops, or its poll loop failed)."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class StatelessWorker:
    """Runs a store-less stage until SIGTERM/SIGINT (`lapor worker <service>`)."""

    def __init__(self, stage: Stage, settings: Settings, prerequisite: Prerequisite | None = None):
        if stage.stores:
            raise ValueError(f"{stage.name} keeps stores: it runs on the faust runtime")
        self.stage, self.settings, self.prerequisite = stage, settings, prerequisite
        self.group_id = f"{settings.topic_prefix}lapor-{stage.name}"
        self.metrics = StageMetrics(stage.name)
        self.ready = False  # polling: /health/ says ok
        self._log: Any = None  # made in `serve`, after `run` configured the JSON logging

    def run(self) -> None:
        run_until_signalled(self.stage.name, self.settings, self.serve)

    async def serve(self, stopping: asyncio.Event) -> None:
        log = self._log = get_logger()
        web = await self._metrics_site() if self.settings.web_enabled else None
        following: asyncio.Task[None] | None = None
        try:
            if self.prerequisite is not None:
                following = await self._catch_up(self.prerequisite, stopping)
                if following is None:  # stopped while reading it
                    return
            await self._poll(stopping, following)
        finally:
            if following is not None:
                await _ended(following)
            if web is not None:
                await web.cleanup()

    async def _catch_up(self, prerequisite: Prerequisite,
                        stopping: asyncio.Event) -> asyncio.Task[None] | None:
        """The prerequisite's follower, once it has read to its end (None: stopped first)."""
        following = asyncio.create_task(prerequisite.run(stopping), name="prerequisite")
        caught_up = asyncio.ensure_future(prerequisite.caught_up.wait())
        stopped = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({following, caught_up, stopped}, return_when=asyncio.FIRST_COMPLETED)
        caught_up.cancel()
        stopped.cancel()
        if prerequisite.caught_up.is_set():
            return following
        if not following.done():  # stopping is set
            await _ended(following)
            return None
        following.result()  # it ended before catching up: its error stops the worker here
        if stopping.is_set():
            return None
        raise RuntimeError(f"{self.stage.name}: its prerequisite stopped before it was read")

    async def _poll(self, stopping: asyncio.Event, following: asyncio.Task[None] | None) -> None:
        log = self._log
        options = aiokafka_options(self.settings)
        consumer = AIOKafkaConsumer(**options, group_id=self.group_id, enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    session_timeout_ms=int(self.settings.session_timeout_s * 1000),
                                    metadata_max_age_ms=METADATA_MAX_AGE_MS,
                                    max_poll_records=self.settings.batch_max)
        consumer.subscribe(pattern=subscription_pattern(self.stage, self.settings.topic_prefix))
        producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True,
                                    max_batch_size=PRODUCER_BATCH_BYTES)
        await consumer.start()
        await producer.start()
        settle_heap()
        self.ready = True
        log.info("worker_ready", group=self.group_id)
        try:
            while not stopping.is_set():
                if following is not None and following.done():
                    following.result()  # its error stops the worker
                    raise RuntimeError(f"{self.stage.name}: its prerequisite stopped being read")
                fetched = await consumer.getmany(timeout_ms=500, max_records=self.settings.batch_max)
                if fetched:
                    await self.process(consumer, producer, fetched)
        finally:
            self.ready = False
            await producer.stop()
            await consumer.stop()
            log.info("worker_stopped", group=self.group_id)

    async def process(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                      fetched: dict[TopicPartition, list[Any]]) -> None:
        prefix = self.settings.topic_prefix
        records = [Record(tp.topic[len(prefix):], r.partition, r.offset, r.timestamp / 1000,
                          r.key, r.value) for tp, batch in fetched.items() for r in batch]
        started = time.perf_counter()
        result = run_batch(self.stage, records, StagedStores({}))
        sent = await send_batched(producer, [(prefix + o.topic, o.key, o.value, None)
                                             for o in result.outputs])
        await asyncio.gather(*(batch.future for batch in sent))
        await commit_held(consumer, {tp: OffsetAndMetadata(batch[-1].offset + 1, "")
                                     for tp, batch in fetched.items()}, self._log)
        self.metrics.observe(records, result, time.perf_counter() - started)
        log_notes(self._log, result)

    async def _metrics_site(self) -> Any:
        from aiohttp import web
        from prometheus_client import CONTENT_TYPE_LATEST

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(body=self.metrics.exposition(),
                                headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def health(_: web.Request) -> web.Response:
            if not self.ready:  # still reading its prerequisite, or connecting
                return web.json_response({"status": "starting", "service": self.stage.name},
                                         status=503)
            return web.json_response({"status": "ok", "service": self.stage.name})

        app = web.Application()
        app.router.add_get("/metrics/", metrics)
        app.router.add_get("/health/", health)
        runner = web.AppRunner(app, access_log=None)  # a line per scrape says nothing
        await runner.setup()
        await web.TCPSite(runner, self.settings.web_host, self.settings.web_port).start()
        return runner
