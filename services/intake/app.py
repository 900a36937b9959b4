"""The intake worker: complaints.submitted.v1 and channels.sms.v1 in, complaints.accepted.v1
and dead letters out. Decisions live in the pure modules; this file only wires them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust

from schemas import AcceptedComplaint
from services.common.dead_letter import dead_letter
from services.common.faust_app import make_app, raw_topic
from services.common.logging import configure_logging, get_logger
from services.common.settings import Settings
from services.intake.accept import accept, sms_to_submission
from services.intake.classify import Classifier, load_rules
from services.intake.decode import Rejection, decode_sms, decode_submission
from services.intake.metrics import IntakeMetrics

SUBMITTED, SMS = "complaints.submitted.v1", "channels.sms.v1"
ACCEPTED, REJECTED = "complaints.accepted.v1", "complaints.rejected.v1"


class IntakeProcessor:
    """Bytes of one input record -> an accepted complaint or a rejection (no Kafka here)."""

    def __init__(self, classifier: Classifier, max_bytes: int):
        self.classifier, self.max_bytes = classifier, max_bytes

    def process(self, source: str, raw: bytes | None, record_time: datetime) -> AcceptedComplaint | Rejection:
        try:
            if source == SMS:
                sms = decode_sms(raw, self.max_bytes)
                sub = sms if isinstance(sms, Rejection) else sms_to_submission(sms)
            else:
                sub = decode_submission(raw, self.max_bytes)
            if isinstance(sub, Rejection):
                return sub
            return accept(sub, record_time, self.classifier)
        except Exception as exc:  # one hostile record must never stop the worker
            return Rejection.single("internal_error", "$", type(exc).__name__)


def create_app(settings: Settings) -> faust.App:
    configure_logging("intake", settings.log_level)
    app = make_app("intake", settings, producer_max_request_size=8 * 1024 * 1024)
    processor = IntakeProcessor(Classifier(load_rules(settings.classification_file)),
                                settings.max_message_bytes)
    metrics = IntakeMetrics()
    accepted_topic = raw_topic(app, settings, ACCEPTED)
    rejected_topic = raw_topic(app, settings, REJECTED)
    retention_s = settings.dedup_retention_days * 86400.0
    # One table per source topic: a table's changelog partition is its source record's
    # partition, so each source keeps its own. Value: first accepted record time (epoch s).
    seen = {
        SUBMITTED: app.Table("seen-submitted", default=None, partitions=settings.partitions),
        SMS: app.Table("seen-sms", default=None, partitions=settings.partitions),
    }

    async def handle(source: str, event: Any) -> None:
        msg = event.message
        log = get_logger(topic=msg.topic, partition=msg.partition, offset=msg.offset)
        outcome = processor.process(source, msg.value, datetime.fromtimestamp(msg.timestamp, UTC))
        if isinstance(outcome, Rejection):
            letter = dead_letter(topic=msg.topic, partition=msg.partition, offset=msg.offset,
                                 timestamp_s=msg.timestamp, key=msg.key, raw=msg.value,
                                 reason=outcome.reason, errors=outcome.errors, rejected_by="intake")
            await (await rejected_topic.send(key=msg.key, value=letter.to_bytes()))
            metrics.rejected[(source, outcome.reason)] += 1
            log.info("rejected", reason=outcome.reason, event_id=letter.event_id)
            return
        table, cid = seen[source], outcome.complaint_id
        first = table.get(cid)
        if first is not None and msg.timestamp - first < retention_s:
            metrics.duplicates[outcome.channel.value] += 1
            log.info("duplicate", complaint_id=cid)
            return
        # Wait for the accepted event to be stored before remembering it: a crash in between
        # then repeats the event (same event_id) rather than losing the complaint.
        await (await accepted_topic.send(key=cid.encode(), value=outcome.to_bytes()))
        table[cid] = msg.timestamp
        metrics.accepted[outcome.channel.value] += 1
        log.info("accepted", complaint_id=cid, event_id=outcome.event_id,
                 channel=outcome.channel.value, category=outcome.category.value)

    @app.agent(raw_topic(app, settings, SUBMITTED))
    async def on_submitted(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            await handle(SUBMITTED, event)

    @app.agent(raw_topic(app, settings, SMS))
    async def on_sms(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            await handle(SMS, event)

    @app.page("/metrics/")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.json(metrics.snapshot())

    app.lapor_metrics = metrics  # type: ignore[attr-defined]
    return app
