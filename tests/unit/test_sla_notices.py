"""What the SLA monitor tells a reporter: the responsible agency's request and answer, the
close (the agency's, an admin's or the auto-close), and escalations past the agency."""

from __future__ import annotations

from schemas import Notification
from tests.sla_scenario import LIFE, LIFE_CLOSED_AT, LIFE_LOG, Produced, run_in_memory, status, tick


def notices(outputs: list[Produced]) -> list[Notification]:
    return [o.event for o in outputs if isinstance(o.event, Notification)]


def test_a_complaints_life_tells_the_request_the_answer_and_the_auto_close() -> None:
    told = notices(run_in_memory(LIFE_LOG, lateness_minutes=0))
    assert [(n.kind.value, n.at.isoformat(), n.agency_id) for n in told] == [
        ("info_requested", "2026-03-06T11:00:00+07:00", "pln"),
        ("responded", "2026-03-11T15:00:00+07:00", "pln"),
        ("auto_closed", LIFE_CLOSED_AT, None),
    ]
    assert all(n.complaint_id == LIFE and n.channel.value == "web" and n.submission_id == LIFE
               and n.msisdn is None for n in told)  # the reply address is the submission id
    assert "PT PLN (Persero) meminta keterangan tambahan" in told[0].text
    assert "tidak ada balasan" in told[2].text
    # kemensos's acknowledgement (not responsible) and the acknowledgements say nothing
    assert len({n.event_id for n in told}) == 3


def test_a_close_by_the_agency_is_not_an_auto_close() -> None:
    log = LIFE_LOG[:2] + [status(LIFE, "closed", "pln", "2026-03-03T10:00:00+07:00")]
    assert [n.kind.value for n in notices(run_in_memory(log))] == ["closed"]


def test_a_status_from_an_agency_not_responsible_tells_nothing() -> None:
    log = LIFE_LOG[:2] + [status(LIFE, "responded", "kemensos", "2026-03-03T10:00:00+07:00"),
                          status(LIFE, "closed", "kemensos", "2026-03-03T11:00:00+07:00")]
    assert notices(run_in_memory(log)) == []


def test_escalations_past_the_agency_tell_the_reporter_once_per_level() -> None:
    # Nobody answers: first_response and follow_up both reach levels 2 and 3 by June.
    log = LIFE_LOG[:2] + [tick("2026-06-01T00:00:00+07:00"), tick("2026-06-02T00:00:00+07:00")]
    told = notices(run_in_memory(log))
    assert [(n.kind.value, n.level) for n in told] == [("escalated", 2), ("escalated", 3)]
    assert "pengelola SP4N-LAPOR! nasional" in told[0].text and "Ombudsman" in told[1].text
    assert all(n.agency_id == "pln" for n in told)


def test_a_later_clock_reaching_a_told_level_repeats_the_same_id() -> None:
    # first_response reaches level 2 on one tick, follow_up on a later one: same notice id,
    # so a channel that keeps ids sends it once.
    log = LIFE_LOG[:2] + [tick("2026-03-11T00:00:00+07:00"), tick("2026-06-01T00:00:00+07:00")]
    level2 = [n for n in notices(run_in_memory(log, lateness_minutes=0)) if n.level == 2]
    assert len(level2) == 2 and len({n.event_id for n in level2}) == 1
