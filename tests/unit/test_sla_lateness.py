"""Allowed lateness (contract addition "Late statuses and ticks"): a tick fires a moment only
once it has passed it by the allowed lateness (LAPOR_SLA_ALLOWED_LATENESS_MINUTES, 10 by
default); a status given before the moment and read within that prevents it, one read later
still moves its clock from its `at` but takes back nothing already emitted and is counted
late; the same log gives the same escalations whatever the interleaving within the lateness."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from schemas import ComplianceStats, Escalation, Notification, StatusEvent
from tests.sla_scenario import Produced, Step, accepted, routed, run_in_memory, status, tick

A, B, C = "LPR-TARDAAAAAAA1", "LPR-TARDBBBBBBB2", "LPR-TARDCCCCCCC3"
MON = "2026-03-02T09:15:00+07:00"  # first_response: warning Thu 5 March 00:00, due Fri 6
LATENESS = timedelta(minutes=10)  # the setting's default, which run_in_memory uses


def t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def opened(*cids: str) -> list[Step]:
    return [step for cid in cids for step in (accepted(cid, MON), routed(cid, "pln", MON))]


def escalations(outputs: list[Produced]) -> list[Escalation]:
    """The contract clocks' (an agency with units has internal ones too: test_sla_units.py)."""
    return [o.event for o in outputs if isinstance(o.event, Escalation)
            and o.event.target.value != "agency_admin"]


def test_a_tick_fires_a_moment_only_once_it_has_passed_it_by_the_lateness() -> None:
    log = opened(A) + [tick("2026-03-05T00:09:00+07:00")]
    assert escalations(run_in_memory(log)) == []
    got = escalations(run_in_memory(log + [tick("2026-03-05T00:10:00+07:00")]))
    # fire_at is the moment's, as_of the firing tick's (the contract's fields, unchanged)
    assert [(e.level, e.fire_at.isoformat(), e.as_of.isoformat()) for e in got] == [
        (0, "2026-03-05T00:00:00+07:00", "2026-03-05T00:10:00+07:00")]


def test_a_status_read_within_the_lateness_still_prevents_the_moment() -> None:
    ack = status(A, "acknowledged", "pln", "2026-03-04T23:59:00+07:00")  # before the warning
    past = [tick("2026-03-04T12:00:00+07:00"), tick("2026-03-05T00:05:00+07:00")]  # past 00:00
    later = [tick("2026-03-05T00:20:00+07:00"), tick("2026-03-07T00:00:00+07:00")]
    notes: list[tuple[str, dict[str, Any]]] = []
    read_late = run_in_memory(opened(A) + past + [ack] + later, notes=notes)
    in_order = run_in_memory(opened(A) + past[:1] + [ack] + past[1:] + later)
    assert escalations(read_late) == [] == escalations(in_order)
    assert [o.event.to_bytes() for o in read_late] == [o.event.to_bytes() for o in in_order]
    assert not [n for n in notes if n[0] == "late_status"]
    # Without a lateness the tick past the moment would have fired it before the status came.
    assert [(e.clock.value, e.level) for e in escalations(run_in_memory(
        opened(A) + past + [ack] + later, lateness_minutes=0)) if e.clock.value == "first_response"] == [
        ("first_response", 0)]


def test_a_status_read_after_the_lateness_stops_the_clock_but_takes_nothing_back() -> None:
    ack = status(A, "acknowledged", "pln", "2026-03-04T23:59:00+07:00")
    notes: list[tuple[str, dict[str, Any]]] = []
    stores: dict[str, dict[str, Any]] = {}
    outputs = run_in_memory(opened(A) + [tick("2026-03-05T00:15:00+07:00"), ack,
                                         tick("2026-03-20T00:00:00+07:00")], stores=stores, notes=notes)
    # The warning was emitted before the status came, and stays; the breach (6 March) and
    # every later level are not owed: the clock stopped at 23:59 on the 4th.
    assert [(e.clock.value, e.level) for e in escalations(outputs)
            if e.clock.value == "first_response"] == [("first_response", 0)]
    first = [c for c in stores["clocks"][A]["clocks"] if c["name"] == "first_response"]
    assert [c["stopped_at"] for c in first] == ["2026-03-04T23:59:00+07:00"]
    # Counted late: ids only (the metric counts the note: lapor_handled{event="late_status"}).
    assert [n for n in notes if n[0] == "late_status"] == [
        ("late_status", {"complaint_id": A, "event_id": ack[2]["event_id"]})]
    # By its own time the first response was on time.
    stats = [o.event for o in outputs if isinstance(o.event, ComplianceStats)]
    assert sum(s.first_response_on_time for s in stats) == 1 and not sum(s.first_response_late for s in stats)


