"""The declarative catalogue of every contract topic, and its idempotent creation."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.bridge import (
    BridgeCommand, BridgeDelivery, BridgeSeenCall, BridgeUndelivered, Open311Request,
)
from schemas.desk import StatusDraft
from schemas.staff import StaffSignOut
from schemas.units import UnitSet
from schemas import (
    AcceptedComplaint, AdminStatus, AgencyComplaint, AgencyStatus, AutoDisposition, Channel,
    ComplianceStats, Escalation, Notification, RejectedEvent, ReporterStatus, RoutedEvent, RulesVersion, SmsMessage,
    StatusClaim, StatusEvent, Submission, Tick,
)
from services.runtime.settings import Settings

# The one place that names topics: each is its wire model's topic (schemas/).
SUBMITTED = Submission.topic_name
SMS = SmsMessage.topic_name
ACCEPTED = AcceptedComplaint.topic_name
REJECTED = RejectedEvent.topic_name
ROUTED = RoutedEvent.topic_name
TRIAGE = "complaints.triage.v1"  # carries the accepted complaint as an agency may see it (redacted)
STATUS = StatusEvent.topic_name  # judged statuses: written by the router alone
# Statuses whose sender the status gate established, for the router to judge.
CLAIMS = StatusClaim.topic_name
ADMIN_STATUS = AdminStatus.topic_name  # the national admin's `assigned`
# The disposition stage's automatic `disposed` (with its rule): svc-disposition's alone, so
# the topic tells an automatic disposition from an agency's own (an agency never sends rule_id).
AUTO_DISPOSITIONS = AutoDisposition.topic_name
TICKS = Tick.topic_name
ESCALATIONS = Escalation.topic_name
COMPLIANCE = ComplianceStats.topic_name
UNITS = UnitSet.topic_name  # each agency's units and disposition rules, latest version in force
RULES = RulesVersion.topic_name  # the history of rules versions (each also announced on TICKS)
# The SLA monitor's auto-close statuses (`closed`, no agency): the status gate passes them on
# as claims, which the router judges before complaints.status.v1.
CLOSURES = "sla.closures.v1"
# The bridge's memory of the Open311 service requests it filed (compacted; schemas/bridge.py).
OPEN311_REQUESTS = Open311Request.topic_name
BRIDGE_DELIVERIES = BridgeDelivery.topic_name  # how delivery to each agency stands (ops page)
BRIDGE_CONTROL = BridgeCommand.topic_name  # operators' skip and enable, to every bridge worker
BRIDGE_SEEN_CALLS = BridgeSeenCall.topic_name  # accepted status calls: the shared replay cache
# Complaints the bridge could not put into the agency's system (the desk shows them).
BRIDGE_UNDELIVERED = BridgeUndelivered.topic_name
STAFF_SIGNED_OUT = StaffSignOut.topic_name  # sign-outs every worker of a staff site refuses
# Units' answers waiting for their agency admin's approval (the desk's alone; schemas/desk.py).
DRAFTS = StatusDraft.topic_name

DAY_MS = 24 * 3600 * 1000

# Topics that must share a partition count: the SLA monitor and router join them by key.
COPARTITIONED = "by_complaint_id"


@dataclass(frozen=True)
class TopicSpec:
    name: str  # contract name, without the deployment prefix
    key: str
    partitions: int
    replication_factor: int
    cleanup_policy: str = "delete"
    retention_ms: int = -1
    copartition_group: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            # A write is acknowledged (acks=all) once this many replicas have it: with RF 3,
            # two, so one broker node can be lost without losing or refusing a write.
            "min.insync.replicas": str(max(1, min(2, self.replication_factor - 1))),
            **self.extra,
        }


AGENCY_TOPIC = AgencyComplaint.topic_name
AGENCY_STATUS_TOPIC = AgencyStatus.topic_name  # written by that agency only (ACLs)


def notifications_topic_name(channel: Channel | str) -> str:
    """The replies one channel delivers: only its principal may read them."""
    return Notification.topic_name.format(channel=Channel(channel).value)


def reporter_status_topic_name(channel: Channel | str) -> str:
    """What reporters say through one channel: only its principal may write it."""
    return ReporterStatus.topic_name.format(channel=Channel(channel).value)


NOTIFICATION_TOPICS = tuple(notifications_topic_name(c) for c in Channel)
REPORTER_STATUS_TOPICS = tuple(reporter_status_topic_name(c) for c in Channel)


_CHANNEL_OF_REPORTER_TOPIC = {reporter_status_topic_name(c): c for c in Channel}


def channel_of_reporter_status_topic(name: str) -> Channel | None:
    """The channel of a reporter status topic's contract name, else None."""
    return _CHANNEL_OF_REPORTER_TOPIC.get(name)


def agency_topic_name(agency_id: str) -> str:
    return AGENCY_TOPIC.format(agency_id=agency_id)


def agency_status_topic_name(agency_id: str) -> str:
    return AGENCY_STATUS_TOPIC.format(agency_id=agency_id)


def _agency_in(template: str, name: str) -> str | None:
    """The agency id of `name` if it is one agency's topic of a per-agency template."""
    head, tail = template.split("{agency_id}")
    if name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail):
        return name[len(head):-len(tail)]
    return None


