"""The desk's Prometheus metrics and health, on its worker web port (LAPOR_WEB_HOST:
LAPOR_WEB_PORT, never the desk's own pages): records read into its view, the ones it could
not use, the statuses staff sent, and how much the view holds. Labels are topic names with
the agency left out, reason codes, agency ids and statuses: never personal data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import prometheus_client as prom
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from services.runtime.topics import AGENCY_TOPIC, agency_of_topic
from services.web.site import worker_port


class DeskMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.records = prom.Counter("lapor_desk_records", "Records read into the desk's view, by "
                                    "topic (agency topics as one)", ["topic"], registry=r)
        self.skipped = prom.Counter("lapor_desk_records_skipped", "Records the view could not use, "
                                    "and parked ones dropped for room, by reason", ["reason"],
                                    registry=r)
        self.statuses = prom.Counter("lapor_desk_statuses_sent", "Statuses agency staff sent from "
                                     "the desk", ["agency", "status"], registry=r)
        self.complaints = prom.Gauge("lapor_desk_complaints", "Complaints the view holds (delivered "
                                     "to an agency, not yet forgotten after closing)", registry=r)
        self.parked = prom.Gauge("lapor_desk_parked", "Statuses and escalations kept for complaints "
                                 "not delivered yet", registry=r)
        self._per_topic: dict[str, Any] = {}  # topic -> its counter: once per record is hot

    def read(self, topic: str) -> None:
        counter = self._per_topic.get(topic)
        if counter is None:
            # One series for every agency's complaints topic, not one per agency (600 of them).
            counter = self._per_topic[topic] = self.records.labels(
                AGENCY_TOPIC if agency_of_topic(topic) else topic)
        counter.inc()

    def exposition(self, refresh: Callable[[], None]) -> bytes:
        refresh()
        return generate_latest(self.registry)


def metrics_app(metrics: DeskMetrics, refresh: Callable[[], None]) -> web.Application:
    return worker_port(lambda: metrics.exposition(refresh), "desk")
