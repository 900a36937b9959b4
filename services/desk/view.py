"""What an agency's desk knows, built from the topics it reads (pure: no Kafka, no web).

In: each agency's complaints as delivered to it (`agency.<id>.complaints.v1`, as redacted as
the agency receives them), the gate's statuses (`complaints.status.v1`), the SLA monitor's
escalations, the ticks (time is data: the desk's "now" is the latest tick's `as_of`), the
bridge's marks of complaints it could not put into an agency's own system
(`bridge.undelivered.v1`, compacted, key `<agency_id>|<complaint_id>`: the latest record of a
key is the mark, a tombstone ends it), each agency's units (`agency.units.v1`, compacted,
from its beginning into a `UnitsBook` over the shipped starting sets) and the units' drafts
waiting for their admin's approval (`desk.drafts.v1`, the desk's own, compacted, key
`<agency_id>|<complaint_id>`: the latest record of a key is the complaint's draft).
Out: one agency's queue and one complaint as that agency may see it. Nothing here crosses
agencies: every question names the agency asking, and a complaint delivered to another
agency does not exist for it. Inside an agency, a complaint is with one of its units or with
its admin: the agency's latest judged `disposed` since the complaint reached it says which
(`current_unit`); a unit's staff see only what is with their unit now.

Records of different topics arrive in no particular order (a status may be read before the
delivery it follows), so what is kept is the facts, and the clocks are worked out when a
page asks.

The statuses are judged before they reach the topic (contract, "One judge for statuses"): the
view trusts them and derives nothing about who may speak. What it still filters is what one
agency sees (its own statuses stop its own clocks, another agency's note is not shown, a
former holder may not act): that is not judging, and the topic carries several agencies'
statuses over a complaint's life. A repeated `event_id` is ignored here too (a second line:
the desk reads at least once), and only a delivery makes a complaint known: a status, an
escalation or a bridge mark for a complaint never delivered waits, bounded, for its delivery
(`_park`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, time as day_start
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from schemas import (
    AgencyComplaint, BridgeUndelivered, ClockName, Escalation, EscalationKind, Role, SlaTier, Status,
    StatusEvent, StatusDraft, Tick, UnitSet,
)
from services.domain.calendar import WorkingCalendar, zone
from services.domain.complaint_id import normalise_complaint_id
from services.domain.registry import Registry
from services.domain.sla_policy import Policy
from services.domain.unit_catalogue import starting_units
from services.domain.units import UnitsBook
from services.runtime.topics import (
    AGENCY_TOPIC, BRIDGE_UNDELIVERED, DRAFTS, ESCALATIONS, STATUS, TICKS, UNITS, family_member,
)

# A status that ends the agency's part: the complaint leaves its queue.
FINISHED = {Status.resolved, Status.closed, Status.archived}
CLOCK_SKEW = timedelta(minutes=10)  # how far behind ours an agency system's clock may be
STATUSES_KEPT = 200  # per complaint (a complaint with more is a fault somewhere else)
PARKED_KEPT = 10_000  # statuses, escalations, bridge marks waiting for their complaint's delivery (`_park`)
UNKNOWN = "unknown_complaint"  # the reason a record naming an id no complaint can have is skipped
# The reason a bridge.undelivered.v1 record is skipped whose key is not `<agency_id>|<complaint_id>`
# of its body: compaction and the tombstone that ends the mark go by the key.
KEY_MISMATCH = "key_mismatch"

AGENCY_ID = re.compile(r"[a-z0-9-]{1,64}")  # schemas.common.AgencyId

Parked = tuple[StatusEvent, dict[str, Any] | None] | Escalation | BridgeUndelivered


@dataclass(frozen=True)
class Undelivered:
    """The bridge could not put the agency's delivery `event_id` into its own system: refused
    for good, given up after the agency's `give_up_after_s`, or skipped by an operator."""

    event_id: str
    reason: str  # bridge_refused | bridge_gave_up | bridge_skipped
    at: datetime
    http_status: int | None  # the endpoint's last answer (None: none)
    unit_id: str | None = None  # a disposition's copy a unit's own endpoint did not take


