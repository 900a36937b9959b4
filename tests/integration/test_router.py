"""The router, on the in-memory runtime and on the real broker (the same body): agency topics,
copies, triage, the re-route chain up to ping_pong, admin assignment, and redaction read back
from the agency topics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas import AgencyComplaint, ClockName, RoutedEvent
from services.runtime.topics import agency_topic_name
from tests.harness import Harness, harness

T = "2026-03-02T09:15:00+07:00"
STATUS_AT = "2026-03-03T10:00:00+07:00"


def accepted(cid: str, body: str, region: str | None = None, **extra: Any) -> dict[str, Any]:
    from services.intake.classify import Classifier, load_rules

    c = Classifier(load_rules())
    return {"event_id": f"acc-{cid}", "complaint_id": cid, "submission_id": cid, "channel": "web",
            "submitted_at": T, "accepted_at": T, "body": body, "title": body[:30],
            "type": c.type(body, None).value, "category": c.category(body, None).value,
            "sla_tier": c.sla_tier(body, None).value, "classification": {},
            "location": {"region_code": region} if region else None, **extra}


ANON, KORUPSI, TRIAGE, BANSOS = ("LPR-AAAAAAAAAAA1", "LPR-BBBBBBBBBBB2", "LPR-CCCCCCCCCCC3",
                                 "LPR-DDDDDDDDDDD4")
SECRETS = ["Budi Santoso", "3273011201900001", "081234567890", "+6281234567890", "budi@mail.id"]


def status(cid: str, kind: str, agency: str | None, target: str | None = None, n: int = 0) -> bytes:
    return json.dumps({"event_id": f"st-{cid}-{kind}-{n}", "complaint_id": cid, "status": kind,
                       "agency_id": agency, "at": STATUS_AT, "target_agency_id": target}).encode()


async def read_agency(h: Harness, agency: str, expected: int) -> list[AgencyComplaint]:
    records = await h.read(agency_topic_name(agency), expected=expected, timeout_s=45)
    return [AgencyComplaint.model_validate_json(v) for _, v in records]


async def test_routing_copies_triage_reroutes_and_redaction(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    async with harness(request, runtime, ["router"], tmp_path) as h:
        anonymous = accepted(
            ANON, "BPJS Kesehatan saya (NIK 3273011201900001, hp 081234567890, budi@mail.id) dinonaktifkan",
            privacy="anonymous", reporter={"name": "Budi Santoso", "phone": "+6281234567890",
                                           "nik": "3273011201900001", "email": "budi@mail.id"})
        complaints = [
            anonymous,
            accepted(KORUPSI, "Dana desa dikorupsi kepala desa", "32.05", privacy="confidential"),
            accepted(TRIAGE, "Terima kasih atas pelayanannya"),
            accepted(BANSOS, "Bansos PKH tidak cair sejak tahun lalu", "32.01"),
        ]
        await h.publish("complaints.accepted.v1",
                        [(c["complaint_id"].encode(), json.dumps(c).encode()) for c in complaints])
        await h.publish("complaints.accepted.v1",  # a repeated accepted event changes nothing
                        [(ANON.encode(), json.dumps(anonymous).encode())])

        routed = await h.read("complaints.routed.v1", expected=5)
        decisions = {(e.complaint_id, e.agency_id, e.role.value, e.rule_id, e.attempt)
                     for e in (RoutedEvent.model_validate_json(r) for _, r in routed)}
        assert decisions == {
            (ANON, "bpjs-kesehatan", "primary", "bpjs-kesehatan", 1),
            (KORUPSI, "kpk", "primary", "korupsi", 1),
            (KORUPSI, "ombudsman", "copy", "korupsi", 1),
            (TRIAGE, None, "primary", "triage", 1),
            (BANSOS, "kemensos", "primary", "kemensos", 1),
        }
        triage = await h.read("complaints.triage.v1", expected=1)
        assert [json.loads(v)["complaint_id"] for _, v in triage] == [TRIAGE]

        # Re-route chain: kpk refuses -> kemendes; a non-holder's status is dead-lettered;
        # kemendes names pemda-32-05; it refuses too -> triage with reason ping_pong.
        await h.publish("status.claims.v1", [
            (KORUPSI.encode(), status(KORUPSI, "not_our_authority", "kpk")),
            (KORUPSI.encode(), status(KORUPSI, "not_our_authority", "pln", n=1)),
            (KORUPSI.encode(), status(KORUPSI, "not_our_authority", "kemendes", "pemda-32-05", n=2)),
            (KORUPSI.encode(), status(KORUPSI, "not_our_authority", "pemda-32-05", n=3)),
            (TRIAGE.encode(), status(TRIAGE, "assigned", None, "kemensos")),
            (BANSOS.encode(), b"{not a status"),
        ])
        routed = await h.read("complaints.routed.v1", expected=9)
        later = [RoutedEvent.model_validate_json(r) for _, r in routed][5:]
        def chain(cid: str) -> list[tuple[str | None, str, str, int]]:  # in order, per complaint
            return [(e.agency_id, e.rule_id, e.reason, e.attempt) for e in later if e.complaint_id == cid]

        assert len(later) == 4
        assert chain(KORUPSI) == [
            ("kemendes", "dana-desa", "not_our_authority from kpk; category village_funds", 2),
            ("pemda-32-05", "not_our_authority.target", "named by kemendes as responsible", 3),
            (None, "ping_pong", "ping_pong", 4),
        ]
        assert chain(TRIAGE) == [("kemensos", "assigned", "assigned by the national admin", 2)]
        assert all(e.routed_at.isoformat() == STATUS_AT for e in later)
        # Each passed status names the routing attempt its speaker held (the admin's: none).
        passed = [json.loads(v) for _, v in await h.read("complaints.status.v1", expected=4)]
        assert sorted((p["agency_id"], p.get("attempt")) for p in passed if p.get("agency_id")) == [
            ("kemendes", 2), ("kpk", 1), ("pemda-32-05", 3)]
        assert [p.get("attempt") for p in passed if p["status"] == "assigned"] == [None]
        rejected = await h.read("complaints.rejected.v1", expected=2)
        assert sorted(json.loads(v)["reason"] for _, v in rejected) == ["invalid_status", "not_the_holder"]

        bpjs = await read_agency(h, "bpjs-kesehatan", 1)
        kemensos = await read_agency(h, "kemensos", 2)
        kpk = await read_agency(h, "kpk", 1)
        pemda = await read_agency(h, "pemda-32-05", 1)
        log = h.log_text()
        state = await h.state_text()
        assert ANON in state  # the holdings of the anonymous complaint are there...

        # Anonymous: no reporter at all, identity masked in the text, across every agency topic.
        assert len(bpjs) == 1 and bpjs[0].reporter is None
        raw = json.dumps([m.model_dump(mode="json") for m in bpjs + kemensos + kpk + pemda])
        for secret in SECRETS:  # ...without its reporter's identity
            assert secret not in raw
            assert secret not in log
            assert secret not in state
        assert bpjs[0].routing.role.value == "primary" and bpjs[0].routing.attempt == 1
        assert set(bpjs[0].deadlines) == {"first_response", "follow_up"}
        assert bpjs[0].deadlines[ClockName.first_response].isoformat() == "2026-03-06T00:00:00+07:00"
        assert kpk[0].confidential and kpk[0].deadlines.get(ClockName.resolution) is not None
        assert pemda[0].routing.attempt == 3
        # A re-route starts the new agency's clocks afresh: first response counts from the re-route.
        assert pemda[0].deadlines[ClockName.first_response].isoformat() == "2026-03-07T00:00:00+07:00"
        assert {m.complaint_id for m in kemensos} == {BANSOS, TRIAGE}
