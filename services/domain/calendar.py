"""Working days (hari kerja) and the contract's deadline rule. Pure: no I/O but the calendar
file read at start-up, no clock.

A working day is Monday to Friday minus Indonesian national holidays and cuti bersama
(``holidays``, country ID, categories public and government), plus the dates a calendar file
adds as holidays or gives back as working days (the yearly decree changes mid-year).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import yaml

from services.domain.data_files import validated
from schemas.events import CalendarRules

DEFAULT_TZ = "Asia/Jakarta"
AGENCY_TIMEZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")  # WIB, WITA, WIT


@lru_cache(maxsize=8)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class WorkingCalendar:
    def __init__(self, extra_holidays: Iterable[date] = (), extra_working_days: Iterable[date] = ()):
        self._extra_holidays = frozenset(extra_holidays)
        self._extra_working = frozenset(extra_working_days)
        self._by_year: dict[int, frozenset[date]] = {}
        # Every complaint of a day asks for the same few deadlines; a walk over the calendar
        # for each was a sixth of the router's time. Bounded by days seen x limits in use.
        self._nth_after: dict[tuple[date, int], date] = {}

    @classmethod
    def from_file(cls, path: Path | None) -> WorkingCalendar:
        """YAML: ``holidays: [YYYY-MM-DD, ...]`` adds days off, ``working_days: [...]`` gives
        days back (a cancelled cuti bersama, say)."""
        rules = calendar_rules_from_file(path)
        return cls(rules.holidays, rules.working_days)

    def _holidays(self, year: int) -> frozenset[date]:
        days = self._by_year.get(year)
        if days is None:
            found = holidays.country_holidays("ID", years=year, categories=("public", "government"))
            days = frozenset(found.keys())
            self._by_year[year] = days
        return days

    def is_working_day(self, day: date) -> bool:
        if day in self._extra_working:
            return True
        if day in self._extra_holidays:
            return False
        return day.weekday() < 5 and day not in self._holidays(day.year)

    def nth_working_day_after(self, day: date, n: int) -> date:
        """The n-th working day strictly after `day` (n >= 1); `day` itself is not counted."""
        if n < 1:
            raise ValueError("n must be at least 1")
        found = self._nth_after.get((day, n))
        if found is not None:
            return found
        current, counted = day, 0
        while counted < n:
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        self._nth_after[(day, n)] = current
        return current

    def working_days_between(self, after: date, until: date) -> int:
        """Working days in the half-open range (after, until]."""
        count, current = 0, after
        while current < until:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def deadline(self, start: datetime, n: int, tz: str = DEFAULT_TZ,
                 pauses: Iterable[tuple[datetime, datetime]] = ()) -> datetime:
        """00:00 local after the n-th working day following the start's local date, pushed
        back by the working days of each pause (P, R] in local dates."""
        local_zone = zone(tz)
        extra = sum(
            self.working_days_between(p.astimezone(local_zone).date(), r.astimezone(local_zone).date())
            for p, r in pauses
        )
        start_day = start.astimezone(local_zone).date()
        last = self.nth_working_day_after(start_day, n + extra)
        return datetime.combine(last + timedelta(days=1), time(0), tzinfo=local_zone)


def calendar_rules_from_file(path: Path | None) -> CalendarRules:
    """The calendar file as data (its dates are part of rules version 1)."""
    if path is None:
        return CalendarRules()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or set(data) - {"holidays", "working_days"}:
        raise ValueError(f"{path}: expected only the keys 'holidays' and 'working_days'")
    return validated(path, CalendarRules, data)


@lru_cache(maxsize=4)
def load_calendar(path: Path | None) -> WorkingCalendar:
    return WorkingCalendar.from_file(path)
