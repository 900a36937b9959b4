"""What an agency may not write on a status of its own, whichever door it comes through (its
status topic, judged by the status gate, or the bridge's HTTP door, which answers the
agency's system at once). Pure. Whether the unit exists is the judge's to say."""

from __future__ import annotations

from schemas import Status, StatusEvent


def unit_fields_problem(status: StatusEvent) -> str | None:
    """The reason code for a status whose unit fields an agency may not send so, else None."""
    if status.unit_name is not None:
        return "unit_name_is_the_judges"  # the judge writes it, from the agency's units
    if status.unit_id is not None and status.status is not Status.disposed:
        return "unit_only_on_disposed"
    if status.status is Status.disposed and status.target_agency_id is not None:
        return "disposed_names_no_agency"
    if status.rule_id is not None and (status.status is not Status.disposed or status.unit_id is None):
        return "rule_only_on_a_disposition_to_a_unit"
    return None
