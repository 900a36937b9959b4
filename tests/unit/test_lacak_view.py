"""Lacak's own view (`services.lacak.view`), built from the routings and the judged statuses
alone: a reporter's progress with dates and the holders' names, never a note, a rule, a copy
agency or an escalation; each event once; no complaint from statuses alone (they wait,
bounded, for the routing); a closed complaint forgotten after its days, by event time."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from services.domain.registry import load_registry
from services.domain.tracking import TimelineError, progress
from services.lacak.view import UNKNOWN, TrackingView, apply_record
from services.runtime.topics import ACCEPTED, ROUTED, STATUS
from tests.ids import make_complaint_id
from tests.unit.test_view_repeats import AT, DELIVERIES, INVALID, KINDS, ONCE, random_ids, statuses

CID = make_complaint_id("web", "lacak-1")
T = "2026-03-02T09:15:00+07:00"


def routing(cid: str, event_id: str, agency: str | None, role: str = "primary", attempt: int = 1,
            at: str = T, rule: str = "pln") -> dict[str, Any]:
    return {"event_id": event_id, "complaint_id": cid, "agency_id": agency, "role": role,
            "rule_id": rule, "reason": "keywords listrik", "attempt": attempt, "routed_at": at}


def fed(*records: tuple[str, dict[str, Any]], closed_days: int = 30, parked_kept: int = 100) -> TrackingView:
    view = TrackingView(closed_days, parked_kept)
    for topic, value in records:
        assert apply_record(view, topic, json.dumps(value).encode()) is None
    return view


def test_the_public_progress_shows_steps_and_agencies_never_notes_rules_or_copies() -> None:
    view = fed((ROUTED, routing(CID, "r1", "pln")),
               (ROUTED, routing(CID, "r2", "kemensos", role="copy", rule="copy-kemensos")),
               (STATUS, {"event_id": "s1", "complaint_id": CID, "status": "acknowledged", "agency_id": "pln",
                         "at": "2026-03-03T10:00:00+07:00", "note": "Petugas Budi menghubungi 0812"}),
               (STATUS, {"event_id": "s2", "complaint_id": CID, "status": "closed",
                         "at": "2026-03-20T10:00:00+07:00"}))
    shown = progress(view.timelines, CID.lower().replace("-", " "), load_registry(None))
    assert shown == {"complaint_id": CID, "closed": True, "steps": [
        {"at": T, "step": "received"},
        {"at": T, "step": "forwarded", "agency_name": "PT PLN (Persero)"},
        {"at": "2026-03-03T10:00:00+07:00", "step": "acknowledged", "agency_name": "PT PLN (Persero)"},
        {"at": "2026-03-20T10:00:00+07:00", "step": "closed"}]}
    assert "kemensos" not in json.dumps(shown)  # a copy agency is not the reporter's business
    for hidden in ("Budi", "0812", "keywords", "copy-kemensos"):  # a note, a rule: not even kept
        assert hidden not in json.dumps(view.timelines)


def test_lacak_names_the_holders_never_a_copy_agency() -> None:
    view = fed((ROUTED, routing(CID, "r1", "pln")),
               (ROUTED, routing(CID, "r2", "bpjs-kesehatan", role="copy", rule="x")),
               (STATUS, {"event_id": "s1", "complaint_id": CID, "status": "not_our_authority",
                         "agency_id": "pln", "target_agency_id": "kemensos", "at": "2026-03-02T10:00:00+07:00"}),
               (ROUTED, routing(CID, "r3", "kemensos", attempt=2, at="2026-03-02T10:00:00+07:00")),
               (STATUS, {"event_id": "s2", "complaint_id": CID, "status": "acknowledged",
                         "agency_id": "kemensos", "at": "2026-03-02T11:00:00+07:00"}))
    shown = progress(view.timelines, CID, load_registry(None))
    assert [(s["step"], s.get("agency_name")) for s in shown["steps"]] == [
        ("received", None), ("forwarded", "PT PLN (Persero)"), ("passed_on", "PT PLN (Persero)"),
        ("forwarded", "Kementerian Sosial"), ("acknowledged", "Kementerian Sosial")]
    assert "BPJS" not in json.dumps(shown)


def test_a_triaged_complaint_shows_the_national_admin_then_the_assigned_agency() -> None:
    view = fed((ROUTED, routing(CID, "r1", None, rule="triage")),
               (STATUS, {"event_id": "a1", "complaint_id": CID, "status": "assigned",
                         "target_agency_id": "pln", "at": "2026-03-02T10:00:00+07:00"}),
               (ROUTED, routing(CID, "r2", "pln", attempt=2, at="2026-03-02T10:00:00+07:00")))
    steps = progress(view.timelines, CID, load_registry(None))["steps"]
    assert [(s["step"], s.get("agency_name")) for s in steps] == [
        ("received", None), ("triage", None), ("forwarded", "PT PLN (Persero)")]


def after(kind: str, sends: tuple[str, ...], routings: int = 1) -> TrackingView:
    events = statuses(CID, kind, AT)
    first = routing(CID, "r1", "pln", at=AT.isoformat())
    return fed(*[(ROUTED, first)] * routings,
               (ROUTED, routing(CID, "r2", "bpjs-kesehatan", role="copy", at=AT.isoformat())),
               *((STATUS, events[name]) for name in sends))


def seen(view: TrackingView) -> Any:
    return copy.deepcopy(view.timelines), progress(view.timelines, CID, load_registry(None))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sends", DELIVERIES, ids=["twice", "late", "both"])
def test_a_repeated_status_or_routing_shows_once(kind: str, sends: tuple[str, ...]) -> None:
    assert seen(after(kind, sends, routings=2)) == seen(after(kind, ONCE))


def test_two_statuses_alike_but_for_their_ids_are_two_steps() -> None:
    view = after("in_progress", ONCE)
    apply_record(view, STATUS, json.dumps({**statuses(CID, "in_progress", AT)["it"], "event_id": "other"}).encode())
    kinds = [e[2]["status"] for e in view.timelines[CID]["events"] if e[1] == "status"]
    assert kinds == ["acknowledged", "in_progress", "in_progress", "in_progress"]


def test_statuses_alone_make_no_complaint_and_wait_bounded_for_their_routing() -> None:
    unknown = random_ids(12)
    view = TrackingView(closed_days=30, parked_kept=10)
    dropped: list[tuple[str, int]] = []
    view.on_dropped = lambda cid, n: dropped.append((cid, n))
    for cid in unknown:
        ack = statuses(cid, "acknowledged", AT)["first"]
        for _ in range(2):  # a repeat waits once
            assert apply_record(view, STATUS, json.dumps(ack).encode()) is None
    assert view.timelines == {} and view.parked_count == 10
    assert dropped == [(unknown[0], 1), (unknown[1], 1)]
    with pytest.raises(TimelineError, match="no such complaint"):
        progress(view.timelines, unknown[5])
    # Its routing comes: the status that waited joins, after the acceptance.
    apply_record(view, ROUTED, json.dumps(routing(unknown[5], "r1", "pln", at=AT.isoformat())).encode())
    assert [s["step"] for s in progress(view.timelines, unknown[5])["steps"]] == [
        "received", "forwarded", "acknowledged"]
    assert view.parked_count == 9
    # An id whose check character is wrong was never routed: not even kept waiting.
    wrong = statuses(INVALID, "acknowledged", AT)["first"]
    assert apply_record(view, STATUS, json.dumps(wrong).encode()) == UNKNOWN
    assert INVALID not in view.parked


def test_a_closed_complaint_is_forgotten_after_its_days_by_event_time() -> None:
    other = make_complaint_id("web", "lacak-2")
    view = fed((ROUTED, routing(CID, "r1", "pln")), (ROUTED, routing(other, "o1", "pln")),
               (STATUS, {"event_id": "c1", "complaint_id": CID, "status": "closed",
                         "at": "2026-03-03T10:00:00+07:00"}), closed_days=10)
    assert view.timelines[CID]["closed_at"] == "2026-03-03T10:00:00+07:00"
    later = {"event_id": "s9", "complaint_id": other, "status": "in_progress", "agency_id": "pln"}
    apply_record(view, STATUS, json.dumps({**later, "at": "2026-03-13T09:00:00+07:00"}).encode())
    assert CID in view.timelines  # 9 days and 23 hours after its close
    apply_record(view, STATUS, json.dumps({**later, "event_id": "s10", "at": "2026-03-14T10:00:00+07:00"}).encode())
    assert CID not in view.timelines and CID not in view.ids and other in view.timelines


def test_records_it_cannot_use_are_skipped_and_it_reads_nothing_else() -> None:
    view = TrackingView(closed_days=30)
    assert apply_record(view, STATUS, b"{not json") == "invalid"
    assert apply_record(view, ROUTED, None) == "tombstone"
    assert apply_record(view, ACCEPTED, b"{}") == "unexpected_topic"
    assert view.timelines == {}


def test_a_disposition_shows_which_office_has_the_complaint_and_nothing_more() -> None:
    pemda, pupr = "Pemerintah Kota Bandung", "Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung"
    view = fed((ROUTED, routing(CID, "r1", "pemda-32-73", rule="region")),
               (STATUS, {"event_id": "d1", "complaint_id": CID, "status": "disposed",
                         "agency_id": "pemda-32-73", "unit_id": "dinas-pupr", "unit_name": pupr,
                         "at": "2026-03-03T10:00:00+07:00", "note": "Mohon ditindaklanjuti Pak Asep"}),
               (STATUS, {"event_id": "d2", "complaint_id": CID, "status": "disposed",
                         "agency_id": "pemda-32-73", "at": "2026-03-04T10:00:00+07:00"}))
    shown = progress(view.timelines, CID, load_registry(None))
    assert shown["steps"][-2:] == [
        {"at": "2026-03-03T10:00:00+07:00", "step": "handled_by", "unit_name": pupr, "agency_name": pemda},
        {"at": "2026-03-04T10:00:00+07:00", "step": "handled_by", "agency_name": pemda}]  # its admin
    for hidden in ("Asep", "dinas-pupr"):  # the note (a staff name) is not even kept; nor the id
        assert hidden not in json.dumps(view.timelines)


def test_the_lacak_page_words_a_disposition_as_the_office_now_handling_it() -> None:
    from importlib import resources

    script = resources.files("services.lacak").joinpath("static/lacak.js").read_text("utf-8")
    assert 'handled_by: "Sedang ditangani:"' in script
    assert "[s.unit_name, s.agency_name].filter(Boolean).join(\", \")" in script
