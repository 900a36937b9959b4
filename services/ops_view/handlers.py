"""Every decision of the operations view, as a pure handler: contract events in, the views an
operator looks at out (staged in two stores; nothing is produced).

What is kept is ids, agencies, rules, times and counts: never a complaint's text, title or
reporter, so no page can show an anonymous reporter (or any reporter).

Store keys are written from records of one partition only (a table's changelog partition is
its source record's): per complaint (its events share the complaint's partition), per source
partition ("esc|p", "triage|p", "dead|p", "now|p", "pending|p", "breaches|p|agency|day"), per agency
("compliance|agency|day", "overdue|agency", and a unit's share "unitcompliance|agency|unit|day",
"unitoverdue|agency|unit": sla.compliance.v1 is keyed by agency; "bridge|agency":
bridge.deliveries.v1 is too) and per bridge.undelivered.v1 key ("undelivered|agency|complaint_id").

Each event once, and no state for a complaint never seen: the view trusts
complaints.status.v1 (the router passes only what its sender may say, each `event_id` once,
and only for accepted complaints) and derives nothing about who may speak; it still ignores
a repeat itself (a second line: at-least-once reads, replays), and only the intake's
`accepted` and the router's `routed` make a complaint's timeline (see `_park` for a status
read before them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import (
    AcceptedComplaint, BridgeDelivery, BridgeUndelivered, ComplianceStats, Escalation, RejectedEvent, Role,
    RoutedEvent, Status, StatusEvent, Tick, WireModel,
)
from services.domain.calendar import zone
from services.domain.complaint_id import normalise_complaint_id
from services.domain.registry import Registry
from services.runtime.expiry import day_of, expire_through, list_for_expiry
from services.runtime.stage import Outcome, Record, StagedStores, StoreName, parse_or_reject
from services.runtime.topics import (
    ACCEPTED, BRIDGE_DELIVERIES, BRIDGE_UNDELIVERED, COMPLIANCE, ESCALATIONS, REJECTED, ROUTED, STATUS,
    TICKS,
)

STAGE = "ops_view"
TIMELINES, BOARD = StoreName.timelines, StoreName.board
STORES = (TIMELINES, BOARD)
MODELS: dict[str, type[WireModel]] = {
    ACCEPTED: AcceptedComplaint, ROUTED: RoutedEvent, STATUS: StatusEvent, ESCALATIONS: Escalation,
    REJECTED: RejectedEvent, COMPLIANCE: ComplianceStats, TICKS: Tick,
    BRIDGE_DELIVERIES: BridgeDelivery, BRIDGE_UNDELIVERED: BridgeUndelivered}
TIMELINE_MAX = 100  # events kept per complaint (the first and the latest)
PARKED_MAX = 200  # steps per partition waiting for their complaint's first record (`_park`)
ENDS = {Status.closed.value, Status.archived.value}  # a status that starts the timeline's last days
RECENT_ESCALATIONS = 200  # per partition, for the live list
RECENT_DEAD_LETTERS = 20  # per partition
AGENCY_ID = re.compile(r"[a-z0-9-]{1,64}")  # schemas.common.AgencyId


@dataclass(frozen=True)
class OpsHandlers:
    registry: Registry
    timeline_days: int  # a closed complaint's timeline is kept this many days after the close
    compliance_days: int  # an agency-day's figures are kept this many days

    def handle(self, record: Record, stores: StagedStores) -> Outcome:
        if record.topic == BRIDGE_UNDELIVERED:  # compacted: a tombstone is news, not a bad record
            return self.bridge_undelivered(stores, record)
        model = MODELS[record.topic]
        event = parse_or_reject(STAGE, model, record, f"invalid_{model.schema_name}")
        if isinstance(event, Outcome):
            return event
        p = record.partition
        if isinstance(event, AcceptedComplaint):
            self.accepted(stores, p, event)
        elif isinstance(event, RoutedEvent):
            self.routed(stores, p, event)
        elif isinstance(event, StatusEvent):
            return self.status(stores, p, event)
        elif isinstance(event, Escalation):
            return self.escalation(stores, p, event)
        elif isinstance(event, RejectedEvent):
            self.dead_letter(stores, p, event, record.key)
        elif isinstance(event, ComplianceStats):
            self.compliance(stores, p, event)
        elif isinstance(event, BridgeDelivery):
            self.bridge_delivery(stores, event)
        elif isinstance(event, Tick) and event.rules is None:
            return self.tick(stores, p, event.as_of)
        return Outcome()

    # --- a complaint's timeline ------------------------------------------------------------
    @staticmethod
    def _add(stores: StagedStores, cid: str, entry: list[Any], facts: dict[str, Any] | None = None) -> bool:
        """Add a step ([at, kind, detail]) to the complaint's timeline, making the timeline if
        need be (only `accepted` and `routed` call this for a complaint not seen yet); False
        for a step already there."""
        line = stores.get(TIMELINES, cid) or {"facts": {}, "events": []}
        if entry in line["events"]:
            return False  # a repeat (at-least-once delivery, a replay): each event once
        events = [*line["events"], entry]
        if len(events) > TIMELINE_MAX:
            events = events[:1] + events[-(TIMELINE_MAX - 1):]
        stores.put(TIMELINES, cid, {**line, "facts": {**line["facts"], **(facts or {})}, "events": events})
        return True

    def accepted(self, stores: StagedStores, p: int, c: AcceptedComplaint) -> None:
        region = c.location.region_code if c.location else None
        if self._add(stores, c.complaint_id, [c.accepted_at.isoformat(), "accepted",
                                              {"channel": c.channel.value, "category": c.category.value}],
                     facts={"channel": c.channel.value, "privacy": c.privacy.value, "type": c.type.value,
                            "category": c.category.value, "sla_tier": c.sla_tier.value,
                            "region_code": region, "accepted_at": c.accepted_at.isoformat()}):
            self._unpark(stores, p, c.complaint_id)

    def routed(self, stores: StagedStores, p: int, r: RoutedEvent) -> None:
        if not self._add(stores, r.complaint_id, [r.routed_at.isoformat(), "routed", {
                "agency_id": r.agency_id, "role": r.role.value, "rule_id": r.rule_id,
                "reason": r.reason, "attempt": r.attempt}]):
            return  # a repeat: a late one must not put an assigned complaint back in triage
        self._unpark(stores, p, r.complaint_id)
        if r.role is not Role.primary:
            return
        key = f"triage|{p}"
        queue = dict(stores.get(BOARD, key) or {})
        if r.agency_id is None:
            queue[r.complaint_id] = {"since": r.routed_at.isoformat(), "attempt": r.attempt,
                                     "reason": r.reason}
        elif queue.pop(r.complaint_id, None) is None:
            return
        stores.put(BOARD, key, queue)

    def status(self, stores: StagedStores, p: int, s: StatusEvent) -> Outcome:
        if normalise_complaint_id(s.complaint_id) != s.complaint_id:
            return _never_a_complaint(s.complaint_id, s.event_id)
        # The note is the agency's own words: not kept (it may name the reporter). The event id
        # is: a status is its id (two alike in every kept field are two steps, a repeat none).
        detail = {"event_id": s.event_id, "status": s.status.value, "agency_id": s.agency_id,
                  "target_agency_id": s.target_agency_id}
        if s.unit_name is not None:  # a disposition: the unit, as the judge named it
            detail |= {"unit_id": s.unit_id, "unit_name": s.unit_name}
            self._unit_name(stores, p, s)
        return self._step(stores, p, s.complaint_id, [s.at.isoformat(), "status", detail])

    @staticmethod
    def _unit_name(stores: StagedStores, p: int, s: StatusEvent) -> None:
        """The latest name the judge gave a unit, for the page's late units (per partition:
        a key is written from one partition's records only). A few per unit, never ended."""
        key = f"unitname|{p}|{s.agency_id}|{s.unit_id}"
        known = stores.get(BOARD, key)
        if known is None or (known["at"] <= s.at.isoformat() and known["name"] != s.unit_name):
            stores.put(BOARD, key, {"name": s.unit_name, "at": s.at.isoformat()})

    def _step(self, stores: StagedStores, p: int, cid: str, entry: list[Any]) -> Outcome:
        """A status's or an escalation's step: on its complaint's timeline, or parked while
        the complaint is not known here (never a timeline of its own)."""
        if stores.get(TIMELINES, cid) is None:
            return self._park(stores, p, cid, entry)
        self._apply(stores, p, cid, entry)
        return Outcome()

    def _apply(self, stores: StagedStores, p: int, cid: str, entry: list[Any]) -> None:
        if not self._add(stores, cid, entry):
            return  # a repeat of the close lists nothing again and moves no end
        at, kind, detail = entry
        if kind == "status" and detail["status"] in ENDS:
            list_for_expiry(stores, TIMELINES, p, cid,
                            day_of(datetime.fromisoformat(at).timestamp()) + self.timeline_days)
            stores.put(TIMELINES, cid, {**stores.get(TIMELINES, cid), "closed_at": at})

    # Why steps are parked: this stage's one agent reads all its topics, in order within each
    # partition only, so a partition of complaints.status.v1 or sla.escalations.v1 may be read
    # ahead of the same partition of complaints.accepted.v1 and complaints.routed.v1 (a worker
    # replaying from the start, a rebalance, a fetch that lags on one topic): a status of a
    # complaint the router knew can come before the record that makes it known here. Such a
    # step waits under "pending|<p>" (the complaint's partition: accepted, routed, status and
    # escalations share the key and the partition count) and joins the timeline, in arrival
    # order, when the complaint's first record is read. The area is bounded: past PARKED_MAX
    # the oldest step goes, with a log note of its ids. A complaint never seen so makes no
    # timeline, however many statuses or escalations name it.
    @staticmethod
    def _park(stores: StagedStores, p: int, cid: str, entry: list[Any]) -> Outcome:
        key = f"pending|{p}"
        parked = stores.get(BOARD, key) or []
        item = [cid, *entry]
        if item in parked:
            return Outcome()  # a repeat of a step already waiting
        kept = [*parked, item]
        outcome = Outcome()
        for gone_cid, _at, kind, detail in kept[:-PARKED_MAX]:
            outcome.note("ops_view_parked_dropped", level="warning", complaint_id=gone_cid, kind=kind,
                         event_id=detail.get("event_id") or detail.get("escalation_id"))
        stores.put(BOARD, key, kept[-PARKED_MAX:])
        return outcome

    def _unpark(self, stores: StagedStores, p: int, cid: str) -> None:
        key = f"pending|{p}"
        parked = stores.get(BOARD, key) or []
        mine = [item[1:] for item in parked if item[0] == cid]
        if not mine:
            return
        rest = [item for item in parked if item[0] != cid]
        if rest:
            stores.put(BOARD, key, rest)
        else:
            stores.delete(BOARD, key)
        for entry in mine:
            self._apply(stores, p, cid, entry)

    @staticmethod
    def _holds(stores: StagedStores, p: int, cid: str, entry: list[Any]) -> bool:
        """The step is on the complaint's timeline or waiting for it already."""
        return entry in (stores.get(TIMELINES, cid) or {}).get("events", []) or \
            [cid, *entry] in (stores.get(BOARD, f"pending|{p}") or [])

    def escalation(self, stores: StagedStores, p: int, e: Escalation) -> Outcome:
        if normalise_complaint_id(e.complaint_id) != e.complaint_id:
            return _never_a_complaint(e.complaint_id, e.escalation_id)
        detail = {"escalation_id": e.escalation_id, "agency_id": e.agency_id, "clock": e.clock.value,
                  "kind": e.kind.value, "level": e.level, "target": e.target.value,
                  "due_at": e.due_at.isoformat(), "attempt": e.attempt}
        entry = [e.fire_at.isoformat(), "escalation",
                 {**{k: v for k, v in detail.items() if k != "kind"}, "escalation_kind": e.kind.value}]
        key = f"esc|{p}"
        recent = list(stores.get(BOARD, key) or [])
        # Each escalation once, and counted once: the recent list holds the partition's latest
        # few only; the complaint's own steps hold every one of its escalations.
        if any(item["escalation_id"] == e.escalation_id for item in recent) or \
                self._holds(stores, p, e.complaint_id, entry):
            return Outcome()
        outcome = self._step(stores, p, e.complaint_id, entry)
        item = {**detail, "complaint_id": e.complaint_id, "fire_at": e.fire_at.isoformat(),
                "as_of": e.as_of.isoformat()}
        stores.put(BOARD, key, [*recent, item][-RECENT_ESCALATIONS:])
        # By level: the contract's ladder. An internal lapse (to the agency's admin, #34) is
        # no level of it: counted by clock in the SLA's figures (a unit's in its share).
        if e.kind.value == "breach" and e.agency_id != "triage" and e.target.value != "agency_admin":
            local_day = e.fire_at.astimezone(zone(self.registry.timezone(e.agency_id))).date()
            bkey = f"breaches|{p}|{e.agency_id}|{local_day.isoformat()}"
            counts = dict(stores.get(BOARD, bkey) or {})
            slot = f"{e.clock.value}|{e.level}"
            counts[slot] = counts.get(slot, 0) + 1
            if len(counts) == 1 and counts[slot] == 1:
                list_for_expiry(stores, BOARD, p, bkey, day_of(e.fire_at.timestamp()) + self.compliance_days)
            stores.put(BOARD, bkey, counts)
        return outcome

    def dead_letter(self, stores: StagedStores, p: int, d: RejectedEvent, key: bytes | None) -> None:
        """Counts and the latest few: reason, source, position and error messages only (the
        original bytes may hold anything, identity included: they stay on the topic)."""
        board_key = f"dead|{p}"
        board = stores.get(BOARD, board_key) or {"counts": {}, "latest": []}
        if any(item["event_id"] == d.event_id for item in board["latest"]):
            return
        slot = f"{d.reason}|{d.source_topic}"
        item = {"event_id": d.event_id, "reason": d.reason, "source_topic": d.source_topic,
                "source_partition": d.source_partition, "source_offset": d.source_offset,
                "received_at": d.received_at.isoformat(), "rejected_by": d.rejected_by,
                "errors": [{"loc": e.loc, "msg": e.msg[:200]} for e in d.errors[:5]]}
        stores.put(BOARD, board_key, {
            "counts": {**board["counts"], slot: board["counts"].get(slot, 0) + 1},
            "latest": [*board["latest"], item][-RECENT_DEAD_LETTERS:]})
        # On a known complaint's timeline only: a dead letter naming a complaint never seen
        # here (`unknown_complaint`: a random or mistyped id) makes no state but the counts.
        cid = normalise_complaint_id(key.decode(errors="replace")) if key else None
        if cid is not None and cid == (key or b"").decode(errors="replace") \
                and stores.get(TIMELINES, cid) is not None:
            self._add(stores, cid, [d.received_at.isoformat(), "dead_letter",
                                    {"reason": d.reason, "source_topic": d.source_topic}])

    # --- the bridge: how delivery to each agency's own system stands ---------------------
    @staticmethod
    def bridge_delivery(stores: StagedStores, d: BridgeDelivery) -> None:
        key = f"bridge|{d.agency_id}"  # one partition (the topic has one): one writer per key
        before = stores.get(BOARD, key)
        if before is not None and before["as_of"] >= d.as_of.isoformat():
            return  # an older report read late (a replay)
        stores.put(BOARD, key, d.model_dump(mode="json"))

    # The complaints the bridge could not put into an agency's own system: one entry per key of
    # the compacted bridge.undelivered.v1 (its latest record; a tombstone deletes it), counted
    # per agency when the page asks. Kept by key, a repeat or a replay of the topic changes
    # nothing and a tombstone ends exactly its own entry. The state is what the topic holds,
    # and no more: an entry also ends `compliance_days` after its `at` (a mark never ended by a
    # later delivery is about a complaint long closed by then).
    def bridge_undelivered(self, stores: StagedStores, record: Record) -> Outcome:
        agency, sep, cid = (record.key or b"").decode(errors="replace").partition("|")
        if not sep or normalise_complaint_id(cid) != cid or not AGENCY_ID.fullmatch(agency):
            return Outcome().note("ops_view_undelivered_bad_key", level="warning",
                                  key=(record.key or b"")[:100].decode(errors="replace"))
        key = f"undelivered|{agency}|{cid}"
        if record.value is None:
            if stores.get(BOARD, key) is not None:
                stores.delete(BOARD, key)
            return Outcome()
        mark = parse_or_reject(STAGE, BridgeUndelivered, record, "invalid_bridge_undelivered")
        if isinstance(mark, Outcome):
            return mark
        if (mark.agency_id, mark.complaint_id) != (agency, cid):
            return Outcome().note("ops_view_undelivered_key_mismatch", level="warning", agency_id=agency,
                                  complaint_id=cid, event_id=mark.event_id)
        until = day_of(mark.at.timestamp()) + self.compliance_days
        entry = {"reason": mark.reason, "at": mark.at.isoformat(), "http_status": mark.http_status,
                 "event_id": mark.event_id, "until": until}
        if stores.get(BOARD, key) == entry:
            return Outcome()  # a repeat: nothing to write, nothing listed again
        stores.put(BOARD, key, entry)
        list_for_expiry(stores, BOARD, record.partition, key, until)
        return Outcome()

    # --- compliance: one figure per agency and day, whatever the partition count ----------
    def compliance(self, stores: StagedStores, p: int, c: ComplianceStats) -> None:
        """Each SLA partition reports its share of an agency's day (and a late event a second,
        delta report): all reports of (agency, day) are kept by event id and summed when read."""
        day = c.day.isoformat()
        owner = c.agency_id if c.unit_id is None else f"{c.agency_id}|{c.unit_id}"
        prefix = "" if c.unit_id is None else "unit"  # a unit's share is never the agency's
        key = f"{prefix}compliance|{owner}|{day}"
        entry = stores.get(BOARD, key) or {"tz": c.timezone, "reports": {}}
        if c.event_id in entry["reports"]:
            return
        if not entry["reports"]:
            list_for_expiry(stores, BOARD, p, key, day_of(c.as_of.timestamp()) + self.compliance_days)
        report = {"received": c.received, "on_time": c.first_response_on_time,
                  "late": c.first_response_late, "breaches": {k.value: n for k, n in c.breaches.items()},
                  "partition": c.partition, "overdue": c.open_overdue_end_of_day}
        stores.put(BOARD, key, {**entry, "reports": {**entry["reports"], c.event_id: report}})
        okey = f"{prefix}overdue|{owner}"
        latest = dict(stores.get(BOARD, okey) or {})
        part = str(c.partition if c.partition is not None else -1)
        if part not in latest or latest[part][0] <= day:
            latest[part] = [day, c.open_overdue_end_of_day]
            stores.put(BOARD, okey, latest)

    def tick(self, stores: StagedStores, p: int, as_of: datetime) -> Outcome:
        now_key = f"now|{p}"
        before = stores.get(BOARD, now_key)
        if before is not None and before["ts"] >= as_of.timestamp():
            return Outcome()
        stores.put(BOARD, now_key, {"ts": as_of.timestamp(), "at": as_of.isoformat()})
        last_day = day_of(as_of.timestamp()) - 1
        ended = expire_through(stores, TIMELINES, p, last_day,
                               lambda cid, _day: "closed_at" in (stores.get(TIMELINES, cid) or {}))
        ended += expire_through(stores, BOARD, p, last_day, lambda key, day: _ends(stores, key, day))
        return Outcome().note("ops_view_expired", entries=ended) if ended else Outcome()


def _ends(stores: StagedStores, key: str, day: int) -> bool:
    """A board entry listed for `day` ends then; an undelivered mark only if it is still the
    one listed (a newer mark of the key is listed for its own, later day)."""
    if key.startswith("undelivered|"):
        return bool(stores.get(BOARD, key)["until"] <= day)
    return True


def _never_a_complaint(cid: str, event_id: str) -> Outcome:
    """An id whose check character is wrong was never accepted and never will be: nothing is
    kept for it, not even parked (the router dead-letters such statuses before they get here)."""
    return Outcome().note("ops_view_unknown_complaint", level="warning", complaint_id=cid, event_id=event_id)
