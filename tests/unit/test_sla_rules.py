"""Rules versions (sla.rules.v1) while complaints are open: a calendar or policy version
announced on the ticks partitions comes into force at the first tick that reaches its
effective time, moves the open complaints' moments, and leaves what was emitted alone."""

from __future__ import annotations

from typing import Any

from schemas import Escalation
from tests.sla_scenario import (
    LIFE, Produced, Step, accepted, announce, routed, run_in_memory, status, tick,
)

MON_2_MARCH = "2026-03-02T09:15:00+07:00"
OPEN = [accepted(LIFE, MON_2_MARCH), routed(LIFE, "pln", MON_2_MARCH)]
MARCH_TICKS = [tick(f"2026-03-{day:02d}T00:00:00+07:00") for day in range(3, 13)]
CUTI_4_MARCH = {"holidays": ["2026-03-04"]}


def fired(outputs: list[Produced]) -> list[tuple[str, int, str, str]]:
    """(clock, level, due_at, fire_at) of every escalation, in order."""
    return [(e.clock.value, e.level, e.due_at.isoformat()[:10], e.fire_at.isoformat()[:10])
            for e in (o.event for o in outputs) if isinstance(e, Escalation)]


def first_response(outputs: list[Produced]) -> list[tuple[str, int, str, str]]:
    """The first response's warning and breach (levels 0 and 1)."""
    return [f for f in fired(outputs) if f[0] == "first_response" and f[1] <= 1]


def test_without_a_new_version_the_shipped_rules_apply() -> None:
    assert first_response(run_in_memory(OPEN + MARCH_TICKS)) == [
        ("first_response", 0, "2026-03-06", "2026-03-05"), ("first_response", 1, "2026-03-06", "2026-03-06")]


def test_a_cuti_bersama_day_added_after_the_start_moves_the_deadline_one_working_day() -> None:
    log = OPEN + [announce(2, "2026-03-03T00:00:00+07:00", calendar=CUTI_4_MARCH)] + MARCH_TICKS
    # 3 working days after Monday 2 March: Tue 3, (Wed 4 off), Thu 5, Fri 6 -> due Sat 7 00:00.
    assert first_response(run_in_memory(log)) == [
        ("first_response", 0, "2026-03-07", "2026-03-06"), ("first_response", 1, "2026-03-07", "2026-03-07")]


def test_a_holiday_given_back_fires_on_the_next_tick_after_the_new_moment() -> None:
    # Accepted Monday 16 March 2026, before Nyepi and Idul Fitri: 17 March is the only working
    # day before Wednesday 25; due Friday 27 00:00, warning Thursday 26.
    cid, at = "LPR-CCCCCCCCCCC3", "2026-03-16T09:00:00+07:00"
    opened = [accepted(cid, at), routed(cid, "pln", at), tick("2026-03-19T12:00:00+07:00")]
    before = run_in_memory(opened + [tick("2026-03-27T00:00:00+07:00")], lateness_minutes=0)
    assert first_response(before) == [("first_response", 0, "2026-03-27", "2026-03-26"),
                                      ("first_response", 1, "2026-03-27", "2026-03-27")]
    # Wednesday 18 March (cuti bersama) given back: 17 and 18, then 25 -> due 26, warning
    # 19 00:00, already past when the version is announced: it fires on the next tick.
    given_back = announce(2, "2026-03-17T00:00:00+07:00", as_of="2026-03-19T12:00:00+07:00",
                          calendar={"working_days": ["2026-03-18"]})
    after = run_in_memory(opened + [given_back, tick("2026-03-20T00:00:00+07:00"),
                                    tick("2026-03-27T00:00:00+07:00")], lateness_minutes=0)
    escalations = [o.event for o in after if isinstance(o.event, Escalation)
                   and o.event.clock.value == "first_response"]
    assert [(e.level, e.fire_at.isoformat()[:10], e.as_of.isoformat()[:10]) for e in escalations] == [
        (0, "2026-03-19", "2026-03-20"), (1, "2026-03-26", "2026-03-27")]


