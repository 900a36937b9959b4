"""Working-day arithmetic: hand-checked cases and properties."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.calendar import WorkingCalendar

CAL = WorkingCalendar()
WIB, WITA, WIT = "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"


def at(text: str, tz: str = WIB) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))


# (start, tz of the agency, N, pauses [(P, R)], expected deadline), each checked by hand
# against the 2025/2026 SKB holiday list (holidays package, ID, public + government).
CASES: list[tuple[str, str, int, list[tuple[str, str]], str]] = [
    ("2025-03-03T09:00", WIB, 3, [], "2025-03-07T00:00:00+07:00"),  # plain week
    ("2025-03-07T10:00", WIB, 3, [], "2025-03-13T00:00:00+07:00"),  # over a weekend
    ("2025-03-08T10:00", WIB, 3, [], "2025-03-13T00:00:00+07:00"),  # start on Saturday
    ("2025-03-09T10:00", WIB, 1, [], "2025-03-11T00:00:00+07:00"),  # start on Sunday
    ("2025-03-28T10:00", WIB, 3, [], "2025-04-11T00:00:00+07:00"),  # Lebaran (contract example)
    ("2025-03-28T10:00", WIB, 2, [], "2025-04-10T00:00:00+07:00"),  # its warning (N-1)
    ("2025-03-28T10:00", WIB, 6, [], "2025-04-16T00:00:00+07:00"),  # its level 2 (N+3)
    ("2025-03-28T10:00", WIB, 13, [], "2025-04-26T00:00:00+07:00"),  # level 3 (N+10), Good Friday
    ("2025-03-27T16:00", WIB, 1, [], "2025-04-09T00:00:00+07:00"),  # the whole Lebaran block
    ("2025-12-24T09:00", WIB, 3, [], "2026-01-01T00:00:00+07:00"),  # Christmas + cuti bersama
    ("2025-12-30T09:00", WIB, 3, [], "2026-01-06T00:00:00+07:00"),  # New Year
    ("2025-12-22T09:00", WIB, 5, [], "2026-01-01T00:00:00+07:00"),  # follow-up over Christmas
    ("2025-12-31T09:00", WIB, 1, [], "2026-01-03T00:00:00+07:00"),  # New Year's Day
    ("2025-03-03T09:00", WITA, 3, [], "2025-03-07T00:00:00+08:00"),  # WITA agency
    ("2025-03-03T09:00", WIT, 3, [], "2025-03-07T00:00:00+09:00"),  # WIT agency
    ("2025-03-03T23:30+07:00", WIT, 3, [], "2025-03-08T00:00:00+09:00"),  # already Tuesday in WIT
    ("2025-03-03T23:59", WIB, 3, [], "2025-03-07T00:00:00+07:00"),  # 23:59 counts as Monday
    ("2025-03-04T00:00", WIB, 3, [], "2025-03-08T00:00:00+07:00"),  # 00:00 is Tuesday
    ("2025-03-03T17:00:00+00:00", WIB, 3, [], "2025-03-08T00:00:00+07:00"),  # UTC start, Tue in WIB
    ("2025-03-03T09:00", WIB, 5, [], "2025-03-11T00:00:00+07:00"),  # base of the pause cases
    ("2025-03-03T09:00", WIB, 5, [("2025-03-05T10:00", "2025-03-10T08:00")], "2025-03-14T00:00:00+07:00"),
    ("2025-03-03T09:00", WIB, 5, [("2025-03-05T10:00", "2025-03-05T15:00")], "2025-03-11T00:00:00+07:00"),
    ("2025-03-24T09:00", WIB, 5, [], "2025-04-10T00:00:00+07:00"),  # follow-up over Lebaran
    ("2025-03-24T09:00", WIB, 5, [("2025-03-26T09:00", "2025-04-09T09:00")], "2025-04-15T00:00:00+07:00"),
    ("2025-03-03T09:00", WIB, 5, [("2025-03-04T09:00", "2025-03-05T09:00"),
                                  ("2025-03-06T09:00", "2025-03-07T09:00")], "2025-03-13T00:00:00+07:00"),
    ("2025-04-17T09:00", WIB, 1, [], "2025-04-22T00:00:00+07:00"),  # Good Friday
    ("2025-08-15T09:00", WIB, 1, [], "2025-08-20T00:00:00+07:00"),  # 17 Aug cuti bersama Monday
    ("2026-03-17T09:00", WIB, 3, [], "2026-03-28T00:00:00+07:00"),  # Lebaran 2026
    ("2026-02-13T09:00", WIB, 1, [], "2026-02-19T00:00:00+07:00"),  # Imlek 2026
    ("2026-05-11T09:00", WIB, 10, [], "2026-05-30T00:00:00+07:00"),  # auto-close over Ascension
    ("2026-03-02T09:15", WIB, 3, [], "2026-03-06T00:00:00+07:00"),  # the router test's complaint
]


@pytest.mark.parametrize(("start", "tz", "n", "pauses", "expected"), CASES,
                         ids=[f"{c[0]}-{c[1][5:]}-N{c[2]}{'-pause' if c[3] else ''}" for c in CASES])
def test_hand_checked_deadlines(start: str, tz: str, n: int, pauses: list[tuple[str, str]],
                                expected: str) -> None:
    got = CAL.deadline(at(start, tz), n, tz, [(at(p, tz), at(r, tz)) for p, r in pauses])
    assert got.isoformat() == expected



def test_calendar_file_adds_and_gives_back_days(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("holidays: [2025-03-05]\nworking_days: [2025-04-07, 2025-03-08]\n")
    cal = WorkingCalendar.from_file(path)
    assert cal.deadline(at("2025-03-03T09:00"), 3).isoformat() == "2025-03-08T00:00:00+07:00"
    assert cal.deadline(at("2025-03-28T10:00"), 3).isoformat() == "2025-04-10T00:00:00+07:00"
    assert cal.deadline(at("2025-03-07T10:00"), 1).isoformat() == "2025-03-09T00:00:00+07:00"


def test_bad_calendar_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("holidays: [not-a-date]\n")
    with pytest.raises(ValueError, match="calendar.yaml: holidays"):
        WorkingCalendar.from_file(path)


starts = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31),
                      timezones=st.sampled_from([ZoneInfo(WIB), ZoneInfo(WITA), ZoneInfo(WIT)]))
zones = st.sampled_from([WIB, WITA, WIT])


@given(starts, st.integers(1, 70), zones)
@settings(max_examples=200, deadline=None)
def test_deadline_is_after_start_and_ends_a_working_day(start: datetime, n: int, tz: str) -> None:
    due = CAL.deadline(start, n, tz)
    assert due > start
    local = due.astimezone(ZoneInfo(tz))
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert CAL.is_working_day(local.date() - timedelta(days=1))


@given(starts, st.integers(1, 60), zones)
@settings(max_examples=200, deadline=None)
def test_deadline_is_monotone_in_n(start: datetime, n: int, tz: str) -> None:
    assert CAL.deadline(start, n, tz) < CAL.deadline(start, n + 1, tz)


@given(starts, st.integers(1, 60), zones, st.integers(0, 40), st.integers(0, 40))
@settings(max_examples=200, deadline=None)
def test_a_pause_never_makes_it_earlier(start: datetime, n: int, tz: str, after: int, length: int) -> None:
    p = start + timedelta(days=after)
    r = p + timedelta(days=length)
    assert CAL.deadline(start, n, tz, [(p, r)]) >= CAL.deadline(start, n, tz)


def test_working_days_between() -> None:
    assert CAL.working_days_between(date(2025, 3, 26), date(2025, 4, 9)) == 3
