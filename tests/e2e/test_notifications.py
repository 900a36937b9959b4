"""The reporter hears back, each channel on its own topic (complaints.notifications.
<channel>.v1): the tracking id of an SMS, why a malformed SMS was refused, and a web
complaint's routing, answer and close, in order. An anonymous sender's number stays on the
SMS input only: its replies go by the gateway's message id. The same body runs in memory and
on the real broker with the three workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import Notification
from services.domain.notices import SMS_MAX
from tests.ids import make_complaint_id
from services.runtime.topics import (
    ACCEPTED, REJECTED, ROUTED, SMS, STATUS, SUBMITTED, TRIAGE, agency_topic_name,
    notifications_topic_name,
)
from tests.harness import Harness, harness

T = "2026-03-02T09:15:00+07:00"
SMS_REPLIES, WEB_REPLIES = notifications_topic_name("sms"), notifications_topic_name("web")
SENDER, ANON_SENDER = "+6281234567890", "+6281311122233"
ANON_FORMS = (ANON_SENDER, "081311122233", "6281311122233", "81311122233")


def sms(message_id: str, sender: str, text: str, received_at: str = T) -> tuple[bytes, bytes]:
    value = {"message_id": message_id, "msisdn": sender, "text": text, "received_at": received_at}
    return sender.encode(), json.dumps(value).encode()


def web(sid: str, body: str) -> tuple[bytes, bytes]:
    value = {"submission_id": sid, "channel": "web", "submitted_at": T, "body": body,
             "reporter": {"name": "Siti Aminah", "email": "siti@example.id"}}
    return sid.encode(), json.dumps(value).encode()


def status(cid: str, kind: str, agency: str, at: str) -> tuple[bytes, bytes]:
    value = {"event_id": f"st-{cid}-{kind}", "complaint_id": cid, "status": kind,
             "agency_id": agency, "at": at}
    return cid.encode(), json.dumps(value).encode()


async def notices(h: Harness, sms_replies: int, web_replies: int) -> list[Notification]:
    """Each channel's replies, from its own topic (each channel may read only its own)."""
    sms_told = [Notification.model_validate_json(v) for _, v in await h.read(SMS_REPLIES, sms_replies)]
    web_told = [Notification.model_validate_json(v) for _, v in await h.read(WEB_REPLIES, web_replies)]
    assert {n.channel.value for n in sms_told} <= {"sms"} and {n.channel.value for n in web_told} == {"web"}
    return sms_told + web_told


async def test_reporters_hear_back_on_their_own_channel(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    async with harness(request, runtime, ["intake", "router", "sla_monitor"], tmp_path) as h:
        await h.publish(SMS, [
            sms("gw-1", "0812-3456-7890", "Token listrik tidak masuk ke meteran sejak kemarin"),
            sms("gw-2", ANON_SENDER, "ANONIM BPJS Kesehatan saya dinonaktifkan, NIK 3273014506900002"),
            sms("gw-3", "+6281255556666", "Jalan rusak parah di depan rumah", received_at="kemarin"),
        ])
        await h.publish(SUBMITTED, [web("web-1", "Listrik padam tiga hari, token listrik hilang")])
        told = await notices(h, sms_replies=5, web_replies=2)
        by = {(n.complaint_id or n.submission_id, n.kind.value): n for n in told}
        assert len(by) == 7

        # An SMS complaint: its tracking id in one SMS to the sender, then its agency.
        gw1 = make_complaint_id("sms", "gw-1")
        accepted = by[(gw1, "accepted")]
        assert (accepted.channel.value, accepted.msisdn, accepted.submission_id) == ("sms", SENDER, "gw-1")
        assert gw1 in accepted.text and len(accepted.text) <= SMS_MAX
        routed = by[(gw1, "routed")]
        assert routed.agency_id == "pln" and "PT PLN (Persero)" in routed.text
        assert routed.msisdn is None and routed.submission_id == "gw-1"  # the gateway maps it

        # The anonymous SMS is answered by its message id only, even by intake.
        gw2 = make_complaint_id("sms", "gw-2")
        assert (by[(gw2, "accepted")].msisdn, by[(gw2, "accepted")].submission_id) == (None, "gw-2")
        assert by[(gw2, "routed")].agency_id == "bpjs-kesehatan" and by[(gw2, "routed")].msisdn is None

        # A malformed SMS: the sender hears why and how to send again; no echo of its text.
        refused = by[("gw-3", "rejected")]
        assert (refused.msisdn, refused.submission_id, refused.reason, refused.complaint_id) == (
            None, "gw-3", "invalid_timestamp", None)  # the gateway knows its message id
        assert "tidak terbaca" in refused.text and "1708" in refused.text
        assert "Jalan rusak" not in refused.text and len(refused.text) <= SMS_MAX

        # A web complaint: its reporter hears of routing, the answer and the close, in order.
        cid = make_complaint_id("web", "web-1")
        await h.publish(STATUS, [status(cid, "responded", "pln", "2026-03-03T10:00:00+07:00"),
                                 status(cid, "closed", "pln", "2026-03-04T10:00:00+07:00")])
        told = await notices(h, sms_replies=5, web_replies=4)
        mine = [n for n in told if n.complaint_id == cid]
        assert [n.kind.value for n in mine] == ["accepted", "routed", "responded", "closed"]
        assert all(n.channel.value == "web" and n.submission_id == "web-1" and n.msisdn is None
                   and "Siti" not in n.text for n in mine)
        assert len({n.event_id for n in told}) == 9

        # The anonymous sender's number: on the SMS input only.
        elsewhere = [v for topic in (ACCEPTED, ROUTED, REJECTED, TRIAGE, SMS_REPLIES, WEB_REPLIES,
                                     agency_topic_name("pln"),
                                     agency_topic_name("bpjs-kesehatan"))
                     # all written before the notices read above: no long wait for empty ones
                     for _, v in await h.read(topic, timeout_s=10)]
        carriers = {"topics": b"\n".join(elsewhere).decode(), "state": await h.state_text(),
                    "logs": h.log_text()}
        for where, text in carriers.items():
            assert not any(form in text for form in ANON_FORMS), where
        assert gw2 in carriers["topics"] and gw2 in carriers["state"]  # it was looked at
