"""The texts a reporter receives: every kind, for SMS and the other channels."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from schemas import Channel, NoticeKind
from services.domain.notices import SMS_MAX, load_notice_texts, parse_notice_texts
from services.domain.registry import load_registry

# GSM 03.38 basic alphabet (no escape characters): what fits 160 to one SMS.
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
           "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
CID = "LPR-7K2QX9M4TD5W"
TEXTS = load_notice_texts()
AGENCY_NAMES = sorted({a.name for a in load_registry().agencies.values()})
VALUES = {"tracking_id": CID, "agency": "PT PLN (Persero)", "reason": TEXTS.reason_words("invalid_body"),
          "days": 3, "target": TEXTS.targets[2]}


@pytest.mark.parametrize("kind", list(NoticeKind))
@pytest.mark.parametrize("channel", [Channel.sms, Channel.web, Channel.mobile])
def test_every_kind_reads_in_bahasa_for_every_channel(kind: NoticeKind, channel: Channel) -> None:
    text = TEXTS.render(kind, channel, **VALUES)
    assert "{" not in text and "}" not in text
    assert "aduan" in text.lower()
    assert not re.search(r"\b(the|your|complaint|has been|please)\b", text, re.I)
    if kind is not NoticeKind.rejected:
        assert CID in text  # every reply about a complaint names it
    if channel is Channel.sms:
        assert len(text) <= SMS_MAX and set(text) <= GSM7, text
    else:
        assert text == TEXTS.render(kind, Channel.web, **VALUES)  # one text for the others


@pytest.mark.parametrize("kind", [NoticeKind.routed, NoticeKind.rerouted, NoticeKind.responded,
                                  NoticeKind.info_requested])
def test_every_shipped_agency_fits_one_sms(kind: NoticeKind) -> None:
    for name in AGENCY_NAMES:
        text = TEXTS.render(kind, Channel.sms, **{**VALUES, "agency": name, "days": 14})
        assert len(text) <= SMS_MAX and set(text) <= GSM7, text
        assert name in text  # shipped names fit whole


def test_a_longer_agency_name_is_shortened_to_one_sms() -> None:
    name = "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu Kabupaten Kepulauan Sangihe Talaud"
    text = TEXTS.render(NoticeKind.routed, Channel.sms, **{**VALUES, "agency": name})
    assert len(text) <= SMS_MAX and "Dinas Penanaman Modal" in text and ".." in text
    assert name in TEXTS.render(NoticeKind.routed, Channel.web, **{**VALUES, "agency": name})


@pytest.mark.parametrize("level", [2, 3])
def test_escalation_texts_name_who_was_told(level: int) -> None:
    text = TEXTS.render(NoticeKind.escalated, Channel.sms, tracking_id=CID, target=TEXTS.targets[level])
    assert ("nasional" if level == 2 else "Ombudsman") in text and len(text) <= SMS_MAX


@pytest.mark.parametrize("reason", ["invalid_body", "invalid_timestamp", "missing_id", "invalid_msisdn",
                                    "too_large", "invalid_fields", "a_code_added_later"])
def test_every_rejection_reason_has_plain_words(reason: str) -> None:
    words = TEXTS.reason_words(reason)
    assert "_" not in words and words
    sms = TEXTS.render(NoticeKind.rejected, Channel.sms, reason=words)
    assert len(sms) <= SMS_MAX and set(sms) <= GSM7 and "1708" in sms


def test_a_template_cannot_name_a_field_about_a_person() -> None:
    shipped = resources.files("services.domain").joinpath("data/notices.yaml").read_text("utf-8")
    assert parse_notice_texts(shipped).texts == TEXTS.texts
    bad = shipped.replace("Aduan {tracking_id} telah selesai", "Aduan {tracking_id} a.n. {reporter_name}", 1)
    with pytest.raises(ValueError, match="reporter_name"):
        parse_notice_texts(bad)
    with pytest.raises(ValueError, match="auto_closed"):
        parse_notice_texts(shipped.replace("  auto_closed:", "  auto_closed_x:", 1))