def family_member(template: str, topic: str) -> bool:
    """Whether `topic` is one agency's topic of a per-agency template."""
    return _agency_in(template, topic) is not None


def agency_of_topic(name: str) -> str | None:
    """The agency id of an agency topic's contract name, else None."""
    return _agency_in(AGENCY_TOPIC, name)


def agency_of_status_topic(name: str) -> str | None:
    """The agency id of an agency status topic's contract name, else None."""
    return _agency_in(AGENCY_STATUS_TOPIC, name)


def head_of(template: str) -> str:
    """What every topic of a per-agency template starts with (its ACL prefix)."""
    return template.split("{agency_id}")[0]


def catalogue(settings: Settings) -> list[TopicSpec]:
    """Every fixed topic of contract v1 with its partitions and configs."""
    keep = settings.input_retention_days * DAY_MS
    p, rf = settings.partitions, settings.replication_factor

    def spec(name: str, key: str, group: str | None = None, retention: int = keep) -> TopicSpec:
        return TopicSpec(name, key, p, rf, retention_ms=retention, copartition_group=group)

    return [
        spec(SUBMITTED, "submission_id"),
        spec(SMS, "msisdn"),
        spec(ACCEPTED, "complaint_id", COPARTITIONED),
        spec(REJECTED, "input key"),
        spec(ROUTED, "complaint_id", COPARTITIONED),
        spec(TRIAGE, "complaint_id"),
        spec(STATUS, "complaint_id", COPARTITIONED),
        # The router reads claims beside accepted complaints and keeps its holdings by key.
        spec(CLAIMS, "complaint_id", COPARTITIONED),
        TopicSpec(ADMIN_STATUS, "complaint_id", 1, rf, retention_ms=keep),
        # One partition, like the admin's: per complaint order holds alike, and the gate
        # passes each on as a claim (status.claims.v1 is the co-partitioned one).
        TopicSpec(AUTO_DISPOSITIONS, "complaint_id", 1, rf, retention_ms=keep),
        spec(TICKS, "none (one per partition)", COPARTITIONED),
        spec(ESCALATIONS, "complaint_id"),
        spec(COMPLIANCE, "agency_id"),
        *(spec(name, "complaint_id (else the input's key)",
               retention=settings.notifications_retention_days * DAY_MS)
          for name in NOTIFICATION_TOPICS),
        spec(CLOSURES, "complaint_id"),
        # One partition each: reporters' statuses are few (per complaint order holds alike).
        *(TopicSpec(name, "complaint_id", 1, rf, retention_ms=keep) for name in REPORTER_STATUS_TOPICS),
        # Every version is kept (a replay needs the ones in force then): compacted, one
        # partition, keyed by version number.
        TopicSpec(RULES, "version", 1, rf, cleanup_policy="compact"),
        # An agency's latest unit set is what counts: compacted by agency, one partition.
        TopicSpec(UNITS, "agency_id", 1, rf, cleanup_policy="compact"),
        # One record per complaint filed with an Open311 agency, until its request closes.
        TopicSpec(OPEN311_REQUESTS, "agency_id|complaint_id", 1, rf, cleanup_policy="compact"),
        TopicSpec(BRIDGE_DELIVERIES, "agency_id", 1, rf, cleanup_policy="compact"),
        TopicSpec(BRIDGE_CONTROL, "agency_id[|complaint_id]", 1, rf, cleanup_policy="compact"),
        # A day: far past any replay window (the bridge ignores entries older than two).
        TopicSpec(BRIDGE_SEEN_CALLS, "agency_id|digest", 1, rf, retention_ms=DAY_MS),
        TopicSpec(BRIDGE_UNDELIVERED, "agency_id|complaint_id", 1, rf, cleanup_policy="compact"),
        # A week: past any staff session (LAPOR_STAFF_SESSION_HOURS), then gone.
        # A complaint's latest draft; gone with the complaints it answers (the agency topics'
        # retention): the desk no longer shows them either.
        TopicSpec(DRAFTS, "agency_id|complaint_id", 1, rf, cleanup_policy="compact,delete", retention_ms=keep),
        TopicSpec(STAFF_SIGNED_OUT, "site|session digest", 1, rf, cleanup_policy="compact,delete",
                  retention_ms=7 * DAY_MS),
    ]


def agency_topic(settings: Settings, agency_id: str) -> TopicSpec:
    return TopicSpec(
        agency_topic_name(agency_id), "complaint_id", settings.partitions,
        settings.replication_factor, retention_ms=settings.input_retention_days * DAY_MS,
    )


def agency_topics(settings: Settings, agency_id: str) -> tuple[TopicSpec, TopicSpec]:
    """An agency's two topics: the complaints it receives, the statuses it sends."""
    return agency_topic(settings, agency_id), agency_status_topic(settings, agency_id)


def agency_status_topic(settings: Settings, agency_id: str) -> TopicSpec:
    """One partition: one agency's statuses are few, and 600+ agencies' topics add up; per
    complaint order holds in one partition as in several."""
    return TopicSpec(
        agency_status_topic_name(agency_id), "complaint_id", 1,
        settings.replication_factor, retention_ms=settings.input_retention_days * DAY_MS,
    )
