"""A complaint's SLA clocks and the escalation moments they produce. Pure: time comes from
the events and ticks given, the calendar from the shared package.

Each moment is the contract's deadline rule with another number of working days, same start
and same pauses: warning N-1 (level 0, agency), breach N (level 1, agency_supervisor, the
due_at), N+3 (level 2, national_admin), N+10 (level 3, ombudsman).

The internal clocks of an agency with units (`disposition`: its admin's verification;
`unit_response`: a unit's deadline inside the agency's) have one moment only, their due_at:
a breach at level 1 to the agency's admin, and nobody beyond (see `units_clocks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas import ClockName, EscalationKind, EscalationTarget, SlaTier
from services.domain.calendar import WorkingCalendar

TRIAGE_AGENCY = "triage"  # escalations of a complaint waiting in triage name this agency

LADDER: tuple[tuple[EscalationKind, int, EscalationTarget, int], ...] = (
    (EscalationKind.warning, 0, EscalationTarget.agency, -1),
    (EscalationKind.breach, 1, EscalationTarget.agency_supervisor, 0),
    (EscalationKind.breach, 2, EscalationTarget.national_admin, 3),
    (EscalationKind.breach, 3, EscalationTarget.ombudsman, 10),
)
INTERNAL = (ClockName.disposition, ClockName.unit_response)


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class Clock:
    name: ClockName
    agency_id: str
    attempt: int
    tz: str
    started_at: datetime
    limit: int
    pauses: list[tuple[datetime, datetime]] = field(default_factory=list)
    paused_since: datetime | None = None
    stopped_at: datetime | None = None
    fired: list[int] = field(default_factory=list)  # levels already emitted
    # Internal clocks only. The unit a unit_response is about; the event that started it
    # (the `disposed` status; for a disposition clock the hand-back, None from the routing),
    # so that moving a complaint back and forth gives each lapse its own escalation id.
    unit_id: str | None = None
    ref: str | None = None
    # unit_response: its due_at is never before the first working day after `floor_from`
    # (the disposition), whatever the agency's deadline less `days_before` gives.
    floor_from: datetime | None = None
    days_before: int = 0

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    def moment(self, calendar: WorkingCalendar, days: int) -> datetime:
        if self.name not in INTERNAL:
            return calendar.deadline(self.started_at, days, self.tz, self.pauses)
        if self.floor_from is None:
            return self._internal(calendar, self.started_at, days, self.pauses)
        # The rule chosen for a unit deadline the agency's would put at or before the
        # disposition: one working day after the disposition's own day (pushed by the pauses
        # since), so a unit always gets a working day, never a lapse on arrival.
        since = [(max(p, self.floor_from), r) for p, r in self.pauses if r > self.floor_from]
        floor = self._internal(calendar, self.floor_from, 1, since)
        if days < 1:  # the agency's deadline less more days than it has: its start, or before
            return floor
        return max(floor, self._internal(calendar, self.started_at, days, self.pauses))

    def _internal(self, calendar: WorkingCalendar, start: datetime, days: int,
                  pauses: list[tuple[datetime, datetime]]) -> datetime:
        """An internal clock's moment: a pause that begins once the moment has come does not
        move it (the admin's verification lapsed on the 6th stays lapsed on the 6th though the
        agency asks the reporter on the 6th at 23:55). So the same escalation, with the same
        due_at, whether the pause was read before or after the tick that passed the moment."""
        at = calendar.deadline(start, days, self.tz)
        counted: list[tuple[datetime, datetime]] = []
        for p, r in sorted(pauses):
            if p >= at:
                break
            counted.append((p, r))
            at = calendar.deadline(start, days, self.tz, counted)
        return at

    def due_at(self, calendar: WorkingCalendar) -> datetime:
        return self.moment(calendar, self.limit)

    def ladder(self) -> list[tuple[EscalationKind, int, EscalationTarget, int]]:
        """(kind, level, target, working days) of every moment this clock can fire."""
        if self.name is ClockName.auto_close:  # lapsing closes the complaint, nobody is escalated
            return [(EscalationKind.breach, 1, EscalationTarget.agency_supervisor, self.limit)]
        if self.name in INTERNAL:  # inside the agency: its admin, never a warning nor beyond
            return [(EscalationKind.breach, 1, EscalationTarget.agency_admin, self.limit)]
        return [(k, lvl, t, self.limit + d) for k, lvl, t, d in LADDER if self.limit + d >= 1]

    def pending(self, calendar: WorkingCalendar) -> Iterator[tuple[EscalationKind, int, EscalationTarget, datetime]]:
        """(kind, level, target, fire_at) of the moments not yet emitted, in order, up to the
        first one that the clock's stop or pause came before (event time decides)."""
        for kind, level, target, days in self.ladder():
            if level in self.fired:
                continue
            fire_at = self.moment(calendar, days)
            if self.stopped_at is not None and self.stopped_at <= fire_at:
                return
            if self.paused_since is not None and self.paused_since <= fire_at:
                return  # paused before it came: its moment moves when the clock resumes
            yield kind, level, target, fire_at

    def to_dict(self) -> dict[str, Any]:
        # Written out, not dataclasses.asdict: asdict deep-copies every field and was half of
        # the SLA handler's time (bench/profile_stages.py).
        out = {"name": self.name.value, "agency_id": self.agency_id, "attempt": self.attempt,
               "tz": self.tz, "started_at": _ts(self.started_at), "limit": self.limit,
               "pauses": [[_ts(p), _ts(r)] for p, r in self.pauses],
               "paused_since": _ts(self.paused_since), "stopped_at": _ts(self.stopped_at),
               "fired": list(self.fired)}
        if self.name in INTERNAL:  # (the contract clocks' state stays as it was written)
            out.update(unit_id=self.unit_id, ref=self.ref, floor_from=_ts(self.floor_from),
                       days_before=self.days_before)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Clock:
        return cls(ClockName(d["name"]), d["agency_id"], d["attempt"], d["tz"],
                   datetime.fromisoformat(d["started_at"]), d["limit"],
                   [(datetime.fromisoformat(p), datetime.fromisoformat(r)) for p, r in d["pauses"]],
                   _dt(d["paused_since"]), _dt(d["stopped_at"]), list(d["fired"]),
                d.get("unit_id"), d.get("ref"), _dt(d.get("floor_from")), d.get("days_before", 0))


