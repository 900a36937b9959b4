"""How accepted, routed and status events move a complaint's clocks (contract's clock rules)."""

from __future__ import annotations

from datetime import datetime

from schemas import AcceptedComplaint, ClockName, Role, RoutedEvent, SlaTier, Status, StatusEvent
from services.domain.sla_policy import Limits, Policy
from services.sla_monitor.clocks import INTERNAL, TRIAGE_AGENCY, Clock, ComplaintClocks
from services.sla_monitor.unit_clocks import (
    NO_UNITS, UnitTerms, after_status, follow_work_limit, on_disposed, start_verification,
)


def on_accepted(c: AcceptedComplaint) -> ComplaintClocks:
    return ComplaintClocks(c.complaint_id, c.accepted_at, c.sla_tier,
                           c.field_inspection or c.sla_tier is SlaTier.field_60d,
                           channel=c.channel.value, submission_id=c.submission_id)


def _stop_all(state: ComplaintClocks, at: datetime) -> None:
    for clock in state.running():
        if clock.paused_since is not None:  # a stop while paused ends the pause too
            clock.pauses.append((clock.paused_since, at))
            clock.paused_since = None
        clock.stopped_at = at


def on_routed(state: ComplaintClocks, r: RoutedEvent, tz: str, policy: Policy,
              terms: UnitTerms = NO_UNITS) -> bool:
    """A primary routing decision starts the (new) responsible agency's clocks (and, for an
    agency with units, its admin's verification: `terms`); returns True when something
    changed. Copies (tembusan) carry no clocks."""
    if r.role is not Role.primary or r.attempt <= state.attempt or state.closed:
        return False
    _stop_all(state, r.routed_at)  # a re-route stops the old agency's clocks
    agency = r.agency_id or TRIAGE_AGENCY
    limits = policy.limits(r.agency_id)
    state.agency_id, state.attempt, state.tz = agency, r.attempt, tz
    # first_response counts from acceptance for the first agency, afresh after a re-route.
    first_start = state.accepted_at if r.attempt == 1 else r.routed_at
    state.first_response_done = False
    state.clocks.append(Clock(ClockName.first_response, agency, r.attempt, tz, first_start,
                              limits.first_response))
    if r.agency_id is None:  # triage: only the first response (the admin's assignment) runs
        return True
    state.clocks.append(_work_clock(state, limits, agency, r.attempt, tz, r.routed_at))
    start_verification(state, r.routed_at, terms)
    return True


def _work_clock(state: ComplaintClocks, limits: Limits, agency: str, attempt: int, tz: str,
                start: datetime) -> Clock:
    if state.sla_tier is SlaTier.standard_5d and not state.field_inspection:
        return Clock(ClockName.follow_up, agency, attempt, tz, start, limits.follow_up)
    return Clock(ClockName.resolution, agency, attempt, tz, start,
                 limits.resolution(state.field_inspection))


def _stop(state: ComplaintClocks, at: datetime, *names: ClockName) -> None:
    for clock in state.running():
        if clock.name in names:
            if clock.paused_since is not None:
                clock.pauses.append((clock.paused_since, at))
                clock.paused_since = None
            clock.stopped_at = at


def on_status(state: ComplaintClocks, s: StatusEvent, at: datetime, policy: Policy,
              terms: UnitTerms = NO_UNITS) -> str:
    """Apply a status at `at` (its time capped by its record's timestamp); returns a note.
    `terms`: the holder's units in force (a `disposed` starts a unit's deadline by them)."""
    if state.closed:
        return "ignored_closed"
    responsible = s.agency_id == state.agency_id or (
        state.agency_id == TRIAGE_AGENCY and s.status is Status.assigned)
    if s.status is Status.reporter_replied:
        # The reporter's word: through the channel the complaint came in by (the status
        # gate names it), or the national admin's (no channel, no agency); never an agency's.
        if s.agency_id is not None or (s.channel is not None and s.channel.value != state.channel):
            state.flagged_statuses += 1
            return "flagged_not_the_reporter"
        responsible = True
    elif s.status is Status.closed and s.agency_id is None:
        responsible = True  # the monitor's auto-close (through the gate) or an admin's close
    if not responsible:
        state.flagged_statuses += 1
        return "flagged_non_responsible"
    # A disposition is the agency's business inside it (its rules', its admin's, a retired
    # unit's return), no answer to the reporter: it stops no contract clock, first_response
    # included; the agency's first word to the reporter (`acknowledged`, …) does.
    if (not state.first_response_done and s.status is not Status.reporter_replied
            and s.status is not Status.disposed):
        _stop(state, at, ClockName.first_response)
        state.first_response_done = True
    limits = policy.limits(state.agency_id)
    match s.status:
        case Status.info_requested:
            for clock in state.running():
                if clock.paused_since is None:
                    clock.paused_since = at
        case Status.info_received:
            for clock in state.running():
                if clock.paused_since is not None:
                    clock.pauses.append((clock.paused_since, at))
                    clock.paused_since = None
        case Status.field_inspection_required:
            state.field_inspection = True
            for clock in state.running():
                if clock.name is ClockName.resolution:
                    clock.limit = limits.resolution_field
                elif clock.name is ClockName.follow_up:  # the limit becomes 60 days from routing
                    _stop(state, at, ClockName.follow_up)
                    state.clocks.append(Clock(ClockName.resolution, clock.agency_id, clock.attempt,
                                              clock.tz, clock.started_at, limits.resolution_field,
                                              list(clock.pauses)))
            follow_work_limit(state)
        case Status.disposed:
            # Inside the holder: moves the internal clocks only.
            on_disposed(state, s, at, terms)
        case Status.responded:
            _stop(state, at, ClockName.follow_up)
            if not state.running(ClockName.auto_close) and state.agency_id is not None:
                state.clocks.append(Clock(ClockName.auto_close, state.agency_id, state.attempt,
                                          state.tz, at, limits.auto_close))
        case Status.resolved:
            _stop(state, at, ClockName.follow_up, ClockName.resolution)
        case Status.reporter_replied:
            _stop(state, at, ClockName.auto_close)
        case Status.archived | Status.closed:
            _stop_all(state, at)
            state.closed, state.closed_at = True, at
        case _:
            pass
    after_status(state, s, at)
    return f"applied_{s.status.value}"


def reprice(state: ComplaintClocks, policy: Policy) -> None:
    """A new policy version: the limits of the running clocks become the new ones (stopped
    clocks, and the levels already emitted, stay as they were)."""
    for clock in state.running():
        if clock.name in INTERNAL:
            continue  # the units' terms, not the policy's (a unit's deadline follows below)
        limits = policy.limits(None if clock.agency_id == TRIAGE_AGENCY else clock.agency_id)
        clock.limit = {
            ClockName.first_response: limits.first_response,
            ClockName.follow_up: limits.follow_up,
            ClockName.resolution: limits.resolution(state.field_inspection),
            ClockName.auto_close: limits.auto_close,
        }[clock.name]
    follow_work_limit(state)
