"""The SLA monitor's processing over key-value stores (faust tables in production, dicts in
unit tests): events update clocks and a due index; a tick emits what is due.

Nothing is written to the stores directly: changes are staged in the runtime's
`StagedStores` and applied after the produced events are acknowledged, so a crash repeats an
escalation (same id) and never loses one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from schemas import (
    AcceptedComplaint, ClockName, Escalation, EscalationKind, Notification, RoutedEvent, Role,
    RulesVersion, Status, StatusEvent, UnitSet,
)
from services.domain.ids import deterministic_id
from services.domain.registry import Registry
from services.domain.rules import SHIPPED, RuleSet, in_force, rule_set_of
from services.domain.unit_catalogue import starting_units
from services.runtime.stage import StagedStores, StoreName
from services.runtime.topics import CLOSURES, ESCALATIONS, notifications_topic_name
from services.sla_monitor.clocks import INTERNAL, Clock, ComplaintClocks, Moment
from services.sla_monitor.compliance_counts import close_days, count, overdue_agencies, settle_overdue
from services.sla_monitor.due_index import (
    Emitted, Result, append_listed, bucket_of, clear_listed, listed, listed_buckets,
)
from services.sla_monitor.lateness import horizon, is_late
from services.sla_monitor.lifecycle import on_accepted, on_routed, on_status, reprice
from services.sla_monitor.parking import accepted_progress, park
from services.sla_monitor.repeats import is_repeat, remember
from services.sla_monitor.reporter_notices import auto_close_id, escalation_notice, status_notice
from services.sla_monitor.unit_clocks import NO_UNITS, UnitTerms

__all__ = ["Emitted", "Result", "SlaProcessor"]


class SlaProcessor:
    """`stores`: clocks (complaint_id -> state; "pending:<id>" and "awaiting:<id>" -> events
    waiting, see `parking` and `_await_routing`), due ("p:bucket" -> ids in chunks, see
    `due_index`), marks (partition -> watermark), stats ("p|agency|day" -> counters) and
    overdue ("p|agency" -> n), see `compliance_counts`. `allowed_lateness`: see `lateness`."""

    def __init__(self, shipped: RulesVersion, registry: Registry,
                 purge_grace_days: int = 10, pending_max_hours: float = 24.0,
                 allowed_lateness: timedelta = timedelta(0)):
        self.shipped, self.registry = shipped.to_bytes().decode(), registry
        self.purge_grace_days = purge_grace_days
        self.pending_max = timedelta(hours=pending_max_hours)
        self.lateness = allowed_lateness
        self._starting = starting_units(registry)
        self._starting_terms: dict[str, UnitTerms] = {}  # (the same in every worker: cached)

    # --- when a complaint's state ends ------------------------------------------------------
    def _purge_at(self, res: Result, state: ComplaintClocks) -> datetime | None:
        """A closed complaint's clocks are deleted this many working days after its close
        (late statuses and duplicates still find it closed until then); None while open."""
        if not state.closed or state.closed_at is None:
            return None
        return res.rules.calendar.deadline(state.closed_at, self.purge_grace_days, state.tz)

    def _next_moment(self, res: Result, state: ComplaintClocks) -> datetime | None:
        """The next time a tick has something to do for the complaint: a moment, or its purge
        once nothing is pending any more."""
        at = state.next_fire_at(res.rules.calendar)
        return at if at is not None else self._purge_at(res, state)

    # --- reading through the staged writes -------------------------------------------------
    @staticmethod
    def _get(res: Result, store: str, key: str, default: Any = None) -> Any:
        return res.view.get(store, key, default)

    @staticmethod
    def _put(res: Result, store: str, key: str, value: Any) -> None:
        res.view.put(store, key, value)

    def _index(self, res: Result, partition: int, state: ComplaintClocks) -> None:
        """List the complaint under the bucket of its next moment (the caller saves `state`)."""
        at = self._next_moment(res, state)
        if at is None:
            state.due_bucket = None  # a stale listing elsewhere is dropped when its tick comes
            return
        bucket = bucket_of(at)
        mark = self._get(res, "marks", str(partition))
        if mark is not None and bucket < mark["bucket"]:
            bucket = mark["bucket"]  # already past the watermark: the next tick fires it
        if state.due_bucket == bucket:
            return  # listed there already: no scan of the bucket needed
        append_listed(res.view, f"{partition}:{bucket}", state.complaint_id)
        state.due_bucket = bucket

    def _save(self, res: Result, partition: int, state: ComplaintClocks) -> None:
        state.partition = partition
        self._index(res, partition, state)
        self._put(res, "clocks", state.complaint_id, state.to_dict())

    def _load(self, res: Result, cid: str) -> ComplaintClocks | None:
        raw = self._get(res, "clocks", cid)
        return ComplaintClocks.from_dict(raw) if raw else None

    # --- events ----------------------------------------------------------------------------
    def accepted(self, stores: StagedStores, partition: int, c: AcceptedComplaint,
                 record_time: datetime | None = None) -> Result:
        """`record_time`: the accepted record's Kafka time (it bounds parking, see `_park`)."""
        res = self._begin(stores, partition)
        if record_time is not None:
            res.outputs += accepted_progress(res.view, partition, record_time, self.pending_max)
        if self._load(res, c.complaint_id) is not None:
            res.note = "duplicate"
            return res
        self._save(res, partition, on_accepted(c))
        res.note = "tracked"
        parked = self._get(res, "clocks", f"pending:{c.complaint_id}", [])
        if parked:
            self._put(res, "clocks", f"pending:{c.complaint_id}", None)
            # Routing decisions first: a status can only speak for an agency already routed to.
            for kind, payload, written_at, *_ in sorted(parked, key=lambda item: item[0] != "routed"):
                if kind == "routed":
                    routed_event = RoutedEvent.model_validate_json(payload)
                    self._routed(res, partition, routed_event, datetime.fromisoformat(written_at)
                                 if written_at else routed_event.routed_at)
                else:
                    self._status(res, partition, StatusEvent.model_validate_json(payload),
                                 datetime.fromisoformat(written_at))
            res.note = f"tracked_with_{len(parked)}_parked"
        return res

    def routed(self, stores: StagedStores, partition: int, r: RoutedEvent,
               record_time: datetime | None = None, source: tuple[str, int] | None = None) -> Result:
        res = self._begin(stores, partition, source)
        if record_time is not None:
            self._routed_progress(res, partition, record_time)
        self._routed(res, partition, r, record_time or r.routed_at)
        return res

    def _routed(self, res: Result, partition: int, r: RoutedEvent, record_time: datetime) -> None:
        state = self._load(res, r.complaint_id)
        if state is None:
            park(res.view, partition, r.complaint_id, "routed", r.model_dump_json(), record_time,
                 res.source, self.pending_max)
            res.note = "parked_before_accepted"
            return
        before = overdue_agencies(state)
        tz = r.timezone or self.registry.timezone(r.agency_id)
        answering = state.running(ClockName.first_response)
        if not on_routed(state, r, tz, res.rules.policy, self._terms(res, partition, r.agency_id)):
            res.note = "unchanged"
            return
        if r.agency_id and r.role is Role.primary:
            count(res.view, partition, r.agency_id, r.routed_at, tz, "received")
        # A re-route follows the old agency's refusal (bukan wewenang), its first response.
        # Read before that status (this worker may read the topics in either order), it
        # stops the clock; the refusal is counted here then, as the status would have.
        self._count_first_responses(res, partition, answering)
        settle_overdue(res.view, partition, state, before)
        self._save(res, partition, state)
        res.note = "clocks_started"
        self._release(res, partition, r.complaint_id, only_responsible=True)

    def status(self, stores: StagedStores, partition: int, s: StatusEvent,
               record_time: datetime, source: tuple[str, int] | None = None) -> Result:
        res = self._begin(stores, partition, source)
        self._status(res, partition, s, record_time)
        return res

    def _status(self, res: Result, partition: int, s: StatusEvent, record_time: datetime,
                may_wait: bool = True) -> None:
        state = self._load(res, s.complaint_id)
        if state is None:
            park(res.view, partition, s.complaint_id, "status", s.model_dump_json(), record_time,
                 res.source, self.pending_max)
            res.note = "parked_before_accepted"
            return
        if is_repeat(state, s):  # before waiting: a repeat never waits, it is dropped
            res.note = "repeat_ignored"
            res.repeats.append((s.complaint_id, s.event_id))
            return
        if may_wait and _awaits_routing(state, s):
            self._await_routing(res, partition, s, record_time)
            res.note = "waits_for_routing"
            return
        at = min(s.at, record_time)
        before = overdue_agencies(state)
        first = [c for c in state.running(ClockName.first_response)]
        units_before = {id(c) for c in state.running(ClockName.unit_response)}
        was = state.to_dict()
        res.note = on_status(state, s, at, res.rules.policy,
                             self._terms(res, partition, state.agency_id))
        for clock in state.running(ClockName.unit_response):
            if id(clock) not in units_before:  # dispositioned to this unit: its "received"
                count(res.view, partition, clock.agency_id, at, clock.tz, "received",
                      unit=clock.unit_id)
        changed = state.to_dict() != was
        remember(state, s)  # (after the comparison: a new id alone is nothing to tell)
        mark = self._get(res, "marks", str(partition))
        if res.note.startswith("applied_") and is_late(
                datetime.fromisoformat(mark["as_of"]) if mark else None, at, self.lateness):
            res.late.append((s.complaint_id, s.event_id))
        # Told once: a repeat is dropped above; another status that changes nothing (a second
        # `responded`, say) says nothing either.
        if res.note.startswith("applied_") and changed:
            told = status_notice(state, s, self.registry)
            if told is not None:
                res.outputs.append(Emitted(notifications_topic_name(told.channel), state.complaint_id, told))
        self._count_first_responses(res, partition, first)
        settle_overdue(res.view, partition, state, before)
        self._save(res, partition, state)

    def _count_first_responses(self, res: Result, partition: int, clocks: list[Clock]) -> None:
        """On time or late, for each of these first-response clocks that has just stopped."""
        for clock in clocks:
            if clock.stopped_at is not None and clock.agency_id != "triage":
                late = clock.stopped_at >= clock.due_at(res.rules.calendar)
                count(res.view, partition, clock.agency_id, clock.stopped_at, clock.tz,
                            "late" if late else "on_time")

    # --- statuses read before their routing ------------------------------------------------
    # An agency learns of a complaint from its topic, written together with the routed
    # decision, so its status is written after that decision; but this worker may read the
    # status first (lagging on complaints.routed.v1). Flagged then, a legitimate first
    # response would be lost and a false escalation fire. So a status from an agency that has
    # never held the complaint waits under "awaiting:<id>" (listed by its record hour) for the
    # routing. Once this partition has read routed decisions written in a later hour, the one
    # it waits for would have come: it is applied as it is (flagged, if that agency is not
    # responsible: a copy's agency, say).
    def _await_routing(self, res: Result, partition: int, s: StatusEvent, record_time: datetime) -> None:
        key = f"awaiting:{s.complaint_id}"
        waiting = list(self._get(res, "clocks", key, []))
        if not waiting:
            append_listed(res.view, f"awaiting@{partition}:{bucket_of(record_time)}", key)
        self._put(res, "clocks", key, [*waiting, [s.model_dump_json(), record_time.isoformat()]])

    def _release(self, res: Result, partition: int, cid: str, only_responsible: bool) -> None:
        key = f"awaiting:{cid}"
        waiting = self._get(res, "clocks", key, [])
        if not waiting:
            return
        keep = []
        for payload, written in waiting:
            s, state = StatusEvent.model_validate_json(payload), self._load(res, cid)
            if only_responsible and state is not None and _awaits_routing(state, s):
                keep.append([payload, written])
                continue
            self._status(res, partition, s, datetime.fromisoformat(written), may_wait=False)
        self._put(res, "clocks", key, keep or None)

    def _routed_progress(self, res: Result, partition: int, record_time: datetime) -> None:
        """A routed decision written at `record_time` was read: statuses listed for earlier
        hours have waited long enough."""
        mark_key = f"routed:{partition}"
        done, through = self._get(res, "marks", mark_key), bucket_of(record_time) - 1
        if done is None or through > done:
            self._put(res, "marks", mark_key, through)
        if done is None or through <= done:
            return
        for bucket in listed_buckets(res.view, f"awaiting@{partition}:", done + 1, through):
            head = f"awaiting@{partition}:{bucket}"
            for key in listed(res.view, head):
                self._release(res, partition, key.removeprefix("awaiting:"), only_responsible=False)
            clear_listed(res.view, head)

    # --- rules versions (sla.rules.v1) ------------------------------------------------------
    # Each partition keeps the versions announced on its ticks partition ("rules:<p>" in
    # marks: the number in force and the known versions' JSON). A version comes into force at
    # the first tick after its announcement whose as_of has reached its effective time; from
    # then on every moment is computed with it, and the open complaints of the partition are
    # re-priced and re-listed (a deadline moved earlier fires on that tick or its bucket, one
    # moved later leaves a stale listing that fires nothing). Announcements and ticks share one
    # log per partition, so a replay meets them in the same order: the same escalations.
    def _begin(self, stores: StagedStores, partition: int,
               source: tuple[str, int] | None = None) -> Result:
        book = stores.get("marks", f"rules:{partition}")
        wire = book["known"][str(book["active"])] if book and book["active"] != SHIPPED else self.shipped
        return Result(stores, rule_set_of(wire), source=source)

    def rules_for(self, stores: StagedStores, partition: int, at: datetime) -> RuleSet:
        """The rules that are (or will be, by their effective times) in force on `partition`
        at `at`, of those announced there so far (for what-if reports)."""
        book = stores.get("marks", f"rules:{partition}") or {"known": {}}
        chosen = in_force(map(rule_set_of, [self.shipped, *book["known"].values()]), at)
        return chosen or rule_set_of(self.shipped)

    def announce(self, stores: StagedStores, partition: int, version: RulesVersion) -> Result:
        """A rules version announced on this partition (it applies from a later tick)."""
        res = self._begin(stores, partition)
        key = f"rules:{partition}"
        book = self._get(res, "marks", key, {"active": SHIPPED, "known": {}})
        wire, known = version.to_bytes().decode(), book["known"].get(str(version.version))
        if version.version <= SHIPPED:
            res.note = "rules_version_1_is_the_shipped_files"
        elif known is not None:
            res.note = "rules_known" if known == wire else "rules_conflict_kept_first"
        else:
            self._put(res, "marks", key, {**book, "known": {**book["known"], str(version.version): wire}})
            res.note = "rules_announced"
        return res

    def _switch_rules(self, res: Result, partition: int, as_of: datetime) -> None:
        book = self._get(res, "marks", f"rules:{partition}")
        if not book:
            return
        target = in_force(map(rule_set_of, book["known"].values()), as_of)  # (parsed once, cached)
        if target is None or target.version == book["active"]:
            return
        res.rules = target
        self._put(res, "marks", f"rules:{partition}", {**book, "active": target.version})
        relisted = 0
        for cid in res.view.keys(StoreName.clocks):
            state = None if cid.startswith("pending:") else self._load(res, cid)
            if state is None or state.partition != partition:
                continue  # (state saved before it kept its partition is re-listed when touched)
            was, listed = state.to_dict(), state.due_bucket
            reprice(state, res.rules.policy)
            self._index(res, partition, state)
            if state.to_dict() != was:
                self._put(res, "clocks", cid, state.to_dict())
            relisted += state.due_bucket != listed
        res.rules_switched = (target.version, relisted)

    # --- units versions (agency.units.v1) ----------------------------------------------------
    # Announced on every ticks partition (`Tick.units`), like a rules version, and kept per
    # partition ("units:<p>:<agency>" in marks: the version and the terms the monitor needs),
    # in force there from the announcement on: the internal clocks started after it follow
    # it; those running keep the terms they started with. An agency that never published
    # has its starting set (version 0), which needs no announcement.
    def _terms(self, res: Result, partition: int, agency_id: str | None) -> UnitTerms:
        if agency_id is None or agency_id == "triage":
            return NO_UNITS
        known = self._get(res, "marks", f"units:{partition}:{agency_id}")
        if known is not None:
            return UnitTerms(known["has_units"], known["verification_days"], known["unit_days_before"])
        terms = self._starting_terms.get(agency_id)
        if terms is None:
            terms = self._starting_terms[agency_id] = UnitTerms.of(self._starting(agency_id))
        return terms

    def announce_units(self, stores: StagedStores, partition: int, unit_set: UnitSet) -> Result:
        """An agency's units version announced on this partition (newer versions only)."""
        res = self._begin(stores, partition)
        key = f"units:{partition}:{unit_set.agency_id}"
        known = self._get(res, "marks", key)
        if unit_set.version <= (known["version"] if known else 0):
            res.note = "units_known"
            return res
        self._put(res, "marks", key, {"version": unit_set.version, **UnitTerms.of(unit_set).to_dict()})
        res.note = "units_announced"
        return res

    # --- ticks -------------------------------------------------------------------------------
    def tick(self, stores: StagedStores, partition: int, as_of: datetime) -> Result:
        res = self._begin(stores, partition)
        mark = self._get(res, "marks", str(partition))
        if mark is not None and datetime.fromisoformat(mark["as_of"]) >= as_of:
            res.note = "stale_tick"
            return res
        self._switch_rules(res, partition, as_of)
        # The due index works at the tick's horizon (see `lateness`); the escalations it
        # emits still carry the tick's own as_of. (The horizon only moves on, but a lateness
        # raised across a restart could put it behind the last bucket cleared: that one then.)
        until = horizon(as_of, self.lateness)
        first_bucket = mark["bucket"] if mark else None
        last_bucket = max(bucket_of(until), first_bucket if first_bucket is not None else 0)
        keep: list[str] = []
        for bucket in self._buckets(res, partition, first_bucket, last_bucket):
            for cid in listed(res.view, f"{partition}:{bucket}"):
                if self._fire(res, partition, cid, until, as_of, last_bucket):
                    keep.append(cid)
            clear_listed(res.view, f"{partition}:{bucket}")
        for cid in dict.fromkeys(keep):  # still pending later in the current bucket
            append_listed(res.view, f"{partition}:{last_bucket}", cid)
        # Days close at as_of, as before: a status read late reopens its day under another
        # id (compliance_counts), and the sums per day stay the same.
        res.outputs += close_days(res.view, partition, as_of)
        self._put(res, "marks", str(partition), {"as_of": as_of.isoformat(), "bucket": last_bucket})
        res.note = "ticked"
        return res

    def _buckets(self, res: Result, partition: int, first: int | None, last: int) -> list[int]:
        # The first tick of a partition (first None), or a jump far ahead (a tick months after
        # the last; a hostile one years after): the listed buckets, not every hour between.
        return listed_buckets(res.view, f"{partition}:", first, last)

    def _fire(self, res: Result, partition: int, cid: str, until: datetime, as_of: datetime,
              current: int) -> bool:
        """Emit what is due by `until` (the tick's horizon) for one complaint listed in a
        bucket being cleared; True if it must stay listed in the current bucket (a moment
        later in it is still pending)."""
        state = self._load(res, cid)
        if state is None:
            return False
        before = overdue_agencies(state)
        for m in state.due(res.rules.calendar, until):
            self._emit(res, partition, state, m, as_of)
            m.clock.fired.append(m.level)
        settle_overdue(res.view, partition, state, before)
        purge_at = self._purge_at(res, state)
        if purge_at is not None and purge_at <= until and state.next_fire_at(res.rules.calendar) is None:
            self._put(res, "clocks", cid, None)  # its end: a tombstone in the changelog too
            res.purged += 1
            return False
        nxt = self._next_moment(res, state)
        keep = nxt is not None and bucket_of(nxt) <= current
        if keep:
            state.due_bucket = current
        else:
            if state.due_bucket is not None and state.due_bucket <= current:
                state.due_bucket = None  # that listing is being cleared by this tick
            self._index(res, partition, state)  # a later bucket (unless listed there already)
        state.partition = partition
        self._put(res, "clocks", cid, state.to_dict())
        return keep

    def _emit(self, res: Result, partition: int, state: ComplaintClocks, m: Moment, as_of: datetime) -> None:
        c = m.clock
        if c.name is ClockName.auto_close:
            status = StatusEvent(
                event_id=auto_close_id(state.complaint_id, c.agency_id, c.attempt),
                complaint_id=state.complaint_id, status=Status.closed, agency_id=None, at=m.fire_at,
                note=f"closed automatically: no reply from the reporter within {c.limit} working days",
            )
            # To the status gate (sla.closures.v1): this service may not write statuses.
            res.outputs.append(Emitted(CLOSURES, state.complaint_id, status))
            return
        parts: list[object] = [state.complaint_id, c.agency_id, c.name.value, m.kind.value, m.level,
                               c.attempt]
        if c.name in INTERNAL:  # each disposition (or hand-back) its own lapse
            parts += [c.unit_id or "", c.ref or ""]
        esc = Escalation(
            escalation_id=deterministic_id("escalation", *parts),
            complaint_id=state.complaint_id, agency_id=c.agency_id, clock=c.name, kind=m.kind,
            level=m.level, target=m.target, started_at=m.started_at, due_at=m.due_at,
            fire_at=m.fire_at, as_of=as_of, attempt=c.attempt, unit_id=c.unit_id,
        )
        res.outputs.append(Emitted(ESCALATIONS, state.complaint_id, esc))
        told = escalation_notice(state, m)
        if told is not None and not any(isinstance(e.event, Notification)
                                        and e.event.event_id == told.event_id for e in res.outputs):
            res.outputs.append(Emitted(notifications_topic_name(told.channel), state.complaint_id, told))
        if m.kind is EscalationKind.breach and m.level == 1 and c.agency_id != "triage":
            # A unit's lapse is its own share's (the agency's record counts its own clocks).
            count(res.view, partition, c.agency_id, m.fire_at, c.tz, "", clock=c.name,
                  unit=c.unit_id if c.name is ClockName.unit_response else None)

def _awaits_routing(state: ComplaintClocks, s: StatusEvent) -> bool:
    """A status from an agency whose routing may not have been read yet: one the judge placed
    in a later attempt than this state's, or (statuses from before the judge stamped
    attempts) from an agency that has never held the complaint; the admin's assignment and
    statuses of closed complaints never wait."""
    if s.agency_id is None or s.status is Status.assigned or state.closed:
        return False
    if s.attempt is not None:  # the judge says which routing it speaks for: wait until read
        return s.attempt > state.attempt
    if s.agency_id == state.agency_id:
        return False
    return s.agency_id not in {c.agency_id for c in state.clocks}
