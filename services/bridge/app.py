"""The bridge worker: agencies' complaints out to their own systems over HTTP (signed webhook
or Open311 GeoReport v2), their statuses back onto their status topics. Wiring only: the
lanes and Kafka are the runtime's (services.runtime.lane_runtime), the decisions are in
config, signing, inbound, open311 and delivery."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from datetime import UTC, datetime
from typing import Any

from schemas.bridge import BridgeDelivery
from services.bridge.config import BridgeConfig, Open311Agency, load_config
from services.bridge.http import client_session
from services.bridge.inbound import SeenSignatures
from services.bridge.metrics import BridgeMetrics
from services.bridge.outbound import STAGE, Outbound
from services.bridge.poller import Poller
from services.bridge.shared import FOLLOWED, SharedMemory
from services.bridge.web import inbound_app, metrics_app
from services.domain.registry import load_registry
from services.runtime.lane_runtime import LaneRuntime, Outgoing, lane_pattern
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.signals import run_until_signalled
from services.web.site import start_site
from services.runtime.topic_follow import AssignedFollower
from services.runtime.topic_read import read_to_end
from services.runtime.topics import AGENCY_TOPIC, BRIDGE_DELIVERIES, agency_of_topic, agency_topic_name


REPORT_EVERY_S = 5.0  # how often the delivery state per agency may go to the ops page


def bridge_config(settings: Settings) -> BridgeConfig:
    return load_config(settings.bridge_file, load_registry(settings.agencies_file).ids())


def empty_memory(config: BridgeConfig) -> SharedMemory:
    open311 = frozenset(a for a, agency in config.agencies.items() if isinstance(agency, Open311Agency))
    return SharedMemory(open311, SeenSignatures(config.file.replay_window_s))


async def load_memory(settings: Settings, config: BridgeConfig) -> SharedMemory:
    """The bridge's shared memory as it stands now (an operator's command, which does not
    follow it): the Open311 requests filed and still open, calls seen, skips, enables."""
    memory = empty_memory(config)
    for topic in FOLLOWED:
        for record in await read_to_end(settings, topic):
            memory.apply(record)
    return memory


async def follow_memory(settings: Settings, config: BridgeConfig, stopping: asyncio.Event,
                        ) -> tuple[SharedMemory, AssignedFollower, asyncio.Task[None]]:
    """The worker's shared memory, read to its end before anything is delivered or accepted
    (an intent another worker wrote must be known before this one files), then followed."""
    memory = empty_memory(config)
    follower = AssignedFollower(settings, FOLLOWED, memory.apply)
    following = asyncio.create_task(follower.run(stopping), name="follower")
    reading = asyncio.ensure_future(follower.caught_up.wait())
    await asyncio.wait({following, reading}, return_when=asyncio.FIRST_COMPLETED)
    if not follower.caught_up.is_set():
        reading.cancel()
        await following  # it ended before catching up: its error stops the worker here
        raise RuntimeError("the bridge's shared memory stopped being read")
    return memory, follower, following


class BridgeWorker:
    """`lapor worker bridge`: runs until SIGTERM/SIGINT."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.config = bridge_config(settings)  # checked now: a bad file never starts a worker
        self.group = f"{settings.topic_prefix}lapor-{STAGE}"

    def run(self) -> None:
        run_until_signalled(STAGE, self.settings, self.serve)

    async def serve(self, stopping: asyncio.Event) -> None:
        log: Any = get_logger()
        settings, config = self.settings, self.config
        metrics = BridgeMetrics(config.agencies)
        memory, follower, following = await follow_memory(settings, config, stopping)
        states = memory.states
        session = client_session()
        outbound = Outbound(config, session, metrics, states, log, control=memory)
        lanes = LaneRuntime(settings, self.group, agency_of_topic,
                            lane_pattern(settings.topic_prefix, AGENCY_TOPIC, list(config.agencies)),
                            outbound.deliver)
        outbound.health, outbound.send, outbound.holds = lanes.health, lanes.send, lanes.holds
        memory.changed = lanes.wake = outbound.wake  # a command, a revocation: stop waiting
        # Partitions taken over: what their former owner wrote (its Open311 states, written
        # before its revocation ended) is read before any of their records is delivered.
        lanes.before_assigned = follower.sync
        lanes.supervise(following)
        await lanes.start()

        def refresh() -> None:  # the lane gauges, as of the scrape
            now = time.time()
            metrics.calls_remembered.set(len(memory.seen))
            for agency_id in config.agencies:
                pending, oldest_s = lane_backlog(lanes, agency_id, now)
                metrics.pending.labels(agency_id).set(pending)
                metrics.oldest.labels(agency_id).set(oldest_s)

        runners = [await start_site(inbound_app(config, lanes.send, metrics, log, memory.seen),
                                   settings.bridge_host, settings.bridge_port)]
        if settings.web_enabled:
            runners.append(await start_site(metrics_app(metrics, refresh, lanes.health),
                                            settings.web_host, settings.web_port))
        # Supervised by the lanes: one that ends with an error stops the worker.
        lanes.supervise(asyncio.create_task(report_deliveries(config, lanes, metrics, log),
                                            name="reporter"))
        for a, agency in config.agencies.items():
            if isinstance(agency, Open311Agency):
                poller = Poller(a, agency, config, session, states, lanes.send, metrics,
                                lanes.health, log, polls=partial(lanes.holds_partition,
                                                                 agency_topic_name(a), 0))
                lanes.supervise(asyncio.create_task(poller.run(), name=f"poller:{a}"))
        log.info("worker_ready", group=self.group, agencies=len(config.agencies),
                 open311_requests=len(states))
        try:
            await lanes.run(stopping)
        except Exception as exc:
            log.error("worker_failed", group=self.group, error=type(exc).__name__,
                      cause=type(exc.__cause__).__name__ if exc.__cause__ else None)
            raise
        finally:
            for runner in runners:
                await runner.cleanup()
            await session.close()
            await lanes.stop()
            log.info("worker_stopped", group=self.group)


