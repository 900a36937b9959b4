"""The disposition stage on the broker, as its own principal, with the router and the status
gate: a roads complaint in Kota Bandung is written by svc-disposition on its own topic
(disposition.auto.v1, never the agency's status topic, which it may not write), read by the
status gate and ends on complaints.status.v1 as `disposed` to its Dinas PUPR (the judge's
unit name, the rule's explanation in the note), and a complaint of an agency whose published
units have no rules gets no disposition at all (proved once the stage has committed past it). The published set is on agency.units.v1 before the stage starts: it
is read to its end before the first complaint, so it replaces the starting set."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAuthorizationFailedError

from schemas import StatusEvent, Unit, UnitSet
from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.topic_read import partitions_of
from services.tools.broker import free_port
from services.runtime.topics import (
    ACCEPTED, AUTO_DISPOSITIONS, STATUS, UNITS, agency_status_topic_name, agency_topic_name,
)
from tests.integration.test_metrics_endpoint import http_status
from tests.integration.test_router import accepted
from services.tools.access_plan import service_user
from tests.kafka_helpers import as_principal, consume, create_contract_topics, isolated, produce
from tests.workers import WorkerProcess, logged_events, running

ROADS, BANSOS = "LPR-AAAAAAAAAAA1", "LPR-BBBBBBBBBBB2"
BANDUNG = "pemda-32-73"


def opted_out() -> bytes:
    """Kemensos's own units, published without rules: its admin dispositions everything."""
    return UnitSet(agency_id="kemensos", version=1, published_at=datetime(2026, 3, 1, tzinfo=UTC),
                   units=[Unit(unit_id="ditjen-linjamsos",
                               name="Direktorat Jenderal Perlindungan dan Jaminan Sosial")]).to_bytes()


async def until_committed_to_end(settings: Settings, group: str, topic: str,
                                 worker: WorkerProcess, bound_s: float = 120) -> None:
    """Until `group` has committed every partition of `topic` to its end offset (the stage
    commits a batch only after its outputs were acknowledged); a bound, not a wait."""
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None)
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await consumer.start()
    await admin.start()
    try:
        parts = await partitions_of(consumer, settings.topic(topic))
        ends = await consumer.end_offsets(parts)
        deadline = asyncio.get_running_loop().time() + bound_s
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            # A partition nothing was written to has nothing to commit.
            if all(end == 0 or (tp in committed and committed[tp].offset >= end)
                   for tp, end in ends.items()):
                return
            assert worker.proc.poll() is None, worker.log_text()[-3000:]
            assert asyncio.get_running_loop().time() < deadline, f"{group} is behind on {topic}"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
        await consumer.stop()


async def written(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None)
    await consumer.start()
    try:
        parts = await partitions_of(consumer, settings.topic(topic))
        return sum((await consumer.end_offsets(parts)).values()) if parts else 0
    finally:
        await consumer.stop()


async def test_a_bandung_roads_complaint_is_disposed_to_dinas_pupr_and_an_opted_out_agency_gets_none(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings, [BANDUNG, "kemensos"])
    await produce(settings, UNITS, [(b"kemensos", opted_out())])
    complaints = [accepted(BANSOS, "Bansos PKH tidak cair sejak tahun lalu", "32.01"),
                  accepted(ROADS, "Jalan rusak berlubang besar di Jalan Soekarno-Hatta, "
                                  "membahayakan pengendara", "32.73.02")]
    port = free_port()
    with running("router", settings, tmp_path), running("status_gate", settings, tmp_path), \
            running("disposition", settings.model_copy(update={"web_enabled": True}), tmp_path,
                    web_port=port) as disposition:
        await produce(settings, ACCEPTED, [(c["complaint_id"].encode(), json.dumps(c).encode())
                                           for c in complaints])
        records = await consume(settings, STATUS, expected=1, timeout_s=120)
        # The marker: the stage has committed past Kemensos's complaint, so anything it would
        # have written for it was acknowledged before.
        assert len(await consume(settings, agency_topic_name("kemensos"), expected=1, timeout_s=60)) == 1
        await until_committed_to_end(settings, f"{settings.topic_prefix}lapor-disposition",
                                     agency_topic_name("kemensos"), disposition)
        assert await asyncio.to_thread(http_status, port, "/health/") == 200  # polling
        disposition.stop()  # SIGTERM, as `podman stop` sends
        assert disposition.proc.returncode == 0
        events = logged_events(disposition.log_text())

    [status] = [StatusEvent.model_validate_json(r.value) for r in records]
    assert (status.complaint_id, status.status.value, status.agency_id, status.unit_id) == (
        ROADS, "disposed", BANDUNG, "dinas-pupr")
    assert status.unit_name == "Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung"
    assert status.note == "Disposisi otomatis (aturan jalan-air): Jalan, jembatan, drainase, air: Dinas PUPR"
    assert status.event_id.startswith("disp-")
    assert await written(settings, agency_status_topic_name("kemensos")) == 0
    # Its one disposition is on its own topic (read by the gate: it reached the judge), and
    # nothing on the agency's own status topic, which svc-disposition may not even write.
    [auto] = [StatusEvent.model_validate_json(r.value)
              for r in await consume(settings, AUTO_DISPOSITIONS, expected=1, quiet_s=0.5)]
    assert (auto.event_id, auto.agency_id, auto.unit_id, auto.rule_id, auto.unit_name) == (
        status.event_id, BANDUNG, "dinas-pupr", "jalan-air", None)
    assert status.rule_id == "jalan-air"  # the claim the gate passed kept the stage's mark
    assert await written(settings, agency_status_topic_name(BANDUNG)) == 0
    stage = as_principal(settings, service_user(settings, "disposition"))
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(stage, agency_status_topic_name(BANDUNG), [(ROADS.encode(), auto.to_bytes())])
    # The published set was read before the first poll.
    assert events.index("units_applied") < events.index("worker_ready")
    assert {"disposed", "not_disposed", "worker_stopped"} <= set(events)
    assert "Traceback" not in disposition.log_text()
