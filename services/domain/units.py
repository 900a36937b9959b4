"""Each agency's units (unit kerja, OPD) in force, and what makes a unit set valid. Pure.

An agency that never published its units has the shipped starting set (version 0,
`starting_units`); a published set (agency.units.v1, announced on every ticks partition
like a rules version) replaces it whole from its version on. A reader applies each version
once and never goes back to an older one, so a repeat or a late copy changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from schemas import Unit, UnitSet
from services.domain import lapor_categories

STARTING_VERSION = 0


@dataclass(frozen=True)
class AgencyUnits:
    """One agency's units and rules in force (an agency with none: every lookup is None)."""

    unit_set: UnitSet
    by_id: Mapping[str, Unit] = field(default_factory=dict)

    @classmethod
    def of(cls, unit_set: UnitSet) -> AgencyUnits:
        return cls(unit_set, {u.unit_id: u for u in unit_set.units})

    @property
    def agency_id(self) -> str:
        return self.unit_set.agency_id

    @property
    def version(self) -> int:
        return self.unit_set.version

    def unit(self, unit_id: str | None) -> Unit | None:
        """A unit of the agency, retired or not (old statuses still name retired ones)."""
        return self.by_id.get(unit_id) if unit_id is not None else None

    def active(self, unit_id: str | None) -> Unit | None:
        """A unit a complaint may be dispositioned to now."""
        unit = self.unit(unit_id)
        return unit if unit is not None and not unit.retired else None

    def active_units(self) -> list[Unit]:
        return [u for u in self.unit_set.units if not u.retired]


def empty_set(agency_id: str, at: datetime) -> UnitSet:
    return UnitSet(agency_id=agency_id, version=STARTING_VERSION, published_at=at)


StartingUnits = Callable[[str], UnitSet]  # agency id -> its version-0 set


class UnitsBook:
    """Every agency's units in force: the starting sets, replaced by published versions."""

    def __init__(self, starting: StartingUnits,
                 published: Iterable[UnitSet] = ()) -> None:
        self._starting = starting
        self._published: dict[str, UnitSet] = {}
        self._cache: dict[str, AgencyUnits] = {}
        for unit_set in published:
            self.apply(unit_set)

    def apply(self, unit_set: UnitSet) -> bool:
        """Take a published version; False for one not newer than what is in force."""
        current = self._published.get(unit_set.agency_id)
        if unit_set.version <= (current.version if current else STARTING_VERSION):
            return False
        self._published[unit_set.agency_id] = unit_set
        self._cache.pop(unit_set.agency_id, None)
        return True

    def of(self, agency_id: str) -> AgencyUnits:
        units = self._cache.get(agency_id)
        if units is None:
            chosen = self._published.get(agency_id) or self._starting(agency_id)
            units = self._cache[agency_id] = AgencyUnits.of(chosen)
        return units


def problems(unit_set: UnitSet, previous: UnitSet | None = None) -> list[str]:
    """What is wrong with a unit set an agency would publish; empty when it may be.

    - unit ids are unique, a parent is a unit of the set and no unit is its own ancestor;
    - a rule names an active unit, LAPOR! categories LAPOR! knows, unique rule ids;
    - no unit of the previous version disappears (retire it instead: statuses name it)."""
    found: list[str] = []
    ids = [u.unit_id for u in unit_set.units]
    seen: set[str] = set()
    for unit_id in ids:
        if unit_id in seen:
            found.append(f"units: {unit_id} appears twice")
        seen.add(unit_id)
    parents = {u.unit_id: u.parent_id for u in unit_set.units}
    for unit in unit_set.units:
        if unit.parent_id is not None and unit.parent_id not in parents:
            found.append(f"units: {unit.unit_id}: parent {unit.parent_id} is not a unit of the set")
        chain, at = {unit.unit_id}, unit.parent_id
        while at is not None and at in parents:
            if at in chain:
                found.append(f"units: {unit.unit_id} is its own ancestor")
                break
            chain.add(at)
            at = parents[at]
    active = {u.unit_id for u in unit_set.units if not u.retired}
    rule_ids: set[str] = set()
    for rule in unit_set.rules:
        if rule.rule_id in rule_ids:
            found.append(f"rules: {rule.rule_id} appears twice")
        rule_ids.add(rule.rule_id)
        if rule.unit_id not in active:
            found.append(f"rules: {rule.rule_id}: unit {rule.unit_id} is not an active unit of the set")
        for category in rule.lapor_categories:
            if lapor_categories.known(category) is None:
                found.append(f"rules: {rule.rule_id}: LAPOR! has no category {category.main}"
                             + (f" / {category.sub}" if category.sub else ""))
    if previous is not None:
        for gone in sorted({u.unit_id for u in previous.units} - seen):
            found.append(f"units: {gone} was in version {previous.version}: retire it "
                         "(retired: true) instead of removing it")
    return found
