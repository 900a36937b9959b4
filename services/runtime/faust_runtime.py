"""The faust runtime: runs any `Stage` as a faust worker, in batches.

One agent reads all of a stage's input topics (so no two agents of a service ever interleave
a read-compute-write of the same store), takes up to `LAPOR_BATCH_MAX` records within
`LAPOR_BATCH_WITHIN_MS` of the first, or fewer once none has come for `LAPOR_BATCH_IDLE_MS`
(`faust_batches`), runs the pure handlers over the batch, sends every output
through the app's producer, awaits all the acks together, then applies the staged writes
(to each table's store and, through the producer, its changelog partition: that of
the record that made the write) and acks the records. faust commits offsets only after
flushing the producer, changelogs included. A crash anywhere repeats the batch under the
same deterministic ids. aiokafka keeps one batch in flight per partition, and the outputs are
sent in input order, so per-key order holds on every output topic.

faust itself is touched here, in `faust_batches` and in `faust_patches` only.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaProducer
from faust.streams import _current_event
from faust.types import TP, EventT
from prometheus_client import CONTENT_TYPE_LATEST

from services.runtime.admin import create_topics, retry_retriable
from services.runtime.batch_send import PRODUCER_BATCH_BYTES, Outgoing, SentBatch, send_batched
from services.runtime.broker_wait import wait_for_broker
from services.runtime.heap import settle_heap
from services.runtime.metrics import StageMetrics
from services.runtime.faust_batches import take_batches
from services.runtime.faust_patches import (
    PatchedApp, SeekFirstTableManager, StockDeliveryApp, check_versions,
    ensure_committed_offsets,
)
from services.runtime.kafka_client import faust_credentials
from services.runtime.logging import configure_logging, get_logger, log_notes
from services.runtime.settings import Settings
from services.runtime.stage import BatchResult, Record, Stage, StagedStores, run_batch
from services.runtime.topic_read import partitions_holding_records
from services.runtime.topics import agency_of_topic, agency_topic, catalogue

# The worker's type for the stages' wiring (app.py), which import faust no further.
StageApp = faust.App


def make_app(service: str, settings: Settings, stock_delivery: bool = False,
             **overrides: Any) -> faust.App:
    """A patched faust app with a fixed id per service (`stock_delivery`: without the
    delivery patch, faust_patches 5., for the benchmark's faust row).

    The id (with the deployment prefix) and version name the changelog topics and the
    consumer group: they are chosen once and must not change, or state is lost.
    Processing is at-least-once; every produced event carries a deterministic id instead
    (faust's exactly_once has open duplicate bugs)."""
    check_versions()
    datadir = settings.data_dir / service
    datadir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = dict(
        version=1,
        broker=[f"kafka://{h.strip()}" for h in settings.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # A dead letter carries its input (up to LAPOR_MAX_MESSAGE_BYTES, base64 when not
        # UTF-8) plus its errors: more than the 1 MiB default must fit in one request.
        producer_max_request_size=8 * 1024 * 1024,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        # The web port serves /metrics/ and health only: faust's table views
        # (`/table/<name>/<key>/`) would hand any caller the router's holdings with reporter
        # identities, and its router, graph and statistics views are debugging aids.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 10),
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        table_standby_replicas=settings.standby_replicas,
        logging_config=None,
        TableManager=SeekFirstTableManager,
    )
    options.update(overrides)
    app_type = StockDeliveryApp if stock_delivery else PatchedApp
    return app_type(f"{settings.topic_prefix}lapor-{service}", **options)


class BatchRunner:
    """One batch of faust events through a stage: compute, send, await acks, write."""

    def __init__(self, app: faust.App, stage: Stage, tables: dict[str, Any], settings: Settings):
        self.app, self.stage, self.tables, self.settings = app, stage, tables, settings
        self.metrics = StageMetrics(stage.name)
        self._prefix = settings.topic_prefix
        self._topics_ready = {s.name for s in catalogue(settings)}
        self._log = get_logger()
        self._changelogs = {name: t.changelog_topic.get_topic_name() for name, t in tables.items()}
        self._table_of_changelog = {topic: tables[name] for name, topic in self._changelogs.items()}
        self._settled = False
        self._held_seen: Any = None  # the assignment the empty table partitions were found in
        self._looked_at: set[tuple[str, int]] = set()  # unheld partitions looked at already

    def _record(self, event: EventT[Any]) -> Record:
        m = event.message
        return Record(m.topic[len(self._prefix):], m.partition, m.offset, m.timestamp, m.key, m.value)

    async def process(self, events: Sequence[EventT[Any]]) -> None:
        if not self._settled:  # the first batch: the worker has started
            settle_heap()
            self._settled = True
        records = [self._record(e) for e in events]
        await self._check_tables_held(records)
        stores = StagedStores(self.tables)
        started = time.perf_counter()
        result = run_batch(self.stage, records, stores)
        await self._ensure_topics(result)
        producer = self._producer()
        prefix = self._prefix
        sent = await send_batched(producer, [(prefix + o.topic, o.key, o.value, None)
                                             for o in result.outputs])
        await asyncio.gather(*(batch.future for batch in sent))
        await self._apply(producer, events, stores)
        seconds = time.perf_counter() - started
        self.metrics.observe(records, result, seconds, self._highwater)
        log_notes(self._log, result)
        self._log.debug("batch", records=len(records), outputs=len(result.outputs),
                        ms=round(seconds * 1000, 1))

    async def _check_tables_held(self, records: Sequence[Record]) -> None:
        """Say so when a batch comes from a partition whose table partitions this worker was
        not given (so never recovered) while they hold records: its stores lack them, and
        decisions made from them may be wrong (the fault campaign's restarted router once
        judged genuine statuses about complaints it had routed as unknown_complaint). Logged
        as an error (`tables_not_held`, topic names and partitions only) and counted, not
        refused: refusing stopped workers in the ordinary race of a rebalance, where a batch
        fetched before the partitions moved is handled after (the scale-out and rules tests
        lost their SLA monitors to it), and its repeats are the next holder's to set right.
        A partition with no record has nothing to recover (a fresh deployment, whose first
        assignment may not know the changelog topics yet). Each partition is looked at once
        an assignment (a consumer's round trip), not per batch."""
        if not self._changelogs:
            return
        held = self.app.assignor.assigned_actives()
        if held != self._held_seen:
            self._held_seen, self._looked_at = held, set()
        missing = sorted({(name, r.partition) for r in records for name in self._changelogs.values()
                          if TP(name, r.partition) not in held} - self._looked_at)
        if not missing:
            return
        with_records = await partitions_holding_records(self.settings, missing)
        self._looked_at |= set(missing)  # looked at: said once an assignment, not per batch
        if with_records:
            self.metrics.tables_not_held.inc()
            self._log.error("tables_not_held", partitions=[f"{t}:{p}" for t, p in sorted(with_records)])

    def failed(self, exc: BaseException) -> None:
        self._log.error("batch_failed", error=type(exc).__name__)

    def _highwater(self, record: Record) -> int | None:
        try:
            return int(self.app.consumer.highwater(TP(self._prefix + record.topic, record.partition)))
        except Exception:  # not known yet (no fetch answered for it): no lag figure this time
            return None

    def _producer(self) -> AIOKafkaProducer:
        # faust's transport producer wraps the aiokafka one; its `flush` (before each
        # offset commit) waits for the batches queued on the latter too.
        return self.app.producer._ensure_producer()  # type: ignore[attr-defined]

    async def _apply(self, producer: AIOKafkaProducer, events: Sequence[EventT[Any]],
                     stores: StagedStores) -> None:
        """Write the staged values to the tables' stores and changelogs.

        The changelog records go straight to the producer (JSON key and value, as faust's
        own table writes encode them, rendered by orjson; None is a tombstone), to the
        partition of the record that made the write, instead of through `table[key] = value`,
        whose per-record buffer task was a sixth of a stage's time. They are not awaited
        here: faust flushes the producer before it commits offsets, and a failed changelog
        write crashes the worker (its inputs are then read again)."""
        changelog: list[Outgoing] = []
        token = _current_event.set(None)
        try:
            for (store, key), (value, index) in stores.writes.items():
                event = events[index]
                # The store (RocksDB) files a key under the current event's partition.
                _current_event.set(weakref.ref(event))
                table = self.tables[store]
                if value is None:
                    if key in table.data:
                        del table.data[key]
                    encoded = None
                else:
                    table.data[key] = value
                    encoded = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
                changelog.append((self._changelogs[store], orjson.dumps(key), encoded,
                                  event.message.partition))
        finally:
            _current_event.reset(token)
        for batch in await send_batched(producer, changelog):
            table = self._table_of_changelog[batch.topic]
            batch.future.add_done_callback(partial(self._changelog_sent, table, batch))

    def _changelog_sent(self, table: Any, batch: SentBatch, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._log.error("changelog_write_failed", error=type(error).__name__)
            asyncio.ensure_future(self.app.crash(error))
            return
        # As faust's own write does: RocksDB keeps the offset it holds data up to, so a
        # restart on the same disk reads only the changelog written since.
        table.data.set_persisted_offset(TP(batch.topic, batch.partition), batch.last_offset())

    async def _ensure_topics(self, result: BatchResult) -> None:
        """Agency topics are created on first use (or up front: `lapor topics create --agencies`)."""
        new = {o.topic for o in result.outputs} - self._topics_ready
        specs = [agency_topic(self.settings, agency) for name in sorted(new)
                 if (agency := agency_of_topic(name)) is not None]
        if specs:
            await retry_retriable(partial(create_topics, self.settings, specs), self._log,
                                  "create_agency_topics")
        self._topics_ready |= new


def create_app(stage: Stage, settings: Settings,
               serve: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None) -> faust.App:
    """The faust app of a stage: its tables, one batching agent over its inputs, /metrics/;
    and `serve(tables)`, when given, as a task of the worker (a service's own web page, which
    reads the tables and writes nothing)."""
    configure_logging(stage.name, settings.log_level)
    app = make_app(stage.name, settings)
    tables = {s.value: app.Table(s.value, default=None, partitions=settings.partitions)
              for s in stage.stores}
    runner = BatchRunner(app, stage, tables, settings)
    source = app.topic(*[settings.topic(t) for t in stage.inputs], key_type=bytes,
                       value_type=bytes, key_serializer="raw", value_serializer="raw",
                       partitions=settings.partitions)
    # Bytes in, bytes out: parsing is the handlers', so bad input becomes a dead letter
    # rather than a faust deserialisation crash.

    @app.agent(source, name=f"{stage.name}-batches")
    async def batches(stream: faust.StreamT[Any]) -> None:
        within, idle = settings.batch_within_ms / 1000, settings.batch_idle_ms / 1000
        async for events in take_batches(stream, settings.batch_max, within, idle):
            try:
                await runner.process(events)
            except Exception as exc:
                # Handlers never raise (a record they cannot handle is a dead letter): this
                # is the cluster failing us past the retries. faust would restart the agent in
                # this worker and read on past the batch; the worker stops instead, and the
                # batch, left unacked, is read again from the committed offset by whoever
                # holds its partitions next (a restarted worker, or another member).
                runner.failed(exc)
                await app.crash(exc)
                return

    if serve is not None:
        @app.task  # type: ignore[untyped-decorator]
        async def serving() -> None:
            await serve(tables)

    @app.page("/health/")
    async def health_page(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "service": stage.name})

    @app.page("/metrics/")
    async def metrics_page(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset in content_type; the header itself may carry it.
        return web.bytes(runner.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app


def run_worker(app: faust.App, settings: Settings) -> None:
    """Run the app as a worker until stopped: once the cluster answers (waiting for it with
    bounded backoff) and after the offsets guard (faust_patches 4.)."""
    from faust.worker import Worker

    asyncio.run(wait_for_broker(settings))
    sources = [name for agent in app.agents.values() for name in agent.channel.topics]
    asyncio.run(ensure_committed_offsets(settings, app.conf.id, sources))
    Worker(app, loglevel=settings.log_level.lower(), quiet=True,
           override_logging=False).execute_from_commandline()
