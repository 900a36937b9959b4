"""The agency desk worker (`lapor worker desk`): follows the agency topics, the statuses, the
escalations, the ticks, the bridge's undelivered marks, the agencies' units and the units'
drafts into its view, serves the desk, and publishes each action on the acting agency's
status topic (a unit's answer waiting for approval on desk.drafts.v1 instead). Wiring only: what is kept is
in `view`, what may be done in `actions`, what is shown in `pages` and `web`.

Its principal (`svc-desk`) reads every agency's complaints and writes every agency's
status topic, as the bridge does: it acts for agency staff who signed in with the
provider and hold that agency's role; the status gate still judges each status. Every desk
worker follows every topic itself (no consumer group), so any of them answers any page;
scale-out is more workers behind one address sharing the session key."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import AgencyStatus, StatusDraft
from services.desk.metrics import DeskMetrics, metrics_app
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

    def run(self) -> None:
        run_until_signalled(STAGE, self.settings, self.serve)

    def dropped(self, complaint_id: str, records: int) -> None:
        """Statuses or escalations parked for a complaint never delivered went for room."""
        self.skipped["parked_dropped"] += records
        self.metrics.skipped.labels("parked_dropped").inc(records)
        get_logger().warning("parked_dropped", complaint_id=complaint_id, records=records)

    def feed(self, record: TopicRecord) -> None:
        self.metrics.read(record.topic)
        reason = apply_record(self.view, record.topic, record.value, record.key)
        if reason is not None:
            self.skipped[reason] += 1
            self.metrics.skipped.labels(reason).inc()
            get_logger().warning("record_skipped", reason=reason, topic=record.topic,
                                 partition=record.partition, offset=record.offset)

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
        log.info("worker_ready", host=settings.desk_host, port=settings.desk_port)
        try:
            await follow(settings, pattern, self.feed, stopping)
        finally:
            for runner in runners:
                await runner.cleanup()
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
            await signouts.stop()
            await producer.stop()
            log.info("worker_stopped")


def create_app(settings: Settings) -> DeskWorker:
    return DeskWorker(settings)
