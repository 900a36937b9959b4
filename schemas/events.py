"""Every event of contract v1. Field rules follow docs/contract.md."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, StrictBool, StringConstraints, field_validator

from schemas.common import (
    AgencyId,
    Category,
    Channel,
    ClockName,
    ComplaintId,
    ComplaintType,
    EscalationKind,
    EscalationTarget,
    EventId,
    NoticeKind,
    Nik,
    Privacy,
    Role,
    SlaTier,
    Status,
    Timestamp,
    WireModel,
    WirePart,
)
from schemas.units import LaporCategory, RuleId, UnitId, UnitName, UnitSet

# Kemendagri kode wilayah: dotted ("32.73") or plain digits ("3273"); intake writes it dotted.
RegionCode = Annotated[
    str, StringConstraints(pattern=r"^\d{2}(\.?\d{2}(\.?\d{2}(\.?\d{4})?)?)?$")
]
Body = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=20_000)]
ShortText = Annotated[str, StringConstraints(strict=True, max_length=500)]


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be empty or whitespace only")
    return value


class Reporter(WirePart):
    name: ShortText | None = None
    phone: Annotated[str, StringConstraints(strict=True, max_length=32)] | None = None
    email: Annotated[str, StringConstraints(strict=True, max_length=254)] | None = None
    nik: Nik | None = None


def _code_as_text(value: object) -> object:
    # A channel may send 3273 as a number: a region code, not a reason to reject.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SubmittedLocation(WirePart):
    """Where, as a channel sends it: any region code text is taken (contract addition: a bad
    or old code never rejects a complaint; intake checks and maps it)."""

    region_code: Annotated[str, BeforeValidator(_code_as_text),
                           StringConstraints(max_length=32)] | None = None
    address: ShortText | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class Location(WirePart):
    """Where, as intake accepted it: `region_code` is a current Kemendagri code or absent;
    `region_code_given` keeps the channel's code when it was not a current one."""

    region_code: RegionCode | None = None
    region_code_given: Annotated[str, StringConstraints(max_length=32)] | None = None
    address: ShortText | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class FieldWarning(WirePart):
    """A problem intake found and worked around instead of rejecting the complaint."""

    field: str
    code: Literal["unknown_region", "renumbered_region", "unknown_lapor_category"]
    msg: str


