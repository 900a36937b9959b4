"""The status gate: an agency's own status topic is its signature; what it establishes goes
on as a claim, for the router to judge (tests/unit/test_judge.py)."""

from __future__ import annotations

import json

from schemas import RejectedEvent, StatusEvent
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.runtime.topics import (
    ADMIN_STATUS, AUTO_DISPOSITIONS, CLAIMS, REJECTED, agency_status_topic_name,
)
from services.status_gate.compose import build

CID = "LPR-7XK2M9QH4TBC"
T = "2026-03-02T09:15:00+07:00"


def run(agency_topic: str, *bodies: dict[str, object] | bytes) -> tuple[list[StatusEvent], list[RejectedEvent]]:
    topics = MemoryTopics(2)
    for body in bodies:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        topics.publish(agency_topic, CID.encode(), raw)
    run_until_idle([MemoryWorker(build(Settings(partitions=2)), topics)])
    passed = [StatusEvent.model_validate_json(r.value or b"") for r in topics.read(CLAIMS)]
    refused = [RejectedEvent.model_validate_json(r.value or b"") for r in topics.read(REJECTED)]
    return passed, refused


def body(**fields: object) -> dict[str, object]:
    return {"event_id": "pln-1", "complaint_id": CID, "status": "acknowledged", "at": T, **fields}


def test_a_status_is_passed_on_under_the_agency_whose_topic_carried_it() -> None:
    passed, refused = run(agency_status_topic_name("pln"), body(), body(event_id="pln-2", agency_id="pln",
                                                                        status="responded", note="Sudah diperbaiki"))
    assert refused == []
    assert [(s.event_id, s.agency_id, s.status.value) for s in passed] == [
        ("pln-1", "pln", "acknowledged"), ("pln-2", "pln", "responded")]
    assert passed[1].note == "Sudah diperbaiki" and passed[0].at.isoformat() == "2026-03-02T09:15:00+07:00"


def test_a_status_naming_another_agency_is_dead_lettered_and_not_passed_on() -> None:
    forged = body(agency_id="bpjs-kesehatan", status="closed")
    passed, refused = run(agency_status_topic_name("pln"), forged)
    assert passed == []
    assert [(r.reason, r.source_topic) for r in refused] == [
        ("status_for_another_agency", agency_status_topic_name("pln"))]
    assert json.loads(refused[0].raw) == forged  # the original bytes are kept


def test_only_the_national_admin_assigns() -> None:
    passed, refused = run(agency_status_topic_name("pln"), body(status="assigned", target_agency_id="pln"))
    assert passed == [] and [r.reason for r in refused] == ["assigned_by_national_admin_only"]


def test_bad_input_is_dead_lettered_with_its_reason() -> None:
    passed, refused = run(agency_status_topic_name("pln"), b"{not json", body(status="done"))
    assert passed == [] and [r.reason for r in refused] == ["invalid_status", "invalid_status"]


def test_an_agency_added_after_the_registry_was_loaded_is_heard() -> None:
    # Provisioning made its topic: the gate needs no restart and no registry entry.
    passed, refused = run(agency_status_topic_name("dinas-kominfo-baru"), body())
    assert refused == [] and [s.agency_id for s in passed] == ["dinas-kominfo-baru"]


def test_the_national_admin_assigns_through_its_own_topic_and_says_nothing_else() -> None:
    assigned = body(event_id="a-1", status="assigned", target_agency_id="pln")
    passed, refused = run(ADMIN_STATUS, assigned, body(event_id="a-2", status="closed"),
                          body(event_id="a-3", status="assigned"),
                          body(event_id="a-4", status="assigned", target_agency_id="pln", agency_id="pln"))
    assert [(s.event_id, s.status.value, s.target_agency_id, s.agency_id) for s in passed] == [
        ("a-1", "assigned", "pln", None)]
    assert [r.reason for r in refused] == ["not_an_assignment"] * 3


