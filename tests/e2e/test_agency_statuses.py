"""Statuses carry authority: an agency speaks through its own status topic, and the status
gate passes on only what that agency may say. A forged status (its body names another
agency) and an agency's `assigned` are dead-lettered and change nothing: the complaint stays
with its agency, its clocks run on and escalate. The same body runs in memory and on the
broker (where each service runs as its own principal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import Escalation, RejectedEvent, RoutedEvent, StatusEvent
from services.runtime.topics import (
    ESCALATIONS, REJECTED, ROUTED, STATUS, SUBMITTED, agency_status_topic_name,
)
from tests.harness import harness

T = "2026-03-02T09:15:00+07:00"  # Monday; first response due 3 working days later


def status(cid: str, event_id: str, kind: str, **fields: str) -> tuple[bytes, bytes]:
    body = {"event_id": event_id, "complaint_id": cid, "status": kind, "at": T, **fields}
    return cid.encode(), json.dumps(body).encode()


async def test_forged_statuses_change_nothing_and_genuine_ones_pass(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    services = ["intake", "router", "sla_monitor", "status_gate"]
    async with harness(request, runtime, services, tmp_path, agencies=("pln", "bpjs-kesehatan")) as h:
        submission = {"submission_id": "web-1", "channel": "web", "submitted_at": T,
                      "body": "Token listrik tidak masuk ke meteran sejak kemarin"}
        await h.publish(SUBMITTED, [(b"web-1", json.dumps(submission).encode())])
        routed = [RoutedEvent.model_validate_json(v) for _, v in await h.read(ROUTED, 1)]
        assert [(r.agency_id, r.attempt) for r in routed] == [("pln", 1)]
        cid = routed[0].complaint_id

        # BPJS closes PLN's complaint in PLN's name; PLN assigns it to itself.
        await h.publish(agency_status_topic_name("bpjs-kesehatan"),
                        [status(cid, "forged-1", "closed", agency_id="pln")])
        await h.publish(agency_status_topic_name("pln"),
                        [status(cid, "assign-1", "assigned", target_agency_id="pln")])
        refused = [RejectedEvent.model_validate_json(v) for _, v in await h.read(REJECTED, 2)]
        assert sorted((r.reason, r.source_topic) for r in refused) == [
            ("assigned_by_national_admin_only", agency_status_topic_name("pln")),
            ("status_for_another_agency", agency_status_topic_name("bpjs-kesehatan")),
        ]

        # The clocks ran on: PLN's first response is warned and breached, still PLN's.
        await h.tick("2026-03-06T12:00:00+07:00")
        fired = [Escalation.model_validate_json(v) for _, v in await h.read(ESCALATIONS, 2)]
        first = sorted((e.agency_id, e.kind.value, e.level) for e in fired if e.clock.value == "first_response")
        assert first == [("pln", "breach", 1), ("pln", "warning", 0)]
        assert [s for _, s in await h.read(STATUS, timeout_s=5)] == []

        # PLN's own status, without naming itself, passes under its name.
        await h.publish(agency_status_topic_name("pln"), [status(cid, "pln-ack", "acknowledged")])
        passed = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, 1)]
        assert [(s.event_id, s.agency_id, s.status.value) for s in passed] == [("pln-ack", "pln", "acknowledged")]
        assert [(r.agency_id, r.attempt) for r in
                (RoutedEvent.model_validate_json(v) for _, v in await h.read(ROUTED, 1))] == [("pln", 1)]
