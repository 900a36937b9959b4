"""Units' internal clocks in the SLA monitor (#34): the admin's verification (`disposition`)
and a unit's deadline inside the agency's (`unit_response`), escalated to the agency's admin
and nobody beyond, and each unit's share of compliance. Golden cases, hand-checked against
the 2026 calendar (18-20 and 23-24 March are Nyepi, Idul Fitri and cuti bersama)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas import ComplianceStats, Escalation, Notification
from services.domain.calendar import load_calendar
from tests.sla_scenario import Produced, Step, accepted, announce, routed, run_in_memory, status, tick

CID = "LPR-DDDDDDDDDDD4"
BDG, MKS, JYP = "pemda-32-73", "pemda-73-71", "pemda-91-71"  # Bandung WIB, Makassar WITA, Jayapura WIT


def disposed(agency: str, when: str, unit: str | None, cid: str = CID) -> Step:
    topic, key, value = status(cid, "disposed", agency, when)
    return topic, key, {**value, "event_id": f"{value['event_id']}-{unit}", "unit_id": unit}


def wib(day: int, hhmm: str = "10:00", month: int = 3) -> str:
    return f"2026-{month:02d}-{day:02d}T{hhmm}:00+07:00"


def escalations(outputs: list[Produced]) -> list[Escalation]:
    return [o.event for o in outputs if isinstance(o.event, Escalation)]


def internal(outputs: list[Produced]) -> list[tuple[str, str | None, str, str]]:
    """(clock, unit, due_at, target) of the internal escalations."""
    return [(e.clock.value, e.unit_id, e.due_at.isoformat(), e.target.value)
            for e in escalations(outputs) if e.clock.value in ("disposition", "unit_response")]


def contract(outputs: list[Produced]) -> list[tuple[str, int, str]]:
    return [(e.clock.value, e.level, e.due_at.isoformat()) for e in escalations(outputs)
            if e.clock.value not in ("disposition", "unit_response")]


def opened(agency: str, at: str, tier: str = "standard_5d") -> list[Step]:
    return [accepted(CID, at, tier), routed(CID, agency, at)]


FAR = [tick("2026-06-30T00:00:00+07:00")]


def test_a_unit_deadline_is_the_agencys_less_one_working_day() -> None:
    # Bandung, routed Mon 2 March; follow_up due 10 March 00:00 (3, 4, 5, 6, 9 March). The
    # admin dispositions to Dinas PUPR on Tue 3 March (its verification, due 6 March, stops;
    # first_response does not: a disposition is no answer to the reporter, so it lapses on
    # 6 March 00:00). The unit's: 4 working days, 7 March 00:00.
    out = run_in_memory(opened(BDG, wib(2, "09:00")) + [disposed(BDG, wib(3), "dinas-pupr")] + FAR)
    assert internal(out) == [("unit_response", "dinas-pupr", "2026-03-07T00:00:00+07:00", "agency_admin")]
    assert ("first_response", 1, "2026-03-06T00:00:00+07:00") in contract(out)
    assert ("follow_up", 1, "2026-03-10T00:00:00+07:00") in contract(out)
    lapse = next(e for e in escalations(out) if e.clock.value == "unit_response")
    assert lapse.kind.value == "breach" and lapse.level == 1 and lapse.agency_id == BDG
    assert lapse.fire_at.isoformat() == "2026-03-07T00:00:00+07:00"


def test_the_admins_verification_lapses_after_three_working_days() -> None:
    # No disposition: verification due 6 March 00:00, to the admin, no unit, once.
    out = run_in_memory(opened(BDG, wib(2, "09:00")) + FAR)
    assert internal(out) == [("disposition", None, "2026-03-06T00:00:00+07:00", "agency_admin")]


def test_an_agency_without_units_has_no_internal_clock() -> None:
    # (Every registered agency has starting units: PLN publishes a version without any.)
    none = ("sla.ticks.v1", None, {"as_of": wib(1), "units": {
        "agency_id": "pln", "version": 1, "published_at": wib(1), "units": []}})
    out = run_in_memory([none] + opened("pln", wib(2, "09:00")) + FAR)
    assert internal(out) == [] and contract(out)


def test_pauses_move_the_units_deadline_with_the_agencys() -> None:
    # Info requested Wed 4 March, received Mon 9 March: 5, 6, 9 March paused (3 working days):
    # the unit's 12 March, follow_up's 13 March.
    out = run_in_memory(opened(BDG, wib(2, "09:00")) + [
        disposed(BDG, wib(3), "dinas-pupr"), status(CID, "info_requested", BDG, wib(4)),
        status(CID, "info_received", BDG, wib(9, "09:00"))] + FAR)
    assert internal(out) == [("unit_response", "dinas-pupr", "2026-03-12T00:00:00+07:00", "agency_admin")]
    assert ("follow_up", 1, "2026-03-13T00:00:00+07:00") in contract(out)


def test_a_unit_deadline_never_falls_before_the_disposition() -> None:
    # Dispositioned Mon 9 March, after the admin's own lapse (6 March): the agency's deadline
    # less a day (7 March) has passed; the unit gets the first working day after its
    # disposition's day (10 March), due 11 March 00:00, even after follow_up's (10 March).
    out = run_in_memory(opened(BDG, wib(2, "09:00")) + [disposed(BDG, wib(9), "dinas-pupr")] + FAR)
    assert internal(out) == [
        ("disposition", None, "2026-03-06T00:00:00+07:00", "agency_admin"),
        ("unit_response", "dinas-pupr", "2026-03-11T00:00:00+07:00", "agency_admin")]


def test_a_disposition_on_a_holiday() -> None:
    # Routed Wed 11 March: verification due 17 March 00:00 (12, 13, 16), follow_up due 26 March
    # (12, 13, 16, 17, 25), less a day 18 March, before the disposition on Mon 23 March (cuti
    # bersama): the unit's first working day after it is 25 March, due 26 March 00:00.
    out = run_in_memory(opened(BDG, wib(11, "09:00")) + [disposed(BDG, wib(23), "dinas-pupr")] + FAR)
    assert internal(out) == [
        ("disposition", None, "2026-03-17T00:00:00+07:00", "agency_admin"),
        ("unit_response", "dinas-pupr", "2026-03-26T00:00:00+07:00", "agency_admin")]
    # Over the holidays, on a working day: routed Mon 16 March, follow_up 31 March (17, 25,
    # 26, 27, 30), the unit's 28 March (17, 25, 26, 27); dispositioned Wed 18 (Nyepi week).
    out = run_in_memory(opened(BDG, wib(16, "09:00")) + [disposed(BDG, wib(18), "dinas-pupr")] + FAR)
    assert internal(out) == [("unit_response", "dinas-pupr", "2026-03-28T00:00:00+07:00", "agency_admin")]


def test_wita_and_wit_agencies_count_in_their_own_days() -> None:
    # Routed Mon 2 March 23:30 WIB: already Tue 3 March in Makassar (00:30 WITA), so its
    # unit's deadline is 4 working days after 3 March (4, 5, 6, 9): 10 March 00:00 WITA.
    out = run_in_memory(opened(MKS, wib(2, "23:30")) + [disposed(MKS, "2026-03-03T10:00:00+08:00", "dinas-pupr")] + FAR)
    assert internal(out) == [("unit_response", "dinas-pupr", "2026-03-10T00:00:00+08:00", "agency_admin")]
    # Fri 6 March 23:30 WIB is Sat 7 March 01:30 in Jayapura: 9, 10, 11, 12 -> 13 March WIT.
    out = run_in_memory(opened(JYP, wib(6, "23:30")) + [disposed(JYP, "2026-03-09T10:00:00+09:00", "dinas-pupr")] + FAR)
    assert internal(out) == [("unit_response", "dinas-pupr", "2026-03-13T00:00:00+09:00", "agency_admin")]


def test_the_units_answer_stops_its_deadline_with_the_agencys() -> None:
    head = opened(BDG, wib(2, "09:00")) + [disposed(BDG, wib(3), "dinas-pupr")]
    out = run_in_memory(head + [status(CID, "responded", BDG, wib(5))] + FAR)
    assert internal(out) == []
    # A dispute: `responded` leaves resolution running, and the unit's deadline inside it
    # (14 working days from 2 March: 28 March; less one: 27 March); `resolved` stops both.
    dispute = opened(BDG, wib(2, "09:00"), "dispute_14d") + [disposed(BDG, wib(3), "dinas-pupr")]
    out = run_in_memory(dispute + [status(CID, "responded", BDG, wib(5))] + FAR)
    assert internal(out) == [("unit_response", "dinas-pupr", "2026-03-27T00:00:00+07:00", "agency_admin")]
    assert internal(run_in_memory(dispute + [status(CID, "resolved", BDG, wib(5))] + FAR)) == []


def test_a_field_inspection_moves_the_units_deadline_with_the_agencys() -> None:
    out = run_in_memory(opened(BDG, wib(2, "09:00")) + [
        disposed(BDG, wib(3), "dinas-pupr"),
        status(CID, "field_inspection_required", BDG, wib(4))] + FAR + [tick("2026-12-31T00:00:00+07:00")])
    start = datetime.fromisoformat(wib(2, "09:00"))
    unit_due = load_calendar(None).deadline(start, 59, "Asia/Jakarta")  # 60 working days less one
    assert internal(out) == [("unit_response", "dinas-pupr", unit_due.isoformat(), "agency_admin")]


def test_back_and_forth_gives_each_lapse_its_own_id_and_no_more() -> None:
    # To PUPR (3 March), back to the admin (4 March: a fresh verification, due 10 March: 5,
    # 6, 9), to Dinas Kesehatan (11 March, after the admin's second lapse), to PUPR again.
    log = opened(BDG, wib(2, "09:00")) + [
        disposed(BDG, wib(3), "dinas-pupr"), disposed(BDG, wib(4), None),
        disposed(BDG, wib(11), "dinas-kesehatan"), disposed(BDG, wib(12), "dinas-pupr")] + FAR
    out = run_in_memory(log)
    assert internal(out) == [
        ("disposition", None, "2026-03-10T00:00:00+07:00", "agency_admin"),
        # 11 March: the agency's deadline less one (7 March) has passed: first working day after.
        ("unit_response", "dinas-pupr", "2026-03-14T00:00:00+07:00", "agency_admin")]
    out = run_in_memory(log[:-2] + [disposed(BDG, wib(11), "dinas-pupr"), disposed(BDG, wib(12), "dinas-kesehatan"),
                                    disposed(BDG, wib(13), "dinas-pupr")] + FAR)
    ids = [e.escalation_id for e in escalations(out) if e.clock.value == "unit_response"]
    first_ids = [e.escalation_id for e in escalations(run_in_memory(log)) if e.clock.value == "unit_response"]
    assert len(ids) == 1 and ids != first_ids  # the same unit, another disposition: another id
    assert [e.escalation_id for e in escalations(run_in_memory(log))] == [
        e.escalation_id for e in escalations(run_in_memory(log))]  # a replay: the same ids


def test_internal_lapses_go_to_the_admin_and_nobody_beyond() -> None:
    out = run_in_memory(opened(BDG, wib(2, "09:00")) + [disposed(BDG, wib(3), "dinas-pupr"),
                                                         status(CID, "responded", BDG, wib(16))] + FAR)
    lapses = [e for e in escalations(out) if e.clock.value in ("disposition", "unit_response")]
    assert [(e.kind.value, e.level, e.target.value) for e in lapses] == [("breach", 1, "agency_admin")]
    # The contract's follow_up went on to level 2 (10 March + 3 working days): the reporter
    # hears of that one, never of the unit's.
    assert ("follow_up", 2, "2026-03-10T00:00:00+07:00") in contract(out)
    told = [o.event for o in out if isinstance(o.event, Notification) and o.event.kind.value == "escalated"]
    assert [n.level for n in told] == [2]


def test_each_unit_has_its_share_of_compliance() -> None:
    out = run_in_memory(opened(BDG, wib(2, "09:00")) + [disposed(BDG, wib(3), "dinas-pupr"),
                                                         status(CID, "acknowledged", BDG, wib(3)),
                                                         tick(wib(9, "00:00"))])
    stats = {(s.unit_id, s.day.isoformat()): s for s in (o.event for o in out) if isinstance(s, ComplianceStats)}
    got = stats[("dinas-pupr", "2026-03-03")]
    assert (got.agency_id, got.received, got.first_response_on_time, got.breaches) == (BDG, 1, 0, {})
    lapsed = stats[("dinas-pupr", "2026-03-07")]
    assert lapsed.breaches == {"unit_response": 1} and lapsed.open_overdue_end_of_day == 1
    assert stats[(None, "2026-03-03")].first_response_on_time == 1  # the agency's, as before
    assert "unit_response" not in stats.get((None, "2026-03-07"), lapsed.model_copy(
        update={"breaches": {}})).breaches  # the unit's lapse is not the agency's
    ids = [s.event_id for s in stats.values()]
    assert len(ids) == len(set(ids))


def test_a_newer_units_version_sets_the_terms_of_clocks_started_after_it() -> None:
    units: dict[str, Any] = {"agency_id": BDG, "version": 1, "published_at": wib(1),
                             "units": [{"unit_id": "dinas-pupr", "name": "Dinas PUPR"}],
                             "verification_days": 2, "unit_days_before": 2}
    announce = ("sla.ticks.v1", None, {"as_of": wib(1), "units": units})
    older = ("sla.ticks.v1", None, {"as_of": wib(1), "units": {**units, "version": 0,
                                                                 "verification_days": 9}})
    out = run_in_memory([announce, older] + opened(BDG, wib(2, "09:00")) + FAR)
    assert internal(out) == [("disposition", None, "2026-03-05T00:00:00+07:00", "agency_admin")]
    out = run_in_memory([announce] + opened(BDG, wib(2, "09:00")) + [disposed(BDG, wib(3), "dinas-pupr")] + FAR)
    assert internal(out) == [("unit_response", "dinas-pupr", "2026-03-06T00:00:00+07:00", "agency_admin")]
    # A version with no active unit: no verification clock any more.
    none = ("sla.ticks.v1", None, {"as_of": wib(1), "units": {**units, "version": 2, "units": [
        {"unit_id": "dinas-pupr", "name": "Dinas PUPR", "retired": True}]}})
    assert internal(run_in_memory([announce, none] + opened(BDG, wib(2, "09:00")) + FAR)) == []


def test_a_pause_after_an_internal_moment_does_not_move_it_whenever_it_is_read() -> None:
    # The verification lapsed on 6 March 00:00; the agency asks the reporter that day at
    # 10:00 and hears back on 10 March. Read before the ticks or after them: one lapse, due
    # 6 March, the same id.
    pause = [status(CID, "info_requested", BDG, wib(6)), status(CID, "info_received", BDG, wib(10))]
    early = run_in_memory(opened(BDG, wib(2, "09:00")) + pause + FAR)
    late = run_in_memory(opened(BDG, wib(2, "09:00")) + [tick(wib(6, "12:00"))] + pause + FAR)
    assert internal(early) == internal(late) == [
        ("disposition", None, "2026-03-06T00:00:00+07:00", "agency_admin")]
    assert [e.escalation_id for e in escalations(early) if e.clock.value == "disposition"] == [
        e.escalation_id for e in escalations(late) if e.clock.value == "disposition"]


def test_a_policy_version_moves_a_units_deadline_with_the_agencys() -> None:
    # Bandung's follow_up becomes 7 working days from 4 March (in force at the 4 March tick):
    # the unit's deadline is 6 after 2 March (3, 4, 5, 6, 9, 10), 11 March; the admin's
    # verification keeps the units' terms.
    longer = announce(2, "2026-03-04T00:00:00+07:00", policy={"agencies": {BDG: {"follow_up": 7}}})
    out = run_in_memory([longer] + opened(BDG, wib(2, "09:00")) + [
        disposed(BDG, wib(3), "dinas-pupr"), tick(wib(4, "12:00"))] + FAR)
    assert internal(out) == [("unit_response", "dinas-pupr", "2026-03-11T00:00:00+07:00", "agency_admin")]


def test_an_automatic_disposition_is_no_first_response_of_the_agency() -> None:
    # The agency's rules disposition at the routing (rule_id): the unit's deadline starts, but
    # the agency has said nothing to the reporter yet, so first_response runs on and lapses
    # (3 working days from acceptance on Mon 2 March: 6 March 00:00), as after any disposition.
    topic, key, value = disposed(BDG, wib(2, "09:00"), "dinas-pupr")
    automatic = (topic, key, {**value, "rule_id": "jalan-air"})
    out = run_in_memory(opened(BDG, wib(2, "09:00")) + [automatic] + FAR)
    assert ("first_response", 1, "2026-03-06T00:00:00+07:00") in contract(out)
    assert [c[:2] for c in internal(out)] == [("unit_response", "dinas-pupr")]