@dataclass(frozen=True)
class Moment:
    """One escalation (or auto-close) that is due."""

    clock: Clock
    kind: EscalationKind
    level: int
    target: EscalationTarget
    started_at: datetime
    due_at: datetime
    fire_at: datetime


@dataclass
class ComplaintClocks:
    complaint_id: str
    accepted_at: datetime
    sla_tier: SlaTier
    field_inspection: bool = False
    agency_id: str | None = None  # the responsible agency (TRIAGE_AGENCY while in triage)
    attempt: int = 0
    tz: str = "Asia/Jakarta"
    clocks: list[Clock] = field(default_factory=list)
    first_response_done: bool = False
    closed: bool = False
    flagged_statuses: int = 0  # statuses from agencies that are not responsible
    due_bucket: int | None = None  # the due-index bucket that lists this complaint, if any
    closed_at: datetime | None = None  # when it was closed or archived (its purge counts from it)
    # The reply address of the reporter's channel (never a phone number: for SMS the
    # gateway's message id), for the notices; None in state written before notices.
    channel: str | None = None
    submission_id: str | None = None
    partition: int | None = None  # its partition (a new rules version re-lists by partition)
    applied: list[str] = field(default_factory=list)  # its statuses' event ids, see `repeats`

    def running(self, name: ClockName | None = None) -> list[Clock]:
        return [c for c in self.clocks if c.running and (name is None or c.name is name)]

    def to_dict(self) -> dict[str, Any]:
        return {"complaint_id": self.complaint_id, "accepted_at": self.accepted_at.isoformat(),
                "sla_tier": self.sla_tier.value, "field_inspection": self.field_inspection,
                "agency_id": self.agency_id, "attempt": self.attempt, "tz": self.tz,
                "clocks": [c.to_dict() for c in self.clocks],
                "first_response_done": self.first_response_done, "closed": self.closed,
                "flagged_statuses": self.flagged_statuses, "due_bucket": self.due_bucket,
                "closed_at": _ts(self.closed_at), "channel": self.channel,
                "submission_id": self.submission_id, "partition": self.partition,
                "applied": list(self.applied)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ComplaintClocks:
        return cls(d["complaint_id"], datetime.fromisoformat(d["accepted_at"]), SlaTier(d["sla_tier"]),
                   d["field_inspection"], d["agency_id"], d["attempt"], d["tz"],
                   [Clock.from_dict(c) for c in d["clocks"]], d["first_response_done"], d["closed"],
                   d["flagged_statuses"], d.get("due_bucket"), _dt(d.get("closed_at")),
                   d.get("channel"), d.get("submission_id"), d.get("partition"),
                   list(d.get("applied", ())))  # (none kept in state written before)

    def due(self, calendar: WorkingCalendar, as_of: datetime) -> list[Moment]:
        """Moments whose fire_at has been reached, of clocks neither stopped nor paused before."""
        out = []
        for clock in self.clocks:
            for kind, level, target, fire_at in clock.pending(calendar):
                if fire_at > as_of:
                    break  # later moments of this clock fire later still
                out.append(Moment(clock, kind, level, target, clock.started_at,
                                  clock.due_at(calendar), fire_at))
        return out

    def next_fire_at(self, calendar: WorkingCalendar) -> datetime | None:
        """When the next moment may fire (None: nothing pending), for the due index. A clock
        stopped or paused *after* a moment still owes it, whatever the order events were read."""
        best: datetime | None = None
        for clock in self.clocks:
            for _kind, _level, _target, at in clock.pending(calendar):
                best = at if best is None or at < best else best
                break
        return best
