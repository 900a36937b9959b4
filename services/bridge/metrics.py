"""The bridge's Prometheus metrics, per agency: what went out, what is stuck and for how long,
what came back and what was refused. Labels are configured agency ids and reason codes only
(an unknown agency in a URL counts as `unknown`, so a caller cannot grow the label set)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import prometheus_client as prom
from prometheus_client import CollectorRegistry, generate_latest


class BridgeMetrics:
    def __init__(self, agencies: Iterable[str]):
        self.agencies = frozenset(agencies)
        r = self.registry = CollectorRegistry()
        self.delivered = prom.Counter("lapor_bridge_delivered", "Complaints an agency's endpoint "
                                      "took", ["agency"], registry=r)
        self.refused = prom.Counter("lapor_bridge_refused", "Complaints an endpoint refused for "
                                    "good (dead-lettered with its answer)", ["agency"], registry=r)
        self.failed_tries = prom.Counter("lapor_bridge_failed_tries", "Tries that will be "
                                         "retried (no answer, 5xx, 429)", ["agency"], registry=r)
        self.gave_up = prom.Counter("lapor_bridge_gave_up", "Complaints given up after "
                                    "give_up_after_s (dead-lettered bridge_gave_up; the desk "
                                    "has them)", ["agency"], registry=r)
        self.skipped = prom.Counter("lapor_bridge_skipped", "Complaints an operator skipped "
                                    "(lapor bridge skip; dead-lettered bridge_skipped, the desk "
                                    "has them)", ["agency"], registry=r)
        self.not_sent = prom.Counter("lapor_bridge_not_sent", "Records sent nowhere: a "
                                     "disposition's copy for an Open311 agency, to a unit with no "
                                     "endpoint of its own (GeoReport v2 has no disposition)",
                                     ["agency"], registry=r)
        self.polling = prom.Gauge("lapor_bridge_polling", "1 while this worker polls the "
                                  "agency's Open311 server (the one holding partition 0 of its "
                                  "topic: each request is polled by one worker)", ["agency"],
                                  registry=r)
        self.disabled = prom.Gauge("lapor_bridge_disabled", "1 while the agency's endpoint is "
                                   "disabled (it answered 410 Gone; complaints held)", ["agency"],
                                   registry=r)
        self.retrying = prom.Gauge("lapor_bridge_retrying", "1 while the agency's next complaint "
                                   "waits for a retry", ["agency"], registry=r)
        self.pending = prom.Gauge("lapor_bridge_pending", "Complaints read and not yet delivered",
                                  ["agency"], registry=r)
        self.oldest = prom.Gauge("lapor_bridge_oldest_undelivered_seconds", "Age of the oldest "
                                 "complaint not yet delivered (0: none)", ["agency"], registry=r)
        self.statuses_in = prom.Counter("lapor_bridge_statuses_in", "Statuses passed on from an "
                                        "agency's system", ["agency", "source"], registry=r)
        self.refused_in = prom.Counter("lapor_bridge_refused_in", "Inbound calls refused",
                                       ["agency", "reason"], registry=r)
        self.polls_failed = prom.Counter("lapor_bridge_polls_failed", "Open311 polls that got no "
                                         "usable answer", ["agency"], registry=r)
        self.calls_remembered = prom.Gauge("lapor_bridge_calls_remembered", "Accepted status "
                                           "calls in the replay cache (every bridge worker's, "
                                           "within twice the replay window)", registry=r)
        self.failing = prom.Gauge("lapor_bridge_failing", "1 while a part of the bridge (lane:, "
                                  "poller: an agency, or reporter) cannot make progress",
                                  ["part"], registry=r)
        for agency in self.agencies:
            for gauge in (self.retrying, self.pending, self.oldest, self.disabled, self.polling):
                gauge.labels(agency).set(0)

    def total(self, name: str, agency_id: str, **labels: str) -> int:
        """A counter's value for one agency (summed over its other labels if not given)."""
        value = self.registry.get_sample_value(f"lapor_bridge_{name}_total",
                                               {"agency": agency_id, **labels})
        return int(value or 0)

    def agency_label(self, agency_id: str) -> str:
        return agency_id if agency_id in self.agencies else "unknown"

    def exposition(self, refresh: Callable[[], None] | None = None) -> bytes:
        if refresh is not None:
            refresh()
        return generate_latest(self.registry)