def test_a_version_effective_in_the_future_changes_nothing_before_then() -> None:
    log = OPEN + [announce(2, "2026-03-10T00:00:00+07:00", calendar=CUTI_4_MARCH)] + MARCH_TICKS
    got = fired(run_in_memory(log))
    baseline = fired(run_in_memory(OPEN + MARCH_TICKS))
    # Everything before 10 March as without it; follow_up's breach (due 10 March by the shipped
    # calendar) moves to 11 March once 4 March is off.
    assert [f for f in got if f[3] < "2026-03-10"] == [f for f in baseline if f[3] < "2026-03-10"]
    assert ("follow_up", 1, "2026-03-10", "2026-03-10") in baseline
    assert ("follow_up", 1, "2026-03-11", "2026-03-11") in got


def test_a_policy_version_reprices_the_running_clocks() -> None:
    longer = {"agencies": {"pln": {"first_response": 5}}}
    log = OPEN + [announce(2, "2026-03-03T00:00:00+07:00", policy=longer)] + MARCH_TICKS
    # Five working days after 2 March: 3, 4, 5, 6, 9 -> due Tuesday 10 March; the warning
    # after the fourth (Friday 6) -> Saturday 7 00:00.
    assert first_response(run_in_memory(log)) == [
        ("first_response", 0, "2026-03-10", "2026-03-07"), ("first_response", 1, "2026-03-10", "2026-03-10")]


def test_emitted_escalations_stay_and_are_not_repeated() -> None:
    # The warning fired on 5 March by the shipped calendar; a version from 6 March that adds
    # 4 March off moves the breach to 7 March and does not emit the warning again.
    log = OPEN + MARCH_TICKS[:3] + [announce(2, "2026-03-05T12:00:00+07:00", calendar=CUTI_4_MARCH)] \
        + MARCH_TICKS[3:]
    assert first_response(run_in_memory(log, lateness_minutes=0)) == [
        ("first_response", 0, "2026-03-06", "2026-03-05"), ("first_response", 1, "2026-03-07", "2026-03-07")]


def test_the_same_log_gives_the_same_escalations_wherever_the_announcement_was_read() -> None:
    rules = announce(2, "2026-03-04T00:00:00+07:00", calendar=CUTI_4_MARCH,
                     policy={"default": {"follow_up": 4}})
    ticks = MARCH_TICKS
    logs: list[list[Step]] = [
        [rules] + OPEN + ticks,
        OPEN[:1] + [rules] + OPEN[1:] + ticks,
        OPEN + ticks[:1] + [rules] + ticks[1:],
    ]
    results: list[Any] = [sorted(o.event.to_bytes() for o in run_in_memory(log, partitions=2))
                          for log in logs]
    results.append(sorted(o.event.to_bytes() for o in run_in_memory(logs[0], partitions=2, one_batch=True)))
    assert all(r == results[0] for r in results) and results[0]


def test_a_closed_complaint_is_not_revived_and_a_conflicting_version_is_not_taken() -> None:
    log = OPEN + [status(LIFE, "closed", "pln", "2026-03-03T10:00:00+07:00"),
                  announce(2, "2026-03-04T00:00:00+07:00", calendar=CUTI_4_MARCH),
                  announce(2, "2026-03-04T00:00:00+07:00", policy={"default": {"first_response": 1}})]
    assert fired(run_in_memory(log + MARCH_TICKS)) == []
    # the second "version 2" differs: the first one announced stays in force
    conflict = OPEN + [announce(2, "2026-03-03T00:00:00+07:00", calendar=CUTI_4_MARCH),
                       announce(2, "2026-03-03T00:00:00+07:00", policy={"default": {"first_response": 1}})]
    assert first_response(run_in_memory(conflict + MARCH_TICKS))[1] == (
        "first_response", 1, "2026-03-07", "2026-03-07")
