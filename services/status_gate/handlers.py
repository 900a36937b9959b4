"""Every decision of the status gate, as a pure handler.

complaints.status.v1 says what happened to a complaint, and everything downstream trusts
it. Judging a status takes two questions, asked in two places: *who is speaking* (here) and
*may they say this about that complaint now* (the router, which knows every complaint's
holder, on status.claims.v1). Each party speaks on a topic that only its principal may
write (Kafka ACLs), so the topic is its signature, and the gate passes on as a claim, with
the speaker written in, what that kind of party may say at all:

- an agency (`agency-status.<id>.v1`): its statuses, with `agency_id` from the topic. A
  body naming another agency, an `assigned` (the national admin's alone) or a
  `reporter_replied` (the reporter's alone) is dead-lettered; so is a `unit_name` (the judge
  writes it in from the agency's units: a sender's own could name an office the unit_id is
  not), a `unit_id` on anything but a `disposed`, and a `disposed` naming another agency (a
  disposition stays inside the holder: passing a complaint on is `not_our_authority`);
- a reporter, through the channel that carries their words (`reporter-status.<channel>.v1`):
  `reporter_replied`, with `channel` from the topic (the SLA monitor applies it only to a
  complaint that came in through that channel). Anything else, or a body naming an agency,
  is dead-lettered (a unit is an agency's, so naming one is naming an agency);
- the SLA monitor (`sla.closures.v1`): its auto-close, a `closed` without an agency; anything
  else is dead-lettered;
- the national admin (`admin-status.v1`, also written by the operations page for a signed-in
  national operator): `assigned` with its target agency; anything else is dead-lettered;
- the disposition stage (`disposition.auto.v1`, svc-disposition's alone): a `disposed` with
  `agency_id`, `unit_id` and `rule_id` (the agency's rule that made it), passed on as a claim
  of that agency (the stage speaks for the agency's own rules, so the judge's repeat and
  holder checks are the agency's). Anything else is dead-lettered. `rule_id` is what marks a
  disposition as automatic (no first response, refused once the agency spoke), so on an
  agency's own topic it is refused (`rule_id_is_the_stages`): only this topic says it.

The registry is not consulted: a status topic exists only once the operator provisioned its
agency (no service may create one), and an agency added while the gate runs is heard at
once. No store: the claim keeps its `event_id`, and the router drops a repeat of an event
it already passed (the gate runs on its own consumer group and may repeat a batch)."""

from __future__ import annotations

from schemas import (
    AdminStatus, AgencyStatus, AutoDisposition, Channel, ReporterStatus, Status, StatusEvent,
)
from services.domain.agency_status_rules import agency_fields_problem
from services.runtime.stage import Outcome, Output, Record, StagedStores, parse_or_reject, reject
from services.runtime.topics import (
    ADMIN_STATUS, AUTO_DISPOSITIONS, CLAIMS, CLOSURES, agency_of_status_topic, channel_of_reporter_status_topic,
)

STAGE = "status_gate"
REPORTERS_OWN = frozenset({Status.reporter_replied})  # what only a reporter may say


def handle(record: Record, stores: StagedStores) -> Outcome:
    if record.topic == CLOSURES:
        return _closure(record)
    if record.topic == ADMIN_STATUS:
        return _admin(record)
    if record.topic == AUTO_DISPOSITIONS:
        return _automatic(record)
    channel = channel_of_reporter_status_topic(record.topic)
    if channel is not None:
        return _reporter(record, channel)
    agency = agency_of_status_topic(record.topic)
    if agency is not None:
        return _agency(record, agency)
    return reject(STAGE, record, "not_a_status_topic")  # the subscription reads no other


def _agency(record: Record, agency: str) -> Outcome:
    parsed = parse_or_reject(STAGE, AgencyStatus, record, "invalid_status")
    if isinstance(parsed, Outcome):
        return parsed
    if parsed.agency_id is not None and parsed.agency_id != agency:
        # The body speaks for an agency that did not write it: a forgery or a mix-up.
        return reject(STAGE, record, "status_for_another_agency")
    if parsed.status is Status.assigned:
        return reject(STAGE, record, "assigned_by_national_admin_only")
    if parsed.status in REPORTERS_OWN:
        return reject(STAGE, record, "reporter_status_from_an_agency")
    problem = agency_fields_problem(parsed)  # a channel, a rule_id, the unit fields
    if problem is not None:
        return reject(STAGE, record, problem)
    return _passed(StatusEvent(**_fields(parsed), agency_id=agency), "agency_id", agency)


def _reporter(record: Record, channel: Channel) -> Outcome:
    parsed = parse_or_reject(STAGE, ReporterStatus, record, "invalid_status")
    if isinstance(parsed, Outcome):
        return parsed
    if parsed.status not in REPORTERS_OWN:
        return reject(STAGE, record, "not_a_reporter_status")
    if (parsed.agency_id is not None or parsed.target_agency_id is not None
            or _names_a_unit(parsed)):
        return reject(STAGE, record, "reporter_status_naming_an_agency")
    if parsed.channel is not None and parsed.channel is not channel:
        return reject(STAGE, record, "status_for_another_channel")
    return _passed(StatusEvent(**_fields(parsed), channel=channel), "channel", channel.value)


def _closure(record: Record) -> Outcome:
    parsed = parse_or_reject(STAGE, StatusEvent, record, "invalid_status")
    if isinstance(parsed, Outcome):
        return parsed
    if (parsed.status is not Status.closed or parsed.agency_id is not None
            or parsed.channel is not None or parsed.target_agency_id is not None
            or _names_a_unit(parsed)):
        return reject(STAGE, record, "not_an_auto_close")
    return _passed(StatusEvent(**_fields(parsed)), "source", "sla_monitor")


def _admin(record: Record) -> Outcome:
    parsed = parse_or_reject(STAGE, AdminStatus, record, "invalid_status")
    if isinstance(parsed, Outcome):
        return parsed
    if (parsed.status is not Status.assigned or parsed.target_agency_id is None
            or parsed.agency_id is not None or parsed.channel is not None
            or _names_a_unit(parsed)):
        return reject(STAGE, record, "not_an_assignment")
    return _passed(StatusEvent(**_fields(parsed)), "source", "national_admin")


def _automatic(record: Record) -> Outcome:
    parsed = parse_or_reject(STAGE, AutoDisposition, record, "invalid_status")
    if isinstance(parsed, Outcome):
        return parsed
    if (parsed.status is not Status.disposed or parsed.agency_id is None
            or parsed.unit_id is None or parsed.rule_id is None or parsed.unit_name is not None
            or parsed.target_agency_id is not None or parsed.channel is not None):
        return reject(STAGE, record, "not_an_automatic_disposition")
    return _passed(StatusEvent(**_fields(parsed), agency_id=parsed.agency_id),
                   "agency_id", parsed.agency_id)


def _names_a_unit(parsed: StatusEvent) -> bool:
    """Units are the holding agency's: only an agency's `disposed` names one."""
    return parsed.unit_id is not None or parsed.unit_name is not None or parsed.rule_id is not None


def _fields(parsed: StatusEvent) -> dict[str, object]:
    return parsed.model_dump(exclude={"agency_id", "channel", "schema_version"})


def _passed(status: StatusEvent, by: str, who: str) -> Outcome:
    return Outcome([Output(CLAIMS, status.complaint_id.encode(), status.to_bytes())]).note(
        "status_claimed", complaint_id=status.complaint_id, status=status.status.value,
        event_id=status.event_id, **{by: who})
