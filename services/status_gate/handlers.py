"""Every decision of the status gate, as a pure handler.

An agency's status topic is writable by that agency's principal alone (Kafka ACLs), so the
topic name is the status's authority. The gate re-publishes each status on
complaints.status.v1 keyed by complaint id, with `agency_id` from the topic; a status whose
body names another agency, an `assigned` (the national admin's, written on
complaints.status.v1 directly), or a body that is not a status are dead-lettered with their
reason and change nothing downstream. The registry is not consulted: a status topic exists
only once the operator provisioned its agency (no service may create one), and an agency
added while the gate runs is heard at once. No store: the event keeps its `event_id`, so a
repeat is the same event and the SLA monitor and router see it as a duplicate."""

from __future__ import annotations

from schemas import AgencyStatus, Status, StatusEvent
from services.runtime.stage import Outcome, Output, Record, StagedStores, parse_or_reject, reject
from services.runtime.topics import STATUS, agency_of_status_topic

STAGE = "status_gate"


def handle(record: Record, stores: StagedStores) -> Outcome:
    agency = agency_of_status_topic(record.topic)
    if agency is None:  # not an agency's status topic (the subscription reads no other)
        return reject(STAGE, record, "not_an_agency_status_topic")
    parsed = parse_or_reject(STAGE, AgencyStatus, record, "invalid_status")
    if isinstance(parsed, Outcome):
        return parsed
    if parsed.agency_id is not None and parsed.agency_id != agency:
        # The body speaks for an agency that did not write it: a forgery or a mix-up.
        return reject(STAGE, record, "status_for_another_agency")
    if parsed.status is Status.assigned:
        return reject(STAGE, record, "assigned_by_national_admin_only")
    fields = parsed.model_dump(exclude={"agency_id", "schema_version"})
    status = StatusEvent(**fields, agency_id=agency)
    return Outcome([Output(STATUS, status.complaint_id.encode(), status.to_bytes())]).note(
        "status_passed", complaint_id=status.complaint_id, agency_id=agency,
        status=status.status.value, event_id=status.event_id)
