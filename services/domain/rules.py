"""Versions of the calendar and the SLA policy (sla.rules.v1). Pure.

A version is the whole calendar (dates on top of the `holidays` package) and the whole
policy, in force from its `effective_from` (event time). Version 1 is the shipped files
(LAPOR_CALENDAR_FILE, LAPOR_SLA_POLICY_FILE); `lapor rules publish` adds the next ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Protocol, TypeVar

import yaml

from schemas import RulesVersion
from schemas.events import CalendarRules, PolicyRules
from services.domain.calendar import WorkingCalendar, calendar_rules_from_file
from services.domain.data_files import validated
from services.domain.sla_policy import Policy, policy_of, policy_rules_from_file

SHIPPED = 1
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)  # version 1 is in force from the start


@dataclass(frozen=True)
class RuleSet:
    """A version ready to use: its calendar and policy built."""

    version: int
    effective_from: datetime
    calendar: WorkingCalendar
    policy: Policy


def shipped_version(calendar_file: Path | None, policy_file: Path | None) -> RulesVersion:
    return RulesVersion(version=SHIPPED, effective_from=BEGINNING, published_at=BEGINNING,
                        calendar=calendar_rules_from_file(calendar_file),
                        policy=policy_rules_from_file(policy_file), note="shipped files")


@lru_cache(maxsize=64)
def rule_set_of(wire: str) -> RuleSet:
    """The RuleSet of a version's JSON (cached: building a calendar's years is not free, and
    every worker asks for the same few versions)."""
    v = RulesVersion.model_validate_json(wire)
    return RuleSet(v.version, v.effective_from,
                   WorkingCalendar(v.calendar.holidays, v.calendar.working_days), policy_of(v.policy))


def read_rules_file(path: Path) -> tuple[CalendarRules, PolicyRules]:
    """YAML with ``calendar: {holidays: [..], working_days: [..]}`` and ``policy: {default:
    {..}, agencies: {id: {..}}}``: the whole rules of a new version (what a key leaves out is
    the contract's default, not the previous version's)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or set(data) - {"calendar", "policy"}:
        raise ValueError(f"{path}: expected only the keys 'calendar' and 'policy'")
    return (validated(path, CalendarRules, data.get("calendar") or {}),
            validated(path, PolicyRules, data.get("policy") or {}))


def new_version(path: Path, version: int, effective_from: datetime, published_at: datetime,
                note: str | None = None) -> RulesVersion:
    if version <= SHIPPED:
        raise ValueError(f"version {version}: version 1 is the shipped files; publish 2 and up")
    if effective_from.tzinfo is None:
        raise ValueError("the effective time needs a UTC offset")
    calendar, policy = read_rules_file(path)
    return RulesVersion(version=version, effective_from=effective_from, published_at=published_at,
                        calendar=calendar, policy=policy, note=note)


class Versioned(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def effective_from(self) -> datetime: ...


V = TypeVar("V", bound=Versioned)


def in_force(versions: Iterable[V], at: datetime) -> V | None:
    """The highest version whose effective time has come by `at` (a later number wins over
    an earlier one with an earlier effective time)."""
    ready = [v for v in versions if v.effective_from <= at]
    return max(ready, key=lambda v: v.version) if ready else None