@dataclass
class Facts:
    """Everything known about one complaint (the deliveries are per agency)."""

    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)  # agency -> delivered JSON
    statuses: list[dict[str, Any]] = field(default_factory=list)  # in topic order
    escalations: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> escalation
    # agency -> the bridge's mark: not put into that agency's own system (bridge.undelivered.v1)
    undelivered: dict[str, Undelivered] = field(default_factory=dict)
    # agency -> ids of the disposition copies of its kept delivery (the same routing attempt):
    # the bridge's mark on one of them is a mark on that delivery too.
    # (None until a complaint has one: most never do, and the view holds a year of complaints)
    copies: dict[str, list[str]] | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ClockView:
    name: str
    due_at: datetime | None
    state: str  # running | paused | stopped | breached
    days_left: int | None  # working days from now to the deadline (negative: past it)
    level: int  # the highest breach level the SLA monitor escalated (0: none)


@dataclass(frozen=True)
class QueueRow:
    complaint_id: str
    role: str  # primary | copy (tembusan)
    title: str | None
    category: str
    routed_at: datetime
    clocks: list[ClockView]
    last_status: str | None
    next_due: datetime | None
    undelivered: Undelivered | None = None  # not in the agency's own system: work it here
    unit: CurrentUnit | None = None  # the unit it is dispositioned to (None: with the admin)
    awaiting_approval: bool = False  # a unit's draft answer waits for the admin's approval


@dataclass(frozen=True)
class CurrentUnit:
    unit_id: str
    name: str  # the judge's unit_name, else the units in force, else the id


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


