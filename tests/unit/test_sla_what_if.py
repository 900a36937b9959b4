"""`lapor sla what-if` on a sample log: the deadlines a candidate version moves (hand-checked)
and the escalations that would appear, disappear or move; nothing written anywhere."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from schemas.events import CalendarRules, PolicyRules
from services.domain.registry import load_registry
from services.domain.unit_catalogue import starting_units
from services.runtime.settings import Settings
from services.sla_monitor.cli import read_replay_file
from services.sla_monitor.what_if import LogRecord, thin_ticks, what_if
from services.tools.cli import main
from tests.sla_scenario import Step, accepted, announce, routed, status, tick

MON = "2026-03-02T09:15:00+07:00"
A, B, C = "LPR-AAAAAAAAAAA1", "LPR-BBBBBBBBBBB2", "LPR-CCCCCCCCCCC3"
SAMPLE: list[Step] = [
    accepted(A, MON), routed(A, "pln", MON),
    accepted(B, MON), routed(B, "kemensos", MON),
    accepted(C, MON), routed(C, "pln", MON), status(C, "closed", "pln", "2026-03-02T10:00:00+07:00"),
    tick("2026-03-02T12:00:00+07:00"),
]
# Wednesday 4 March off, and PLN's first response five working days.
CANDIDATE = (CalendarRules.model_validate({"holidays": ["2026-03-04"]}),
             PolicyRules.model_validate({"agencies": {"pln": {"first_response": 5}}}))


def records(log: list[Step]) -> list[LogRecord]:
    return [LogRecord(t, None, k.encode() if k else None, json.dumps(v).encode()) for t, k, v in log]


def moved(report_agency: object, internal: bool = False) -> list[tuple[str, str, str, str]]:
    """The deadlines moved: the contract's (`internal`: an agency's admin's and units' too)."""
    return [(m.complaint_id, m.clock, m.due_before[:10], m.due_after[:10])
            for m in report_agency.deadlines_moved  # type: ignore[attr-defined]
            if internal or m.clock.split(":")[0] not in ("disposition", "unit_response")]


def has_units(agency: str) -> bool:
    """An agency with units in its starting set has its admin's verification clock too."""
    return any(not u.retired for u in starting_units(load_registry(None))(agency).units)


def test_the_candidate_moves_the_open_complaints_deadlines() -> None:
    report = what_if(Settings(partitions=2), records(SAMPLE), *CANDIDATE, horizon_days=60)
    assert report.open_complaints == 2 and report.effective_from.startswith("2026-03-02T12:00")
    assert sorted(report.agencies) == ["kemensos", "pln"]  # C is closed: nothing moves for it
    # PLN: 3,(4),5,6,9,10 -> first response due 11 March (was 6), follow-up 11 (was 10).
    assert moved(report.agencies["pln"]) == [(A, "first_response", "2026-03-06", "2026-03-11"),
                                             (A, "follow_up", "2026-03-10", "2026-03-11")]
    # Kemensos keeps 3 days: 3,(4),5,6 -> 7 March (was 6); follow-up 11 (was 10).
    assert moved(report.agencies["kemensos"]) == [(B, "first_response", "2026-03-06", "2026-03-07"),
                                                  (B, "follow_up", "2026-03-10", "2026-03-11")]
    # Nobody answers in either run: every level of both clocks fires, each later (and the
    # admin's verification lapse, 6 March then 7, where the agency has units).
    for agency in ("pln", "kemensos"):
        impact = report.agencies[agency]
        assert (impact.escalations_appear, impact.escalations_disappear, impact.escalations_move) == (
            0, 0, 8 + has_units(agency))


def test_a_later_start_leaves_earlier_moments_alone() -> None:
    # From 9 March on: the warnings and breaches before then have fired by the old rules.
    report = what_if(Settings(partitions=2), records(SAMPLE), *CANDIDATE,
                     effective_from=datetime.fromisoformat("2026-03-09T00:00:00+07:00"), horizon_days=60)
    assert moved(report.agencies["kemensos"]) == [(B, "follow_up", "2026-03-10", "2026-03-11")]
    # Kept: first response's warning (5 March) and breach (6 March), follow-up's warning (7
    # March). Moved a day: first response's levels 2 and 3, follow-up's breach and levels 2, 3.
    assert report.agencies["kemensos"].escalations_move == 5


def test_a_candidate_equal_to_the_version_in_force_changes_nothing() -> None:
    published = announce(2, "2026-03-01T00:00:00+07:00", as_of="2026-03-02T12:00:00+07:00",
                         calendar={"holidays": ["2026-03-04"]},
                         policy={"agencies": {"pln": {"first_response": 5}}})
    log = SAMPLE + [published, tick("2026-03-02T13:00:00+07:00")]
    report = what_if(Settings(partitions=2), records(log), *CANDIDATE, horizon_days=60)
    assert report.candidate_version == 3 and report.agencies == {}


def test_thinning_keeps_the_last_tick_of_each_hour_and_every_announcement() -> None:
    ticks = [tick(f"2026-03-02T12:{m:02d}:00+07:00") for m in range(0, 60, 5)]
    kept = thin_ticks(records(ticks + [announce(2, MON)] + [tick("2026-03-02T13:00:00+07:00")]))
    assert [json.loads(r.value)["as_of"][11:16] for r in kept] == ["12:55", "00:00", "13:00"]


def test_the_command_reads_a_replay_file_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"topic": t, "key": k, "value": v}) for t, k, v in SAMPLE))
    rules = tmp_path / "rules.yaml"
    rules.write_text("calendar:\n  holidays: [2026-03-04]\npolicy:\n  agencies:\n    pln: {first_response: 5}\n")
    assert len(read_replay_file(log)) == len(SAMPLE)
    assert main(["sla", "what-if", "--rules", str(rules), "--replay", str(log), "--json",
                 "--horizon-days", "60"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [m["due_after"][:10] for m in out["agencies"]["pln"]["deadlines_moved"]
            if m["clock"] != "disposition"] == ["2026-03-11", "2026-03-11"]
    assert main(["sla", "what-if", "--rules", str(rules), "--replay", str(log)]) == 0
    text = capsys.readouterr().out
    assert f"pln: {A} first_response 2026-03-06T00:00:00+07:00 -> 2026-03-11T00:00:00+07:00" in text
    rules.write_text("policy:\n  default: {follow_up: 0}\n")
    assert main(["sla", "what-if", "--rules", str(rules), "--replay", str(log)]) == 2


def test_a_units_internal_deadline_is_shown_with_its_unit() -> None:
    # Bandung's complaint with Dinas PUPR since 3 March: its deadline (the agency's 10 March
    # less a day: 7 March) moves with Wednesday 4 March off, named with its unit.
    log: list[Step] = [accepted(A, MON), routed(A, "pemda-32-73", MON),
                       status(A, "disposed", "pemda-32-73", "2026-03-03T10:00:00+07:00"),
                       tick("2026-03-03T12:00:00+07:00")]
    topic, key, value = log[2]
    log[2] = (topic, key, {**value, "unit_id": "dinas-pupr"})
    report = what_if(Settings(partitions=2), records(log), CANDIDATE[0], PolicyRules(), horizon_days=60)
    assert (A, "unit_response:dinas-pupr", "2026-03-07", "2026-03-10") in moved(
        report.agencies["pemda-32-73"], internal=True)
