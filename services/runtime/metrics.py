"""Prometheus metrics of a stage's worker, served at /metrics/ on its web port: records in
and out by topic, what the handlers did (accepted, duplicate, routed, ...), dead letters by
reason, escalations by level and kind, the time a batch takes, how old records are when
handled, and consumer lag by partition. Labels are ids and codes, never personal data."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

import prometheus_client as prom
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

from services.runtime.stage import BatchResult, Record

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class StageMetrics:
    def __init__(self, stage: str, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r, self.stage = self.registry, stage
        self.records_in = prom.Counter("lapor_records_in", "Input records handled",
                                       ["stage", "topic"], registry=r)
        self.records_out = prom.Counter("lapor_records_out", "Records produced",
                                        ["stage", "topic"], registry=r)
        self.handled = prom.Counter("lapor_handled", "What the handlers did, by event",
                                    ["stage", "event"], registry=r)
        self.dead_letters = prom.Counter("lapor_dead_letters", "Records dead-lettered, by reason",
                                         ["stage", "reason"], registry=r)
        self.escalations = prom.Counter("lapor_escalations", "Escalations emitted",
                                        ["stage", "level", "kind"], registry=r)
        self.batch_seconds = Histogram("lapor_batch_seconds", "Time to handle one batch (compute, "
                                       "send, acks, writes)", ["stage"], buckets=LATENCY_BUCKETS,
                                       registry=r)
        self.record_age = Histogram("lapor_record_age_seconds", "Kafka record time to handled",
                                    ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.tables_not_held = prom.Counter("lapor_tables_not_held", "Table partitions holding "
                                            "records that this worker handled input for without "
                                            "being assigned them (once an assignment)", registry=r)
        self.lag = Gauge("lapor_consumer_lag", "Records behind the end of an input partition",
                         ["stage", "topic", "partition"], registry=r)

    def observe(self, records: Sequence[Record], result: BatchResult, seconds: float,
                highwater: Callable[[Record], int | None] | None = None,
                now: Callable[[], float] = time.time) -> None:
        # Counted per batch and added once per label: a labelled inc per record and per
        # note was a twentieth of a stage's time.
        stage, handled_at = self.stage, now()
        age = self.record_age.labels(stage)
        for record in records:
            age.observe(max(0.0, handled_at - record.timestamp))
        for topic, count in Counter(record.topic for record in records).items():
            self.records_in.labels(stage, topic).inc(count)
        for topic, count in Counter(output.topic for output in result.outputs).items():
            self.records_out.labels(stage, topic).inc(count)
        handled: Counter[str] = Counter()
        dead: Counter[str] = Counter()
        escalated: Counter[tuple[str, str]] = Counter()
        for _, note in result.notes:
            if note.level == "debug":
                continue
            handled[note.event] += 1
            if note.event in ("rejected", "internal_error"):
                dead[str(note.fields.get("reason"))] += 1
            elif note.event == "escalation":
                escalated[(str(note.fields.get("escalation_level")), str(note.fields.get("kind")))] += 1
        for event, count in handled.items():
            self.handled.labels(stage, event).inc(count)
        for reason, count in dead.items():
            self.dead_letters.labels(stage, reason).inc(count)
        for (level, kind), count in escalated.items():
            self.escalations.labels(stage, level, kind).inc(count)
        self.batch_seconds.labels(stage).observe(seconds)
        if highwater is not None:
            last = {(r.topic, r.partition): r for r in records}  # the last record per partition
            for (topic, partition), record in last.items():
                end = highwater(record)
                if end is not None:
                    self.lag.labels(stage, topic, str(partition)).set(max(0, end - record.offset - 1))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
