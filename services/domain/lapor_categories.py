"""LAPOR!'s own category taxonomy (38 main, 929 sub-categories, as its report pages show
them) and the map from the project's categories to it. Pure.

LAPOR!'s names are upper case Bahasa Indonesia and, as published, hold non-breaking spaces;
a name is compared after folding case and whitespace, and always written in the taxonomy's
own spelling (with plain spaces)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

from schemas import Category, LaporCategory

_SPACES = re.compile(r"\s+")


def fold(name: str) -> str:
    """A name as compared: non-breaking and repeated spaces as one space, upper case."""
    return _SPACES.sub(" ", name.replace("\xa0", " ")).strip().upper()


@lru_cache(maxsize=1)
def taxonomy() -> Mapping[str, tuple[str, ...]]:
    """Main category -> its sub-categories, in the taxonomy's order, names folded."""
    text = resources.files("services.domain").joinpath("data/lapor_categories.json").read_text()
    raw: dict[str, list[str]] = json.loads(text)["categories"]
    return {fold(main): tuple(dict.fromkeys(fold(s) for s in subs)) for main, subs in raw.items()}


# The project's categories as LAPOR! files them (its main categories; `other` has its own).
FROM_CATEGORY: Mapping[Category, str] = {
    Category.population_documents: "KEPENDUDUKAN",
    Category.health_insurance: "KESEHATAN",
    Category.employment_insurance: "KETENAGAKERJAAN",
    Category.electricity: "ENERGI DAN SUMBER DAYA ALAM",
    Category.social_assistance: "SOSIAL DAN KESEJAHTERAAN",
    Category.education: "PENDIDIKAN DAN KEBUDAYAAN",
    Category.roads_infrastructure: "PEKERJAAN UMUM DAN PENATAAN RUANG",
    Category.public_order: "KETENTERAMAN, KETERTIBAN UMUM, DAN PELINDUNGAN MASYARAKAT",
    Category.health_services: "KESEHATAN",
    Category.water: "PEKERJAAN UMUM DAN PENATAAN RUANG",
    Category.environment: "LINGKUNGAN HIDUP DAN KEHUTANAN",
    Category.transportation: "PERHUBUNGAN",
    Category.land_housing: "PEKERJAAN UMUM DAN PENATAAN RUANG",
    Category.taxes: "EKONOMI DAN KEUANGAN",
    Category.civil_service: "POLITIK DAN HUKUM",
    Category.religion_hajj: "AGAMA",
    Category.telecommunication: "TEKNOLOGI INFORMASI DAN KOMUNIKASI",
    Category.manpower: "KETENAGAKERJAAN",
    Category.village_funds: "PEMBANGUNAN DESA, DAERAH TERTINGGAL, DAN TRANSMIGRASI",
    Category.other: "TOPIK LAINNYA",
}


def known(category: LaporCategory) -> LaporCategory | None:
    """The category in the taxonomy's spelling, or None when LAPOR! has no such main
    category, or no such sub-category under it."""
    main = fold(category.main)
    subs = taxonomy().get(main)
    if subs is None:
        return None
    if category.sub is None:
        return LaporCategory(main=main)
    sub = fold(category.sub)
    return LaporCategory(main=main, sub=sub) if sub in subs else None


def from_category(category: Category) -> LaporCategory:
    return LaporCategory(main=FROM_CATEGORY[category])


def matches(wanted: LaporCategory, given: LaporCategory | None) -> bool:
    """A rule's category matches a complaint's when the main ones are the same and, if the
    rule names a sub-category, the sub-categories too."""
    if given is None or fold(wanted.main) != fold(given.main):
        return False
    return wanted.sub is None or (given.sub is not None and fold(wanted.sub) == fold(given.sub))
