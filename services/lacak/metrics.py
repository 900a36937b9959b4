"""Lacak's Prometheus metrics and health, on its worker web port (LAPOR_WEB_HOST:
LAPOR_WEB_PORT, never the public site's port): records read into its view, the ones it could
not use, lookups answered and refused, and how much the view holds. Labels are topic names,
reason codes and answer statuses: never a tracking id or an address."""

from __future__ import annotations

from collections.abc import Callable

import prometheus_client as prom
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from services.web.site import worker_port


class LacakMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.records = prom.Counter("lapor_lacak_records", "Records read into lacak's view, by topic",
                                    ["topic"], registry=r)
        self.skipped = prom.Counter("lapor_lacak_records_skipped", "Records the view could not use, "
                                    "and parked statuses dropped for room, by reason", ["reason"],
                                    registry=r)
        self.lookups = prom.Counter("lapor_lacak_lookups", "Tracking lookups by answer (200 found, "
                                    "404 unknown, 400 mistyped, 429 over a budget)", ["status"],
                                    registry=r)
        self.complaints = prom.Gauge("lapor_lacak_complaints", "Complaints the view holds (routed, "
                                     "not yet forgotten after closing)", registry=r)
        self.parked = prom.Gauge("lapor_lacak_parked", "Statuses kept for complaints not routed yet",
                                 registry=r)

    def exposition(self, refresh: Callable[[], None]) -> bytes:
        refresh()
        return generate_latest(self.registry)


def metrics_app(metrics: LacakMetrics, refresh: Callable[[], None]) -> web.Application:
    return worker_port(lambda: metrics.exposition(refresh), "lacak")
