"""Intake's replies: the accepted notice with the tracking id, the rejection with its plain
reason, and none when the input names nobody to answer or repeats an accepted one."""

from __future__ import annotations

import json

from schemas import Notification
from services.intake.compose import build
from tests.ids import make_complaint_id
from services.runtime.settings import Settings
from services.runtime.stage import Record, StagedStores
from services.runtime.topics import REJECTED, SMS, SUBMITTED, notifications_topic_name

MOBILE_REPLIES, SMS_REPLIES = notifications_topic_name("mobile"), notifications_topic_name("sms")

STAGE = build(Settings())
T = "2026-03-02T09:15:00+07:00"


def handle(topic: str, value: bytes, stores: StagedStores, offset: int = 0) -> dict[str, list[bytes]]:
    record = Record(topic, 0, offset, 1772417700.0, b"k", value)
    out: dict[str, list[bytes]] = {}
    for o in STAGE.handle(record, stores).outputs:
        out.setdefault(o.topic, []).append(o.value)
    stores.commit()
    return out


def stores() -> StagedStores:
    return StagedStores({name: {} for name in STAGE.stores})


def web(**fields: object) -> bytes:
    return json.dumps({"submission_id": "w-1", "channel": "mobile", "submitted_at": T,
                       "body": "Jalan berlubang di depan sekolah", **fields}).encode()


def test_an_accepted_submission_is_told_its_tracking_id_once() -> None:
    s = stores()
    first = handle(SUBMITTED, web(), s)
    assert list(first) == ["complaints.accepted.v1", MOBILE_REPLIES]  # the mobile channel's own
    told = Notification.model_validate_json(first[MOBILE_REPLIES][0])
    cid = make_complaint_id("mobile", "w-1")
    assert (told.kind.value, told.channel.value, told.submission_id, told.complaint_id) == (
        "accepted", "mobile", "w-1", cid)
    assert cid in told.text and told.msisdn is None
    assert MOBILE_REPLIES not in handle(SUBMITTED, web(), s, offset=1)  # a duplicate: silent


def test_a_rejected_submission_is_told_why_without_its_text() -> None:
    out = handle(SUBMITTED, web(submitted_at="2026-03-02T09:15:00", body="Rahasia: pungli di kantor"),
                 stores())
    told = Notification.model_validate_json(out[MOBILE_REPLIES][0])
    assert (told.kind.value, told.reason, told.submission_id, told.complaint_id) == (
        "rejected", "invalid_timestamp", "w-1", None)
    assert "pungli" not in told.text and "waktu pengiriman tidak terbaca" in told.text
    assert len(out[REJECTED]) == 1


def test_an_sms_of_only_its_privacy_keyword_is_answered_by_its_message_id() -> None:
    """The gateway maps its message id to the sender: the number is not repeated."""
    sms = {"message_id": "gw-9", "msisdn": "0812 3456 7890", "text": "ANONIM", "received_at": T}
    told = Notification.model_validate_json(
        handle(SMS, json.dumps(sms).encode(), stores())[SMS_REPLIES][0])
    assert (told.kind.value, told.msisdn, told.submission_id, told.reason) == (
        "rejected", None, "gw-9", "invalid_body")


def test_an_sms_without_a_readable_message_id_is_answered_on_its_number() -> None:
    sms = {"message_id": "", "msisdn": "0812 3456 7890", "text": "x", "received_at": T}
    told = Notification.model_validate_json(
        handle(SMS, json.dumps(sms).encode(), stores())[SMS_REPLIES][0])
    assert (told.kind.value, told.msisdn, told.submission_id) == ("rejected", "+6281234567890", None)


def test_an_anonymous_sms_is_told_its_tracking_id_without_its_number() -> None:
    for text, number in (("ANONIM listrik padam tiga hari", None),
                         ("listrik padam tiga hari", "+6281234567890")):
        sms = {"message_id": "gw-10", "msisdn": "0812 3456 7890", "text": text, "received_at": T}
        out = handle(SMS, json.dumps(sms).encode(), stores())
        told = Notification.model_validate_json(out[SMS_REPLIES][0])
        assert (told.kind.value, told.submission_id, told.msisdn) == ("accepted", "gw-10", number)
        if number is None:  # the accepted complaint keeps no number of an anonymous sender
            assert b"81234567890" not in b"".join(out["complaints.accepted.v1"])


def test_input_that_names_nobody_to_answer_is_only_dead_lettered() -> None:
    for topic, value in [(SUBMITTED, b"{not json"), (SUBMITTED, b"[1]"), (SMS, b"\xff\xfe"),
                         (SUBMITTED, json.dumps({"channel": "fax", "submission_id": "x"}).encode()),
                         (SMS, json.dumps({"message_id": "m", "msisdn": "12", "text": "x"}).encode())]:
        out = handle(topic, value, stores())
        assert set(out) == {REJECTED} and len(out[REJECTED]) == 1, value
