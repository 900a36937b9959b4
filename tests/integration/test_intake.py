"""Intake: a mixed batch and its replay (in memory and on the real broker, the same body),
and a crash mid-batch on the broker."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest


from schemas import AcceptedComplaint, RejectedEvent
from services.runtime.settings import Settings
from tests.ids import make_complaint_id
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.harness import Harness, harness
from tests.workers import logged_events, running

T = "2026-03-02T09:15:00+07:00"


def sub(sid: str, channel: str = "web", **extra: Any) -> dict[str, Any]:
    return {"submission_id": sid, "channel": channel, "submitted_at": T,
            "body": f"Jalan rusak parah di depan sekolah ({sid})", **extra}


def enc(value: Any) -> bytes:
    return json.dumps(value).encode()


VALID_SUBMISSIONS = [sub(f"{ch}-a", ch) for ch in
                     ("web", "mobile", "sms", "twitter", "whatsapp", "email", "other")] + [
    sub("web-anon", privacy="anonymous", reporter={"name": "Budi", "nik": "3273011201900001"}),
    sub("web-region", location={"region_code": "3273"}),
    sub("web-old-region", location={"region_code": "94.71"}),  # Kota Jayapura before 2022
    sub("web-bad-region", location={"region_code": "99.99"}),
]
VALID_SMS = [
    {"message_id": "sms-1", "msisdn": "0812-3456-7890", "text": "KTP el blm jadi", "received_at": T},
    {"message_id": "sms-2", "msisdn": "62812345678", "text": "RAHASIA: pungli di kelurahan", "received_at": T},
    {"message_id": "sms-3", "msisdn": "+62 813 1111 2222", "text": "anonim. listrik mati", "received_at": T},
]

BAD_SUBMITTED: list[tuple[bytes | None, str]] = [
    (b"{not json", "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (b'"a string"', "not_an_object"),
    (b"", "empty_message"),
    (None, "empty_message"),
    (b"\xff\xfe{}", "invalid_utf8"),
    (enc(sub("b1", submitted_at="2026-03-02T09:15:00")), "invalid_timestamp"),
    (enc(sub("b2", submitted_at=1767225600)), "invalid_timestamp"),
    (enc({k: v for k, v in sub("b3").items() if k != "body"}), "invalid_body"),
    (enc(sub("b4", body="")), "invalid_body"),
    (enc(sub("b5", body=" \n\t ")), "invalid_body"),
    (enc(sub("b6", body="x" * 20_001)), "invalid_body"),
    (enc(sub("b7", channel="fax")), "unknown_channel"),
    (enc(sub("b8", reporter={"nik": "1234567890123456"})), "invalid_nik"),
    (b'{"pad": "' + b"x" * 70_000 + b'"}', "too_large"),
    (enc(sub("b9", body=12345)), "invalid_body"),
    (enc(sub("b10", privacy="secret")), "invalid_fields"),
    (enc(sub("b11", agency_hint="BPJS Kesehatan")), "invalid_fields"),
    (enc({k: v for k, v in sub("b13").items() if k != "submission_id"}), "missing_id"),
    (enc(sub("b14", field_inspection="yes")), "invalid_fields"),
    (b"[" * 100_00 + b"]" * 100_00, "invalid_json"),
    (enc(sub("b15", body="\u0000\u0001\u200b")), "invalid_body"),
    (enc(sub("b16", category="jalan")), "invalid_fields"),
]
BAD_SMS: list[tuple[bytes | None, str]] = [
    (enc({"message_id": "s-b1", "msisdn": "abc", "text": "halo", "received_at": T}), "invalid_msisdn"),
    (enc({"message_id": "s-b2", "msisdn": "08123456789", "text": "ANONIM", "received_at": T}), "invalid_body"),
    (enc({"message_id": "s-b3", "msisdn": "08123456789", "text": "x", "received_at": "kemarin"}),
     "invalid_timestamp"),
]


Records = list[tuple[bytes | None, bytes | None]]


def batch() -> tuple[Records, Records]:
    submitted: Records = [(s["submission_id"].encode(), enc(s)) for s in VALID_SUBMISSIONS]
    submitted += [(b"dup", enc(VALID_SUBMISSIONS[0]))]  # the same submission again
    submitted += [(f"bad-{i}".encode(), raw) for i, (raw, _) in enumerate(BAD_SUBMITTED)]
    sms: Records = [(m["msisdn"].encode(), enc(m)) for m in VALID_SMS]
    sms += [(VALID_SMS[0]["msisdn"].encode(), enc(VALID_SMS[0]))]  # gateway retry
    sms += [(f"bad-{i}".encode(), raw) for i, (raw, _) in enumerate(BAD_SMS)]
    return submitted, sms


def expected_ids() -> set[str]:
    ids = {make_complaint_id(s["channel"], s["submission_id"]) for s in VALID_SUBMISSIONS}
    return ids | {make_complaint_id("sms", m["message_id"]) for m in VALID_SMS}


async def publish(h: Harness) -> None:
    submitted, sms = batch()
    await h.publish("complaints.submitted.v1", submitted)
    await h.publish("channels.sms.v1", sms)


async def test_mixed_batch_replay_and_dead_letters(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    n_bad = len(BAD_SUBMITTED) + len(BAD_SMS)
    async with harness(request, runtime, ["intake"], tmp_path, max_message_bytes=64 * 1024) as h:
        await publish(h)
        accepted = await h.read("complaints.accepted.v1", expected=len(expected_ids()))
        rejected = await h.read("complaints.rejected.v1", expected=n_bad, timeout_s=30)

        complaints = [AcceptedComplaint.model_validate_json(v) for _, v in accepted]
        assert sorted(c.complaint_id for c in complaints) == sorted(expected_ids())
        letters = [RejectedEvent.model_validate_json(v) for _, v in rejected]
        assert Counter(l.reason for l in letters) == Counter(
            reason for _, reason in BAD_SUBMITTED + BAD_SMS)
        # The original bytes are kept: text as given, or base64 when not UTF-8.
        by_key = {l.source_key: l for l in letters if l.source_topic.endswith("submitted.v1")}
        assert by_key["bad-0"].raw == "{not json"
        assert by_key["bad-5"].raw_encoding == "base64"
        assert all(l.errors and l.source_topic.endswith(("submitted.v1", "sms.v1")) for l in letters)

        sms = {c.submission_id: c for c in complaints if c.channel.value == "sms"}
        assert sms["sms-1"].reporter is not None and sms["sms-1"].reporter.phone == "+6281234567890"
        assert sms["sms-2"].privacy.value == "confidential" and sms["sms-2"].body == "pungli di kelurahan"
        assert sms["sms-2"].sla_tier.value == "dispute_14d"
        assert sms["sms-3"].privacy.value == "anonymous" and sms["sms-3"].reporter is None
        web = {c.submission_id: c for c in complaints}
        assert web["web-region"].location is not None
        assert web["web-region"].location.region_code == "32.73" and web["web-region"].warnings is None
        # Old and unknown region codes never reject (contract v1 addition).
        old, bad = web["web-old-region"], web["web-bad-region"]
        assert old.location is not None and bad.location is not None
        assert (old.location.region_code, old.location.region_code_given) == ("91.71", "94.71")
        assert (bad.location.region_code, bad.location.region_code_given) == (None, "99.99")
        assert [w.code for w in old.warnings or []] == ["renumbered_region"]
        assert [w.code for w in bad.warnings or []] == ["unknown_region"]

        # The same batch again: no new accepted complaint; bad input is dead-lettered again,
        # each letter for its new position (a new id), with the same reasons.
        await publish(h)
        again = await h.read("complaints.accepted.v1", expected=len(expected_ids()), timeout_s=30)
        assert len(again) == len(expected_ids())
        twice = [RejectedEvent.model_validate_json(v)
                 for _, v in await h.read("complaints.rejected.v1", expected=2 * n_bad, timeout_s=30)]
        assert len(twice) == 2 * n_bad and len({l.event_id for l in twice}) == 2 * n_bad
        assert Counter(l.reason for l in twice) == Counter(
            2 * [reason for _, reason in BAD_SUBMITTED + BAD_SMS])
        log = h.log_text()
    # Logs carry ids, never the complaint text or personal data.
    assert "Jalan rusak" not in log and "Budi" not in log and "3273011201900001" not in log
    assert "accepted" in logged_events(log)


async def test_crash_mid_batch_loses_nothing_and_accepts_nothing_twice(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    subs = [sub(f"crash-{i}") for i in range(6000)]
    await produce(settings, "complaints.submitted.v1",
                  [(s["submission_id"].encode(), enc(s)) for s in subs])
    expected = {make_complaint_id("web", s["submission_id"]) for s in subs}

    worker = running("intake", settings, tmp_path, name="intake-1")
    with worker as first:
        # Kill it (no clean shutdown) as soon as the first complaints are through.
        await consume(settings, "complaints.accepted.v1", expected=1, timeout_s=60, quiet_s=0)
        first.kill()
    # It really died mid-way: part of the backlog was accepted, not all of it.
    before_restart = await consume(settings, "complaints.accepted.v1", timeout_s=10, quiet_s=2)
    assert 0 < len({r.key for r in before_restart}) < len(subs)
    with running("intake", settings, tmp_path, name="intake-2"):
        records = await consume(settings, "complaints.accepted.v1", expected=len(subs),
                                timeout_s=150, quiet_s=8)
    complaints = [AcceptedComplaint.model_validate_json(r.value) for r in records]
    assert {c.complaint_id for c in complaints} == expected  # nothing lost
    # At-least-once: a record repeated after the kill carries the same event id, so no
    # complaint is accepted twice under two identities.
    ids_per_complaint: dict[str, set[str]] = {}
    for c in complaints:
        ids_per_complaint.setdefault(c.complaint_id, set()).add(c.event_id)
    assert all(len(ids) == 1 for ids in ids_per_complaint.values())