class DeskView:
    def __init__(self, registry: Registry, calendar: WorkingCalendar, policy: Policy,
                 closed_days: int, parked_kept: int = PARKED_KEPT,
                 on_dropped: Callable[[str, int], None] = lambda _cid, _records: None,
                 units: UnitsBook | None = None):
        """`on_dropped(complaint_id, records)`: told of each complaint whose parked records
        went for room (the worker logs it: ids only). `units`: every agency's units in force
        (default: the starting sets, replaced by what agency.units.v1 publishes)."""
        self.registry, self.calendar, self.policy = registry, calendar, policy
        self.units = units if units is not None else UnitsBook(starting_units(registry))
        self.closed_days = closed_days
        self.facts: dict[str, Facts] = {}  # delivered complaints only
        self.parked: OrderedDict[str, list[Parked]] = OrderedDict()  # complaint -> in arrival order
        self.parked_count, self.parked_kept, self.on_dropped = 0, parked_kept, on_dropped
        self.held: dict[str, set[str]] = {}  # agency -> complaints delivered to it (the queue's index)
        self.drafts: dict[tuple[str, str], StatusDraft] = {}  # (agency, complaint) -> its latest draft
        self.now: datetime | None = None
        # Working days between two dates, asked for every clock of every queue row: counted
        # once per pair (a day-by-day count costs ~1 µs a day; a queue of 10,000 rows asks
        # about a few hundred distinct deadlines).
        self._between: dict[tuple[date, date], int] = {}
        self._swept: date | None = None

    # --- what the topics say ---------------------------------------------------------
    def delivered(self, complaint: AgencyComplaint, as_delivered: dict[str, Any] | None = None) -> None:
        """`as_delivered`: the record's own JSON, already validated as `complaint` (kept as
        the agency received it, and cheaper than serialising the model again)."""
        facts = self.facts.setdefault(complaint.complaint_id, Facts())
        held = facts.deliveries.get(complaint.agency_id)
        # A disposition's copy (the router's, once a disposition passed) never replaces the
        # delivery kept of its routing: the desk shows the complaint as the agency received
        # it, and the `disposed` status already says which unit has it.
        if held is None or held["routing"]["attempt"] < complaint.routing.attempt or (
                held["routing"]["attempt"] == complaint.routing.attempt and complaint.disposition is None):
            if facts.copies and held is not None and held["routing"]["attempt"] < complaint.routing.attempt:
                facts.copies.pop(complaint.agency_id, None)  # an earlier delivery's copies
            facts.deliveries[complaint.agency_id] = as_delivered if as_delivered is not None else \
                complaint.model_dump(mode="json", exclude_none=True)
            self.held.setdefault(complaint.agency_id, set()).add(complaint.complaint_id)
        elif held["routing"]["attempt"] == complaint.routing.attempt:  # a copy of the kept one
            facts.copies = facts.copies if facts.copies is not None else {}
            copies = facts.copies.setdefault(complaint.agency_id, [])
            if complaint.event_id not in copies:
                copies.append(complaint.event_id)
                del copies[:-STATUSES_KEPT]
        for item in self.parked.pop(complaint.complaint_id, []):
            self.parked_count -= 1
            if isinstance(item, Escalation):
                self.escalation(item)
            elif isinstance(item, BridgeUndelivered):
                self.undelivered(item)
            else:
                self.status(*item)

    def status(self, event: StatusEvent, as_sent: dict[str, Any] | None = None) -> str | None:
        """Keep a status; the reason it was skipped, if it was."""
        facts = self.facts.get(event.complaint_id)
        if facts is None:
            return self._park(event.complaint_id, (event, as_sent))
        if any(s["event_id"] == event.event_id for s in facts.statuses):
            return None  # a repeat (at-least-once): same id, same status; it changes nothing
        facts.statuses.append(as_sent if as_sent is not None else event.model_dump(mode="json", exclude_none=True))
        del facts.statuses[:-STATUSES_KEPT]
        if event.status in (Status.closed, Status.archived):
            facts.finished_at = event.at
        return None

    def escalation(self, esc: Escalation) -> str | None:
        """Keep an escalation (by its id: a repeat replaces it with itself)."""
        facts = self.facts.get(esc.complaint_id)
        if facts is None:
            return self._park(esc.complaint_id, esc)
        facts.escalations[esc.escalation_id] = esc.model_dump(mode="json")
        return None

    def undelivered(self, mark: BridgeUndelivered) -> str | None:
        """Keep the bridge's mark for the agency (the latest of its key replaces the one before;
        the same again changes nothing)."""
        facts = self.facts.get(mark.complaint_id)
        if facts is None:
            return self._park(mark.complaint_id, mark)
        facts.undelivered[mark.agency_id] = Undelivered(mark.event_id, mark.reason, mark.at,
                                                        mark.http_status, mark.unit_id)
        return None

    def unit_set(self, unit_set: UnitSet) -> None:
        """An agency's published units: a newer version replaces the one in force, a repeat
        or an older one changes nothing."""
        self.units.apply(unit_set)

    def draft(self, draft: StatusDraft) -> None:
        """A unit's draft: the latest record of its key is the complaint's draft. A pending
        record of a draft already decided (a resent form written after the decision) changes
        nothing: a decided draft is never open for approval again. An approved one stays
        approved (its status was written), whatever a worker that had not read the approval
        decided after it."""
        key = (draft.agency_id, draft.complaint_id)
        held = self.drafts.get(key)
        if held is not None and held.draft_id == draft.draft_id and (
                held.state != "pending" and draft.state == "pending" or held.state == "approved"):
            return
        self.drafts[key] = draft

    def draft_withdrawn(self, agency_id: str, complaint_id: str) -> None:
        """A tombstone of the drafts topic: the complaint has no draft any more."""
        self.drafts.pop((agency_id, complaint_id), None)

    def draft_of(self, agency_id: str, complaint_id: str) -> StatusDraft | None:
        return self.drafts.get((agency_id, complaint_id))

    def pending_draft(self, agency_id: str, complaint_id: str) -> StatusDraft | None:
        """The complaint's draft while it waits for the admin's approval: one drafted in the
        agency's current routing (a draft left waiting when the complaint was passed on
        answers nothing of a later routing back: nobody approves it into that one)."""
        draft = self.drafts.get((agency_id, complaint_id))
        if draft is None or draft.state != "pending":
            return None
        facts = self.facts.get(complaint_id)
        if facts is not None and agency_id in facts.deliveries and draft.drafted_at < self.since(facts, agency_id):
            return None
        return draft

    def delivered_later(self, agency_id: str, complaint_id: str) -> None:
        """A tombstone: the agency's system took the complaint after all (an operator's
        redelivery). Its mark ends, and so does one still parked."""
        facts = self.facts.get(complaint_id)
        if facts is not None:
            facts.undelivered.pop(agency_id, None)
            return
        waiting = self.parked.get(complaint_id)
        if waiting is None:
            return
        kept = [w for w in waiting if _parked_id(w) != ("undelivered", agency_id)]
        self.parked_count -= len(waiting) - len(kept)
        if kept:
            self.parked[complaint_id] = kept
        else:
            del self.parked[complaint_id]

    def undelivered_mark(self, facts: Facts, agency_id: str) -> Undelivered | None:
        """The bridge's mark on the agency's delivery as the desk holds it: none of another
        agency's, and none left from an earlier delivery (a complaint passed on and back again
        is a new delivery, which the agency's system may well have taken). A mark on one of the
        delivery's disposition copies counts: a unit's own endpoint (or the agency's) did not
        take it, so the staff work it here."""
        mark = facts.undelivered.get(agency_id)
        delivery = facts.deliveries.get(agency_id)
        if mark is None or delivery is None:
            return None
        copies = (facts.copies or {}).get(agency_id, ())
        if delivery.get("event_id") != mark.event_id and mark.event_id not in copies:
            return None
        return mark

    # Why records are parked: the desk follows every topic from its start with one consumer
    # and no group (`topic_follow`), in order within each partition only, so a status or an
    # escalation may be read before the delivery of its complaint (at start, while the agency
    # topics are read; an agency topic made later is found within the metadata refresh). Such
    # a record waits here and is applied, in arrival order, when the complaint is delivered
    # (a bridge mark is a key's latest state: a newer one replaces the one parked, a tombstone
    # takes it away).
    # It makes no complaint: a status for an id never delivered (one the router refused, a
    # triaged complaint, one forgotten after its close) stays parked until room is needed, and
    # the oldest complaint's parked records go first (`on_dropped`). An id whose check
    # character is wrong was never accepted and never will be delivered: not even parked.
    def _park(self, cid: str, item: Parked) -> str | None:
        if normalise_complaint_id(cid) != cid:
            return UNKNOWN
        waiting = self.parked.setdefault(cid, [])
        if isinstance(item, BridgeUndelivered):
            for i, w in enumerate(waiting):
                if _parked_id(w) == _parked_id(item):
                    waiting[i] = item  # the key's newer mark, in the older one's place
                    return None
        elif any(_parked_id(w) == _parked_id(item) for w in waiting):
            return None  # a repeat of a record already waiting takes no room
        waiting.append(item)
        self.parked_count += 1
        while self.parked_count > self.parked_kept:
            gone, items = self.parked.popitem(last=False)
            self.parked_count -= len(items)
            self.on_dropped(gone, len(items))
        return None

    def tick(self, as_of: datetime) -> None:
        if self.now is None or as_of > self.now:
            self.now = as_of
            if self._swept != as_of.date():  # once a day of event time, not at every tick
                self._swept = as_of.date()
                self._between.clear()
                self._forget_closed()

    def working_days_between(self, after: date, until: date) -> int:
        key = (after, until)
        found = self._between.get(key)
        if found is None:
            found = self._between[key] = self.calendar.working_days_between(after, until)
        return found

    def _forget_closed(self) -> None:
        """A complaint closed more than `closed_days` ago leaves memory (its topics keep it)."""
        assert self.now is not None
        before = self.now - timedelta(days=self.closed_days)
        for cid in [c for c, f in self.facts.items() if f.finished_at and f.finished_at < before]:
            for agency in self.facts.pop(cid).deliveries:
                self.held[agency].discard(cid)
                self.drafts.pop((agency, cid), None)

    # --- what an agency may see ------------------------------------------------------
    def holding(self, agency_id: str, complaint_id: str) -> tuple[Facts, dict[str, Any]] | None:
        """The complaint and its delivery to this agency, or None: never delivered to it is
        the same answer as no such complaint."""
        facts = self.facts.get(complaint_id)
        if facts is None or agency_id not in facts.deliveries:
            return None
        return facts, facts.deliveries[agency_id]

    def is_current_holder(self, facts: Facts, agency_id: str) -> bool:
        """The agency holds the complaint as primary and it was not re-routed since."""
        mine = facts.deliveries.get(agency_id)
        if mine is None or mine["routing"]["role"] != Role.primary.value:
            return False
        attempt = mine["routing"]["attempt"]
        newer = any(d["routing"]["role"] == Role.primary.value and d["routing"]["attempt"] > attempt
                    for a, d in facts.deliveries.items() if a != agency_id)
        return not newer and not any(s["status"] == Status.not_our_authority.value
                                     for s in self.own_statuses(facts, agency_id))

    @staticmethod
    def since(facts: Facts, agency_id: str) -> datetime:
        """Where the agency's part of the complaint's history starts: its routing there,
        less an agency system's clock running a little behind ours."""
        return _at(facts.deliveries[agency_id]["routing"]["routed_at"]) - CLOCK_SKEW

    def statuses_since(self, facts: Facts, agency_id: str) -> list[dict[str, Any]]:
        """Every status (anyone's) since the complaint reached the agency."""
        since = self.since(facts, agency_id)
        return [s for s in facts.statuses if _at(s["at"]) >= since]

    def own_statuses(self, facts: Facts, agency_id: str) -> list[dict[str, Any]]:
        """The agency's own statuses since the complaint reached it."""
        return [s for s in self.statuses_since(facts, agency_id) if s.get("agency_id") == agency_id]

    def current_unit(self, facts: Facts, agency_id: str) -> CurrentUnit | None:
        """The unit of the agency the complaint is dispositioned to now: its latest own
        `disposed` since the complaint reached the agency (none, or one without `unit_id`:
        with the agency's admin). Only while the agency holds it: a re-route, or the agency's
        own `not_our_authority`, ends every unit's part. A unit retired since is no one's
        (its open complaints are back with the admin)."""
        if not self.is_current_holder(facts, agency_id):
            return None
        for s in reversed(self.own_statuses(facts, agency_id)):
            if s["status"] != Status.disposed.value:
                continue
            unit_id = s.get("unit_id")
            if unit_id is None:
                return None
            known = self.units.of(agency_id).unit(unit_id)
            if known is not None and known.retired:
                return None
            return CurrentUnit(unit_id, s.get("unit_name") or (known.name if known else unit_id))
        return None

    def with_unit(self, facts: Facts, agency_id: str, unit_id: str) -> bool:
        """The complaint is dispositioned to this unit now (what its staff may see)."""
        current = self.current_unit(facts, agency_id)
        return current is not None and current.unit_id == unit_id

    def is_paused(self, facts: Facts, agency_id: str) -> bool:
        """The agency asked the reporter for information and has not had it yet."""
        return self._pauses(self.own_statuses(facts, agency_id), self.registry.timezone(agency_id))[1]

    def is_open(self, facts: Facts, agency_id: str) -> bool:
        delivery = facts.deliveries[agency_id]
        if any(s["status"] in {x.value for x in FINISHED} for s in self.statuses_since(facts, agency_id)):
            return False
        if delivery["routing"]["role"] == Role.copy.value:
            return True
        return self.is_current_holder(facts, agency_id)

    def clocks(self, facts: Facts, agency_id: str) -> list[ClockView]:
        """The agency's clocks as the contract runs them, from the deadlines it was given:
        a status of its own stops the first response, `responded`/`resolved` the follow-up,
        `resolved` the resolution; a pause moves the running ones by its working days; a field
        inspection gives the resolution its longer limit. Breach levels are the monitor's."""
        delivery = facts.deliveries[agency_id]
        if delivery["routing"]["role"] != Role.primary.value:
            return []
        attempt = delivery["routing"]["attempt"]
        tz = self.registry.timezone(agency_id)
        own = self.own_statuses(facts, agency_id)
        done = {s["status"] for s in own}
        # A disposition (inside the agency) answers nobody: as the SLA monitor, it stops no clock.
        stops = {ClockName.first_response.value: bool(done - {Status.disposed.value}),
                 ClockName.follow_up.value: bool(done & {"responded", "resolved"}),
                 ClockName.resolution.value: "resolved" in done}
        pause_days, paused = self._pauses(own, tz)
        limits = self.policy.limits(agency_id)
        views = []
        for name, due in sorted(delivery.get("deadlines", {}).items()):
            due_at = _at(due)
            if name == ClockName.resolution.value and "field_inspection_required" in done \
                    and delivery.get("sla_tier") != SlaTier.field_60d.value:
                due_at = self.extend(due_at, limits.resolution(True) - limits.resolution(False), tz)
            due_at = self.extend(due_at, pause_days, tz)
            level = max((e["level"] for e in facts.escalations.values()
                         if e["agency_id"] == agency_id and e["clock"] == name
                         and e["kind"] == EscalationKind.breach.value
                         and e.get("attempt") in (None, attempt)), default=0)
            if stops.get(name):
                state = "stopped"
            elif paused:
                state = "paused"
            elif level or (self.now is not None and self.now >= due_at):
                state = "breached"
            else:
                state = "running"
            views.append(ClockView(name, due_at, state, self.days_left(due_at, tz), level))
        return views

    def _pauses(self, own: list[dict[str, Any]], tz: str) -> tuple[int, bool]:
        """Working days in each finished pause (P, R], and whether one is open now."""
        days, started = 0, None
        for s in own:
            if s["status"] == Status.info_requested.value and started is None:
                started = _at(s["at"])
            elif s["status"] == Status.info_received.value and started is not None:
                local = zone(tz)
                days += self.calendar.working_days_between(started.astimezone(local).date(),
                                                           _at(s["at"]).astimezone(local).date())
                started = None
        return days, started is not None

    def extend(self, due_at: datetime, days: int, tz: str) -> datetime:
        """A deadline `days` working days later (a deadline is 00:00 after its last day)."""
        if days <= 0:
            return due_at
        local = zone(tz)
        last = (due_at.astimezone(local) - timedelta(days=1)).date()
        moved = self.calendar.nth_working_day_after(last, days)
        return datetime.combine(moved + timedelta(days=1), day_start(0), tzinfo=local)

    def days_left(self, due_at: datetime, tz: str) -> int | None:
        """Whole working days left after today (0: today is the last day); negative: the
        working days since the last day passed."""
        if self.now is None:
            return None
        local = zone(tz)
        today, last = self.now.astimezone(local).date(), (due_at.astimezone(local) - timedelta(days=1)).date()
        if last >= today:
            return self.working_days_between(today, last)
        return -self.working_days_between(last, today)

    def queue(self, agency_id: str, unit_id: str | None = None) -> list[QueueRow]:
        """The agency's open complaints: primaries by their nearest running deadline (the
        breached first), then those with no running clock, then its copies (tembusan). Each
        carries the bridge's mark if the agency's own system never took it, and the unit it
        is with. `unit_id`: a unit's queue, only what is dispositioned to that unit now."""
        rows = []
        for cid in self.held.get(agency_id, ()):
            facts = self.facts[cid]
            if not self.is_open(facts, agency_id):
                continue
            unit = self.current_unit(facts, agency_id)
            if unit_id is not None and (unit is None or unit.unit_id != unit_id):
                continue
            delivery = facts.deliveries[agency_id]
            clocks = self.clocks(facts, agency_id)
            running = [c.due_at for c in clocks if c.state in ("running", "breached") and c.due_at]
            own = self.own_statuses(facts, agency_id)
            draft = self.pending_draft(agency_id, cid)
            rows.append(QueueRow(cid, delivery["routing"]["role"], delivery.get("title"),
                                 delivery["category"], _at(delivery["routing"]["routed_at"]),
                                 clocks, own[-1]["status"] if own else None,
                                 min(running) if running else None,
                                 self.undelivered_mark(facts, agency_id), unit,
                                 draft is not None and (unit_id is None or draft.unit_id == unit_id)))
        far = datetime.max.replace(tzinfo=zone("UTC"))
        return sorted(rows, key=lambda r: (r.role != Role.primary.value, r.next_due or far,
                                           r.routed_at, r.complaint_id))

    def timeline(self, facts: Facts, agency_id: str) -> list[dict[str, Any]]:
        """What happened to the complaint since it reached this agency: its own statuses, the
        national admin's and the monitor's; another agency's notes are not its business."""
        routing = facts.deliveries[agency_id]["routing"]
        shown = []
        units = self.units.of(agency_id)
        for s in self.statuses_since(facts, agency_id):
            mine = s.get("agency_id") == agency_id
            step = {"at": s["at"], "status": s["status"], "by": s.get("agency_id") or "LAPOR!",
                    "note": s.get("note") if mine else None,
                    "target_agency_id": s.get("target_agency_id")}
            if mine and s["status"] == Status.disposed.value:  # to a unit, or back to the admin
                known = units.unit(s.get("unit_id"))
                step["unit_id"] = s.get("unit_id")
                step["unit_name"] = s.get("unit_name") or (known.name if known else s.get("unit_id"))
            shown.append(step)
        for e in facts.escalations.values():
            if e["agency_id"] == agency_id and e.get("attempt") in (None, routing["attempt"]):
                shown.append({"at": e["fire_at"], "status": f"{e['kind']} (level {e['level']}, {e['clock']})",
                              "by": "SLA", "note": None, "target_agency_id": None})
        return sorted(shown, key=lambda x: x["at"])


