"""A valid submission (or SMS) becomes the canonical complaint. Pure: time comes from the
input and its Kafka timestamp, never from the machine's clock."""

from __future__ import annotations

from datetime import datetime

from schemas import (
    AcceptedComplaint, Category, Channel, ComplaintType, LaporCategory, Privacy, SmsMessage, Submission,
)
from schemas.events import FieldDecision, FieldWarning, Location, Reporter, SubmittedLocation
from services.domain import lapor_categories
from services.domain.ids import deterministic_id
from services.domain.regions import RegionReading, read_region
from services.intake.classify import Classifier
from services.domain.complaint_id import make_complaint_id
from services.intake.decode import Rejection
from services.intake.phones import normalise_email, normalise_msisdn
from services.intake.text import clean_text, derive_title, split_privacy_prefix


def sms_to_submission(sms: SmsMessage) -> Submission | Rejection:
    """The 1708 gateway's raw SMS as a submission: RAHASIA/ANONIM sets the privacy and is
    removed; the sender becomes the reporter's phone unless anonymous."""
    msisdn = normalise_msisdn(sms.msisdn)
    if msisdn is None:
        return Rejection.single("invalid_msisdn", "msisdn", "not a possible phone number")
    privacy, body = split_privacy_prefix(sms.text)
    if not body.strip():
        return Rejection.single("invalid_body", "text", "the SMS has no text besides its privacy keyword")
    privacy = privacy or Privacy.public
    return Submission(
        submission_id=sms.message_id, channel=Channel.sms, submitted_at=sms.received_at,
        body=body, privacy=privacy,
        reporter=None if privacy is Privacy.anonymous else Reporter(phone=msisdn),
    )


def _reporter(reporter: Reporter | None, notes: dict[str, FieldDecision]) -> Reporter | None:
    if reporter is None:
        return None
    phone = reporter.phone and (normalise_msisdn(reporter.phone) or reporter.phone.strip())
    if reporter.phone and phone == reporter.phone.strip() and not phone.startswith("+"):
        notes["reporter.phone"] = FieldDecision(source="channel", rule="phone.unparsed")
    email = reporter.email and (normalise_email(reporter.email) or reporter.email.strip())
    if reporter.email and normalise_email(reporter.email) is None:
        notes["reporter.email"] = FieldDecision(source="channel", rule="email.unparsed")
    name = clean_text(reporter.name) if reporter.name else None
    return Reporter(name=name or None, phone=phone or None, email=email or None, nik=reporter.nik)


def _location(location: SubmittedLocation | None) -> tuple[Location | None, list[FieldWarning]]:
    """The location as accepted: a current region code, or the given one kept aside with a
    warning (contract addition: a bad or old code never rejects the complaint)."""
    if location is None:
        return None, []
    given = (location.region_code or "").strip() or None
    address = clean_text(location.address) if location.address else None
    reading = read_region(given) if given is not None else RegionReading(None)
    warnings = [FieldWarning(field="location.region_code", code=reading.problem, msg=reading.msg)
                ] if reading.problem else []
    return Location(region_code=reading.code, region_code_given=given if reading.problem else None,
                    address=address or None, lat=location.lat, lon=location.lon), warnings


def _lapor_category(given: LaporCategory | None, category: Category,
                   notes: dict[str, FieldDecision]) -> tuple[LaporCategory, list[FieldWarning]]:
    """LAPOR!'s category: the channel's in the taxonomy's spelling when LAPOR! knows it;
    otherwise (an unknown one is dropped with a warning, never a rejection) LAPOR!'s main
    category for the project's category, which agencies' disposition rules can use alike."""
    known = lapor_categories.known(given) if given is not None else None
    if known is not None:
        notes["lapor_category"] = FieldDecision(source="channel")
        return known, []
    warnings = [] if given is None else [FieldWarning(
        field="lapor_category", code="unknown_lapor_category",
        msg=f"LAPOR! has no category {given.main}" + (f" / {given.sub}" if given.sub else "")
        + "; mapped from the category instead")]
    notes["lapor_category"] = FieldDecision(source="inferred", rule="category_map")
    return lapor_categories.from_category(category), warnings


def accept(sub: Submission, record_time: datetime, classifier: Classifier,
           id_key: bytes) -> AcceptedComplaint | Rejection:
    """`record_time` is the input record's Kafka timestamp: accepted_at never lies after it.
    `id_key`: the deployment's tracking-id key (complaint ids are keyed: services/domain/complaint_id.py)."""
    body = clean_text(sub.body)
    if not body:
        return Rejection.single("invalid_body", "body", "the body has no visible text")
    location, warnings = _location(sub.location)
    notes: dict[str, FieldDecision] = {}
    title = clean_text(sub.title) if sub.title else ""
    notes["title"] = FieldDecision(source="channel") if title else FieldDecision(
        source="inferred", rule="title.first_sentence")
    title = title or derive_title(body)
    text = f"{title}\n{body}"
    ctype = classifier.type(text, sub.type)
    category = classifier.category(text, sub.category)
    tier = classifier.sla_tier(text, sub.field_inspection)
    notes.update(type=ctype.decided, category=category.decided, sla_tier=tier.decided,
                 privacy=FieldDecision(source="channel" if "privacy" in sub.model_fields_set
                                       or sub.channel is Channel.sms else "default"))
    lapor_category, lapor_warnings = _lapor_category(sub.lapor_category, Category(category.value), notes)
    warnings += lapor_warnings
    accepted_at = min(sub.submitted_at, record_time.astimezone(sub.submitted_at.tzinfo))
    complaint_id = make_complaint_id(sub.channel.value, sub.submission_id, id_key)
    return AcceptedComplaint(
        event_id=deterministic_id("accepted", complaint_id),
        complaint_id=complaint_id,
        accepted_at=accepted_at,
        submission_id=sub.submission_id, channel=sub.channel, submitted_at=sub.submitted_at,
        body=body, title=title, privacy=sub.privacy,
        reporter=_reporter(sub.reporter, notes),
        type=ComplaintType(ctype.value), category=category.value, sla_tier=tier.value,
        location=location, agency_hint=sub.agency_hint,
        field_inspection=bool(sub.field_inspection), attachments=sub.attachments,
        lapor_category=lapor_category, classification=notes, warnings=warnings or None,
    )
