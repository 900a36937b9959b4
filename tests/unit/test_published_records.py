"""What `lapor units publish|show` and `lapor rules publish|show` read of their topics: the
record every reader keeps in force, and a stray record (not a unit set, not a rules version)
or a tombstone passed over as the readers pass it over, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import RulesVersion
from services.domain.rules import shipped_version
from services.runtime.topic_read import TopicRecord
from services.runtime.topics import RULES, UNITS
from services.tools.rules import first_of_number, versions_of
from services.tools.units import in_force_record, unit_sets
from tests.unit.test_units import unit_set

BDG = "pemda-32-73"
AT = datetime(2026, 3, 2, tzinfo=UTC)


def on(topic: str, offset: int, key: str, value: bytes | None) -> TopicRecord:
    return TopicRecord(topic, 0, offset, 0, key.encode(), value)


def rules_version(number: int, note: str) -> bytes:
    shipped = shipped_version(None, None)
    return shipped.model_copy(update={"version": number, "published_at": AT, "note": note}).to_bytes()


def test_the_units_in_force_are_the_first_record_of_the_highest_version() -> None:
    records = [
        on(UNITS, 0, BDG, unit_set(1).model_copy(update={"note": "first"}).to_bytes()),
        on(UNITS, 1, BDG, b"not a unit set"),
        on(UNITS, 2, BDG, unit_set(2).model_copy(update={"note": "second"}).to_bytes()),
        on(UNITS, 3, BDG, unit_set(1).model_copy(update={"note": "late"}).to_bytes()),  # read before v2
        on(UNITS, 4, BDG, unit_set(2).model_copy(update={"note": "rival"}).to_bytes()),  # the same number
        on(UNITS, 5, "pln", unit_set(7, agency_id="pln").to_bytes()),  # another agency's
        on(UNITS, 6, BDG, None),
    ]
    kept = in_force_record(records, BDG)
    assert kept is not None and kept.offset == 2
    assert [s.note for s in unit_sets(records)] == ["first", "second", "late", "rival", None]


def test_a_rules_number_published_twice_keeps_its_first_record_and_strays_are_passed_over() -> None:
    records = [on(RULES, 0, "2", b"{not json"), on(RULES, 1, "2", rules_version(2, "first")),
               on(RULES, 2, "2", rules_version(2, "second")), on(RULES, 3, "3", None)]
    first = first_of_number(records, 2)
    assert first is not None and first.offset == 1
    assert first_of_number(records, 3) is None
    versions = versions_of(records, shipped_version(None, None))
    assert [(v.version, v.note) for v in versions] == [(1, "shipped files"), (2, "first")]
    assert all(isinstance(v, RulesVersion) for v in versions)
