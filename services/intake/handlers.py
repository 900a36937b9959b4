"""Every decision of intake, as a pure handler: one input record (a web/app submission or a
raw SMS) and the dedup stores in; the accepted complaint or a dead letter out, each with its
reply to the reporter when there is an address to send it to."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import AcceptedComplaint, Privacy
from services.intake.accept import accept, sms_to_submission
from services.intake.classify import Classifier
from services.intake.decode import Rejection, decode_sms, decode_submission
from services.intake.phones import normalise_msisdn
from services.intake.dedup_expiry import expire, remember
from services.intake.replies import accepted_notice, rejected_notice, reply_of_raw
from services.runtime.stage import Outcome, Output, Record, StagedStores, StoreName, reject
from services.runtime.topics import ACCEPTED, SMS, SUBMITTED, notifications_topic_name

STAGE = "intake"
# One dedup store per source topic: a table's changelog partition is its source record's
# partition, so each source keeps its own. Value: first accepted record time (epoch s).
SEEN = {SUBMITTED: StoreName.seen_submitted, SMS: StoreName.seen_sms}


@dataclass(frozen=True)
class IntakeHandlers:
    classifier: Classifier
    max_bytes: int
    dedup_retention_s: float
    id_key: bytes  # the deployment's tracking-id key (LAPOR_COMPLAINT_ID_KEY_FILE)

    def decide(self, record: Record) -> tuple[AcceptedComplaint | Rejection, str | None]:
        """The record's bytes as an accepted complaint, or why not; and the SMS sender's
        number (E.164) when the record is a readable SMS, for the reply only."""
        msisdn = None
        if record.topic == SMS:
            sms = decode_sms(record.value, self.max_bytes)
            sub = sms if isinstance(sms, Rejection) else sms_to_submission(sms)
            msisdn = None if isinstance(sms, Rejection) else normalise_msisdn(sms.msisdn)
        else:
            sub = decode_submission(record.value, self.max_bytes)
        if isinstance(sub, Rejection):
            return sub, msisdn
        return accept(sub, record.time, self.classifier, self.id_key), msisdn

    def handle(self, record: Record, stores: StagedStores) -> Outcome:
        seen = SEEN[record.topic]
        expired = expire(stores, seen, record.partition, record.timestamp, self.dedup_retention_s)
        out = self._decide_and_dedup(record, stores, seen)
        if expired:
            out.note("dedup_expired", entries=expired)
        return out

    def _decide_and_dedup(self, record: Record, stores: StagedStores, seen: str) -> Outcome:
        decided, msisdn = self.decide(record)
        if isinstance(decided, Rejection):
            out = reject(STAGE, record, decided.reason, decided.errors)
            out.outputs += _rejection_reply(record, decided.reason)
            return out
        cid = decided.complaint_id
        first = stores.get(seen, cid)
        if first is not None and record.timestamp - first < self.dedup_retention_s:
            return Outcome().note("duplicate", complaint_id=cid, channel=decided.channel.value)
        # Remembered only once the accepted event is acknowledged (the runtime applies
        # writes after the acks): a crash in between repeats the event under the same id.
        remember(stores, seen, record.partition, cid, record.timestamp)
        # An SMS is answered by its message id, which the gateway maps to the sender; the
        # number itself only to a sender who did not ask to stay anonymous.
        reply = accepted_notice(decided, None if decided.privacy is Privacy.anonymous else msisdn)
        out = Outcome([Output(ACCEPTED, cid.encode(), decided.to_bytes()),
                       Output(notifications_topic_name(reply.channel), cid.encode(), reply.to_bytes())])
        return out.note("accepted", complaint_id=cid, event_id=decided.event_id,
                        channel=decided.channel.value, category=decided.category.value)


def _rejection_reply(record: Record, reason: str) -> list[Output]:
    """The reporter hears why, when the input names a reply address (key: the input's)."""
    reply = reply_of_raw(record.value, record.topic == SMS)
    if reply is None:
        return []
    told = rejected_notice(reply, reason, record.time, (record.topic, record.partition, record.offset))
    key = record.key or (reply.submission_id.encode() if reply.submission_id else None)
    return [Output(notifications_topic_name(told.channel), key, told.to_bytes())]