def test_an_agency_dispositions_to_a_unit_or_back_to_its_admin() -> None:
    passed, refused = run(agency_status_topic_name("pemda-32-73"),
                          body(event_id="d-1", status="disposed", unit_id="dinas-pupr"),
                          body(event_id="d-2", status="disposed"))
    assert refused == []
    assert [(s.event_id, s.status.value, s.unit_id, s.agency_id) for s in passed] == [
        ("d-1", "disposed", "dinas-pupr", "pemda-32-73"), ("d-2", "disposed", None, "pemda-32-73")]


def test_a_unit_is_named_by_the_judge_and_only_on_a_disposition_inside_the_agency() -> None:
    passed, refused = run(
        agency_status_topic_name("pemda-32-73"),
        # The judge writes unit_name from the agency's units; a sender's could name another office.
        body(event_id="d-1", status="disposed", unit_id="dinas-pupr", unit_name="Inspektorat"),
        body(event_id="d-2", status="resolved", unit_id="dinas-pupr"),
        body(event_id="d-3", status="disposed", unit_id="dinas-pupr", target_agency_id="pln"))
    assert passed == []
    assert [r.reason for r in refused] == [
        "unit_name_is_the_judges", "unit_only_on_disposed", "disposed_names_no_agency"]


def test_nobody_but_an_agency_names_a_unit() -> None:
    unit = {"unit_id": "dinas-pupr"}
    passed, refused = run(ADMIN_STATUS, body(event_id="a-1", status="assigned", target_agency_id="pln", **unit))
    assert passed == [] and [r.reason for r in refused] == ["not_an_assignment"]
    passed, refused = run("sla.closures.v1", body(event_id="c-1", status="closed", unit_name="Dinas"))
    assert passed == [] and [r.reason for r in refused] == ["not_an_auto_close"]
    passed, refused = run("reporter-status.sms.v1", body(event_id="r-1", status="reporter_replied", **unit))
    assert passed == [] and [r.reason for r in refused] == ["reporter_status_naming_an_agency"]


def test_an_agency_never_names_a_rule_nor_a_channel() -> None:
    # rule_id marks the disposition stage's own (not a first response, refused once the
    # agency spoke): an agency sending it would pass its own word off as its rules'.
    passed, refused = run(
        agency_status_topic_name("pemda-32-73"),
        body(event_id="d-1", status="disposed", unit_id="dinas-pupr", rule_id="jalan-air"),
        body(event_id="d-2", status="acknowledged", rule_id="jalan-air"),
        body(event_id="d-3", status="acknowledged", channel="sms"))
    assert passed == []
    assert [r.reason for r in refused] == ["rule_id_is_the_stages"] * 2 + ["reporter_status_from_an_agency"]
    passed, refused = run(ADMIN_STATUS, body(event_id="a-2", status="assigned", target_agency_id="pln",
                                             rule_id="x"))
    assert passed == [] and [r.reason for r in refused] == ["not_an_assignment"]


def automatic(**fields: object) -> dict[str, object]:
    return body(**{"event_id": "disp-1", "status": "disposed", "agency_id": "pemda-32-73",
                   "unit_id": "dinas-pupr", "rule_id": "jalan-air", **fields})


def test_an_automatic_disposition_is_passed_on_as_its_agencys_claim() -> None:
    passed, refused = run(AUTO_DISPOSITIONS, automatic(note="Disposisi otomatis (aturan jalan-air)"))
    assert refused == []
    assert [(s.event_id, s.status.value, s.agency_id, s.unit_id, s.rule_id, s.channel) for s in passed] == [
        ("disp-1", "disposed", "pemda-32-73", "dinas-pupr", "jalan-air", None)]
    assert passed[0].note == "Disposisi otomatis (aturan jalan-air)"


def test_the_automatic_topic_carries_a_disposition_to_a_unit_by_a_rule_and_nothing_else() -> None:
    wrong = [automatic(status="responded"), automatic(agency_id=None), automatic(unit_id=None),
             automatic(rule_id=None), automatic(unit_name="Inspektorat"),
             automatic(target_agency_id="pln"), automatic(channel="sms")]
    passed, refused = run(AUTO_DISPOSITIONS, *wrong, b"{not json")
    assert passed == []
    assert [r.reason for r in refused] == ["not_an_automatic_disposition"] * len(wrong) + ["invalid_status"]