def undelivered_only(rows: list[QueueRow]) -> list[QueueRow]:
    """The queue filtered to what the agency's own system never took (staff work them here)."""
    return [r for r in rows if r.undelivered is not None]


WITH_ADMIN = "-"  # the admin's queue filter for what no unit has (no unit id is "-")


def with_unit_only(rows: list[QueueRow], unit: str) -> list[QueueRow]:
    """The admin's queue filtered to one unit's complaints, or (`WITH_ADMIN`) to those not
    dispositioned to any unit."""
    if unit == WITH_ADMIN:
        return [r for r in rows if r.unit is None]
    return [r for r in rows if r.unit is not None and r.unit.unit_id == unit]


def _parked_id(item: Parked) -> tuple[str, str]:
    if isinstance(item, Escalation):
        return "escalation", item.escalation_id
    if isinstance(item, BridgeUndelivered):
        return "undelivered", item.agency_id  # one mark per agency and complaint: the key's latest
    return "status", item[0].event_id


def undelivered_key(key: bytes | None) -> tuple[str, str] | None:
    """(agency_id, complaint_id) of a bridge.undelivered.v1 key, if it is well formed."""
    agency, sep, cid = (key or b"").decode(errors="replace").partition("|")
    if not sep or not AGENCY_ID.fullmatch(agency) or normalise_complaint_id(cid) != cid:
        return None
    return agency, cid