def test_a_pause_read_after_the_lateness_pauses_from_its_time() -> None:
    ack = status(A, "acknowledged", "pln", "2026-03-03T10:00:00+07:00")
    # follow_up: warning Sat 7 March 00:00, due Tue 10. Asked Fri 6 at 23:00, read after the
    # warning fired; the answer on Wed 11 moves the rest by 9, 10 and 11 March.
    asked = status(A, "info_requested", "pln", "2026-03-06T23:00:00+07:00")
    answered = status(A, "info_received", "pln", "2026-03-11T10:00:00+07:00")
    notes: list[tuple[str, dict[str, Any]]] = []
    outputs = run_in_memory(opened(A) + [ack, tick("2026-03-07T00:30:00+07:00"), asked,
                                         tick("2026-03-11T00:00:00+07:00"), answered,
                                         tick("2026-03-13T00:10:00+07:00")], notes=notes)
    got = [(e.level, e.fire_at.isoformat()[:10], e.as_of.isoformat()[:16])
           for e in escalations(outputs) if e.clock.value == "follow_up"]
    assert got == [(0, "2026-03-07", "2026-03-07T00:30"), (1, "2026-03-13", "2026-03-13T00:10")]
    assert [n[1]["event_id"] for n in notes if n[0] == "late_status"] == [asked[2]["event_id"]]


# --- the same log in several interleavings within the lateness ------------------------------
def scenario() -> tuple[list[Step], list[tuple[datetime, Step]], list[Step]]:
    """(complaints opened, statuses with their times in order, ticks in order). A answers
    each moment just before it comes (so each status decides whether a moment fires); B never
    answers (its whole ladder fires); C answers just after its warning (owed, so it fires)."""
    statuses = [
        status(A, "acknowledged", "pln", "2026-03-04T23:55:00+07:00"),    # warning 5 March 00:00
        status(A, "info_requested", "pln", "2026-03-06T23:55:00+07:00"),  # follow_up warning 7 March
        status(A, "info_received", "pln", "2026-03-10T10:00:00+07:00"),   # +9, 10 March
        status(A, "responded", "pln", "2026-03-11T23:57:00+07:00"),       # after the moved warning,
        status(A, "reporter_replied", None, "2026-04-01T23:57:00+07:00"),  # before auto_close lapses
        status(C, "acknowledged", "pln", "2026-03-05T00:03:00+07:00"),    # after C's warning
    ]
    ticks = [tick((t("2026-03-03T00:00:00+07:00") + timedelta(days=d, minutes=m)).isoformat())
             for d in range(45) for m in (0, 5, 10, 15, 12 * 60)]
    return opened(A, B, C), sorted(((t(s[2]["at"]), s) for s in statuses), key=lambda x: x[0]), ticks


def interleave(opening: list[Step], statuses: list[tuple[datetime, Step]], ticks: list[Step],
               positions: list[int]) -> list[Step]:
    """Each status read just before tick number `positions[i]` (len(ticks): after them all)."""
    log = list(opening)
    for k in range(len(ticks) + 1):
        log += [s for (_, s), p in zip(statuses, positions) if p == k]
        log += ticks[k:k + 1]
    return log


