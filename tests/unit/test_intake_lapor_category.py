"""Intake and LAPOR!'s own category: a channel's category LAPOR! knows is kept (in the
taxonomy's spelling), an unknown one is dropped with a warning and never rejects, and
otherwise the project's category is mapped; the agency's copy carries it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import AcceptedComplaint, LaporCategory, Role, Submission
from schemas.events import FieldDecision
from services.domain.calendar import WorkingCalendar
from services.domain.registry import load_registry
from services.domain.sla_policy import load_policy
from services.intake.accept import accept
from services.intake.classify import Classifier, load_rules
from services.router.deliver import agency_message
from services.router.holdings import Delivery
from tests.examples import VALID
from tests.ids import TEST_KEY

CLASSIFIER = Classifier(load_rules())
LATER = datetime(2026, 3, 3, tzinfo=UTC)
ROAD = {"main": "Pekerjaan\u00a0Umum dan Penataan Ruang", "sub": "jalan berlubang"}


def accepted(**fields: Any) -> AcceptedComplaint:
    data = {**VALID[Submission], "body": "Jalan berlubang di depan sekolah", **fields}
    result = accept(Submission.model_validate(data), LATER, CLASSIFIER, TEST_KEY)
    assert isinstance(result, AcceptedComplaint)
    return result


def test_a_category_lapor_knows_is_kept_in_its_spelling() -> None:
    c = accepted(lapor_category=ROAD)
    assert c.lapor_category == LaporCategory(main="PEKERJAAN UMUM DAN PENATAAN RUANG", sub="JALAN BERLUBANG")
    assert c.classification["lapor_category"] == FieldDecision(source="channel")
    assert not c.warnings


def test_a_main_category_alone_is_kept() -> None:
    c = accepted(lapor_category={"main": "kesehatan"}, category="roads_infrastructure")
    assert c.lapor_category == LaporCategory(main="KESEHATAN")  # the channel's, not the mapped one


def test_an_unknown_category_is_dropped_with_a_warning_and_mapped() -> None:
    for unknown in ({"main": "JALAN"}, {"main": "KESEHATAN", "sub": "JALAN BERLUBANG"}):
        c = accepted(lapor_category=unknown, category="roads_infrastructure")
        assert c.lapor_category == LaporCategory(main="PEKERJAAN UMUM DAN PENATAAN RUANG")
        assert c.classification["lapor_category"] == FieldDecision(source="inferred", rule="category_map")
        assert c.warnings is not None and len(c.warnings) == 1
        warning = c.warnings[0]
        assert (warning.field, warning.code) == ("lapor_category", "unknown_lapor_category")
        assert unknown["main"] in warning.msg


def test_an_unknown_category_keeps_the_region_warning_too() -> None:
    c = accepted(lapor_category={"main": "NOPE"}, location={"region_code": "99.99"})
    assert c.warnings is not None
    assert sorted(w.field for w in c.warnings) == ["lapor_category", "location.region_code"]


def test_absent_it_is_mapped_from_the_category() -> None:
    c = accepted(category="health_insurance")
    assert c.lapor_category == LaporCategory(main="KESEHATAN")
    assert c.classification["lapor_category"] == FieldDecision(source="inferred", rule="category_map")
    inferred = accepted()  # the category itself inferred from the text
    assert inferred.category.value == "roads_infrastructure"
    assert inferred.lapor_category == LaporCategory(main="PEKERJAAN UMUM DAN PENATAAN RUANG")
    assert not inferred.warnings or all(w.code != "unknown_lapor_category" for w in inferred.warnings)


def test_the_agencys_copy_carries_it_anonymous_included() -> None:
    registry = load_registry()
    for privacy in ("public", "anonymous"):
        c = accepted(lapor_category=ROAD, privacy=privacy)
        d = Delivery("pemda-32-73", Role.primary, "r", "reason", 1, LATER)
        message = agency_message(c, d, registry, WorkingCalendar(), load_policy(None))
        assert message.lapor_category == c.lapor_category