def _json(value: bytes) -> dict[str, Any]:
    """A record already validated by its model, as a dict without its null fields."""
    return {k: v for k, v in orjson.loads(value).items() if v is not None}


def apply_record(view: DeskView, topic: str, value: bytes | None, key: bytes | None = None) -> str | None:
    """Feed one record (topic by contract name) to the view; the reason it was skipped, if
    it was. A record that does not parse is skipped, not fatal: its stage of origin has
    already dead-lettered anything malformed, and the desk only reads."""
    if topic == BRIDGE_UNDELIVERED:
        return _undelivered_record(view, key, value)
    if topic == DRAFTS:
        return _draft_record(view, key, value)
    if value is None:
        return "tombstone"
    try:
        if family_member(AGENCY_TOPIC, topic):
            view.delivered(AgencyComplaint.model_validate_json(value), _json(value))
        elif topic == STATUS:
            return view.status(StatusEvent.model_validate_json(value), _json(value))
        elif topic == ESCALATIONS:
            return view.escalation(Escalation.model_validate_json(value))
        elif topic == TICKS:
            tick = Tick.model_validate_json(value)
            if tick.rules is None and tick.units is None:  # an announcement moves no clock
                view.tick(tick.as_of)
        elif topic == UNITS:
            view.unit_set(UnitSet.model_validate_json(value))
        else:
            return "unexpected_topic"
    except ValidationError:
        return "invalid"
    return None


