"""The internal clocks of an agency with units (#34), inside its contract clocks. Pure.

- `disposition`: the admin's verification. For an agency whose units in force are not empty
  it starts at the routing of a primary holder, `verification_days` working days in the
  agency's zone with its pauses; the first `disposed` to a unit stops it; a `disposed` back
  to the admin (no unit_id) starts a fresh one from that status; `responded`, `resolved`,
  a re-route or the close stop it.
- `unit_response`: a unit's deadline, from a `disposed` to that unit. Its due_at is the
  agency's running deadline (follow_up, or resolution for the dispute and field tiers) less
  `unit_days_before` working days, never before the first working day after the
  disposition's own day (`Clock.moment`). It stops when the agency's clock it lives in stops
  (`responded` stops follow_up, `resolved` both), at a `disposed` elsewhere (another unit's
  starts) or back to the admin, at a re-route or the close; it pauses with the agency's
  pauses, and field_inspection_required moves it with the agency's deadline.

Neither moves a contract clock. A lapse is one breach to the agency's admin (`clocks`).
New terms (a units version) apply to the internal clocks started after they are in force."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import ClockName, Status, StatusEvent, UnitSet
from services.sla_monitor.clocks import Clock, ComplaintClocks

WORK = (ClockName.follow_up, ClockName.resolution)


@dataclass(frozen=True)
class UnitTerms:
    """What the monitor needs of an agency's units in force."""

    has_units: bool
    verification_days: int = 3
    unit_days_before: int = 1

    @classmethod
    def of(cls, unit_set: UnitSet) -> UnitTerms:
        return cls(any(not u.retired for u in unit_set.units), unit_set.verification_days,
                   unit_set.unit_days_before)

    def to_dict(self) -> dict[str, object]:
        return {"has_units": self.has_units, "verification_days": self.verification_days,
                "unit_days_before": self.unit_days_before}


NO_UNITS = UnitTerms(False)


def _stop(clock: Clock, at: datetime) -> None:
    if clock.paused_since is not None:
        clock.pauses.append((clock.paused_since, at))
        clock.paused_since = None
    clock.stopped_at = at


def start_verification(state: ComplaintClocks, start: datetime, terms: UnitTerms,
                       ref: str | None = None) -> None:
    """The admin's verification clock of the holder (`state.agency_id`), if it has units."""
    if not terms.has_units or state.agency_id is None or state.running(ClockName.disposition):
        return
    state.clocks.append(Clock(ClockName.disposition, state.agency_id, state.attempt, state.tz,
                              start, terms.verification_days, ref=ref))


def on_disposed(state: ComplaintClocks, s: StatusEvent, at: datetime, terms: UnitTerms) -> str | None:
    """A `disposed` of the holder; returns the unit it went to when a unit's clock started."""
    units = state.running(ClockName.unit_response)
    if s.unit_id is not None and any(c.unit_id == s.unit_id for c in units):
        return None  # already with that unit: its deadline runs on
    for clock in units:
        _stop(clock, at)
    if s.unit_id is None:  # back to the admin: a fresh verification
        start_verification(state, at, UnitTerms(True, terms.verification_days), ref=s.event_id)
        return None
    for clock in state.running(ClockName.disposition):
        _stop(clock, at)
    work = [c for c in state.running() if c.name in WORK]
    if not work:
        return None  # the agency's clock has stopped already (answered): no deadline inside it
    w = work[-1]
    state.clocks.append(Clock(
        ClockName.unit_response, w.agency_id, w.attempt, w.tz, w.started_at,
        w.limit - terms.unit_days_before, list(w.pauses), w.paused_since, unit_id=s.unit_id,
        ref=s.event_id, floor_from=at, days_before=terms.unit_days_before))
    return s.unit_id


def after_status(state: ComplaintClocks, s: StatusEvent, at: datetime) -> None:
    """Stop the internal clocks a `responded` or `resolved` ends (the unit's with the
    agency's clock it lives in)."""
    if s.status not in (Status.responded, Status.resolved):
        return
    for clock in state.running(ClockName.disposition):
        _stop(clock, at)
    if not any(c.name in WORK for c in state.running()):
        for clock in state.running(ClockName.unit_response):
            _stop(clock, at)


def follow_work_limit(state: ComplaintClocks) -> None:
    """The agency's running deadline changed (field inspection, a policy version): each
    running unit deadline is again that deadline less its days."""
    work = [c for c in state.running() if c.name in WORK]
    if not work:
        return
    for clock in state.running(ClockName.unit_response):
        clock.limit = work[-1].limit - clock.days_before
