"""Each event once, and no state for a complaint never seen, in the three views that read the
judged topics: the desk (`services.desk.view`), the operations timeline and board
(`services.ops_view.handlers`); lacak's own view is tested alike in tests/unit/test_lacak_view.py.

A repeated event (same id: twice in a row, or late after later ones) leaves every view
exactly as one delivery did; a status or an escalation naming a complaint never accepted,
routed or delivered makes no entry (it may wait, bounded, for a complaint read late on
another topic); an id whose check character is wrong is not even kept waiting."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas import Escalation, StatusEvent
from services.desk.actions import available
from services.desk.view import UNKNOWN, DeskView, apply_record
from services.domain.calendar import WorkingCalendar
from tests.ids import make_complaint_id
from services.domain.registry import load_registry
from services.ops_view import queries
from services.ops_view.handlers import PARKED_MAX, RECENT_ESCALATIONS
from services.runtime.topics import ACCEPTED, ESCALATIONS, REJECTED, ROUTED, STATUS
from tests.unit.test_desk import A, MON, delivered, view as desk_view
from tests.unit.test_ops_view import CID, T, View, accepted, escalation

# Every status as the judge passes it: (sender, extra fields).
KINDS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "acknowledged": ("pln", {}), "in_progress": ("pln", {}), "info_requested": ("pln", {}),
    "info_received": ("pln", {}), "field_inspection_required": ("pln", {}),
    "responded": ("pln", {"note": "jawaban"}), "resolved": ("pln", {}),
    "not_our_authority": ("pln", {"target_agency_id": "kemensos"}),
    "assigned": (None, {"target_agency_id": "pln"}), "reporter_replied": (None, {"channel": "web"}),
    "archived": ("pln", {}), "closed": (None, {}),
}
# The same statuses sent once, twice in a row, once more after a later one, and both.
ONCE = ("first", "it", "later")
DELIVERIES = [("first", "it", "it", "later"), ("first", "it", "later", "it"),
              ("first", "it", "it", "later", "it", "first")]
AT = datetime.fromisoformat(T)
INVALID = A[:-1] + ("A" if A[-1] != "A" else "B")  # a wrong check character: never a complaint


def random_ids(n: int, seed: str = "never") -> list[str]:
    """Ids with a right check character that no complaint of these tests has."""
    return [make_complaint_id("web", f"{seed}-{i}") for i in range(n)]


def statuses(cid: str, kind: str, at: datetime) -> dict[str, dict[str, Any]]:
    """The status under test between an earlier and a later one (as JSON, as sent)."""
    agency, more = KINDS[kind]
    step = timedelta(hours=1)
    return {"first": {"event_id": f"s-{cid}-first", "complaint_id": cid, "status": "acknowledged",
                      "agency_id": "pln", "at": (at + step).isoformat()},
            "it": {"event_id": f"s-{cid}-{kind}", "complaint_id": cid, "status": kind, "agency_id": agency,
                   "at": (at + 2 * step).isoformat(), **more},
            "later": {"event_id": f"s-{cid}-later", "complaint_id": cid, "status": "in_progress",
                      "agency_id": "pln", "at": (at + 3 * step).isoformat()}}


# --- the desk ------------------------------------------------------------------------------

def desk_after(kind: str, sends: tuple[str, ...]) -> DeskView:
    v = desk_view()
    v.delivered(delivered(A, "pln"))
    v.delivered(delivered(A, "bpjs-kesehatan", role="copy"))
    v.tick(MON + timedelta(minutes=30))
    events = statuses(A, kind, MON)
    for name in sends:
        v.status(StatusEvent.model_validate(events[name]), dict(events[name]))
    return v


def desk_seen(v: DeskView) -> Any:
    """Everything the desk shows or acts on, for every agency."""
    shown = {}
    for agency in ("pln", "bpjs-kesehatan", "kemensos"):
        held = v.holding(agency, A)
        facts = held[0] if held else None
        shown[agency] = (v.queue(agency), facts and (v.clocks(facts, agency), v.timeline(facts, agency),
                                                     v.is_open(facts, agency), available(v, facts, agency)))
    return v.facts, shown


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sends", DELIVERIES, ids=["twice", "late", "both"])
def test_the_desk_shows_a_repeated_status_once(kind: str, sends: tuple[str, ...]) -> None:
    assert desk_seen(desk_after(kind, sends)) == desk_seen(desk_after(kind, ONCE))


def test_the_desk_keeps_a_repeated_escalation_once() -> None:
    def after(times: int) -> DeskView:
        v = desk_view()
        v.delivered(delivered(A, "pln"))
        esc = Escalation.model_validate(escalation(1, MON.isoformat(), cid=A))
        for _ in range(times):
            v.escalation(esc)
        return v
    assert desk_seen(after(3)) == desk_seen(after(1))


def test_the_desk_makes_no_complaint_from_statuses_or_escalations_alone() -> None:
    dropped: list[tuple[str, int]] = []
    v = DeskView(load_registry(), desk_view().calendar, desk_view().policy, closed_days=30,
                 parked_kept=10, on_dropped=lambda cid, n: dropped.append((cid, n)))
    unknown = random_ids(30)
    for cid in unknown:
        assert v.status(StatusEvent.model_validate(statuses(cid, "acknowledged", MON)["first"])) is None
        v.escalation(Escalation.model_validate(escalation(1, MON.isoformat(), cid=cid)))
    assert v.facts == {} and v.held == {} and v.queue("pln") == []
    # Parked for a delivery read late, bounded: the oldest complaints' records went, named.
    assert v.parked_count == 10 and list(v.parked) == unknown[-5:]
    assert dropped == [(cid, 2) for cid in unknown[:-5]]


def test_the_desk_does_not_even_park_an_id_with_a_wrong_check_character() -> None:
    v = desk_view()
    ack = StatusEvent.model_validate(statuses(INVALID, "acknowledged", MON)["first"])
    assert apply_record(v, STATUS, ack.to_bytes()) == UNKNOWN
    esc = Escalation.model_validate(escalation(1, MON.isoformat(), cid=INVALID))
    assert apply_record(v, ESCALATIONS, esc.to_bytes()) == UNKNOWN
    assert v.facts == {} and not v.parked and v.parked_count == 0


def test_the_desk_applies_parked_records_at_the_delivery_and_parks_a_repeat_once() -> None:
    v = desk_view()
    ack = StatusEvent.model_validate(statuses(A, "acknowledged", MON)["first"])
    esc = Escalation.model_validate(escalation(1, MON.isoformat(), cid=A))
    for record in (ack, ack, esc, esc):
        if isinstance(record, StatusEvent):
            v.status(record)
        else:
            v.escalation(record)
    assert v.facts == {} and v.parked_count == 2
    v.delivered(delivered(A, "pln"))
    assert not v.parked and v.parked_count == 0
    facts, _ = v.holding("pln", A) or (None, None)
    assert facts is not None and [s["event_id"] for s in facts.statuses] == [ack.event_id]
    assert list(facts.escalations) == [esc.escalation_id]
    once = desk_view()
    once.delivered(delivered(A, "pln"))
    once.status(ack)
    once.escalation(esc)
    assert desk_seen(v) == desk_seen(once)


# --- the operations view ---------------------------------------------------------------

def ops_after(kind: str, sends: tuple[str, ...]) -> View:
    v = View(partitions=1)
    v.send(ACCEPTED, accepted(), key=CID)
    v.send(ROUTED, {"event_id": "r1", "complaint_id": CID, "agency_id": "pln", "role": "primary",
                    "rule_id": "pln", "reason": "keywords", "attempt": 1, "routed_at": T}, key=CID)
    v.send(ROUTED, {"event_id": "r2", "complaint_id": CID, "agency_id": "bpjs-kesehatan", "role": "copy",
                    "rule_id": "x", "reason": "copy", "attempt": 1, "routed_at": T}, key=CID)
    events = statuses(CID, kind, AT)
    for name in sends:
        v.send(STATUS, events[name], key=CID)
    return v


def ops_seen(v: View) -> Any:
    registry = load_registry(None)
    return (copy.deepcopy(v.timelines), copy.deepcopy(v.board),
            queries.timeline(v.timelines, CID, registry))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sends", DELIVERIES, ids=["twice", "late", "both"])
def test_the_ops_view_shows_a_repeated_status_once(kind: str, sends: tuple[str, ...]) -> None:
    assert ops_seen(ops_after(kind, sends)) == ops_seen(ops_after(kind, ONCE))


def test_two_statuses_alike_but_for_their_ids_are_two_steps() -> None:
    v = ops_after("in_progress", ONCE)
    v.send(STATUS, {**statuses(CID, "in_progress", AT)["it"], "event_id": "other"}, key=CID)
    steps = [e for e in queries.timeline(v.timelines, CID)["events"] if e["kind"] == "status"]
    assert [e["event_id"] for e in steps] == [f"s-{CID}-first", f"s-{CID}-in_progress", "other", f"s-{CID}-later"]


def test_a_late_repeat_of_a_triage_routing_does_not_put_an_assigned_complaint_back() -> None:
    def after(late_repeat: bool) -> View:
        v = View(partitions=1).send(ACCEPTED, accepted(), key=CID)
        triage = {"event_id": "r1", "complaint_id": CID, "agency_id": None, "role": "primary",
                  "rule_id": "triage", "reason": "triage", "attempt": 1, "routed_at": T}
        v.send(ROUTED, triage, key=CID).send(ROUTED, triage, key=CID)
        v.send(STATUS, {"event_id": "a1", "complaint_id": CID, "status": "assigned",
                        "target_agency_id": "pln", "at": "2026-03-02T10:00:00+07:00"}, key=CID)
        v.send(ROUTED, {**triage, "event_id": "r2", "agency_id": "pln", "rule_id": "assigned",
                        "reason": "assigned", "attempt": 2, "routed_at": "2026-03-02T10:00:00+07:00"}, key=CID)
        if late_repeat:
            v.send(ROUTED, triage, key=CID)
        return v
    repeated = after(True)
    assert queries.triage_queue(repeated.board, repeated.timelines, WorkingCalendar()) == []
    assert ops_seen(repeated) == ops_seen(after(False))


def test_an_escalation_is_counted_once_even_after_it_left_the_recent_list() -> None:
    fire = "2026-03-06T00:00:00+07:00"

    def after(late_repeat: bool) -> View:
        v = View(partitions=1).send(ACCEPTED, accepted(), key=CID)
        v.send(ESCALATIONS, escalation(1, fire), key=CID).send(ESCALATIONS, escalation(1, fire), key=CID)
        for other in random_ids(RECENT_ESCALATIONS, "busy"):  # other complaints' escalations
            v.send(ACCEPTED, accepted(other), key=other)
            v.send(ESCALATIONS, escalation(1, fire, agency="kemensos", cid=other), key=other)
        if late_repeat:
            v.send(ESCALATIONS, escalation(1, fire), key=CID)
        return v
    repeated = after(True)
    assert repeated.board["breaches|0|pln|2026-03-06"] == {"first_response|1": 1}
    assert ops_seen(repeated) == ops_seen(after(False))


def test_the_ops_view_makes_no_timeline_from_statuses_escalations_or_dead_letters_alone() -> None:
    v = View(partitions=1)
    unknown = random_ids(PARKED_MAX + 5)
    for cid in unknown:
        v.send(STATUS, statuses(cid, "acknowledged", AT)["first"], key=cid)
    for cid in unknown[:3]:
        v.send(ESCALATIONS, escalation(1, "2026-03-06T00:00:00+07:00", cid=cid), key=cid)
        v.send(REJECTED, {"event_id": f"d-{cid}", "source_topic": "status.claims.v1", "source_partition": 0,
                          "source_offset": 0, "received_at": T, "reason": "unknown_complaint",
                          "errors": [], "raw": "{}"}, key=cid)
    assert [k for k in v.timelines if k.startswith("LPR-")] == []
    for cid in unknown[:3]:
        with pytest.raises(queries.TimelineError, match="no such complaint"):
            queries.timeline(v.timelines, cid)
    # Parked for an accepted record read late, bounded: the oldest went, each named in the log.
    parked = v.board["pending|0"]
    assert len(parked) == PARKED_MAX and parked[0][0] == unknown[8]
    notes = [(n.event, n.fields["complaint_id"]) for r in v.worker.results for _, n in r.notes]
    assert notes == [("ops_view_parked_dropped", cid) for cid in unknown[:8]]
    assert all(not r.outputs for r in v.worker.results)  # nothing produced


def test_the_ops_view_does_not_even_park_an_id_with_a_wrong_check_character() -> None:
    v = View(partitions=1)
    v.send(STATUS, statuses(INVALID, "acknowledged", AT)["first"], key=INVALID)
    v.send(ESCALATIONS, escalation(1, "2026-03-06T00:00:00+07:00", cid=INVALID), key=INVALID)
    assert v.timelines == {} and v.board == {}
    notes = [(n.event, n.fields["complaint_id"]) for r in v.worker.results for _, n in r.notes]
    assert notes == [("ops_view_unknown_complaint", INVALID)] * 2


def test_a_status_read_before_its_complaint_joins_the_timeline_when_the_complaint_comes() -> None:
    at = AT
    early = View(partitions=1)
    ack = statuses(CID, "acknowledged", at)["first"]
    closed = {**statuses(CID, "closed", at)["it"]}
    for status in (ack, ack, closed):
        early.send(STATUS, status, key=CID)
    early.send(ESCALATIONS, escalation(1, "2026-03-06T00:00:00+07:00"), key=CID)
    assert [k for k in early.timelines if k.startswith("LPR-")] == []
    assert len(early.board["pending|0"]) == 3  # the repeat waits once
    early.send(ACCEPTED, accepted(), key=CID)
    in_order = View(partitions=1).send(ACCEPTED, accepted(), key=CID)
    for status in (ack, closed):
        in_order.send(STATUS, status, key=CID)
    in_order.send(ESCALATIONS, escalation(1, "2026-03-06T00:00:00+07:00"), key=CID)
    assert "pending|0" not in early.board
    assert early.timelines == in_order.timelines
    assert queries.timeline(early.timelines, CID)["closed_at"] == closed["at"]
