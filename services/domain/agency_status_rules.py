"""What an agency may not write on a status of its own, whichever door it comes through (its
status topic, judged by the status gate, or the bridge's HTTP door, which answers the
agency's system at once). Pure. Whether the unit exists is the judge's to say."""

from __future__ import annotations

from schemas import Status, StatusEvent


def agency_fields_problem(status: StatusEvent) -> str | None:
    """The reason code for a status whose fields an agency may not send so, else None."""
    if status.channel is not None:
        return "reporter_status_from_an_agency"  # the channel is the reporter's side
    if status.rule_id is not None:
        # An automatic disposition's mark: only the disposition stage sets it, on its own
        # topic (disposition.auto.v1). From an agency it would pass its own word off as its
        # rules' (no first response, no "the agency spoke").
        return "rule_id_is_the_stages"
    return unit_fields_problem(status)


def unit_fields_problem(status: StatusEvent) -> str | None:
    """The reason code for a status whose unit fields an agency may not send so, else None."""
    if status.unit_name is not None:
        return "unit_name_is_the_judges"  # the judge writes it, from the agency's units
    if status.unit_id is not None and status.status is not Status.disposed:
        return "unit_only_on_disposed"
    if status.status is Status.disposed and status.target_agency_id is not None:
        return "disposed_names_no_agency"
    return None
