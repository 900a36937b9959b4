"""Disposition by an agency's rules: every criterion a rule names must match; the highest
priority wins, then the first in the file; a retired unit's rule is skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import Category, DispositionRule, LaporCategory, Unit, UnitSet
from services.domain.disposition import ComplaintFacts, Disposition, dispose
from services.domain.units import AgencyUnits

ROAD = LaporCategory(main="PEKERJAAN UMUM DAN PENATAAN RUANG", sub="JALAN BERLUBANG")
UNITS = [Unit(unit_id=u, name=u.upper()) for u in ("a", "b", "c")] + [
    Unit(unit_id="old", name="OLD", retired=True)]


def rule(rule_id: str, unit_id: str, **kw: Any) -> DispositionRule:
    return DispositionRule(rule_id=rule_id, unit_id=unit_id, explanation=f"why {rule_id}", **kw)


def units(*rules: DispositionRule) -> AgencyUnits:
    return AgencyUnits.of(UnitSet(agency_id="pemda-32-73", version=1,
                                  published_at=datetime(2026, 3, 2, tzinfo=UTC),
                                  units=UNITS, rules=list(rules)))


def facts(text: str = "Jalan rusak", category: Category = Category.roads_infrastructure,
          lapor: LaporCategory | None = None, region: str | None = "32.73.02") -> ComplaintFacts:
    return ComplaintFacts(category=category, lapor_category=lapor, text=text, region_code=region)


def unit_of(found: Disposition | None) -> str | None:
    return found.unit_id if found else None


def test_a_match_names_the_unit_rule_and_explanation() -> None:
    found = dispose(facts(), units(rule("r1", "a", categories=[Category.roads_infrastructure])))
    assert found == Disposition("a", "A", "r1", "why r1")


def test_no_rule_matches_none() -> None:
    assert dispose(facts(), units(rule("r1", "a", categories=[Category.water]))) is None
    assert dispose(facts(), units()) is None


def test_a_rule_without_criteria_takes_everything() -> None:
    assert unit_of(dispose(facts(), units(rule("all", "a")))) == "a"


def test_the_highest_priority_wins() -> None:
    found = dispose(facts(), units(rule("low", "a"), rule("high", "b", priority=2),
                                   rule("mid", "c", priority=1)))
    assert unit_of(found) == "b"


def test_equal_priorities_the_first_in_the_file_wins() -> None:
    assert unit_of(dispose(facts(), units(rule("one", "b"), rule("two", "a")))) == "b"
    assert unit_of(dispose(facts(), units(rule("two", "a"), rule("one", "b")))) == "a"


def test_a_retired_units_rule_is_skipped() -> None:
    assert unit_of(dispose(facts(), units(rule("gone", "old", priority=5), rule("next", "a")))) == "a"


def test_every_named_criterion_must_match() -> None:
    r = rule("r", "a", categories=[Category.roads_infrastructure], keywords=["berlubang"])
    assert unit_of(dispose(facts("Jalan berlubang"), units(r))) == "a"
    assert dispose(facts("Jalan rusak"), units(r)) is None  # the keyword misses
    assert dispose(facts("Jalan berlubang", Category.water), units(r)) is None  # the category


def test_lapor_category_main_and_sub() -> None:
    main = rule("main", "a", lapor_categories=[LaporCategory(main=ROAD.main)])
    sub = rule("sub", "b", lapor_categories=[ROAD])
    assert unit_of(dispose(facts(lapor=ROAD), units(sub, main))) == "b"
    other = LaporCategory(main=ROAD.main, sub="JEMBATAN")
    assert unit_of(dispose(facts(lapor=other), units(sub, main))) == "a"
    assert dispose(facts(lapor=None), units(sub, main)) is None
    assert dispose(facts(lapor=LaporCategory(main="KESEHATAN")), units(sub, main)) is None


def test_categories_any_of() -> None:
    r = rule("r", "a", categories=[Category.water, Category.roads_infrastructure])
    assert unit_of(dispose(facts(), units(r))) == "a"
    assert dispose(facts(category=Category.education), units(r)) is None


def test_keywords_are_whole_words_case_folded() -> None:
    r = rule("r", "a", keywords=["pju", "lampu jalan"])
    assert unit_of(dispose(facts("PJU mati"), units(r))) == "a"
    assert unit_of(dispose(facts("Lampu  Jalan, mati!"), units(r))) == "a"
    assert dispose(facts("Lampu di jalan mati"), units(r)) is None
    assert dispose(facts("PJUTS mati"), units(r)) is None  # part of a word is no match
    assert dispose(facts("sepju"), units(r)) is None


def test_regions_are_prefixes_by_whole_code_parts() -> None:
    r = rule("r", "a", regions=["32.73"])
    assert unit_of(dispose(facts(region="32.73"), units(r))) == "a"
    assert unit_of(dispose(facts(region="32.73.02"), units(r))) == "a"
    assert unit_of(dispose(facts(region="32.73.02.1001"), units(r))) == "a"
    assert dispose(facts(region="32.7"), units(r)) is None
    assert dispose(facts(region="32.74.01"), units(r)) is None
    assert dispose(facts(region=None), units(r)) is None
    province = rule("p", "a", regions=["32"])
    assert dispose(facts(region="33.73"), units(province)) is None
