"""Intake's pure rules: decoding, SMS, phones, text, complaint ids, acceptance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import AcceptedComplaint, Privacy, RejectedEvent, SmsMessage, Submission
from services.runtime.settings import Settings
from services.runtime.stage import Record, StagedStores, run_batch
from services.runtime.topics import ACCEPTED, REJECTED, SMS, SUBMITTED
from services.intake.accept import accept, sms_to_submission
from services.intake.compose import build as build_intake
from services.intake.classify import Classifier, load_rules
from services.domain.complaint_id import ALPHABET, normalise_complaint_id
from tests.ids import TEST_KEY, make_complaint_id
from services.intake.decode import Rejection, decode_sms, decode_submission
from services.intake.phones import normalise_email, normalise_msisdn
from services.intake.text import clean_text, derive_title, split_privacy_prefix
from tests.examples import VALID

WIB = timezone(timedelta(hours=7))
LATER = datetime(2030, 1, 1, tzinfo=UTC)
CLASSIFIER = Classifier(load_rules())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty_message"), (b"", "empty_message"), (b"\xc3\x28", "invalid_utf8"),
        (b"{", "invalid_json"), (b"[]", "not_an_object"), (b"null", "not_an_object"),
        (b"x" * 2000, "too_large"), (b"{}", "missing_id"),
    ],
)
def test_decode_rejections(raw: bytes | None, reason: str) -> None:
    result = decode_submission(raw, max_bytes=1024)
    assert isinstance(result, Rejection) and result.reason == reason and result.errors


def test_decode_reports_every_field_error() -> None:
    bad = {**VALID[Submission], "channel": "fax", "submitted_at": "2026-01-01T00:00:00"}
    result = decode_submission(json.dumps(bad).encode(), 10_000)
    assert isinstance(result, Rejection)
    assert {e.loc for e in result.errors} == {"channel", "submitted_at"}


@pytest.mark.parametrize(
    ("number", "e164"),
    [
        ("081234567890", "+6281234567890"), ("6281234567890", "+6281234567890"),
        ("+62 812-3456-7890", "+6281234567890"), ("(0812) 3456 7890", "+6281234567890"),
        ("0062812345678", "+62812345678"), ("+6221-5550123", "+62215550123"),
    ],
)
def test_phone_numbers_become_e164(number: str, e164: str) -> None:
    assert normalise_msisdn(number) == e164


@pytest.mark.parametrize("number", ["abc", "12", "+", "0812345678901234567890"])
def test_impossible_phone_numbers(number: str) -> None:
    assert normalise_msisdn(number) is None


def test_email_normalisation() -> None:
    assert normalise_email("  Siti.Aminah@Gmail.COM ") == "Siti.Aminah@gmail.com"
    assert normalise_email("not-an-email") is None


@pytest.mark.parametrize(
    ("text", "privacy", "rest"),
    [
        ("RAHASIA jalan rusak", Privacy.confidential, "jalan rusak"),
        ("rahasia: jalan rusak", Privacy.confidential, "jalan rusak"),
        ("Anonim. listrik padam", Privacy.anonymous, "listrik padam"),
        ("ANONIM!!! pungli", Privacy.anonymous, "pungli"),
        ("  anonim - bansos", Privacy.anonymous, "bansos"),
        ("anonimitas dijamin?", None, "anonimitas dijamin?"),
        ("Saya ingin rahasia", None, "Saya ingin rahasia"),
    ],
)
def test_sms_privacy_keyword(text: str, privacy: Privacy | None, rest: str) -> None:
    assert split_privacy_prefix(text) == (privacy, rest)


def sms(text: str, msisdn: str = "0812-3456-7890") -> SmsMessage:
    return SmsMessage(message_id="m1", msisdn=msisdn, text=text, received_at="2026-03-02T09:15:00+07:00")


def test_sms_sender_becomes_reporter_phone_unless_anonymous() -> None:
    public = sms_to_submission(sms("jalan rusak"))
    assert isinstance(public, Submission)
    assert public.reporter is not None and public.reporter.phone == "+6281234567890"
    assert public.channel.value == "sms" and public.submission_id == "m1"
    anonymous = sms_to_submission(sms("ANONIM jalan rusak"))
    assert isinstance(anonymous, Submission)
    assert anonymous.reporter is None and anonymous.privacy is Privacy.anonymous
    assert anonymous.body == "jalan rusak"


def test_sms_with_only_a_keyword_or_bad_number_is_rejected() -> None:
    assert isinstance(sms_to_submission(sms("RAHASIA")), Rejection)
    rejected = sms_to_submission(sms("halo", msisdn="abc"))
    assert isinstance(rejected, Rejection) and rejected.reason == "invalid_msisdn"


def test_clean_text() -> None:
    decomposed = "Cafe\u0301 \u200bdi\x00 jalan\t\t  raya\r\n\r\n\r\n\r\nbaris  baru  "
    assert clean_text(decomposed) == "Café di jalan raya\n\nbaris baru"


def test_derived_title_is_first_sentence_and_short() -> None:
    assert derive_title("Jalan rusak. Sudah lama sekali.") == "Jalan rusak."
    long = "kata " * 40
    title = derive_title(long.strip())
    assert len(title) <= 81 and title.endswith("…")


def test_complaint_id_is_deterministic_and_readable() -> None:
    a = make_complaint_id("web", "abc-1")
    assert a == make_complaint_id("web", "abc-1")
    assert a != make_complaint_id("sms", "abc-1")
    assert a.startswith("LPR-") and len(a) == 16
    assert all(c in ALPHABET for c in a[4:])


@given(st.text(min_size=1, max_size=40), st.sampled_from(["web", "sms", "email"]))
@settings(max_examples=300)
def test_every_single_typo_and_adjacent_swap_is_detected(submission_id: str, channel: str) -> None:
    cid = make_complaint_id(channel, submission_id)
    assert normalise_complaint_id(cid) == cid
    body = cid[4:]
    for i in range(len(body)):
        for c in ALPHABET:
            if c != body[i]:
                typo = body[:i] + c + body[i + 1:]
                assert normalise_complaint_id(typo) is None
    for i in range(len(body) - 1):
        if body[i] != body[i + 1]:
            swapped = body[:i] + body[i + 1] + body[i] + body[i + 2:]
            assert normalise_complaint_id(swapped) is None


def test_complaint_id_read_over_the_phone() -> None:
    cid = make_complaint_id("web", "x")
    spoken = cid.lower().replace("0", "o").replace("1", "l")
    assert normalise_complaint_id(spoken) == cid
    assert normalise_complaint_id(" " + cid[4:8] + " " + cid[8:] + " ") == cid


def test_accepted_at_is_never_later_than_the_record_time() -> None:
    sub = Submission.model_validate(VALID[Submission])
    early = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 WIB, before submitted_at 09:15 WIB
    result = accept(sub, early, CLASSIFIER, TEST_KEY)
    assert isinstance(result, AcceptedComplaint)
    assert result.accepted_at == early and result.accepted_at.utcoffset() == timedelta(hours=7)
    late = accept(sub, LATER, CLASSIFIER, TEST_KEY)
    assert isinstance(late, AcceptedComplaint) and late.accepted_at == sub.submitted_at


def test_accept_normalises_and_records_decisions() -> None:
    data = {**VALID[Submission], "privacy": "public", "location": {"region_code": "3273"},
            "reporter": {"phone": "0812 3456 7890", "email": "A@B.CO.ID", "name": " Siti "},
            "category": "population_documents"}
    result = accept(Submission.model_validate(data), LATER, CLASSIFIER, TEST_KEY)
    assert isinstance(result, AcceptedComplaint)
    assert result.location is not None and result.location.region_code == "32.73"
    assert result.reporter is not None
    assert (result.reporter.phone, result.reporter.email, result.reporter.name) == (
        "+6281234567890", "A@b.co.id", "Siti")
    assert result.classification["category"].source == "channel"
    assert result.classification["type"].source == "inferred"
    assert result.classification["title"].rule == "title.first_sentence"
    assert result.event_id == accept(Submission.model_validate(data), LATER, CLASSIFIER, TEST_KEY).event_id  # type: ignore[union-attr]


def handle(topic: str, raw: bytes, max_bytes: int) -> list[tuple[str, bytes]]:
    """Intake's real handler, through the runtime's batch loop (which turns an exception into
    an `internal_error` dead letter instead of raising)."""
    stage = build_intake(Settings(max_message_bytes=max_bytes))
    record = Record(topic, 0, 0, LATER.timestamp(), b"k", raw)
    result = run_batch(stage, [record], StagedStores({s.value: {} for s in stage.stores}))
    return [(o.topic, o.value) for o in result.outputs]


def check_accepted_or_rejected_for_a_reason(outputs: list[tuple[str, bytes]]) -> None:
    assert len(outputs) == 1
    topic, value = outputs[0]
    if topic == ACCEPTED:
        AcceptedComplaint.model_validate_json(value)
    else:
        letter = RejectedEvent.model_validate_json(value)
        assert topic == REJECTED and letter.reason != "internal_error", letter.errors


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_hostile_bytes_are_accepted_or_rejected_never_an_internal_error(raw: bytes) -> None:
    for source in (SUBMITTED, SMS):
        check_accepted_or_rejected_for_a_reason(handle(source, raw, max_bytes=1024))


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.sampled_from(list(VALID[Submission]) + ["x"]), children, max_size=6),
                    max_leaves=20))
@settings(max_examples=300, deadline=None)
def test_hostile_json_is_accepted_or_rejected_never_an_internal_error(value: object) -> None:
    raw = json.dumps(value).encode()
    check_accepted_or_rejected_for_a_reason(handle(SUBMITTED, raw, max_bytes=100_000))
    assert isinstance(decode_sms(raw, 100_000), (Rejection, SmsMessage))
