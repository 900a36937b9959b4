"""Who may do what on the cluster: every principal and its ACLs, as data (no Kafka here).

Deny by default: a principal may do exactly what its grants below say. Each service reads its
input topics, writes its outputs and dead letters, and owns its consumer group and the
topics faust makes for it (changelogs: the `<app id>-` prefix). A channel system writes
its input topic and its reporters' statuses, and reads the replies meant for it alone. An
agency reads its own complaints topic, writes its own status topic and uses consumer groups
under its own prefix. complaints.status.v1 is written by the router alone, the one judge of
statuses: it reads the claims the status gate writes, each from a topic only its speaker may
write (agencies', reporters', the SLA monitor's closures, the disposition stage's automatic
dispositions on disposition.auto.v1, and admin-status.v1, where the national admin and the
operations page, for a signed-in national operator, write their `assigned`); the admin also publishes rules versions and watches the escalation and
compliance streams. The operator's `lapor-admin` is
a super user and needs no grant. The bridge reads every agency's complaints and writes
their statuses on behalf of agencies that use HTTP instead of Kafka (services/bridge); the
desk does the same for agency staff on its web pages (services/desk). Lacak, the public
tracking page and the one process facing the internet, reads the routings and the judged
statuses (no identity) and nothing else, writes nothing and has no group (services/lacak).

Names carry the deployment's topic prefix (`LAPOR_TOPIC_PREFIX`), so staging and production
principals on one cluster never reach each other's topics. Group and agency prefixes end in
a '.', which no agency id contains: `agency.pemda-32.` never covers `pemda-32-73`'s groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from schemas import Channel
from services.runtime.settings import Settings
from services.runtime.topics import (
    ACCEPTED, ADMIN_STATUS, AGENCY_STATUS_TOPIC, AGENCY_TOPIC, AUTO_DISPOSITIONS, BRIDGE_CONTROL,
    BRIDGE_DELIVERIES,
    BRIDGE_SEEN_CALLS, BRIDGE_UNDELIVERED, CLAIMS, CLOSURES, OPEN311_REQUESTS, COMPLIANCE,
    STAFF_SIGNED_OUT, DRAFTS,
    ESCALATIONS, NOTIFICATION_TOPICS,
    REJECTED, REPORTER_STATUS_TOPICS, ROUTED, RULES, SMS, STATUS, SUBMITTED, TICKS, TRIAGE, UNITS,
    agency_status_topic_name, agency_topic_name, head_of, notifications_topic_name,
    reporter_status_topic_name,
)


class Resource(StrEnum):
    topic = "topic"
    group = "group"


class Pattern(StrEnum):
    literal = "literal"
    prefixed = "prefixed"


class Operation(StrEnum):
    read = "READ"
    write = "WRITE"
    create = "CREATE"
    describe = "DESCRIBE"
    all = "ALL"


@dataclass(frozen=True, order=True)
class Grant:
    resource: Resource
    pattern: Pattern
    name: str
    operation: Operation

    def describe(self) -> str:
        what = f"{self.name}*" if self.pattern is Pattern.prefixed else self.name
        return f"{self.operation.value:8} {self.resource.value:5} {what}"


class Role(StrEnum):
    service = "service"
    channel = "channel"
    agency = "agency"
    national_admin = "national_admin"


@dataclass(frozen=True)
class Principal:
    user: str  # the SCRAM user name; the Kafka principal is "User:<user>"
    role: Role
    grants: tuple[Grant, ...]

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.user}"


# Each service's topics by contract name: what it reads, what it writes. Every service may
# dead-letter, so each writes complaints.rejected.v1.
SERVICE_TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "intake": ((SUBMITTED, SMS), (ACCEPTED, *NOTIFICATION_TOPICS)),
    # It judges every status claim and writes complaints.status.v1 alone (router/judge.py).
    "router": ((ACCEPTED, CLAIMS, TICKS), (ROUTED, TRIAGE, STATUS, *NOTIFICATION_TOPICS)),
    "sla_monitor": ((ACCEPTED, ROUTED, STATUS, TICKS),
                    (ESCALATIONS, COMPLIANCE, CLOSURES, *NOTIFICATION_TOPICS)),
    # It writes a signed-in national operator's `assigned` (the triage action), and sign-outs.
    "ops_view": ((ACCEPTED, ROUTED, STATUS, ESCALATIONS, REJECTED, COMPLIANCE, TICKS,
                  BRIDGE_DELIVERIES, BRIDGE_UNDELIVERED, STAFF_SIGNED_OUT),
                 (ADMIN_STATUS, STAFF_SIGNED_OUT)),
    "status_gate": ((CLOSURES, ADMIN_STATUS, AUTO_DISPOSITIONS, *REPORTER_STATUS_TOPICS), (CLAIMS,)),
    "ticker": ((), (TICKS,)),
    # It follows its own shared memory (filed requests, accepted calls) and operators' commands.
    # (and, for an operator's redelivery, the desk marks it may end)
    "bridge": ((OPEN311_REQUESTS, BRIDGE_SEEN_CALLS, BRIDGE_CONTROL, BRIDGE_UNDELIVERED),
               (OPEN311_REQUESTS, BRIDGE_DELIVERIES, BRIDGE_SEEN_CALLS, BRIDGE_UNDELIVERED)),
    # Units' drafts waiting for approval are the desk's alone: no public page can read them.
    "desk": ((STATUS, ESCALATIONS, TICKS, BRIDGE_UNDELIVERED, STAFF_SIGNED_OUT, UNITS, DRAFTS),
             (STAFF_SIGNED_OUT, DRAFTS)),
    # It dispositions an agency's new complaints (every agency's topic: below) to the agency's
    # units by the agency's own rules (agency.units.v1), on its own topic: never an agency's
    # status topic, so only the topic marks a disposition as automatic.
    "disposition": ((UNITS,), (AUTO_DISPOSITIONS,)),
    # The public tracking page faces the internet: it reads what it shows (routings and judged
    # statuses: no identity, never accepted or dead-lettered records) and writes nothing.
    "lacak": ((ROUTED, STATUS), ()),
}
# Follow their topics with no consumer group (topic_follow) and write nothing, not even a
# dead letter: no group grant, no complaints.rejected.v1.
READ_ONLY_SERVICES = {"lacak"}
FAUST_SERVICES = {"intake", "router", "sla_monitor", "ops_view"}  # app id lapor-<stage name>


def service_user(settings: Settings, service: str) -> str:
    return f"{settings.topic_prefix}svc-{service.replace('_', '-')}"


def channel_user(settings: Settings, channel: str) -> str:
    return f"{settings.topic_prefix}channel-{channel}"


def agency_user(settings: Settings, agency_id: str) -> str:
    return f"{settings.topic_prefix}agency-{agency_id}"


def national_admin_user(settings: Settings) -> str:
    return f"{settings.topic_prefix}national-admin"


def _topic(settings: Settings, op: Operation, *names: str) -> list[Grant]:
    return [Grant(Resource.topic, Pattern.literal, settings.topic(n), op) for n in names]


def _group_prefix(name: str) -> Grant:
    return Grant(Resource.group, Pattern.prefixed, name, Operation.read)


def service(settings: Settings, name: str) -> Principal:
    reads, writes = SERVICE_TOPICS[name]
    grants = _topic(settings, Operation.read, *reads)
    if name in READ_ONLY_SERVICES:
        return Principal(service_user(settings, name), Role.service, tuple(sorted(set(grants))))
    grants += _topic(settings, Operation.write, *writes, REJECTED)
    app_id = f"{settings.topic_prefix}lapor-{name}"  # the faust app id and consumer group
    if name != "ticker":
        grants.append(Grant(Resource.group, Pattern.literal, app_id, Operation.read))
    if name in FAUST_SERVICES:  # changelogs and faust's own topics
        grants.append(Grant(Resource.topic, Pattern.prefixed, f"{app_id}-", Operation.all))
    if name == "router":  # agency topics, made on first use
        agencies = settings.topic(head_of(AGENCY_TOPIC))
        grants += [Grant(Resource.topic, Pattern.prefixed, agencies, op)
                   for op in (Operation.write, Operation.create)]
    if name == "status_gate":
        grants.append(Grant(Resource.topic, Pattern.prefixed,
                            settings.topic(head_of(AGENCY_STATUS_TOPIC)), Operation.read))
    if name in ("bridge", "desk", "disposition"):
        # Each reads every agency's complaints: the bridge carries them to agencies' systems,
        # the desk shows them to agency staff, the disposition stage applies the agency's rules.
        grants.append(Grant(Resource.topic, Pattern.prefixed, settings.topic(head_of(AGENCY_TOPIC)),
                            Operation.read))
    if name in ("bridge", "desk"):
        # The bridge, once it has verified an agency's signature (or polled its Open311 server
        # with its api_key), writes that agency's statuses as the agency itself would; the desk
        # writes the statuses agency staff choose, once the provider has signed them in with
        # that agency's role. The status gate still judges them all.
        grants.append(Grant(Resource.topic, Pattern.prefixed,
                            settings.topic(head_of(AGENCY_STATUS_TOPIC)), Operation.write))
    return Principal(service_user(settings, name), Role.service, tuple(sorted(set(grants))))


def channel(settings: Settings, name: str) -> Principal:
    user = channel_user(settings, name)
    grants = [*_topic(settings, Operation.write, SMS if name == Channel.sms else SUBMITTED,
                      reporter_status_topic_name(name)),
              *_topic(settings, Operation.read, notifications_topic_name(name)),
              _group_prefix(f"{user}.")]
    return Principal(user, Role.channel, tuple(sorted(grants)))


def agency(settings: Settings, agency_id: str) -> Principal:
    user = agency_user(settings, agency_id)
    grants = [*_topic(settings, Operation.read, agency_topic_name(agency_id)),
              *_topic(settings, Operation.write, agency_status_topic_name(agency_id)),
              _group_prefix(settings.topic(f"agency.{agency_id}."))]
    return Principal(user, Role.agency, tuple(sorted(grants)))


def national_admin(settings: Settings) -> Principal:
    user = national_admin_user(settings)
    grants = [*_topic(settings, Operation.write, ADMIN_STATUS, RULES, TICKS, UNITS),
              # not REJECTED: dead letters keep their input's bytes (an anonymous
              # reporter's identity among them); they are the operator's
              *_topic(settings, Operation.read, TRIAGE, ESCALATIONS, COMPLIANCE, RULES, ROUTED,
                      STATUS, TICKS, UNITS),
              _group_prefix(f"{user}.")]
    return Principal(user, Role.national_admin, tuple(sorted(grants)))


def plan(settings: Settings, agency_ids: Iterable[str]) -> list[Principal]:
    """Every principal of a deployment: services, channels, the national admin, agencies."""
    return [*(service(settings, s) for s in SERVICE_TOPICS),
            *(channel(settings, c.value) for c in Channel),
            national_admin(settings),
            *(agency(settings, a) for a in sorted(agency_ids))]


def service_of_user(settings: Settings, user: str) -> str | None:
    return next((s for s in SERVICE_TOPICS if service_user(settings, s) == user), None)
