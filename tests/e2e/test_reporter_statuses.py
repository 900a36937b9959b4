"""Only the reporter speaks for the reporter. After PLN responds, a complaint closes itself
when its reporter stays silent (`auto_close`); a reporter's reply through the channel the
complaint came in by cancels that. An agency's `reporter_replied` (for a complaint it holds,
or one it does not) is dead-lettered by the status gate and changes nothing; a reply through
another channel passes the gate but is not the reporter's: the judge (the router)
dead-letters it. The auto-close itself reaches complaints.status.v1 through the gate and
the judge. The same body runs in
memory and on the broker, each party writing as its own principal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import Notification, RejectedEvent, StatusEvent
from tests.ids import make_complaint_id
from services.runtime.memory import partition_for
from services.runtime.topics import (
    CLAIMS, CLOSURES, REJECTED, ROUTED, STATUS, SUBMITTED, agency_status_topic_name,
    notifications_topic_name, reporter_status_topic_name,
)
from tests.harness import harness

T = "2026-03-02T09:15:00+07:00"  # Monday
ANSWERED = "2026-03-03T10:00:00+07:00"
REPLIED = "2026-03-04T10:00:00+07:00"
MONTH_LATER = "2026-04-06T00:00:00+07:00"  # well past 10 working days of auto_close


def same_partition_ids(count: int) -> list[str]:
    """Submission ids whose complaints share a partition (of 2): one tick's handling there
    decides all of them in order, so one's close proves the others were looked at."""
    ids = [f"reply-{n}" for n in range(200)]
    first = partition_for(make_complaint_id("web", ids[0]).encode(), 2)
    return [s for s in ids if partition_for(make_complaint_id("web", s).encode(), 2) == first][:count]


def status(cid: str, event_id: str, kind: str, at: str) -> tuple[bytes, bytes]:
    return cid.encode(), json.dumps({"event_id": event_id, "complaint_id": cid, "status": kind,
                                     "at": at}).encode()


async def test_only_the_reporters_own_channel_cancels_the_auto_close(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    services = ["intake", "router", "sla_monitor", "status_gate"]
    async with harness(request, runtime, services, tmp_path, agencies=("pln", "bpjs-kesehatan")) as h:
        sids = same_partition_ids(4)
        replied, by_pln, by_bpjs, other_channel = (make_complaint_id("web", s) for s in sids)
        await h.publish(SUBMITTED, [(s.encode(), json.dumps({
            "submission_id": s, "channel": "web", "submitted_at": T,
            "body": "Token listrik tidak masuk ke meteran sejak kemarin"}).encode()) for s in sids])
        assert len(await h.read(ROUTED, 4)) == 4
        await h.publish(agency_status_topic_name("pln"), [
            status(c, f"answer-{c}", "responded", ANSWERED)
            for c in (replied, by_pln, by_bpjs, other_channel)])

        # PLN and BPJS speak for the reporter: refused at the gate.
        await h.publish(agency_status_topic_name("pln"), [
            status(by_pln, "pln-says-replied", "reporter_replied", REPLIED)])
        await h.publish(agency_status_topic_name("bpjs-kesehatan"), [
            status(by_bpjs, "bpjs-says-replied", "reporter_replied", REPLIED)])
        refused = [RejectedEvent.model_validate_json(v) for _, v in await h.read(REJECTED, 2)]
        assert sorted((r.reason, r.source_topic) for r in refused) == [
            ("reporter_status_from_an_agency", agency_status_topic_name("bpjs-kesehatan")),
            ("reporter_status_from_an_agency", agency_status_topic_name("pln")),
        ]
        # The reporter replies through the web portal; someone on the SMS channel "replies"
        # for a web complaint.
        await h.publish(reporter_status_topic_name("web"), [
            status(replied, "reporter-replied", "reporter_replied", REPLIED)])
        await h.publish(reporter_status_topic_name("sms"), [
            status(other_channel, "sms-says-replied", "reporter_replied", REPLIED)])
        refused = [RejectedEvent.model_validate_json(v) for _, v in await h.read(REJECTED, 3)]
        assert sorted((r.reason, r.source_topic) for r in refused) == [
            ("not_the_reporters_channel", CLAIMS),
            ("reporter_status_from_an_agency", agency_status_topic_name("bpjs-kesehatan")),
            ("reporter_status_from_an_agency", agency_status_topic_name("pln")),
        ]
        passed = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, 5)]
        assert sorted((s.event_id, s.channel.value if s.channel else None, s.agency_id)
                      for s in passed if s.status.value == "reporter_replied") == [
            ("reporter-replied", "web", None)]

        await h.tick(MONTH_LATER)
        closures = [StatusEvent.model_validate_json(v) for _, v in await h.read(CLOSURES, 3)]
        assert sorted(s.complaint_id for s in closures) == sorted([by_pln, by_bpjs, other_channel])
        assert {(s.status.value, s.agency_id) for s in closures} == {("closed", None)}
        # The gate and the judge passed each on; the replied complaint's partition was decided in the same
        # tick (the closes above prove it), and it stays open.
        statuses = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, 8)]
        closed = {s.complaint_id for s in statuses if s.status.value == "closed"}
        assert closed == {by_pln, by_bpjs, other_channel}
        told = [Notification.model_validate_json(v)
                for _, v in await h.read(notifications_topic_name("web"), 4 * 3 + 3)]
        auto_closed = {n.complaint_id for n in told if n.kind.value == "auto_closed"}
        assert auto_closed == {by_pln, by_bpjs, other_channel} and replied not in closed