def lane_backlog(lanes: LaneRuntime, agency_id: str, now: float) -> tuple[int, float]:
    """An agency's complaints not yet delivered, and the age of the oldest (0: none)."""
    lane = lanes.lanes.get(agency_id)
    oldest = lane.oldest_timestamp() if lane else None
    return (lane.pending() if lane else 0), (max(0.0, now - oldest) if oldest else 0.0)


async def report_deliveries(config: BridgeConfig, lanes: LaneRuntime, metrics: BridgeMetrics,
                            log: Any) -> None:
    """How delivery to each agency stands, on bridge.deliveries.v1 for the operations page:
    whenever it changed, at most every REPORT_EVERY_S. A report that cannot be sent is tried
    again at the next round (shown in health meanwhile): the facts are sent again as a whole."""
    started = datetime.now(UTC)
    sent: dict[str, dict[str, object]] = {}
    while True:
        try:
            await _report_changes(config, lanes, metrics, started, sent)
        except Exception as exc:
            if lanes.health.failed("reporter", exc):
                log.error("delivery_report_failed", error=type(exc).__name__)
        else:
            if lanes.health.recovered("reporter"):
                log.info("delivery_report_recovered")
        await asyncio.sleep(REPORT_EVERY_S)


async def _report_changes(config: BridgeConfig, lanes: LaneRuntime, metrics: BridgeMetrics,
                          started: datetime, sent: dict[str, dict[str, object]]) -> None:
    """Send the facts of each agency whose facts changed since last sent."""
    now = datetime.now(UTC)
    out: list[Outgoing] = []
    changed: dict[str, dict[str, object]] = {}
    for agency_id, agency in config.agencies.items():
        pending, oldest_s = lane_backlog(lanes, agency_id, now.timestamp())
        facts: dict[str, object] = {
            "pending": pending, "oldest_undelivered_s": round(oldest_s, 1),
            "retrying": bool(metrics.registry.get_sample_value("lapor_bridge_retrying",
                                                             {"agency": agency_id})),
            "delivered": metrics.total("delivered", agency_id),
            "refused": metrics.total("refused", agency_id),
            "failed_tries": metrics.total("failed_tries", agency_id),
            "statuses_in": sum(metrics.total("statuses_in", agency_id, source=s)
                               for s in ("webhook", "open311")),
            "gave_up": metrics.total("gave_up", agency_id),
            "skipped": metrics.total("skipped", agency_id),
            "disabled": bool(metrics.registry.get_sample_value("lapor_bridge_disabled",
                                                             {"agency": agency_id}))}
        if sent.get(agency_id) == facts:
            continue
        changed[agency_id] = facts
        report = BridgeDelivery.model_validate({"agency_id": agency_id, "mode": agency.mode,
                                                "as_of": now, "started_at": started, **facts})
        out.append(Outgoing(BRIDGE_DELIVERIES, agency_id.encode(), report.to_bytes()))
    if out:
        await lanes.send(out)
    sent.update(changed)  # only once they are sent: a failed round sends them again


def create_app(settings: Settings) -> BridgeWorker:
    return BridgeWorker(settings)
