"""The status gate on the broker: it runs as its own principal on the plain batched consumer,
and reads the status topic of an agency provisioned after it started."""

from __future__ import annotations

import json
import re
from pathlib import Path

from schemas import StatusEvent
from services.runtime.settings import Settings
from services.runtime.stateless_runtime import subscription_pattern
from services.runtime.topics import STATUS, agency_status_topic_name
from services.status_gate.compose import build
from services.tools.access import provision
from services.tools.access_plan import agency_user
from tests.kafka_helpers import as_principal, consume, isolated, produce
from tests.workers import running


def status(agency: str) -> tuple[bytes, bytes]:
    cid = "LPR-7K2QX9M4TD5W"
    body = {"event_id": f"{agency}-ack", "complaint_id": cid, "status": "acknowledged",
            "at": "2026-03-02T09:15:00+07:00"}
    return cid.encode(), json.dumps(body).encode()


def test_the_subscription_is_every_agencys_status_topic_of_the_deployment_only() -> None:
    pattern = re.compile(subscription_pattern(build(Settings()), "prod."))
    assert pattern.match("prod.agency-status.pln.v1")
    assert pattern.match("prod.agency-status.pemda-32-73.v1")
    for other in ("staging.agency-status.pln.v1", "prod.agency-status..v1",
                  "prod.agency.pln.complaints.v1", "prod.agency-status.pln.v1.x",
                  "prodXagency-status.pln.v1"):
        assert not pattern.match(other), other


async def test_an_agency_provisioned_while_the_gate_runs_is_heard(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await provision(settings, ["pln"])
    with running("status_gate", settings, tmp_path) as gate:
        await produce(as_principal(settings, agency_user(settings, "pln")),
                      agency_status_topic_name("pln"), [status("pln")])
        first = await consume(settings, STATUS, expected=1, quiet_s=0.5)
        await provision(settings, ["kemensos"])  # a new agency joins
        await produce(as_principal(settings, agency_user(settings, "kemensos")),
                      agency_status_topic_name("kemensos"), [status("kemensos")])
        both = await consume(settings, STATUS, expected=2, timeout_s=60, quiet_s=0.5)
    passed = [StatusEvent.model_validate_json(r.value) for r in both]
    assert len(first) == 1
    assert sorted((s.event_id, s.agency_id) for s in passed) == [
        ("kemensos-ack", "kemensos"), ("pln-ack", "pln")]
    assert '"event": "status_passed"' in gate.log_text()
    assert "worker_ready" in gate.log_text()
