"""The agency desk worker (`lapor worker desk`): follows the agency topics, the statuses, the
escalations, the ticks, the bridge's undelivered marks, the agencies' units and the units'
drafts into its view, serves the desk, and publishes each action on the acting agency's
status topic (a unit's answer waiting for approval on desk.drafts.v1 instead). Wiring only: what is kept is
in `view`, what may be done in `actions`, what is shown in `pages` and `web`, which complaints
a retired unit leaves to the admin in `retired`.

Once caught up with its topics, and whenever a units version it applies retires a unit (or a
judged disposition names a unit already retired), it writes the `disposed` that returns each
such open complaint to the agency's admin: in bounded rounds, each event once per worker
until it is read back judged (every worker writes the same ids; the judge drops repeats).

Its principal (`svc-desk`) reads every agency's complaints and writes every agency's
status topic, as the bridge does: it acts for agency staff who signed in with the
provider and hold that agency's role; the status gate still judges each status. Every desk
worker follows every topic itself (no consumer group), so any of them answers any page;
scale-out is more workers behind one address sharing the session key."""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import AgencyStatus, Status, StatusDraft
from services.desk.metrics import DeskMetrics, metrics_app
from services.desk.retired import retired_returns, retires
from services.desk.view import DeskView, apply_record
from services.desk.web import DeskSite
from services.domain.calendar import load_calendar
from services.domain.registry import load_registry
from services.domain.sla_policy import load_policy
from services.runtime.kafka_client import aiokafka_options
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.signals import run_until_signalled
from services.runtime.signed_out import SharedSignOuts
from services.web.staff_signin import StaffSignIn
from services.runtime.topic_follow import follow, follow_pattern
from services.runtime.topic_read import TopicRecord
from services.runtime.topics import (
    AGENCY_TOPIC, BRIDGE_UNDELIVERED, DRAFTS, ESCALATIONS, STATUS, TICKS, UNITS, agency_status_topic_name,
)
from services.web.site import start_site

STAGE = "desk"
COOKIE = "lapor_desk"
RETURNS_BATCH = 100  # returns written per round: a busy unit's retirement goes out in rounds
RETURNING_KEPT = 10_000  # returns sent and not read back judged yet (one refused stays: bounded)
RETRY_S = 5.0  # after a failed send, the next round


