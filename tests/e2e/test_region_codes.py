"""A complaint with an old or unknown region code reaches an agency (contract v1 addition):
intake maps or sets the code aside, the router routes on what is left. The same body runs
in memory and on the real broker with the two workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import AgencyComplaint, RoutedEvent
from tests.ids import make_complaint_id
from services.runtime.topics import agency_topic_name
from tests.harness import harness

T = "2026-03-02T09:15:00+07:00"


def submission(sid: str, body: str, region: str) -> tuple[bytes, bytes]:
    value = {"submission_id": sid, "channel": "web", "submitted_at": T, "body": body,
             "location": {"region_code": region}}
    return sid.encode(), json.dumps(value).encode()


async def test_old_and_unknown_region_codes_still_route(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    async with harness(request, runtime, ["intake", "router"], tmp_path) as h:
        await h.publish("complaints.submitted.v1", [
            # No topic keyword: only the region can route it, once 94.71 is read as 91.71.
            submission("old-code", "Mohon perhatian untuk lingkungan kami", "94.71"),
            # An unknown code: routed on the text (electricity -> pln).
            submission("bad-code", "Listrik padam dan token listrik tidak masuk", "99.99"),
        ])
        routed = [RoutedEvent.model_validate_json(v)
                  for _, v in await h.read("complaints.routed.v1", expected=2)]
        by_id = {e.complaint_id: e for e in routed}
        old, bad = make_complaint_id("web", "old-code"), make_complaint_id("web", "bad-code")
        assert (by_id[old].agency_id, by_id[old].rule_id) == ("pemda-91-71", "region")
        assert by_id[bad].agency_id == "pln"
        delivered = [AgencyComplaint.model_validate_json(v)
                     for _, v in await h.read(agency_topic_name("pemda-91-71"), expected=1)]
        assert [m.complaint_id for m in delivered] == [old]
        assert delivered[0].location is not None
        assert (delivered[0].location.region_code, delivered[0].location.region_code_given) == (
            "91.71", "94.71")
