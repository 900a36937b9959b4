"""Every decision of the disposition stage, as a pure handler.

An agency's admin verifies each new complaint and dispositions it to the unit that will
answer it (a dinas, a kecamatan, a directorate general). Most of those choices follow the
agency's own rules (agency.units.v1: "roads go to Dinas PUPR"), so this stage makes them
as soon as the complaint reaches the agency, and the admin keeps the rest:

- a complaint the agency holds (`routing.role` primary) that one of the agency's rules in
  force matches: a `disposed` status to that unit, with the agency and the rule (`rule_id`),
  on the stage's own topic disposition.auto.v1 (never the agency's status topic: only
  svc-disposition writes it, so the topic tells an automatic disposition from the agency's
  own, and the stage needs no write grant on 570+ agencies' topics). The status gate passes
  it on as a claim of the agency, and the judge treats it as the agency's rules; its note
  says which rule and why. `at` is the routing's time (event time: a replay writes
  the same bytes) and the event id comes from (complaint, agency, routing attempt), so a
  repeat of the complaint is a repeat for the judge, and a re-routing to the agency is a
  new complaint to disposition;
- no rule matches, or the agency has none (its opt-out): nothing; its admin dispositions
  from the desk;
- a disposition's copy (the router writes the complaint again, with `disposition`, once a
  disposition passed): nothing, whoever made it; the admin's or a unit's word stands, and
  the stage never answers its own disposition;
- a copy (tembusan): nothing. A copy agency answers for nothing, and the judge refuses any
  status of it;
- bytes that are not an agency complaint, or a body naming another agency than its topic:
  a dead letter with the reason.

The units in force come from a `UnitsBook` the runtime keeps following (and has read to its
end before the first complaint); this module only asks it. Notes carry ids, never text."""

from __future__ import annotations

from typing import Any

from schemas import AgencyComplaint, AutoDisposition, Role, Status, UnitSet
from services.domain.disposition import ComplaintFacts, Disposition, dispose
from services.domain.ids import deterministic_id
from services.domain.units import UnitsBook
from services.runtime.stage import Handler, Outcome, Output, Record, StagedStores, parse_or_reject, reject
from services.runtime.topics import AUTO_DISPOSITIONS, agency_of_topic

STAGE = "disposition"
NOTE = "Disposisi otomatis (aturan {rule_id}): {explanation}"


def facts(complaint: AgencyComplaint) -> ComplaintFacts:
    """What the agency's rules may look at."""
    text = "\n".join(part for part in (complaint.title, complaint.body) if part)
    region = complaint.location.region_code if complaint.location is not None else None
    return ComplaintFacts(complaint.category, complaint.lapor_category, text, region)


def disposition_id(complaint: AgencyComplaint) -> str:
    """One per routing of the complaint to the agency: the same on every repeat."""
    return deterministic_id("disp", complaint.complaint_id, complaint.agency_id,
                            complaint.routing.attempt)


def handler(book: UnitsBook) -> Handler:
    """The handler over the units in force in `book` (followed by the runtime)."""
    def handle(record: Record, stores: StagedStores) -> Outcome:
        del stores  # none: the judge drops a repeat by its event id
        return decide(record, book)
    return handle


def decide(record: Record, book: UnitsBook) -> Outcome:
    agency = agency_of_topic(record.topic)
    if agency is None:
        return reject(STAGE, record, "not_an_agency_topic")  # the subscription reads no other
    parsed = parse_or_reject(STAGE, AgencyComplaint, record, "invalid_complaint")
    if isinstance(parsed, Outcome):
        return parsed
    if parsed.agency_id != agency:  # only the router writes it: a mix-up, never decided on
        return reject(STAGE, record, "complaint_for_another_agency")
    ids: dict[str, Any] = {"complaint_id": parsed.complaint_id, "agency_id": agency,
                           "attempt": parsed.routing.attempt}
    if parsed.routing.role is not Role.primary:
        return Outcome().note("not_disposed", level="debug", reason="copy", **ids)
    if parsed.disposition is not None:  # the router's copy after a disposition: decided already
        return Outcome().note("not_disposed", level="debug", reason="disposition_copy", **ids)
    units = book.of(agency)
    chosen = dispose(facts(parsed), units)
    if chosen is None:
        return Outcome().note("not_disposed", reason="no_rule", units_version=units.version, **ids)
    status = disposed(parsed, chosen)
    return Outcome([Output(AUTO_DISPOSITIONS, parsed.complaint_id.encode(),
                           status.to_bytes())]).note(
        "disposed", event_id=status.event_id, unit_id=chosen.unit_id, rule_id=chosen.rule_id,
        units_version=units.version, **ids)


def disposed(complaint: AgencyComplaint, chosen: Disposition) -> AutoDisposition:
    """The disposition the agency's admin would have made, marked with its rule (the judge
    writes the unit's name in)."""
    return AutoDisposition(
        event_id=disposition_id(complaint), complaint_id=complaint.complaint_id,
        status=Status.disposed, agency_id=complaint.agency_id, at=complaint.routing.routed_at,
        unit_id=chosen.unit_id, rule_id=chosen.rule_id,
        note=NOTE.format(rule_id=chosen.rule_id, explanation=chosen.explanation))


def follow_units(book: UnitsBook, value: bytes | None) -> UnitSet | str:
    """Apply one agency.units.v1 record to `book`: the set now in force, else why it is not
    (a tombstone, bytes that are not a unit set, a version not newer than the one in force)."""
    if value is None:
        return "tombstone"
    try:
        unit_set = UnitSet.model_validate_json(value)
    except ValueError:
        return "invalid_unit_set"
    return unit_set if book.apply(unit_set) else "not_newer"