class Attachment(WirePart):
    url: Annotated[str, StringConstraints(strict=True, pattern=r"^https?://\S+$", max_length=2048)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None


class _ComplaintFields(WireModel):
    """Fields shared by a submission and the canonical complaint."""

    submission_id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
    channel: Channel
    submitted_at: Timestamp
    body: Body
    title: ShortText | None = None
    privacy: Privacy = Privacy.public
    reporter: Reporter | None = None
    type: ComplaintType | None = None
    category: Category | None = None
    agency_hint: AgencyId | None = None
    field_inspection: StrictBool | None = None
    attachments: list[Attachment] | None = Field(None, max_length=50)
    # v1 addition: LAPOR!'s own category, when the channel files under it (schemas/units.py).
    lapor_category: LaporCategory | None = None

    _body_not_blank = field_validator("body", "submission_id")(_not_blank)


class Submission(_ComplaintFields):
    """complaints.submitted.v1, key submission_id: a complaint from a structured channel."""

    topic_name: ClassVar[str] = "complaints.submitted.v1"
    schema_name: ClassVar[str] = "submission"
    location: SubmittedLocation | None = None


class SmsMessage(WireModel):
    """channels.sms.v1, key msisdn: a raw SMS from the 1708 gateway."""

    topic_name: ClassVar[str] = "channels.sms.v1"
    schema_name: ClassVar[str] = "sms"
    message_id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
    msisdn: Annotated[str, StringConstraints(strict=True, min_length=3, max_length=32)]
    text: Body
    received_at: Timestamp

    _text_not_blank = field_validator("text", "message_id")(_not_blank)


class FieldDecision(WirePart):
    """How one field of the canonical complaint was decided."""

    source: Literal["channel", "inferred", "default"]
    rule: str | None = None


class AcceptedComplaint(_ComplaintFields):
    """complaints.accepted.v1, key complaint_id: the canonical complaint."""

    topic_name: ClassVar[str] = "complaints.accepted.v1"
    schema_name: ClassVar[str] = "accepted"
    event_id: EventId
    complaint_id: ComplaintId
    accepted_at: Timestamp
    type: ComplaintType
    category: Category
    sla_tier: SlaTier
    field_inspection: StrictBool = False
    location: Location | None = None
    classification: dict[str, FieldDecision]
    warnings: list[FieldWarning] | None = None
    processed_at: Timestamp | None = None


class ValidationErrorItem(WirePart):
    loc: str
    msg: str


class RejectedEvent(WireModel):
    """complaints.rejected.v1, key: the input's key. A dead letter: nothing is lost."""

    topic_name: ClassVar[str] = "complaints.rejected.v1"
    schema_name: ClassVar[str] = "rejected"
    event_id: EventId
    source_topic: str
    source_partition: int
    source_offset: int
    received_at: Timestamp
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
    errors: list[ValidationErrorItem] = Field(default_factory=list)
    raw: str
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    source_key: str | None = None
    rejected_by: str | None = None


class RoutingInfo(WirePart):
    role: Role
    rule_id: str
    routed_at: Timestamp
    attempt: int = Field(ge=1)
    reason: str | None = None


class UnitDisposition(WirePart):
    """On a disposition's copy of a complaint: which unit of the agency has it now."""

    # The judged `disposed` status this copy follows (complaints.status.v1).
    status_event_id: EventId
    # The unit, as the judge named it (absent: handed back to the agency's admin).
    unit_id: UnitId | None = None
    unit_name: UnitName | None = None
    disposed_at: Timestamp


class AgencyComplaint(_ComplaintFields):
    """agency.<agency_id>.complaints.v1, key complaint_id: what an agency receives."""

    topic_name: ClassVar[str] = "agency.{agency_id}.complaints.v1"
    schema_name: ClassVar[str] = "agency_complaint"
    event_id: EventId
    complaint_id: ComplaintId
    accepted_at: Timestamp
    type: ComplaintType
    category: Category
    sla_tier: SlaTier
    location: Location | None = None
    agency_id: AgencyId
    routing: RoutingInfo
    deadlines: dict[ClockName, Timestamp] = Field(default_factory=dict)
    confidential: StrictBool = False
    # v1 addition: set on a disposition's copy. When the judge passes the holder's
    # `disposed`, the router writes the complaint again on the agency's topic, with an
    # event id of its own and this part, so that the agency's systems (and the bridge, which
    # keeps no complaint bodies, for a unit's own endpoint) have the complaint when a unit
    # gets it. Absent: the complaint as routed. A reader that wants each complaint once
    # passes over the records that carry it.
    disposition: UnitDisposition | None = Field(None, description=(
        "Only on a disposition's copy: the complaint again (already delivered with the same "
        "complaint_id) after a disposition passed, naming the unit that has it now. A system "
        "that wants each complaint once passes over records that carry it."))


class RoutedEvent(WireModel):
    """complaints.routed.v1, key complaint_id: one routing decision (per delivery)."""

    topic_name: ClassVar[str] = "complaints.routed.v1"
    schema_name: ClassVar[str] = "routed"
    event_id: EventId
    complaint_id: ComplaintId
    agency_id: AgencyId | None
    role: Role
    rule_id: str
    reason: str
    attempt: int = Field(ge=1)
    routed_at: Timestamp
    timezone: str | None = None
    processed_at: Timestamp | None = None


class StatusEvent(WireModel):
    """complaints.status.v1, key complaint_id: lifecycle events from agencies and admins,
    each one judged (by the router, which knows who holds every complaint) as something its
    sender may say about that complaint at that moment, and each `event_id` once."""

    topic_name: ClassVar[str] = "complaints.status.v1"
    schema_name: ClassVar[str] = "status"
    event_id: EventId
    complaint_id: ComplaintId
    status: Status
    agency_id: AgencyId | None = None
    at: Timestamp
    note: Annotated[str, StringConstraints(strict=True, max_length=5000)] | None = None
    target_agency_id: AgencyId | None = None
    # Set by the status gate on a reporter's status (`reporter_replied`): the channel whose
    # principal carried it, from its topic's name. The SLA monitor applies it only to a
    # complaint that came in through that channel. Absent: an agency's or an admin's status.
    channel: Channel | None = None
    # Set by the judge (the router) on an agency's status it passed: the routing attempt of
    # the holder it speaks as. A reader that has not read that routing yet (statuses and
    # routings travel on two topics) waits for it instead of judging the speaker itself.
    attempt: int | None = Field(default=None, ge=1)
    # v1 addition, on `disposed`: the unit of the holding agency that has the complaint now
    # (absent: back to the agency's admin). The judge writes in `unit_name` from the
    # agency's units, so that every reader shows it without reading them.
    unit_id: UnitId | None = None
    unit_name: UnitName | None = None
    # v1 addition, on an automatic `disposed` (the disposition stage's): the agency's rule
    # that made it. Such a disposition is the agency's rules, not a person: it is not the
    # agency's first response, and it is refused once the agency has said anything itself.
    rule_id: RuleId | None = None


class AgencyStatus(StatusEvent):
    """agency-status.<agency_id>.v1, key complaint_id: the statuses one agency sends. Only
    that agency's principal may write its topic, so the topic is its signature: the
    status gate passes each on as a claim with `agency_id` from the topic name, which the
    router judges before complaints.status.v1. `agency_id` may be left out; if given it must be the topic's agency. `assigned`
    is the national admin's alone and is refused here."""

    topic_name: ClassVar[str] = "agency-status.{agency_id}.v1"
    schema_name: ClassVar[str] = "agency_status"


class ReporterStatus(StatusEvent):
    """reporter-status.<channel>.v1, key complaint_id: what a reporter says about their own
    complaint (today `reporter_replied`: they answered the agency's response), carried by
    the channel they use. Only that channel's principal may write its topic, so the topic is
    the channel's signature: the status gate passes each on as a claim with `channel` from
    the topic name, which the router judges before complaints.status.v1. `agency_id` and `channel` are left out."""

    topic_name: ClassVar[str] = "reporter-status.{channel}.v1"
    schema_name: ClassVar[str] = "reporter_status"


class AdminStatus(StatusEvent):
    """admin-status.v1, key complaint_id: the national admin's `assigned` (a triaged
    complaint given to `target_agency_id`), written by the national admin's principal and by
    the operations page for a signed-in national operator. Only they may write it, so the
    topic is their signature; the status gate passes an `assigned` on and refuses anything
    else."""

    topic_name: ClassVar[str] = "admin-status.v1"
    schema_name: ClassVar[str] = "admin_status"


class AutoDisposition(StatusEvent):
    """disposition.auto.v1, key complaint_id: the automatic dispositions, written by
    svc-disposition alone (the disposition stage: an agency's own rules on agency.units.v1
    give its new complaints to its units). Each is a `disposed` with `agency_id` (the
    holder whose rules made it), `unit_id` and `rule_id`, and no `unit_name` (the judge
    writes it in). Only that principal may write the topic, so the topic is the stage's
    signature: an agency's own status never carries `rule_id`, and an automatic one can
    not be forged on an agency's status topic. The status gate passes each on as a claim of
    that agency; anything else here is dead-lettered."""

    topic_name: ClassVar[str] = "disposition.auto.v1"
    schema_name: ClassVar[str] = "auto_disposition"


class StatusClaim(StatusEvent):
    """status.claims.v1, key complaint_id (co-partitioned with complaints.accepted.v1): a
    status whose sender the status gate has established from the topic it came on
    (`agency_id` for an agency, `channel` for a reporter, neither for the national admin's
    `assigned` or the SLA monitor's auto-close). Internal: only the gate writes it and only
    the router reads it, which judges each claim against the complaint's holder and the
    event ids it already passed before anything reaches complaints.status.v1."""

    topic_name: ClassVar[str] = "status.claims.v1"
    schema_name: ClassVar[str] = "status_claim"


WorkingDays = Annotated[int, Field(ge=1, le=366)]


class LimitsRules(WirePart):
    """Clock limits in working days; an absent one keeps the default's (or the contract's)."""

    first_response: WorkingDays | None = None
    follow_up: WorkingDays | None = None
    resolution_dispute: WorkingDays | None = None
    resolution_field: WorkingDays | None = None
    auto_close: WorkingDays | None = None


class CalendarRules(WirePart):
    """Dates on top of the `holidays` package (Indonesia, public and government): days off
    added (a new cuti bersama) and days given back as working days."""

    holidays: list[date] = Field(default_factory=list)
    working_days: list[date] = Field(default_factory=list)


class PolicyRules(WirePart):
    default: LimitsRules = Field(default_factory=LimitsRules)
    agencies: dict[AgencyId, LimitsRules] = Field(default_factory=dict)


class RulesVersion(WireModel):
    """sla.rules.v1 (compacted), key: the version number: the whole calendar and SLA policy
    in force from `effective_from` (event time) on. Version 1 is the shipped files."""

    topic_name: ClassVar[str] = "sla.rules.v1"
    schema_name: ClassVar[str] = "rules"
    version: int = Field(ge=1)
    effective_from: Timestamp
    published_at: Timestamp
    calendar: CalendarRules = Field(default_factory=CalendarRules)
    policy: PolicyRules = Field(default_factory=PolicyRules)
    note: Annotated[str, StringConstraints(strict=True, max_length=500)] | None = None


class Tick(WireModel):
    """sla.ticks.v1, no key, one per partition: the SLA monitor's clock.

    A record with `rules` is not a tick but the announcement of a rules version (v1
    addition), written to every partition by `lapor rules publish`: its `as_of` repeats the
    partition's latest tick and moves no clock. Consumers that only want time skip it."""

    topic_name: ClassVar[str] = "sla.ticks.v1"
    schema_name: ClassVar[str] = "tick"
    as_of: Timestamp
    rules: RulesVersion | None = None
    # v1 addition: likewise the announcement of an agency's units version (`lapor units
    # publish`), in force on that partition from where it stands: the router judges
    # dispositions and the SLA monitor keeps units' deadlines in order with the ticks.
    units: UnitSet | None = None


class Escalation(WireModel):
    """sla.escalations.v1, key complaint_id."""

    topic_name: ClassVar[str] = "sla.escalations.v1"
    schema_name: ClassVar[str] = "escalation"
    escalation_id: EventId
    complaint_id: ComplaintId
    agency_id: AgencyId
    clock: ClockName
    kind: EscalationKind
    level: int = Field(ge=0, le=3)
    target: EscalationTarget
    started_at: Timestamp
    due_at: Timestamp
    fire_at: Timestamp
    as_of: Timestamp
    attempt: int | None = Field(None, ge=1)
    # v1 addition: the unit an internal escalation (target `agency_admin`) is about.
    unit_id: UnitId | None = None


class ComplianceStats(WireModel):
    """sla.compliance.v1, key agency_id: one agency's day (in its own time zone)."""

    topic_name: ClassVar[str] = "sla.compliance.v1"
    schema_name: ClassVar[str] = "compliance"
    event_id: EventId
    agency_id: AgencyId
    day: date
    timezone: str
    received: int = Field(ge=0)
    first_response_on_time: int = Field(ge=0)
    first_response_late: int = Field(ge=0)
    breaches: dict[ClockName, int] = Field(default_factory=dict)
    open_overdue_end_of_day: int = Field(ge=0)
    as_of: Timestamp
    #: The source partition these counts cover: each SLA worker reports its partitions'
    #: share of an agency's day; a dashboard sums the records of one (agency_id, day).
    partition: int | None = Field(None, ge=0)
    # v1 addition: a unit's share of its agency's day (absent: the agency's own record).
    unit_id: UnitId | None = None


class Notification(WireModel):
    """complaints.notifications.<channel>.v1, key complaint_id (or the input's key when no
    complaint came of it): one thing a reporter should hear, for the channel to deliver. One
    topic per channel, readable by that channel's principal alone (Kafka ACLs).

    The reply address is the channel's own: `submission_id` (the gateway's `message_id` for
    SMS), and `msisdn` only on a reply intake writes (it alone reads the SMS) to a sender who
    is not anonymous, or to an SMS without a readable message id. Later replies to an SMS
    carry the message id, which the gateway maps to the number it came from: no stage after
    intake holds the number of an anonymous reporter."""

    topic_name: ClassVar[str] = "complaints.notifications.{channel}.v1"
    schema_name: ClassVar[str] = "notification"
    event_id: EventId
    kind: NoticeKind
    channel: Channel
    submission_id: Annotated[str, StringConstraints(strict=True, max_length=256)] | None = None
    msisdn: Annotated[str, StringConstraints(strict=True, max_length=32)] | None = None
    complaint_id: ComplaintId | None = None
    agency_id: AgencyId | None = None
    level: int | None = Field(None, ge=2, le=3)  # escalated: 2 national admin, 3 Ombudsman
    reason: str | None = None  # rejected: the dead letter's reason code
    text: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=1000)]
    language: Literal["id"] = "id"
    at: Timestamp  # event time of what is told (never the worker's clock)


ALL_EVENTS: tuple[type[WireModel], ...] = (
    Submission, SmsMessage, AcceptedComplaint, RejectedEvent, AgencyComplaint, RoutedEvent,
    StatusEvent, AgencyStatus, ReporterStatus, AdminStatus, AutoDisposition, StatusClaim, Tick,
    Escalation, ComplianceStats, Notification, RulesVersion, UnitSet,
)
