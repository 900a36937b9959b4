"""The disposition stage (services/disposition/): an agency's own rules in force give its new
complaints to its units, as the `disposed` status its admin would have written, marked with
its rule, on the stage's own topic disposition.auto.v1 (then judged like any other). The rules' matching itself: test_disposition.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from schemas import AutoDisposition, DispositionRule, RejectedEvent, Status, Unit, UnitSet
from services.disposition.compose import build, starting_book
from services.disposition.handlers import NOTE, follow_units
from services.domain.ids import deterministic_id
from services.domain.units import UnitsBook
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.runtime.stage import Outcome, Record, StagedStores
from services.runtime.topics import (
    AUTO_DISPOSITIONS, REJECTED, agency_status_topic_name, agency_topic_name,
)

CID = "LPR-7XK2M9QH4TBC"
BANDUNG = "pemda-32-73"
ROUTED_AT = "2026-03-02T09:20:00+07:00"
BODY = "Jalan rusak berlubang besar di depan pasar, sudah tiga bulan"


def complaint(agency: str = BANDUNG, role: str = "primary", attempt: int = 1,
              **fields: Any) -> dict[str, Any]:
    return {"event_id": f"dlv-{CID}-{agency}-{attempt}", "complaint_id": CID,
            "submission_id": "web-1", "channel": "web", "submitted_at": "2026-03-02T09:15:00+07:00",
            "accepted_at": "2026-03-02T09:15:01+07:00", "body": BODY, "title": "Jalan rusak",
            "type": "complaint", "category": "roads_infrastructure", "sla_tier": "standard_5d",
            "location": {"region_code": "32.73.02"}, "agency_id": agency,
            "routing": {"role": role, "rule_id": "pemda", "routed_at": ROUTED_AT, "attempt": attempt},
            **fields}


def record(body: dict[str, Any] | bytes, agency: str = BANDUNG, timestamp: float = 1.0e9) -> Record:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Record(agency_topic_name(agency), 0, 7, timestamp, CID.encode(), raw)


def decide(body: dict[str, Any] | bytes, book: UnitsBook | None = None, agency: str = BANDUNG,
           timestamp: float = 1.0e9) -> Outcome:
    stage = build(Settings(), book)
    return stage.handle(record(body, agency, timestamp), StagedStores({}))


def statuses(outcome: Outcome) -> list[AutoDisposition]:
    return [AutoDisposition.model_validate_json(o.value) for o in outcome.outputs]


def test_a_roads_complaint_of_bandung_goes_to_its_dinas_pupr_by_the_rule_with_its_reason() -> None:
    outcome = decide(complaint())
    [output] = outcome.outputs
    # Its own topic, never the agency's: the topic, not a field, says "automatic".
    assert output.topic == AUTO_DISPOSITIONS and output.key == CID.encode()
    [status] = statuses(outcome)
    assert (status.status, status.agency_id, status.unit_id) == (Status.disposed, BANDUNG, "dinas-pupr")
    assert status.note == "Disposisi otomatis (aturan jalan-air): Jalan, jembatan, drainase, air: Dinas PUPR"
    assert status.at == datetime.fromisoformat(ROUTED_AT)  # the routing's time, not the clock's
    assert status.event_id == deterministic_id("disp", CID, BANDUNG, 1)
    assert status.unit_name is None  # the judge writes it in from the units it knows
    assert status.rule_id == "jalan-air"  # the agency's rules, not a person: no first response
    [note] = outcome.notes
    assert (note.event, note.fields["unit_id"], note.fields["rule_id"]) == (
        "disposed", "dinas-pupr", "jalan-air")
    assert BODY not in json.dumps([n.fields for n in outcome.notes], default=str)


def test_the_same_complaint_read_again_later_gives_the_same_bytes() -> None:
    # A repeat of the batch after a crash, hours later: the judge drops it as a repeat only
    # if it is the same event.
    first = decide(complaint(), timestamp=1.0e9).outputs
    again = decide(complaint(), timestamp=1.7e9).outputs
    assert first == again and len(first) == 1


def test_a_new_routing_of_the_complaint_to_the_agency_is_a_new_disposition() -> None:
    [first] = statuses(decide(complaint(attempt=1)))
    [second] = statuses(decide(complaint(attempt=3)))
    assert first.event_id != second.event_id


def test_a_copy_is_not_dispositioned() -> None:
    outcome = decide(complaint(role="copy"))
    assert outcome.outputs == []
    assert [(n.event, n.fields["reason"]) for n in outcome.notes] == [("not_disposed", "copy")]


def test_a_dispositions_copy_is_never_dispositioned_again() -> None:
    # The router writes the complaint again once a disposition passed (here the admin's, to
    # another unit than the rule would choose): the stage must not answer it with its rule.
    copy = complaint(event_id="copy-1", disposition={
        "status_event_id": "admin-1", "unit_id": "dinas-kesehatan", "unit_name": "Dinas Kesehatan",
        "disposed_at": "2026-03-02T10:00:00+07:00"})
    outcome = decide(copy)
    assert outcome.outputs == []
    assert [(n.event, n.fields["reason"]) for n in outcome.notes] == [
        ("not_disposed", "disposition_copy")]
    # The same complaint without the part is dispositioned: the part alone decides.
    assert len(decide(complaint()).outputs) == 1


def test_a_complaint_no_rule_matches_is_left_to_the_agencys_admin() -> None:
    unmatched = complaint(category="other", location=None, body="Mohon informasi", title=None)
    outcome = decide(unmatched)
    assert outcome.outputs == []
    assert [(n.event, n.fields["reason"]) for n in outcome.notes] == [("not_disposed", "no_rule")]


def test_an_agency_whose_units_have_no_rules_disposes_nothing() -> None:
    book = UnitsBook(lambda a: UnitSet(agency_id=a, version=0, published_at=datetime(2026, 1, 1, tzinfo=UTC),
                                       units=[Unit(unit_id="ditjen-gatrik", name="Ditjen Ketenagalistrikan")]))
    outcome = decide(complaint("pln", category="electricity"), book, agency="pln")
    assert outcome.outputs == []


def published(version: int, units: list[Unit], rules: list[DispositionRule]) -> bytes:
    return UnitSet(agency_id=BANDUNG, version=version, published_at=datetime(2026, 3, 1, tzinfo=UTC),
                   units=units, rules=rules).to_bytes()


def test_a_published_set_replaces_the_starting_one_and_an_older_one_changes_nothing() -> None:
    book = starting_book(Settings())
    jalan = Unit(unit_id="bidang-jalan", name="Bidang Bina Marga", parent_id=None)
    v2 = published(2, [jalan], [DispositionRule(rule_id="jalan", unit_id="bidang-jalan",
                                                categories=["roads_infrastructure"],
                                                explanation="Jalan: Bidang Bina Marga")])
    applied = follow_units(book, v2)
    assert isinstance(applied, UnitSet) and applied.version == 2
    [status] = statuses(decide(complaint(), book))
    assert (status.unit_id, status.note) == (
        "bidang-jalan", NOTE.format(rule_id="jalan", explanation="Jalan: Bidang Bina Marga"))
    assert follow_units(book, published(1, [], [])) == "not_newer"  # late: ignored
    assert follow_units(book, v2) == "not_newer"  # a repeat
    assert follow_units(book, None) == "tombstone"
    assert follow_units(book, b"{nope") == "invalid_unit_set"
    assert [s.unit_id for s in statuses(decide(complaint(), book))] == ["bidang-jalan"]


def test_a_retired_unit_gets_nothing_the_next_rule_does() -> None:
    book = starting_book(Settings())
    units = [Unit(unit_id="dinas-pupr", name="Dinas PUPR", retired=True),
             Unit(unit_id="kec-32-73-02", name="Kecamatan Regol", region_code="32.73.02")]
    rules = [DispositionRule(rule_id="jalan-air", unit_id="dinas-pupr", priority=5,
                             categories=["roads_infrastructure"], explanation="Jalan: Dinas PUPR"),
             DispositionRule(rule_id="kec-regol", unit_id="kec-32-73-02", regions=["32.73.02"],
                             explanation="Wilayah Kecamatan Regol")]
    assert isinstance(follow_units(book, published(1, units, rules)), UnitSet)
    assert [s.unit_id for s in statuses(decide(complaint(), book))] == ["kec-32-73-02"]


def test_bad_bytes_and_a_body_for_another_agency_are_dead_lettered() -> None:
    bad = decide(b"{not json")
    other = decide(complaint(agency="pln"), agency=BANDUNG)  # on Bandung's topic, names PLN
    letters = [RejectedEvent.model_validate_json(o.value) for o in bad.outputs + other.outputs]
    assert [(o.topic, r.reason, r.rejected_by) for o, r in zip(bad.outputs + other.outputs, letters)] == [
        (REJECTED, "invalid_complaint", "disposition"), (REJECTED, "complaint_for_another_agency", "disposition")]


def test_the_stage_reads_every_agencys_complaint_topic() -> None:
    topics = MemoryTopics(2)
    topics.publish(agency_topic_name(BANDUNG), CID.encode(), json.dumps(complaint()).encode())
    topics.publish(agency_topic_name("pemda-32-04"), CID.encode(),
                   json.dumps(complaint("pemda-32-04", category="education")).encode())
    run_until_idle([MemoryWorker(build(Settings(partitions=2)), topics)])
    assert sorted((s.agency_id, s.unit_id) for s in (
        AutoDisposition.model_validate_json(r.value or b"") for r in topics.read(AUTO_DISPOSITIONS))) == [
        ("pemda-32-04", "dinas-pendidikan"), (BANDUNG, "dinas-pupr")]
    assert topics.read(agency_status_topic_name(BANDUNG)) == []  # nothing on the agency's own
