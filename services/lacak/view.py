"""What lacak knows of each complaint, built from the two topics it reads (pure: no Kafka, no
web): the router's routings (`complaints.routed.v1`) and the judged statuses
(`complaints.status.v1`). Neither carries a reporter's identity; of a status, the agency's
note (its own words, which may name the reporter) is dropped as it is read, and a routing's
rule and reason are not kept (a reporter is not shown them). Of a disposition, the unit's
name is kept (an office, which the reporter is shown), never more.

The timelines have the shape the domain's `tracking.progress` reads (`services/domain/
tracking.py`, shared with the operations view): "received" at the first routing's time (the
router stamps attempt 1 with the acceptance time, so lacak needs no accepted record, which
holds the identity), each routing, each status.

Each event once, by its `event_id` (at-least-once reads, a worker that follows from the
beginning after every start). Only a routing makes a complaint known: a status read before
its complaint's routing (two topics, read in no order between them) waits, bounded, and
joins when the routing comes. A closed complaint is forgotten `closed_days` after its close,
by event time (the latest time any record carried): its history stays on the topics."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from schemas import RoutedEvent, Status, StatusEvent
from services.domain.complaint_id import normalise_complaint_id
from services.runtime.topics import ROUTED, STATUS

TOPICS = (ROUTED, STATUS)  # everything lacak reads (its principal's grants)
ENDS = {Status.closed, Status.archived}
EVENTS_KEPT = 100  # per complaint: the first and the latest (a complaint with more is a fault elsewhere)
PARKED_KEPT = 10_000  # statuses waiting for their complaint's routing
UNKNOWN = "unknown_complaint"  # a status naming an id whose check character is wrong


class TrackingView:
    def __init__(self, closed_days: int, parked_kept: int = PARKED_KEPT,
                 on_dropped: Callable[[str, int], None] = lambda _cid, _n: None):
        """`on_dropped(complaint_id, statuses)`: told when statuses parked for a complaint
        never routed go for room (the worker logs it: ids only)."""
        self.closed_days, self.parked_kept, self.on_dropped = closed_days, parked_kept, on_dropped
        self.timelines: dict[str, dict[str, Any]] = {}  # complaint -> facts, events, closed_at
        self.ids: dict[str, set[str]] = {}  # complaint -> the event ids applied to it
        self.parked: OrderedDict[str, list[StatusEvent]] = OrderedDict()
        self.parked_count = 0
        self.now: datetime | None = None  # event time: the latest any record carried
        self._swept: date | None = None

    def routed(self, r: RoutedEvent) -> None:
        cid = r.complaint_id
        if r.event_id in self.ids.get(cid, ()):
            return  # a repeat
        line = self.timelines.setdefault(cid, {"facts": {}, "events": [], "closed_at": None})
        self.ids.setdefault(cid, set()).add(r.event_id)
        if r.attempt == 1:  # stamped with the acceptance time; two first routings (copies): once
            self._add(line, [r.routed_at.isoformat(), "received", {}], once=True)
        self._add(line, [r.routed_at.isoformat(), "routed",
                         {"agency_id": r.agency_id, "role": r.role.value, "attempt": r.attempt}])
        for waiting in self.parked.pop(cid, []):
            self.parked_count -= 1
            self.status(waiting)
        self._clock(r.routed_at)

    def status(self, s: StatusEvent) -> str | None:
        """Keep a status's step (never its note); the reason it was skipped, if it was."""
        cid = s.complaint_id
        line = self.timelines.get(cid)
        if line is None:
            return self._park(s)
        if s.event_id in self.ids[cid]:
            return None  # a repeat
        self.ids[cid].add(s.event_id)
        detail = {"status": s.status.value, "agency_id": s.agency_id,
                  "target_agency_id": s.target_agency_id}
        if s.unit_name is not None:  # a disposition: the office that has it now, by its name
            detail["unit_name"] = s.unit_name
        self._add(line, [s.at.isoformat(), "status", detail])
        if s.status in ENDS and (line["closed_at"] is None or line["closed_at"] < s.at.isoformat()):
            line["closed_at"] = s.at.isoformat()
        self._clock(s.at)
        return None

    @staticmethod
    def _add(line: dict[str, Any], entry: list[Any], once: bool = False) -> None:
        """Add a step (each event is added once, by its id; `once`: a step two events make
        alike, the acceptance of a complaint routed to a holder and a copy agency at once)."""
        if once and entry in line["events"]:
            return
        events = [*line["events"], entry]
        line["events"] = events[:1] + events[-(EVENTS_KEPT - 1):] if len(events) > EVENTS_KEPT else events

    def _park(self, s: StatusEvent) -> str | None:
        if normalise_complaint_id(s.complaint_id) != s.complaint_id:
            return UNKNOWN  # never accepted, never routed: not even kept waiting
        waiting = self.parked.setdefault(s.complaint_id, [])
        if any(w.event_id == s.event_id for w in waiting):
            return None
        waiting.append(s)
        self.parked_count += 1
        while self.parked_count > self.parked_kept:
            gone, items = self.parked.popitem(last=False)
            self.parked_count -= len(items)
            self.on_dropped(gone, len(items))
        return None

    def _clock(self, at: datetime) -> None:
        if self.now is not None and at <= self.now:
            return
        self.now = at
        if self._swept != at.date():  # once a day of event time
            self._swept = at.date()
            before = (at - timedelta(days=self.closed_days)).isoformat()
            for cid in [c for c, line in self.timelines.items()
                        if line["closed_at"] is not None and _at(line["closed_at"]) < _at(before)]:
                del self.timelines[cid], self.ids[cid]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def apply_record(view: TrackingView, topic: str, value: bytes | None) -> str | None:
    """Feed one record (topic by contract name) to the view; the reason it was skipped, if it
    was. A record that does not parse is skipped: its writer dead-letters what is malformed,
    and lacak only reads (it may write nothing, not even a dead letter)."""
    if value is None:
        return "tombstone"
    try:
        if topic == ROUTED:
            view.routed(RoutedEvent.model_validate_json(value))
        elif topic == STATUS:
            return view.status(StatusEvent.model_validate_json(value))
        else:
            return "unexpected_topic"
    except ValidationError:
        return "invalid"
    return None
