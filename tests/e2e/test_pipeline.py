"""The whole pipeline as separate worker processes on the real broker: complaints in, agency
topics, triage and escalations out. The client on the channel and agency side is
confluent-kafka (librdkafka, not our Python stack) to prove the wire format, and it
connects as the channel's and each agency's own principal (SCRAM over TLS)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer

from schemas import AgencyComplaint, ClockName, Escalation
from services.runtime.settings import Settings
from tests.ids import make_complaint_id
from services.runtime.kafka_client import librdkafka_config
from services.tools.access_plan import agency_user, channel_user
from tests.kafka_helpers import as_principal, consume, create_contract_topics, isolated
from tests.workers import running

SUBMITTED_AT = "2026-03-02T09:15:00+07:00"  # Monday


def librdkafka_publish(settings: Settings, topic: str, records: list[tuple[str, dict[str, object]]]) -> None:
    # murmur2_random is Kafka's default partitioner (librdkafka's own default is CRC32): the
    # contract asks keyed producers to use it, so keys land where the services expect them.
    producer = Producer({**librdkafka_config(settings), "partitioner": "murmur2_random"})
    for key, value in records:
        producer.produce(settings.topic(topic), json.dumps(value).encode(), key=key.encode())
    assert producer.flush(30) == 0


def librdkafka_read(settings: Settings, topic: str, expected: int, timeout_s: float = 60,
                    group_prefix: str = "") -> list[bytes]:
    consumer = Consumer({**librdkafka_config(settings), "auto.offset.reset": "earliest",
                         "group.id": f"{group_prefix}e2e-{time.time()}"})
    consumer.subscribe([settings.topic(topic)])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and (value := msg.value()) is not None:
                out.append(value)
        return out
    finally:
        consumer.close()


async def test_complaints_flow_to_agencies_triage_and_escalations(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings, agencies=["bpjs-kesehatan", "pln"])
    web = as_principal(settings, channel_user(settings, "web"))
    bpjs_agency = as_principal(settings, agency_user(settings, "bpjs-kesehatan"))
    pln_agency = as_principal(settings, agency_user(settings, "pln"))
    subs = {
        "e2e-bpjs": "BPJS Kesehatan saya dinonaktifkan padahal iuran lancar",
        "e2e-listrik": "Token listrik tidak masuk ke meteran",
        "e2e-triage": "Terima kasih atas pelayanannya",
    }
    records: list[tuple[str, dict[str, object]]] = [(sid, {"submission_id": sid, "channel": "web", "submitted_at": SUBMITTED_AT, "body": body,
                      "privacy": "anonymous" if sid == "e2e-bpjs" else "public",
                      "reporter": {"name": "Siti Aminah", "phone": "081234567890"}})
               for sid, body in subs.items()]
    with running("intake", settings, tmp_path), running("router", settings, tmp_path), \
            running("sla_monitor", settings, tmp_path), running("status_gate", settings, tmp_path):
        await asyncio.to_thread(librdkafka_publish, web, "complaints.submitted.v1", records)
        raw = await asyncio.to_thread(librdkafka_read, bpjs_agency, "agency.bpjs-kesehatan.complaints.v1",
                                      1, 90, bpjs_agency.topic("agency.bpjs-kesehatan."))
        bpjs = AgencyComplaint.model_validate_json(raw[0])
        assert bpjs.complaint_id == make_complaint_id("web", "e2e-bpjs")
        assert bpjs.reporter is None and "Siti" not in raw[0].decode()
        assert bpjs.deadlines[ClockName.first_response].isoformat() == "2026-03-06T00:00:00+07:00"
        pln = await asyncio.to_thread(librdkafka_read, pln_agency, "agency.pln.complaints.v1", 1, 60,
                                      pln_agency.topic("agency.pln."))
        assert json.loads(pln[0])["reporter"]["phone"] == "+6281234567890"
        triage = await consume(settings, "complaints.triage.v1", expected=1)
        assert json.loads(triage[0].value)["complaint_id"] == make_complaint_id("web", "e2e-triage")

        # pln acknowledges in time; bpjs never answers. Then time passes to Friday 00:00 WIB.
        # (on its own status topic, through the status gate)
        await asyncio.to_thread(librdkafka_publish, pln_agency, "agency-status.pln.v1", [
            (make_complaint_id("web", "e2e-listrik"),
             {"event_id": "e2e-ack", "complaint_id": make_complaint_id("web", "e2e-listrik"),
              "status": "acknowledged", "at": "2026-03-03T09:00:00+07:00"})])
        await consume(settings, "complaints.status.v1", expected=1)
        from tests.integration.test_sla_monitor import play
        from tests.sla_scenario import tick

        # The breach's moment passed by the SLA monitor's allowed lateness (10 minutes).
        await play(settings, [tick("2026-03-06T00:10:00+07:00")], pause_s=0)
        escalations = [Escalation.model_validate_json(r.value)
                       for r in await consume(settings, "sla.escalations.v1", expected=4, timeout_s=60)]
    # The contract's clocks (an agency with units also escalates its admin's verification to
    # agency_admin, #34: tests/integration/test_sla_units.py).
    got = sorted((e.agency_id, e.clock.value, e.kind.value, e.level, e.fire_at.isoformat())
                 for e in escalations if e.target.value != "agency_admin")
    assert got == sorted([
        ("bpjs-kesehatan", "first_response", "warning", 0, "2026-03-05T00:00:00+07:00"),
        ("bpjs-kesehatan", "first_response", "breach", 1, "2026-03-06T00:00:00+07:00"),
        ("triage", "first_response", "warning", 0, "2026-03-05T00:00:00+07:00"),
        ("triage", "first_response", "breach", 1, "2026-03-06T00:00:00+07:00"),
    ])
