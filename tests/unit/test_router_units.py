"""The router judges dispositions by the holder's units in force (issue #34): the starting
set, or the latest version announced on its ticks partition (`Tick.units`), kept per
partition and applied once; a passed `disposed` carries the unit's name, written by the judge."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas import AgencyComplaint, RejectedEvent, StatusEvent, Unit, UnitDisposition, UnitSet
from services.domain.unit_catalogue import STARTING_AT
from services.router.compose import build as build_router
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from tests.integration.test_router import STATUS_AT, accepted

CID = "LPR-BBBBBBBBBBB2"
PEMDA = "pemda-32-73"
PUPR = "Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung"


def router() -> tuple[MemoryTopics, MemoryWorker]:
    topics = MemoryTopics(partitions=1)
    worker = MemoryWorker(build_router(Settings(partitions=1)), topics)
    publish(topics, worker, "complaints.accepted.v1", json.dumps(
        accepted(CID, "Jalan berlubang di depan pasar, mohon segera diperbaiki", "32.73.02")).encode())
    return topics, worker


def publish(topics: MemoryTopics, worker: MemoryWorker, topic: str, value: bytes,
            key: bytes | None = CID.encode()) -> None:
    topics.publish(topic, key, value, partition=0)
    run_until_idle([worker])


def disposed(event_id: str, unit_id: str | None, **extra: Any) -> bytes:
    return json.dumps({"event_id": event_id, "complaint_id": CID, "status": "disposed",
                       "agency_id": PEMDA, "at": STATUS_AT, "unit_id": unit_id, **extra}).encode()


def announce(topics: MemoryTopics, worker: MemoryWorker, version: int, units: list[Unit]) -> None:
    unit_set = UnitSet(agency_id=PEMDA, version=version, published_at=STARTING_AT, units=units)
    tick = {"as_of": STATUS_AT, "units": json.loads(unit_set.to_bytes())}
    publish(topics, worker, "sla.ticks.v1", json.dumps(tick).encode(), key=None)


def passed(topics: MemoryTopics) -> list[StatusEvent]:
    return [StatusEvent.model_validate_json(r.value or b"") for r in topics.read("complaints.status.v1")]


def refused(topics: MemoryTopics) -> list[str]:
    return [RejectedEvent.model_validate_json(r.value or b"").reason
            for r in topics.read("complaints.rejected.v1")]


def test_a_disposition_to_a_starting_unit_passes_with_the_units_name() -> None:
    topics, worker = router()
    publish(topics, worker, "status.claims.v1", disposed("d-1", "dinas-pupr"))
    publish(topics, worker, "status.claims.v1", disposed("d-2", None))  # back to the admin
    publish(topics, worker, "status.claims.v1", disposed("d-3", "no-such-unit"))
    assert [(s.event_id, s.unit_id, s.unit_name) for s in passed(topics)] == [
        ("d-1", "dinas-pupr", PUPR), ("d-2", None, None)]
    assert refused(topics) == ["unknown_unit"]


def test_the_judge_alone_names_the_unit() -> None:
    # A claim carrying a name (the gate refuses one; the judge trusts none) gets the book's.
    topics, worker = router()
    publish(topics, worker, "status.claims.v1", disposed("d-1", "dinas-pupr", unit_name="Inspektorat"))
    publish(topics, worker, "status.claims.v1", json.dumps({
        "event_id": "a-1", "complaint_id": CID, "status": "acknowledged", "agency_id": PEMDA,
        "at": STATUS_AT, "unit_name": "Inspektorat"}).encode())
    assert [s.unit_name for s in passed(topics)] == [PUPR, None]


def test_an_announced_version_replaces_the_starting_set_and_an_older_one_changes_nothing() -> None:
    topics, worker = router()
    pupr = Unit(unit_id="dinas-pupr", name="Dinas PUPR")
    announce(topics, worker, 2, [pupr.model_copy(update={"retired": True}),
                                 Unit(unit_id="dinas-bima", name="Dinas Bina Marga")])
    publish(topics, worker, "status.claims.v1", disposed("d-1", "dinas-pupr"))  # retired now
    publish(topics, worker, "status.claims.v1", disposed("d-2", "dinas-bima"))
    # A late copy of version 1 and a repeat of version 2 with other content change nothing:
    # version 2 is in force and kept as first announced.
    announce(topics, worker, 1, [pupr])
    announce(topics, worker, 2, [pupr])
    publish(topics, worker, "status.claims.v1", disposed("d-3", "dinas-pupr"))
    publish(topics, worker, "status.claims.v1", disposed("d-4", "dinas-bima"))
    assert refused(topics) == ["unknown_unit", "unknown_unit"]
    assert [(s.event_id, s.unit_name) for s in passed(topics)] == [
        ("d-2", "Dinas Bina Marga"), ("d-4", "Dinas Bina Marga")]
    notes = [n.event for r in worker.results for _, n in r.notes]
    assert notes.count("units_announced") == 1 and notes.count("units_not_newer") == 2
    # An announcement is no tick: it ends no holding and moves nothing else.
    assert worker.stores["holdings"][CID]["holder"] == PEMDA


def test_an_announcement_is_kept_per_partition_and_per_agency() -> None:
    topics, worker = router()
    announce(topics, worker, 3, [Unit(unit_id="dinas-bima", name="Dinas Bina Marga")])
    kept = {k: v["version"] for k, v in worker.stores["holdings"].items() if k.startswith("units:")}
    assert kept == {f"units:0:{PEMDA}": 3}


def test_an_automatic_disposition_after_the_agencys_own_word_is_refused() -> None:
    topics, worker = router()
    # First the rules' disposition, then the admin moves it: both pass.
    publish(topics, worker, "status.claims.v1", disposed("disp-1", "dinas-pupr", rule_id="jalan-air"))
    publish(topics, worker, "status.claims.v1", disposed("d-1", "dinas-perkim"))
    # The rules' disposition again under a new id (a new rules version), late: the admin's stands.
    publish(topics, worker, "status.claims.v1", disposed("disp-2", "dinas-pupr", rule_id="jalan-air"))
    assert [(s.event_id, s.unit_id, s.rule_id) for s in passed(topics)] == [
        ("disp-1", "dinas-pupr", "jalan-air"), ("d-1", "dinas-perkim", None)]
    assert refused(topics) == ["agency_spoke_first"]
    # A repeat of the first automatic one is still a repeat, not a refusal.
    publish(topics, worker, "status.claims.v1", disposed("disp-1", "dinas-pupr", rule_id="jalan-air"))
    assert refused(topics) == ["agency_spoke_first"] and len(passed(topics)) == 2


# --- a disposition's copy on the holder's topic (for its systems and the bridge) ----------

AGENCY_TOPIC = f"agency.{PEMDA}.complaints.v1"


def agency_records(topics: MemoryTopics) -> list[AgencyComplaint]:
    return [AgencyComplaint.model_validate_json(r.value or b"") for r in topics.read(AGENCY_TOPIC)]


def test_a_passed_disposition_writes_the_complaint_again_naming_the_unit() -> None:
    topics, worker = router()
    publish(topics, worker, "status.claims.v1", disposed("d-1", "dinas-pupr"))
    publish(topics, worker, "status.claims.v1", disposed("d-2", None, at="2026-03-03T10:00:00+07:00"))
    original, to_pupr, back = agency_records(topics)
    assert original.disposition is None
    assert to_pupr.disposition == UnitDisposition(
        status_event_id="d-1", unit_id="dinas-pupr", unit_name=PUPR,  # the judge's name
        disposed_at=datetime.fromisoformat(STATUS_AT))
    assert back.disposition is not None and (back.disposition.status_event_id,
                                             back.disposition.unit_id) == ("d-2", None)
    # The same complaint as the agency received it: only the id and the part differ (the
    # holder's routing, its rule and reason included, is kept for it).
    for copy in (to_pupr, back):
        assert copy.event_id not in (original.event_id, to_pupr.event_id if copy is back else "")
        assert copy.model_dump(exclude={"event_id", "disposition"}) == original.model_dump(
            exclude={"event_id", "disposition"})
    assert original.routing.rule_id != "unrecorded"
    assert all(r.key == CID.encode() for r in topics.read(AGENCY_TOPIC))


def test_no_copy_for_a_refused_disposition_a_repeat_or_another_status() -> None:
    topics, worker = router()
    publish(topics, worker, "status.claims.v1", disposed("d-1", "no-such-unit"))  # refused
    publish(topics, worker, "status.claims.v1", disposed("d-2", "dinas-pupr"))
    publish(topics, worker, "status.claims.v1", disposed("d-2", "dinas-pupr"))  # a repeat
    publish(topics, worker, "status.claims.v1", json.dumps({
        "event_id": "a-1", "complaint_id": CID, "status": "acknowledged", "agency_id": PEMDA,
        "at": STATUS_AT}).encode())
    assert [r.disposition.status_event_id for r in agency_records(topics) if r.disposition] == ["d-2"]


def test_a_replayed_disposition_writes_the_same_copy() -> None:
    # Two routers given the same records (a replay after a crash) write the same bytes.
    copies = []
    for _ in range(2):
        topics, worker = router()
        publish(topics, worker, "status.claims.v1", disposed("d-1", "dinas-pupr"))
        copies.append([r.value for r in topics.read(AGENCY_TOPIC)][-1])
    assert copies[0] == copies[1]


def test_an_anonymous_complaints_copy_carries_no_identity_either() -> None:
    # The copy is built from the holding's agency view: the reporter stays out of it too.
    topics = MemoryTopics(partitions=1)
    worker = MemoryWorker(build_router(Settings(partitions=1)), topics)
    secrets = ["Budi Santoso", "3273011201900001", "081234567890", "budi@mail.id"]
    publish(topics, worker, "complaints.accepted.v1", json.dumps(accepted(
        CID, "Jalan berlubang di depan rumah saya (NIK 3273011201900001, hp 081234567890, "
        "budi@mail.id), mohon diperbaiki", "32.73.02", privacy="anonymous",
        reporter={"name": "Budi Santoso", "phone": "+6281234567890", "email": "budi@mail.id"},
    )).encode())
    publish(topics, worker, "status.claims.v1", disposed("d-1", "dinas-pupr"))
    original, copy = [r.value or b"" for r in topics.read(AGENCY_TOPIC)]
    assert AgencyComplaint.model_validate_json(copy).disposition is not None
    for value in (original, copy):
        assert AgencyComplaint.model_validate_json(value).reporter is None
        assert not [s for s in secrets if s.encode() in value]


def test_a_copy_keeps_the_deadlines_delivered_when_the_policy_changed_since(tmp_path: Path) -> None:
    # An operator changes the SLA policy between the routing and the disposition (a new
    # file, a restart): the copy still says what the delivery said, and its replay after
    # another restart writes the same bytes under the same id.
    topics, worker = router()
    policy = tmp_path / "sla.yaml"
    policy.write_text("default: {first_response: 5}\n")
    worker.stage = build_router(Settings(partitions=1, sla_policy_file=policy))
    publish(topics, worker, "status.claims.v1", disposed("d-1", "dinas-pupr"))
    original, copy = agency_records(topics)
    assert copy.disposition is not None and copy.deadlines == original.deadlines
