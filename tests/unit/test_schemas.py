from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import Submission, WireModel
from schemas.events import ALL_EVENTS
from schemas.export import SCHEMA_DIR, render_schemas, stale_schemas
from tests.examples import INVALID, VALID


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.schema_name)
def test_valid_example_round_trips(model: type[WireModel]) -> None:
    event = model.model_validate(VALID[model])
    again = model.model_validate_json(event.to_bytes())
    assert again == event


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.schema_name)
def test_invalid_example_is_refused_with_its_location(model: type[WireModel]) -> None:
    data, loc = INVALID[model]
    with pytest.raises(ValidationError) as err:
        model.model_validate_json(json.dumps(data))
    assert loc in {str(e["loc"][0]) for e in err.value.errors()}


@pytest.mark.parametrize(
    "stamp",
    ["2026-03-02T09:15:00", "2026-03-02 09:15:00+07:00", "02/03/2026", "2026-03-02",
     "2026-13-02T09:15:00+07:00", "2026-03-02T09:15:00+0700"],
)
def test_timestamps_must_be_rfc3339_with_offset(stamp: str) -> None:
    with pytest.raises(ValidationError):
        Submission.model_validate({**VALID[Submission], "submitted_at": stamp})


@pytest.mark.parametrize("stamp", ["2026-03-02T09:15:00Z", "2026-03-02T09:15:00.123456789+08:00"])
def test_offset_timestamps_are_kept(stamp: str) -> None:
    s = Submission.model_validate({**VALID[Submission], "submitted_at": stamp})
    assert s.submitted_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", ""), ("body", "x" * 20_001), ("body", " \n\t "), ("channel", "fax"),
        ("privacy", "secret"), ("agency_hint", "BPJS"), ("field_inspection", "yes"),
        ("body", 42),
    ],
)
def test_submission_rules(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        Submission.model_validate({**VALID[Submission], field: value})


@pytest.mark.parametrize("nik", ["123", "32730145069000021", "3273019999900002", "abcd014506900002",
                                 "0073014506900002", "3273014506900000"])
def test_bad_nik_is_refused(nik: str) -> None:
    with pytest.raises(ValidationError):
        Submission.model_validate({**VALID[Submission], "reporter": {"nik": nik}})


def test_unknown_fields_are_ignored_and_not_passed_on() -> None:
    s = Submission.model_validate({**VALID[Submission], "x_channel_extra": 1})
    assert "x_channel_extra" not in json.loads(s.to_bytes())


def test_committed_json_schemas_match_the_models() -> None:
    assert stale_schemas() == [], "run `lapor schemas export` and commit schemas/json"
    assert len(list(SCHEMA_DIR.glob("*.schema.json"))) == len(render_schemas())
