"""Every decision of intake, as a pure handler: one input record (a web/app submission or a
raw SMS) and the dedup stores in; the accepted complaint or a dead letter out."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import AcceptedComplaint
from services.intake.accept import accept, sms_to_submission
from services.intake.classify import Classifier
from services.intake.decode import Rejection, decode_sms, decode_submission
from services.intake.dedup_expiry import expire, remember
from services.runtime.stage import Outcome, Output, Record, StagedStores, StoreName, reject
from services.runtime.topics import ACCEPTED, SMS, SUBMITTED

STAGE = "intake"
# One dedup store per source topic: a table's changelog partition is its source record's
# partition, so each source keeps its own. Value: first accepted record time (epoch s).
SEEN = {SUBMITTED: StoreName.seen_submitted, SMS: StoreName.seen_sms}


@dataclass(frozen=True)
class IntakeHandlers:
    classifier: Classifier
    max_bytes: int
    dedup_retention_s: float

    def decide(self, record: Record) -> AcceptedComplaint | Rejection:
        """The record's bytes as an accepted complaint, or why not."""
        if record.topic == SMS:
            sms = decode_sms(record.value, self.max_bytes)
            sub = sms if isinstance(sms, Rejection) else sms_to_submission(sms)
        else:
            sub = decode_submission(record.value, self.max_bytes)
        if isinstance(sub, Rejection):
            return sub
        return accept(sub, record.time, self.classifier)

    def handle(self, record: Record, stores: StagedStores) -> Outcome:
        seen = SEEN[record.topic]
        expired = expire(stores, seen, record.partition, record.timestamp, self.dedup_retention_s)
        out = self._decide_and_dedup(record, stores, seen)
        if expired:
            out.note("dedup_expired", entries=expired)
        return out

    def _decide_and_dedup(self, record: Record, stores: StagedStores, seen: str) -> Outcome:
        decided = self.decide(record)
        if isinstance(decided, Rejection):
            return reject(STAGE, record, decided.reason, decided.errors)
        cid = decided.complaint_id
        first = stores.get(seen, cid)
        if first is not None and record.timestamp - first < self.dedup_retention_s:
            return Outcome().note("duplicate", complaint_id=cid, channel=decided.channel.value)
        # Remembered only once the accepted event is acknowledged (the runtime applies
        # writes after the acks): a crash in between repeats the event under the same id.
        remember(stores, seen, record.partition, cid, record.timestamp)
        out = Outcome([Output(ACCEPTED, cid.encode(), decided.to_bytes())])
        return out.note("accepted", complaint_id=cid, event_id=decided.event_id,
                        channel=decided.channel.value, category=decided.category.value)
