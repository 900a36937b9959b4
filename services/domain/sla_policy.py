"""Clock limits in working days (contract defaults; a policy file may override per agency)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import yaml

from schemas import ClockName, SlaTier
from services.domain.data_files import validated
from schemas.events import LimitsRules, PolicyRules
from services.domain.calendar import WorkingCalendar


@dataclass(frozen=True)
class Limits:
    first_response: int = 3
    follow_up: int = 5
    resolution_dispute: int = 14
    resolution_field: int = 60
    auto_close: int = 10

    def resolution(self, field_inspection: bool) -> int:
        return self.resolution_field if field_inspection else self.resolution_dispute


@dataclass(frozen=True)
class Policy:
    default: Limits
    per_agency: dict[str, Limits]

    def limits(self, agency_id: str | None) -> Limits:
        return self.per_agency.get(agency_id or "", self.default)


def load_policy(path: Path | None) -> Policy:
    """YAML: ``default: {first_response: 3, ...}`` and ``agencies: {pln: {follow_up: 4}}``."""
    return policy_of(policy_rules_from_file(path))


def policy_of(rules: PolicyRules) -> Policy:
    """The contract's limits, overridden by the rules' default, then by each agency's."""
    def limits(base: Limits, values: LimitsRules) -> Limits:
        return replace(base, **values.model_dump(exclude_none=True))

    default = limits(Limits(), rules.default)
    return Policy(default, {a: limits(default, v) for a, v in rules.agencies.items()})


@lru_cache(maxsize=4)
def policy_rules_from_file(path: Path | None) -> PolicyRules:
    """The policy file as data (its limits are part of rules version 1)."""
    if path is None:
        return PolicyRules()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    fields = set(Limits.__dataclass_fields__)
    for where, values in [("default", data.get("default") or {}),
                          *((f"agencies.{a}", v) for a, v in (data.get("agencies") or {}).items())]:
        if not isinstance(values, dict) or set(values) - fields:
            raise ValueError(f"{path}: {where}: expected keys among {sorted(fields)}")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values.values()):
            raise ValueError(f"{path}: {where}: limits are whole numbers of working days >= 1")
    return validated(path, PolicyRules, data)


def routing_deadlines(calendar: WorkingCalendar, limits: Limits, tz: str, sla_tier: SlaTier,
                      field_inspection: bool, first_response_start: datetime,
                      routed_at: datetime) -> dict[ClockName, datetime]:
    """The deadlines an agency learns when a complaint is routed to it (no pauses yet)."""
    out = {ClockName.first_response: calendar.deadline(first_response_start, limits.first_response, tz)}
    if sla_tier is SlaTier.standard_5d:
        out[ClockName.follow_up] = calendar.deadline(routed_at, limits.follow_up, tz)
    else:
        field = field_inspection or sla_tier is SlaTier.field_60d
        out[ClockName.resolution] = calendar.deadline(routed_at, limits.resolution(field), tz)
    return out
