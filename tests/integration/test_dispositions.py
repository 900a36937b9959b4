"""Dispositions inside the holding agency (#34), through the status gate and the one judge,
in memory and on the broker (the agency writes as its own principal): a `disposed` to an
active unit of the holder's units in force reaches complaints.status.v1 with the unit's
name written in by the judge; one to a unit the agency does not have (or has retired) is
dead-lettered `unknown_unit`. The units in force are the starting set until a newer version
is announced on the router's ticks partitions. Each passed disposition writes the complaint
again on the agency's topic with its `disposition` part."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from schemas import AgencyComplaint, RejectedEvent, RoutedEvent, StatusEvent, Unit, UnitSet
from services.domain.unit_catalogue import STARTING_AT
from services.runtime.topics import (
    CLAIMS, REJECTED, ROUTED, STATUS, TICKS, agency_status_topic_name, agency_topic_name,
)
from tests.harness import Harness, MemoryHarness, harness
from tests.integration.test_router import STATUS_AT, T, accepted
from tests.kafka_helpers import produce

CID = "LPR-BBBBBBBBBBB2"
PEMDA = "pemda-32-73"
PUPR = "Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung"


def disposed(event_id: str, unit_id: str | None) -> tuple[bytes, bytes]:
    body = {"event_id": event_id, "complaint_id": CID, "status": "disposed", "at": STATUS_AT}
    return CID.encode(), json.dumps({**body, **({"unit_id": unit_id} if unit_id else {})}).encode()


async def announce(h: Harness, unit_set: UnitSet) -> None:
    """What `lapor units publish` does: the version announced on every ticks partition (its
    as_of moves no clock); then wait until the router keeps it on each."""
    tick = json.dumps({"as_of": T, "units": json.loads(unit_set.to_bytes())}).encode()
    for p in range(h.settings.partitions):
        if isinstance(h, MemoryHarness):
            h.topics.publish(TICKS, None, tick, partition=p)
        else:
            await produce(h.settings, TICKS, [(None, tick)], partition=p)
    wanted = {f"units:{p}:{unit_set.agency_id}" for p in range(h.settings.partitions)}
    for _ in range(30):
        if wanted <= await h.live_keys("holdings"):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the router kept no units version on {sorted(wanted)}")


async def test_a_disposition_names_an_active_unit_of_the_holder_or_is_dead_lettered(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    async with harness(request, runtime, ["router", "status_gate"], tmp_path, agencies=(PEMDA,)) as h:
        complaint = accepted(CID, "Jalan berlubang di depan pasar, mohon segera diperbaiki", "32.73.02")
        await h.publish("complaints.accepted.v1", [(CID.encode(), json.dumps(complaint).encode())])
        routed = [RoutedEvent.model_validate_json(v) for _, v in await h.read(ROUTED, 1)]
        assert [(r.agency_id, r.attempt) for r in routed] == [(PEMDA, 1)]

        # The starting set: dinas-pupr is a unit of every pemda; no-such-unit is none. The
        # disposition back to the admin after them is the positive marker: the refused one
        # was judged before it (one key, one partition, in order), so its absence is proved.
        topic = agency_status_topic_name(PEMDA)
        await h.publish(topic, [disposed("d-1", "dinas-pupr"), disposed("d-2", "no-such-unit"),
                                disposed("d-3", None)])
        passed = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, 2)]
        assert [(s.event_id, s.agency_id, s.unit_id, s.unit_name) for s in passed] == [
            ("d-1", PEMDA, "dinas-pupr", PUPR), ("d-3", PEMDA, None, None)]
        refused = [RejectedEvent.model_validate_json(v) for _, v in await h.read(REJECTED, 1)]
        assert [(r.reason, r.source_topic) for r in refused] == [("unknown_unit", CLAIMS)]

        # The agency publishes version 1: dinas-pupr retired, its roads with a new dinas.
        await announce(h, UnitSet(agency_id=PEMDA, version=1, published_at=STARTING_AT, units=[
            Unit(unit_id="dinas-pupr", name=PUPR, retired=True),
            Unit(unit_id="dinas-bima", name="Dinas Bina Marga Kota Bandung")]))
        await h.publish(topic, [disposed("d-4", "dinas-pupr"), disposed("d-5", "dinas-bima")])
        passed = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, 3)]
        assert [(s.event_id, s.unit_name) for s in passed[2:]] == [("d-5", "Dinas Bina Marga Kota Bandung")]
        refused = [RejectedEvent.model_validate_json(v) for _, v in await h.read(REJECTED, 2)]
        assert [r.reason for r in refused] == ["unknown_unit", "unknown_unit"]
        assert json.loads(refused[1].raw)["event_id"] == "d-4"

        # Each passed disposition wrote the complaint again on the agency's topic, after the
        # complaint itself, naming the unit (or none: back to the admin); a refused one none.
        records = [AgencyComplaint.model_validate_json(v) for _, v in
                   await h.read(agency_topic_name(PEMDA), 4)]
        assert [(r.disposition.status_event_id, r.disposition.unit_id, r.disposition.unit_name)
                if r.disposition else None for r in records] == [
            None, ("d-1", "dinas-pupr", PUPR), ("d-3", None, None),
            ("d-5", "dinas-bima", "Dinas Bina Marga Kota Bandung")]
        assert {r.complaint_id for r in records} == {CID} and len({r.event_id for r in records}) == 4
