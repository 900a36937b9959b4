"""LAPOR!'s taxonomy: names compared folded (case, non-breaking and repeated spaces), always
written in the taxonomy's spelling, and the map from the project's categories."""

from __future__ import annotations

from schemas import Category, LaporCategory
from services.domain import lapor_categories as lc


def test_fold_makes_nbsp_and_repeated_spaces_one_space_upper_case() -> None:
    assert lc.fold("pekerjaan\xa0umum  dan\tpenataan ruang ") == "PEKERJAAN UMUM DAN PENATAAN RUANG"


def test_the_taxonomy_has_its_main_categories_without_nbsp() -> None:
    tax = lc.taxonomy()
    assert len(tax) == 38
    assert all("\xa0" not in m and all("\xa0" not in s for s in subs) for m, subs in tax.items())
    assert "JALAN BERLUBANG" in tax["PEKERJAAN UMUM DAN PENATAAN RUANG"]


def test_known_answers_in_the_taxonomys_spelling() -> None:
    given = LaporCategory(main="Pekerjaan\xa0Umum dan Penataan Ruang", sub="jalan  berlubang")
    assert lc.known(given) == LaporCategory(main="PEKERJAAN UMUM DAN PENATAAN RUANG",
                                            sub="JALAN BERLUBANG")
    assert lc.known(LaporCategory(main="kesehatan")) == LaporCategory(main="KESEHATAN")


def test_known_refuses_an_unknown_main_or_a_sub_of_another_main() -> None:
    assert lc.known(LaporCategory(main="JALAN BERLUBANG")) is None
    assert lc.known(LaporCategory(main="KESEHATAN", sub="JALAN BERLUBANG")) is None
    assert lc.known(LaporCategory(main="KESEHATAN", sub="NO SUCH THING")) is None


def test_every_project_category_maps_to_a_main_category_lapor_knows() -> None:
    for category in Category:
        mapped = lc.from_category(category)
        assert mapped.sub is None and lc.known(mapped) == mapped, category
    assert lc.from_category(Category.roads_infrastructure).main == "PEKERJAAN UMUM DAN PENATAAN RUANG"


def test_matches_main_and_when_named_the_sub() -> None:
    road = LaporCategory(main="PEKERJAAN UMUM DAN PENATAAN RUANG", sub="JALAN BERLUBANG")
    main = LaporCategory(main="pekerjaan\xa0umum dan penataan ruang")
    assert lc.matches(main, road)  # a rule's main category takes every sub-category
    assert lc.matches(road, LaporCategory(main=road.main, sub="jalan berlubang"))
    assert not lc.matches(road, main)  # a rule's sub-category needs the complaint's
    assert not lc.matches(road, LaporCategory(main=road.main, sub="JEMBATAN"))
    assert not lc.matches(main, LaporCategory(main="KESEHATAN"))
    assert not lc.matches(main, None)
