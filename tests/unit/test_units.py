"""UnitsBook (newer versions only, so repeats and late copies change nothing) and what makes
a unit set valid (`problems`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import DispositionRule, LaporCategory, Unit, UnitSet
from services.domain.units import UnitsBook, empty_set, problems

AT = datetime(2026, 3, 2, tzinfo=UTC)


def unit_set(version: int, units: list[Unit] | None = None, rules: list[DispositionRule] | None = None,
             agency_id: str = "pemda-32-73") -> UnitSet:
    return UnitSet(agency_id=agency_id, version=version, published_at=AT,
                   units=units if units is not None else [Unit(unit_id="dinas-pupr", name="Dinas PUPR")],
                   rules=rules or [])


def rule(rule_id: str = "r", unit_id: str = "dinas-pupr", **kw: Any) -> DispositionRule:
    return DispositionRule(rule_id=rule_id, unit_id=unit_id, explanation="x", **kw)


def starting(agency_id: str) -> UnitSet:
    return unit_set(0, [Unit(unit_id="start", name="Start")], agency_id=agency_id)


def test_the_book_starts_from_the_starting_set() -> None:
    book = UnitsBook(starting)
    assert book.of("pemda-32-73").version == 0
    assert book.of("pemda-32-73").unit("start") is not None


def test_a_newer_version_replaces_the_set_whole() -> None:
    book = UnitsBook(starting)
    assert book.apply(unit_set(1))
    units = book.of("pemda-32-73")
    assert units.version == 1 and units.unit("start") is None and units.unit("dinas-pupr") is not None
    assert book.of("pln").version == 0  # another agency keeps its own


def test_a_repeat_or_an_older_version_changes_nothing() -> None:
    book = UnitsBook(starting, [unit_set(2)])
    assert not book.apply(unit_set(2, [Unit(unit_id="other", name="Other")]))
    assert not book.apply(unit_set(1, [Unit(unit_id="older", name="Older")]))
    assert not book.apply(unit_set(0, [Unit(unit_id="zero", name="Zero")]))
    units = book.of("pemda-32-73")
    assert units.version == 2 and units.unit("dinas-pupr") is not None and units.unit("other") is None


def test_active_skips_retired_units_and_unit_finds_them() -> None:
    book = UnitsBook(starting, [unit_set(1, [Unit(unit_id="a", name="A"),
                                             Unit(unit_id="b", name="B", retired=True)])])
    units = book.of("pemda-32-73")
    assert units.unit("b") is not None and units.active("b") is None
    assert [u.unit_id for u in units.active_units()] == ["a"]
    assert units.unit(None) is None


def test_a_valid_set_has_no_problems() -> None:
    units = [Unit(unit_id="dinas", name="Dinas"), Unit(unit_id="bidang", name="Bidang", parent_id="dinas")]
    assert problems(unit_set(1, units, [rule(unit_id="bidang")])) == []
    assert problems(empty_set("pln", AT)) == []


def test_a_unit_id_twice() -> None:
    found = problems(unit_set(1, [Unit(unit_id="a", name="A"), Unit(unit_id="a", name="A2")]))
    assert found == ["units: a appears twice"]


def test_a_parent_that_is_not_a_unit() -> None:
    found = problems(unit_set(1, [Unit(unit_id="a", name="A", parent_id="nowhere")]))
    assert found == ["units: a: parent nowhere is not a unit of the set"]


def test_a_cycle_of_parents() -> None:
    found = problems(unit_set(1, [Unit(unit_id="a", name="A", parent_id="b"),
                                  Unit(unit_id="b", name="B", parent_id="a"),
                                  Unit(unit_id="c", name="C", parent_id="c")]))
    assert found == ["units: a is its own ancestor", "units: b is its own ancestor",
                     "units: c is its own ancestor"]


def test_a_rule_to_a_retired_or_unknown_unit() -> None:
    units = [Unit(unit_id="a", name="A"), Unit(unit_id="old", name="Old", retired=True)]
    found = problems(unit_set(1, units, [rule("r1", "old"), rule("r2", "ghost")]))
    assert found == ["rules: r1: unit old is not an active unit of the set",
                     "rules: r2: unit ghost is not an active unit of the set"]


def test_a_rule_id_twice() -> None:
    assert problems(unit_set(1, rules=[rule("r"), rule("r")])) == ["rules: r appears twice"]


def test_an_unknown_lapor_category() -> None:
    found = problems(unit_set(1, rules=[rule(lapor_categories=[
        LaporCategory(main="PEKERJAAN UMUM DAN PENATAAN RUANG", sub="JALAN BERLUBANG"),
        LaporCategory(main="KESEHATAN", sub="JALAN BERLUBANG"),
        LaporCategory(main="NO SUCH")])]))
    assert found == ["rules: r: LAPOR! has no category KESEHATAN / JALAN BERLUBANG",
                     "rules: r: LAPOR! has no category NO SUCH"]


def test_a_unit_removed_instead_of_retired() -> None:
    previous = unit_set(1, [Unit(unit_id="a", name="A"), Unit(unit_id="b", name="B")])
    removed = unit_set(2, [Unit(unit_id="a", name="A")])
    retired = unit_set(2, [Unit(unit_id="a", name="A"), Unit(unit_id="b", name="B", retired=True)])
    assert problems(removed, previous) == [
        "units: b was in version 1: retire it (retired: true) instead of removing it"]
    assert problems(retired, previous) == []
    assert problems(removed) == []  # nothing before it