def fingerprint(outputs: list[Produced]) -> dict[str, Any]:
    """What must not depend on the interleaving: every escalation (as_of included), notice
    and auto-close, and each agency-day's counts summed (a day already reported is reopened
    by a status read after its end: a second record, the same sums)."""
    sums: Counter[tuple[str, str, str]] = Counter()
    for e in (o.event for o in outputs):
        if isinstance(e, ComplianceStats):
            key = (e.agency_id, e.day.isoformat())
            sums[(*key, "received")] += e.received
            sums[(*key, "on_time")] += e.first_response_on_time
            sums[(*key, "late")] += e.first_response_late
            for clock, n in e.breaches.items():
                sums[(*key, clock.value)] += n
    return {
        "escalations": sorted(o.event.to_bytes() for o in outputs if isinstance(o.event, Escalation)),
        "notices": sorted(o.event.to_bytes() for o in outputs if isinstance(o.event, Notification)),
        "closures": sorted(o.event.to_bytes() for o in outputs if isinstance(o.event, StatusEvent)),
        "compliance": {k: v for k, v in sums.items() if v},
    }


def test_the_same_log_gives_the_same_escalations_whatever_the_interleaving_within_the_lateness() -> None:
    opening, statuses, ticks = scenario()
    as_of = [t(s[2]["as_of"]) for s in ticks]
    # The latest a status may be read: before the first tick that has passed its time by the
    # lateness. The earliest: before every tick (ahead of the ticks is allowed too).
    latest = [sum(1 for a in as_of if a < at + LATENESS) for at, _ in statuses]
    in_time = [sum(1 for a in as_of if a < at) for at, _ in statuses]
    interleavings = {"in time": in_time, "as late as allowed": latest,
                     "before every tick": [0] * len(statuses)}
    rng = random.Random(31)
    for n in range(6):
        positions, floor = [], 0
        for low, high in zip(in_time, latest):  # a complaint's statuses stay in their order
            floor = rng.randint(max(floor, low if n % 2 else 0), max(floor, high))
            positions.append(floor)
        interleavings[f"random {n}"] = positions
    assert any(lt > it for lt, it in zip(latest, in_time))  # some are read after a tick past them

    results = {}
    for name, positions in interleavings.items():
        notes: list[tuple[str, dict[str, Any]]] = []
        log = interleave(opening, statuses, ticks, positions)
        results[name] = fingerprint(run_in_memory(log, notes=notes))
        assert not [n for n in notes if n[0] == "late_status"], name
    expected = results["in time"]
    for name, got in results.items():
        assert got == expected, name
    fired = [Escalation.model_validate_json(b) for b in expected["escalations"]]
    by_complaint = Counter(e.complaint_id for e in fired if e.target.value != "agency_admin")
    # A: only the follow_up warning moved by the pause (the answer came after it); B: both
    # ladders; C: its first_response warning only.
    assert by_complaint == {A: 1, B: 8, C: 1 + 4}
    assert not expected["closures"]  # the reporter replied before auto_close lapsed


def test_reading_beyond_the_lateness_would_change_them() -> None:
    # The check above is not vacuous: A's acknowledgement (23:55 on 4 March) read after the
    # tick that passed its warning (00:00) by the lateness lets the warning fire.
    opening, statuses, ticks = scenario()
    as_of = [t(s[2]["as_of"]) for s in ticks]
    in_time = [sum(1 for a in as_of if a < at) for at, _ in statuses]
    too_late = sum(1 for a in as_of if a <= t("2026-03-05T00:00:00+07:00") + LATENESS)
    moved = [max(p, too_late) if s[2]["complaint_id"] == A else p
             for p, (_, s) in zip(in_time, statuses)]
    got = fingerprint(run_in_memory(interleave(opening, statuses, ticks, moved)))
    expected = fingerprint(run_in_memory(interleave(opening, statuses, ticks, in_time)))
    extra = set(got["escalations"]) - set(expected["escalations"])
    assert [(e.complaint_id, e.clock.value, e.level) for e in map(Escalation.model_validate_json, extra)] == [
        (A, "first_response", 0)]
