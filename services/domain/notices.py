"""What a reporter is told: the texts of complaints.notifications.<channel>.v1 (kept as data in
`data/notices.yaml`) and the notification events themselves. Pure.

Only ids, agency names, reason words and limits are ever filled into a text: nothing about
a person, so a reply can never carry someone else's data."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources

import yaml

from schemas import Channel, NoticeKind, Notification
from services.domain.ids import deterministic_id

SMS_MAX = 160  # one SMS of the GSM 03.38 basic alphabet
PLACEHOLDERS = frozenset({"tracking_id", "agency", "reason", "days", "target"})


@dataclass(frozen=True)
class ReplyAddress:
    """Where a channel sends the reply: its own submission id, and the SMS sender's number
    where intake read it (it never reaches a later stage)."""

    channel: Channel
    submission_id: str | None
    msisdn: str | None = None


@dataclass(frozen=True)
class NoticeTexts:
    texts: dict[str, dict[str, str]]  # kind -> "sms" | "web" -> template
    targets: dict[int, str]  # escalation level -> who was told
    reasons: dict[str, str]  # dead-letter reason code -> plain words

    def reason_words(self, reason: str) -> str:
        return self.reasons.get(reason, self.reasons["other"])

    def render(self, kind: NoticeKind, channel: Channel, **values: object) -> str:
        """The text for `channel`. An SMS that a long agency name would push past one SMS
        gets the name shortened (agencies from LAPOR_AGENCIES_FILE may have long names)."""
        template = self.texts[kind.value]["sms" if channel is Channel.sms else "web"]
        text = template.format(**values)
        if channel is not Channel.sms or len(text) <= SMS_MAX or "agency" not in values:
            return text
        agency = str(values["agency"])
        keep = max(8, len(agency) - (len(text) - SMS_MAX) - 2)
        return template.format(**{**values, "agency": agency[:keep].rstrip() + ".."})


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def parse_notice_texts(text: str) -> NoticeTexts:
    """The notices file's YAML, checked: a text for every kind and channel, no placeholder
    outside PLACEHOLDERS (so no field about a person can be filled in)."""
    raw = yaml.safe_load(text)
    texts = {kind: dict(by_channel) for kind, by_channel in raw["texts"].items()}
    missing = {k.value for k in NoticeKind} - texts.keys()
    if missing:
        raise ValueError(f"notices: no text for {sorted(missing)}")
    for kind, by_channel in texts.items():
        for channel in ("sms", "web"):
            if channel not in by_channel:
                raise ValueError(f"notices: {kind} has no {channel} text")
            unknown = template_fields(by_channel[channel]) - PLACEHOLDERS
            if unknown:
                raise ValueError(f"notices: {kind}.{channel} uses unknown {sorted(unknown)}")
    if "other" not in raw["reasons"]:
        raise ValueError("notices: reasons need an `other` entry")
    return NoticeTexts(texts, {int(k): v for k, v in raw["targets"].items()}, dict(raw["reasons"]))


@lru_cache(maxsize=1)
def load_notice_texts() -> NoticeTexts:
    return parse_notice_texts(resources.files("services.domain").joinpath("data/notices.yaml")
                              .read_text("utf-8"))


def notice(kind: NoticeKind, reply: ReplyAddress, at: datetime, *about: object,
           complaint_id: str | None = None, agency_id: str | None = None,
           level: int | None = None, reason: str | None = None, text: str) -> Notification:
    """One notification; its id is deterministic from the kind, the complaint (or the reply
    address) and `about` (what makes this one distinct: an attempt, a level, a position)."""
    subject = complaint_id or f"{reply.channel.value}:{reply.submission_id}"
    return Notification(
        event_id=deterministic_id("notice", kind.value, subject, *about), kind=kind,
        channel=reply.channel, submission_id=reply.submission_id, msisdn=reply.msisdn,
        complaint_id=complaint_id, agency_id=agency_id, level=level, reason=reason, text=text,
        at=at,
    )
