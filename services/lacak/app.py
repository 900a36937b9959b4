"""The public tracking worker (`lapor worker lacak`): follows the routings and the judged
statuses into its own view and serves lacak, the page reporters look their complaint up on.
Wiring only: what is kept is in `view`, what is shown in `web` (and the domain's `tracking`).

It is the one process that faces the internet, so it holds the least: its principal
(`svc-lacak`) reads complaints.routed.v1 and complaints.status.v1 and nothing else (never an
accepted or rejected record, which hold reporters' identities), writes no topic and has no
consumer group; it has no sign-in, no session key and no secret but its own password. Every
worker follows both topics from their beginning (`topic_follow`), so any of them answers any
lookup and scale-out is more workers behind the proxy; a restart reads them again."""

from __future__ import annotations

import asyncio
from typing import Any

from services.domain.registry import load_registry
from services.lacak.metrics import LacakMetrics, metrics_app
from services.lacak.view import TOPICS, TrackingView, apply_record
from services.lacak.web import LacakSite
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.signals import run_until_signalled
from services.runtime.topic_follow import follow, follow_pattern
from services.runtime.topic_read import TopicRecord
from services.web.forwarded import trusted_networks
from services.web.site import start_site

STAGE = "lacak"


class LacakWorker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.view = TrackingView(settings.lacak_closed_days, on_dropped=self.dropped)
        self.metrics = LacakMetrics()

    def run(self) -> None:
        run_until_signalled(STAGE, self.settings, self.serve)

    def dropped(self, complaint_id: str, records: int) -> None:
        """Statuses parked for a complaint never routed went for room."""
        self.metrics.skipped.labels("parked_dropped").inc(records)
        get_logger().warning("parked_dropped", complaint_id=complaint_id, records=records)

    def feed(self, record: TopicRecord) -> None:
        self.metrics.records.labels(record.topic).inc()
        reason = apply_record(self.view, record.topic, record.value)
        if reason is not None:
            self.metrics.skipped.labels(reason).inc()
            get_logger().warning("record_skipped", reason=reason, topic=record.topic,
                                 partition=record.partition, offset=record.offset)

    async def serve(self, stopping: asyncio.Event) -> None:
        log: Any = get_logger()
        settings = self.settings

        def refresh() -> None:  # the view's size, as of the scrape
            self.metrics.complaints.set(len(self.view.timelines))
            self.metrics.parked.set(self.view.parked_count)

        site = LacakSite(self.view.timelines, load_registry(settings.agencies_file),
                         settings.lacak_hosts(), settings.lacak_per_minute,
                         settings.lacak_global_per_minute, trusted_networks(settings.trusted_proxies),
                         counted=lambda status: self.metrics.lookups.labels(str(status)).inc())
        runners = [await start_site(site.app(), settings.lacak_host, settings.lacak_port)]
        try:
            if settings.web_enabled:  # metrics and health apart from the public page
                runners.append(await start_site(metrics_app(self.metrics, refresh),
                                                settings.web_host, settings.web_port))
            log.info("worker_ready", host=settings.lacak_host, port=settings.lacak_port)
            await follow(settings, follow_pattern(settings, TOPICS, ()), self.feed, stopping)
        finally:
            for runner in runners:
                await runner.cleanup()
            log.info("worker_stopped")


def create_app(settings: Settings) -> LacakWorker:
    return LacakWorker(settings)