def _undelivered_record(view: DeskView, key: bytes | None, value: bytes | None) -> str | None:
    """A bridge mark, or its tombstone, by its key (what compaction keeps and ends)."""
    return _keyed_record(key, value, BridgeUndelivered, view.delivered_later, view.undelivered)


def _draft_record(view: DeskView, key: bytes | None, value: bytes | None) -> str | None:
    """A unit's draft, or its tombstone, by its key (what compaction keeps and ends)."""
    def kept(draft: StatusDraft) -> None:
        view.draft(draft)
    return _keyed_record(key, value, StatusDraft, view.draft_withdrawn, kept)


Keyed = TypeVar("Keyed", BridgeUndelivered, StatusDraft)


def _keyed_record(key: bytes | None, value: bytes | None, model: type[Keyed],
                  ended: Callable[[str, str], None],
                  kept: Callable[[Keyed], str | None]) -> str | None:
    """A record of a compacted topic keyed `<agency_id>|<complaint_id>`: its tombstone ends
    what the key names; its body must name the same agency and complaint."""
    named = undelivered_key(key)
    if named is None:
        return "invalid"
    if value is None:
        ended(*named)
        return None
    try:
        record = model.model_validate_json(value)
    except ValidationError:
        return "invalid"
    if (record.agency_id, record.complaint_id) != named:
        return KEY_MISMATCH
    return kept(record)
