"""Prometheus metrics of a stage's worker, served at /metrics/ on its web port: records in
and out by topic, what the handlers did (accepted, duplicate, routed, ...), dead letters by
reason, escalations by level and kind, the time a batch takes, how old records are when
handled, and consumer lag by partition. Labels are ids and codes, never personal data."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from services.runtime.stage import BatchResult, Record

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class StageMetrics:
    def __init__(self, stage: str, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r, self.stage = self.registry, stage
        self.records_in = Counter("lapor_records_in", "Input records handled", ["stage", "topic"], registry=r)
        self.records_out = Counter("lapor_records_out", "Records produced", ["stage", "topic"], registry=r)
        self.handled = Counter("lapor_handled", "What the handlers did, by event", ["stage", "event"],
                               registry=r)
        self.dead_letters = Counter("lapor_dead_letters", "Records dead-lettered, by reason",
                                    ["stage", "reason"], registry=r)
        self.escalations = Counter("lapor_escalations", "Escalations emitted",
                                   ["stage", "level", "kind"], registry=r)
        self.batch_seconds = Histogram("lapor_batch_seconds", "Time to handle one batch (compute, "
                                       "send, acks, writes)", ["stage"], buckets=LATENCY_BUCKETS,
                                       registry=r)
        self.record_age = Histogram("lapor_record_age_seconds", "Kafka record time to handled",
                                    ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.lag = Gauge("lapor_consumer_lag", "Records behind the end of an input partition",
                         ["stage", "topic", "partition"], registry=r)

    def observe(self, records: Sequence[Record], result: BatchResult, seconds: float,
                highwater: Callable[[Record], int | None] | None = None,
                now: Callable[[], float] = time.time) -> None:
        stage, handled_at = self.stage, now()
        for record in records:
            self.records_in.labels(stage, record.topic).inc()
            self.record_age.labels(stage).observe(max(0.0, handled_at - record.timestamp))
        for output in result.outputs:
            self.records_out.labels(stage, output.topic).inc()
        for _, note in result.notes:
            if note.level == "debug":
                continue
            self.handled.labels(stage, note.event).inc()
            if note.event in ("rejected", "internal_error"):
                self.dead_letters.labels(stage, str(note.fields.get("reason"))).inc()
            elif note.event == "escalation":
                self.escalations.labels(stage, str(note.fields.get("escalation_level")),
                                        str(note.fields.get("kind"))).inc()
        self.batch_seconds.labels(stage).observe(seconds)
        if highwater is not None:
            last = {(r.topic, r.partition): r for r in records}  # the last record per partition
            for (topic, partition), record in last.items():
                end = highwater(record)
                if end is not None:
                    self.lag.labels(stage, topic, str(partition)).set(max(0, end - record.offset - 1))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
