"""`lapor units` without the broker: a units file is checked whole (refusals name the file
and the entry), `show` draws the tree with retired units marked, `explain` says rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import Category, LaporCategory
from services.domain.disposition import ComplaintFacts
from services.domain.registry import load_registry
from services.domain.unit_catalogue import starting_units
from services.domain.units import AgencyUnits
from services.tools.units import UnitsFileError, explain, parse_lapor_category, read_units_file, show_lines

REGISTRY = load_registry()
AT = datetime(2026, 3, 2, tzinfo=UTC)
PREVIOUS = starting_units(REGISTRY)("kpk")
KPK_UNITS = "".join(f"  - {{unit_id: {u.unit_id}, name: \"{u.name}\"}}\n" for u in PREVIOUS.units)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "units.yaml"
    path.write_text(text)
    return path


def read(path: Path) -> object:
    return read_units_file(path, 1, AT, PREVIOUS, REGISTRY)


def test_a_good_file_becomes_the_next_version(tmp_path: Path) -> None:
    path = write(tmp_path, "agency_id: kpk\nversion: 7\nverification_days: 2\nunits:\n" + KPK_UNITS
                 + "  - {unit_id: direktorat-gratifikasi, name: Direktorat Gratifikasi,"
                   " parent_id: kedeputian-pencegahan}\n"
                 "rules:\n  - {rule_id: gratifikasi, unit_id: direktorat-gratifikasi,"
                 " keywords: [gratifikasi], explanation: Gratifikasi}\n")
    unit_set = read_units_file(path, 3, AT, PREVIOUS, REGISTRY, note="SK 1/2026")
    assert unit_set.version == 3 and unit_set.verification_days == 2 and unit_set.note == "SK 1/2026"
    assert unit_set.published_at == AT  # the file's version and time are not the publication's


@pytest.mark.parametrize(("text", "message"), [
    ("agency_id: nobody\nunits: []\n", "agency_id: 'nobody' is not a registered agency"),
    ("agency_id: pln\nunits: []\n", "agency_id pln is not kpk"),
    ("agency_id: kpk\nunit: []\n", "unknown key(s) unit"),
    ("[1, 2]\n", "expected a mapping"),
    ("agency_id: kpk\nunits: [\n", "not YAML"),
    ("agency_id: kpk\nunits:\n" + KPK_UNITS + "  - {unit_id: Bad Id, name: X}\n",
     "units[7] (Bad Id).unit_id: String should match pattern"),
    ("agency_id: kpk\nunits:\n" + KPK_UNITS + "rules:\n  - {rule_id: r1, unit_id: inspektorat}\n",
     "rules[0] (r1).explanation: Field required"),
    ("agency_id: kpk\nunits:\n" + KPK_UNITS.replace("  - {unit_id: inspektorat,", "  - {unit_id: kpk-x,"),
     "units: inspektorat was in version 0: retire it"),
    ("agency_id: kpk\nunits:\n" + KPK_UNITS + "rules:\n  - {rule_id: r1, unit_id: inspektorat,"
     " explanation: x, lapor_categories: [{main: NOPE}]}\n", "rules: r1: LAPOR! has no category NOPE"),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UnitsFileError) as refused:
        read(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


def test_show_draws_the_tree_with_retired_units_and_the_rules() -> None:
    unit_set = starting_units(REGISTRY)("pemda-32-73")
    units = [u.model_copy(update={"retired": True}) if u.unit_id == "dinas-perkim" else u
             for u in unit_set.units]
    lines = show_lines(AgencyUnits.of(unit_set.model_copy(update={"units": units})))
    text = "\n".join(lines)
    assert lines[0].startswith("pemda-32-73: units version 0 (starting set)")
    assert "  dinas-perkim: Dinas Perumahan dan Kawasan Permukiman Kota Bandung  (retired)" in lines
    assert "    rsud: Rumah Sakit Umum Daerah Kota Bandung" in lines  # under Dinas Kesehatan
    assert lines.index("    rsud: Rumah Sakit Umum Daerah Kota Bandung") == lines.index(
        "  dinas-kesehatan: Dinas Kesehatan Kota Bandung") + 1
    assert "  kec-32-73-02: Kecamatan Coblong  [32.73.02]" in lines
    assert "units (47 active of 48):" in text
    assert "  rsud (priority 1) -> rsud: category=health_services category=health_insurance " \
           "keywords=rsud,rumah sakit  \"Pelayanan rumah sakit daerah: RSUD\"" in lines


def test_parse_lapor_category_splits_at_the_first_slash() -> None:
    assert parse_lapor_category("KEPENDUDUKAN") == LaporCategory(main="KEPENDUDUKAN")
    assert parse_lapor_category("KEPENDUDUKAN/SURAT KETERANGAN TEMPAT TINGGAL / DOMISILI") == LaporCategory(
        main="KEPENDUDUKAN", sub="SURAT KETERANGAN TEMPAT TINGGAL / DOMISILI")


def test_explain_says_which_rule_is_chosen_and_which_match_lower() -> None:
    units = AgencyUnits.of(starting_units(REGISTRY)("pemda-32-73"))
    facts = ComplaintFacts(Category.roads_infrastructure, None, "Jalan berlubang", "32.73.02")
    found, lines = explain(units, facts)
    assert found is not None and found.unit_id == "dinas-pupr"
    assert "  jalan-air (priority 0) -> dinas-pupr: chosen" in lines
    assert "  kec-32-73-02 (priority -1) -> kec-32-73-02: matches (ranked lower)" in lines
    assert "  pendidikan (priority 0) -> dinas-pendidikan: no match" in lines


def test_a_set_too_large_for_its_records_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Within the wire model's limits (2000 units, 2000 rules, keywords unbounded) a set can
    be megabytes: past the broker's record limit (1 MiB by default) agency.units.v1 could take
    it while its announcement on the ticks (larger) or the router's stored copy (its JSON
    escaped inside JSON) could not. The file is refused whole, with its size."""
    units = "".join(f"  - {{unit_id: unit-{i:04d}, name: {'N' * 200}}}\n" for i in range(1990))
    rules = "".join(f"  - {{rule_id: r{i:04d}, unit_id: unit-{i:04d}, explanation: {'E' * 300}}}\n"
                    for i in range(1990))
    path = write(tmp_path, "agency_id: kpk\nunits:\n" + KPK_UNITS + units + "rules:\n" + rules)
    with pytest.raises(UnitsFileError) as refused:
        read(path)
    assert str(refused.value).startswith(f"{path}: ") and "bytes as published" in str(refused.value)
    fits = "".join(f"  - {{unit_id: unit-{i:04d}, name: {'N' * 200}}}\n" for i in range(500))
    assert read(write(tmp_path, "agency_id: kpk\nunits:\n" + KPK_UNITS + fits))  # 500 long names fit
