"""Where intake's replies go (complaints.notifications.<channel>.v1): the reply address of an input,
read leniently from the raw bytes when the input itself is rejected, and the accepted and
rejected notices. Pure."""

from __future__ import annotations

import json
from datetime import datetime

from schemas import AcceptedComplaint, Channel, NoticeKind, Notification
from services.domain.notices import ReplyAddress, load_notice_texts, notice
from services.intake.phones import normalise_msisdn

_ID_MAX = 200


def _text_field(data: dict[str, object], name: str) -> str | None:
    value = data.get(name)
    return value.strip() if isinstance(value, str) and value.strip() and len(value) <= _ID_MAX else None


def sms_reply(msisdn: str | None, message_id: str | None) -> ReplyAddress:
    return ReplyAddress(Channel.sms, message_id, msisdn)


def reply_of_raw(raw: bytes | None, is_sms: bool) -> ReplyAddress | None:
    """The reply address of an input that could not be accepted, when enough of it reads:
    an SMS needs a possible sender number, a submission its channel and submission id."""
    try:
        data = json.loads(raw or b"")
    except (ValueError, RecursionError):
        return None  # not JSON (or not UTF-8): nobody to answer
    if not isinstance(data, dict):
        return None
    if is_sms:
        number, message_id = _text_field(data, "msisdn"), _text_field(data, "message_id")
        msisdn = normalise_msisdn(number) if number else None
        if msisdn is None:
            return None  # no possible sender: nobody to answer
        # The gateway answers a message id it knows; the number only where none is readable
        # (the text, which may ask for anonymity, could not be read).
        return sms_reply(msisdn if message_id is None else None, message_id)
    channel, submission_id = _text_field(data, "channel"), _text_field(data, "submission_id")
    if channel is None or channel not in Channel.__members__ or submission_id is None:
        return None
    return ReplyAddress(Channel(channel), submission_id)


def accepted_notice(c: AcceptedComplaint, msisdn: str | None) -> Notification:
    reply = ReplyAddress(c.channel, c.submission_id, msisdn)
    text = load_notice_texts().render(NoticeKind.accepted, c.channel, tracking_id=c.complaint_id)
    return notice(NoticeKind.accepted, reply, c.accepted_at, complaint_id=c.complaint_id, text=text)


def rejected_notice(reply: ReplyAddress, reason: str, at: datetime,
                    position: tuple[str, int, int]) -> Notification:
    """Why, in plain words; the rejected text itself is never echoed."""
    texts = load_notice_texts()
    text = texts.render(NoticeKind.rejected, reply.channel, reason=texts.reason_words(reason))
    return notice(NoticeKind.rejected, reply, at, *position, reason=reason, text=text)