class DeskWorker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.signin = StaffSignIn.from_settings(settings, COOKIE, settings.desk_public_url,
                                                settings.desk_session_key_file)  # no provider: no desk
        self.view = DeskView(load_registry(settings.agencies_file), load_calendar(settings.calendar_file),
                             load_policy(settings.sla_policy_file), settings.desk_closed_days,
                             on_dropped=self.dropped)
        self.skipped: Counter[str] = Counter()
        self.metrics = DeskMetrics()
        # Returns of retired units' complaints sent by this worker, by event id, until read
        # back judged: never sent twice from here.
        self.returning: OrderedDict[str, str] = OrderedDict()
        self.returns_due = asyncio.Event()  # a round of returns to work out
        self.caught_up = asyncio.Event()

    def run(self) -> None:
        run_until_signalled(STAGE, self.settings, self.serve)

    def dropped(self, complaint_id: str, records: int) -> None:
        """Statuses or escalations parked for a complaint never delivered went for room."""
        self.skipped["parked_dropped"] += records
        self.metrics.skipped.labels("parked_dropped").inc(records)
        get_logger().warning("parked_dropped", complaint_id=complaint_id, records=records)

    def feed(self, record: TopicRecord) -> None:
        self.metrics.read(record.topic)
        agency = record.key.decode(errors="replace") if record.topic == UNITS and record.key else None
        before = self.view.units.of(agency) if agency is not None else None
        reason = apply_record(self.view, record.topic, record.value, record.key)
        if reason is not None:
            self.skipped[reason] += 1
            self.metrics.skipped.labels(reason).inc()
            get_logger().warning("record_skipped", reason=reason, topic=record.topic,
                                 partition=record.partition, offset=record.offset)
            return
        if agency is not None and before is not None and retires(before, self.view.units.of(agency)):
            self.returns_due.set()
        elif record.topic == STATUS and record.value is not None and self.caught_up.is_set():
            self.judged(record.value)

    def judged(self, value: bytes) -> None:
        """A status read back judged: a return of ours is done; a disposition to a unit the
        units in force have retired already (judged before the router knew) is due one."""
        status = orjson.loads(value)
        if self.returning.pop(status.get("event_id"), None) is not None:
            return
        agency, unit = status.get("agency_id"), status.get("unit_id")
        if status.get("status") == Status.disposed.value and agency and unit:
            known = self.view.units.of(agency).unit(unit)
            if known is not None and known.retired:
                self.returns_due.set()

    async def return_retired(self, publish: Callable[[AgencyStatus], Awaitable[None]],
                             stopping: asyncio.Event) -> None:
        """After the catch-up, and each time one is due: the returns not sent yet, a bounded
        round at a time (pages are answered between rounds)."""
        log: Any = get_logger()
        await _first(self.caught_up, stopping)
        self.returns_due.set()  # complaints already with a retired unit at start
        while not stopping.is_set():
            await _first(self.returns_due, stopping)
            if stopping.is_set():
                return
            self.returns_due.clear()
            due = [s for s in retired_returns(self.view) if s.event_id not in self.returning]
            for status in due[:RETURNS_BATCH]:
                try:
                    await publish(status)
                except KafkaError as exc:
                    log.warning("retired_return_failed", complaint_id=status.complaint_id,
                                agency_id=status.agency_id, event_id=status.event_id,
                                error=type(exc).__name__)
                    await _first(stopping, timeout_s=RETRY_S)
                    self.returns_due.set()
                    break
                self.returning[status.event_id] = status.complaint_id
                while len(self.returning) > RETURNING_KEPT:
                    self.returning.popitem(last=False)
            else:
                if len(due) > RETURNS_BATCH:
                    self.returns_due.set()  # the rest in the next round
            if due:
                log.info("retired_units_returned", sent=min(len(due), RETURNS_BATCH),
                         left=max(len(due) - RETURNS_BATCH, 0))

    async def serve(self, stopping: asyncio.Event) -> None:
        log: Any = get_logger()
        settings = self.settings
        producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", enable_idempotence=True)
        await producer.start()

        async def publish(event: AgencyStatus) -> None:
            assert event.agency_id is not None
            await producer.send_and_wait(settings.topic(agency_status_topic_name(event.agency_id)),
                                         event.to_bytes(), key=event.complaint_id.encode())
            log.info("status_sent", complaint_id=event.complaint_id, agency_id=event.agency_id,
                     status=event.status.value, event_id=event.event_id, unit_id=event.unit_id)
            self.metrics.statuses.labels(event.agency_id, event.status.value).inc()

        async def publish_draft(draft: StatusDraft) -> None:
            await producer.send_and_wait(settings.topic(DRAFTS), draft.to_bytes(),
                                         key=f"{draft.agency_id}|{draft.complaint_id}".encode())
            log.info("draft_sent", complaint_id=draft.complaint_id, agency_id=draft.agency_id,
                     unit_id=draft.unit_id, draft_id=draft.draft_id, state=draft.state,
                     status=draft.status.value)  # ids only: the text is the agency's

        def refresh() -> None:  # the view's size, as of the scrape
            self.metrics.complaints.set(len(self.view.facts))
            self.metrics.parked.set(self.view.parked_count)

        signouts = SharedSignOuts(settings, "desk", self.signin.revoke)
        await signouts.start()
        self.signin.announce = signouts.publish
        following = asyncio.create_task(signouts.run(stopping), name="sign-outs")
        site = DeskSite(self.view, self.signin, publish, settings.desk_hosts(), publish_draft)
        runners = [await start_site(site.app(), settings.desk_host, settings.desk_port)]
        if settings.web_enabled:  # metrics and health apart from the pages staff see
            runners.append(await start_site(metrics_app(self.metrics, refresh),
                                            settings.web_host, settings.web_port))
        pattern = follow_pattern(settings, (STATUS, ESCALATIONS, TICKS, BRIDGE_UNDELIVERED, UNITS, DRAFTS),
                                 (AGENCY_TOPIC,))
        returning = asyncio.create_task(self.return_retired(publish, stopping), name="retired-returns")
        log.info("worker_ready", host=settings.desk_host, port=settings.desk_port)
        try:
            await follow(settings, pattern, self.feed, stopping, self.caught_up)
        finally:
            for runner in runners:
                await runner.cleanup()
            following.cancel()
            returning.cancel()
            await asyncio.gather(following, returning, return_exceptions=True)
            await signouts.stop()
            await producer.stop()
            log.info("worker_stopped")


async def _first(event: asyncio.Event, stopping: asyncio.Event | None = None,
                 timeout_s: float | None = None) -> None:
    """Until `event` (or `stopping`) is set, or `timeout_s` has passed."""
    waits = {asyncio.ensure_future(e.wait()) for e in (event, stopping) if e is not None}
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def create_app(settings: Settings) -> DeskWorker:
    return DeskWorker(settings)
