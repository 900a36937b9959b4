"""One judge for every status (contract v1, "One judge", "Each event once", "Unknown
complaints"): only the holder's statuses reach complaints.status.v1; a copy (tembusan)
agency's and an uninvolved agency's are dead-lettered `not_the_holder`, whatever the kind;
a status for a complaint never accepted (or with a wrong check character) is dead-lettered
`unknown_complaint` and leaves no state; and a complaint whose holder sends every status
twice, with late repeats, ends exactly as its twin that was told everything once: the same
statuses, clocks, escalations and notices. The same body runs in memory and on the broker,
each party writing as its own principal."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from schemas import Escalation, Notification, RejectedEvent, Status, StatusEvent
from services.domain.complaint_id import ALPHABET, normalise_complaint_id
from tests.ids import make_complaint_id
from services.runtime.memory import partition_for
from services.runtime.topics import (
    CLAIMS, ESCALATIONS, REJECTED, ROUTED, STATUS, SUBMITTED, agency_status_topic_name,
    notifications_topic_name,
)
from tests.harness import harness

T = "2026-03-02T09:15:00+07:00"
WEB_REPLIES = notifications_topic_name("web")
AGENCY_KINDS = [s for s in Status if s not in (Status.assigned, Status.reporter_replied)]
# The holder's life of the complaint: the clocks pause from the 3rd to the 9th (4 working
# days), and the answer on the 10th starts auto_close; the resolution clock (dispute_14d)
# runs on past the answer and breaches.
LIFE = [("ack", "acknowledged", "2026-03-02T10:00:00+07:00"),
        ("ask", "info_requested", "2026-03-03T10:00:00+07:00"),
        ("got", "info_received", "2026-03-09T10:00:00+07:00")]
ANSWER = ("answer", "responded", "2026-03-10T10:00:00+07:00")


def status(cid: str, event_id: str, kind: str, at: str = T) -> tuple[bytes, bytes]:
    body = {"event_id": event_id, "complaint_id": cid, "status": kind, "at": at}
    return cid.encode(), json.dumps(body).encode()


def holder_says(cid: str, steps: list[tuple[str, str, str]]) -> list[tuple[bytes, bytes]]:
    return [status(cid, f"kpk-{cid}-{name}", kind, at) for name, kind, at in steps]


def wrong_check_character(cid: str) -> str:
    last = ALPHABET[(ALPHABET.index(cid[-1]) + 1) % len(ALPHABET)]
    assert normalise_complaint_id(cid[:-1] + last) is None
    return cid[:-1] + last


def same_partition_ids(n: int) -> list[str]:
    """Submission ids whose complaints share a partition, and a twin's ticks with it."""
    ids, target = [], None
    for i in range(1000):
        sid = f"judge-{i}"
        p = partition_for(make_complaint_id("web", sid).encode(), 2)
        if target is None or p == target:
            target = p
            ids.append(sid)
        if len(ids) == n:
            return ids
    raise AssertionError("no ids")


def seen(escalations: list[Escalation], cid: str) -> Counter[tuple[str, str, int, str, str]]:
    return Counter((e.clock.value, e.kind.value, e.level, e.due_at.isoformat(), e.fire_at.isoformat())
                   for e in escalations if e.complaint_id == cid)


async def test_only_the_holder_speaks_and_each_event_counts_once(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    services = ["intake", "router", "sla_monitor", "status_gate"]
    agencies = ("kpk", "ombudsman", "kemensos")
    async with harness(request, runtime, services, tmp_path, agencies=agencies) as h:
        sids = same_partition_ids(2)
        twice, once = (make_complaint_id("web", s) for s in sids)
        await h.publish(SUBMITTED, [(s.encode(), json.dumps({
            "submission_id": s, "channel": "web", "submitted_at": T, "location": {"region_code": "32.05"},
            "body": "Dana desa dikorupsi kepala desa, mohon diperiksa"}).encode()) for s in sids])
        assert len(await h.read(ROUTED, 4)) == 4  # kpk holds both, ombudsman has copies

        # The copy agency and an uninvolved one say everything; statuses for a complaint never
        # accepted and for a mistyped id.
        for agency in ("ombudsman", "kemensos"):
            await h.publish(agency_status_topic_name(agency), [
                status(twice, f"{agency}-{kind.value}", kind.value) for kind in AGENCY_KINDS])
        never, mistyped = make_complaint_id("web", "never-sent"), wrong_check_character(twice)
        await h.publish(agency_status_topic_name("kpk"), [status(never, "kpk-never", "acknowledged"),
                                                          status(mistyped, "kpk-typo", "resolved")])
        refused = [RejectedEvent.model_validate_json(v)
                   for _, v in await h.read(REJECTED, 2 * len(AGENCY_KINDS) + 2)]
        assert Counter((r.reason, r.source_topic) for r in refused) == {
            ("not_the_holder", CLAIMS): 2 * len(AGENCY_KINDS), ("unknown_complaint", CLAIMS): 2}

        # The holder: its twin is told once; this one everything twice, the repeats late (a
        # repeated request after the information came, a repeated acknowledgement after the
        # request), and the answer last on both (the reporter hears it: the monitor has
        # applied everything before it).
        await h.publish(agency_status_topic_name("kpk"), [
            *holder_says(once, [*LIFE, ANSWER]),
            *holder_says(twice, [LIFE[0], LIFE[1], LIFE[0], LIFE[2], LIFE[1], LIFE[2], LIFE[0],
                                 ANSWER, ANSWER])])
        told = [Notification.model_validate_json(v) for _, v in await h.read(WEB_REPLIES, 2 * 4)]
        assert Counter(n.kind.value for n in told) == {
            "accepted": 2, "routed": 2, "info_requested": 2, "responded": 2}

        # A month on: the resolution clock breaches and the auto-close closes, for both alike.
        await h.tick("2026-04-30T12:00:00+07:00")
        told = [Notification.model_validate_json(v) for _, v in await h.read(WEB_REPLIES, 2 * 7)]
        fired = [Escalation.model_validate_json(v) for _, v in await h.read(ESCALATIONS)]
        statuses = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, 2 * 5)]
        assert seen(fired, twice) == seen(fired, once) and seen(fired, once)
        assert Counter((n.complaint_id, n.kind.value) for n in told) == {
            (cid, kind): count for cid in (twice, once) for kind, count in (
                ("accepted", 1), ("routed", 1), ("info_requested", 1), ("responded", 1),
                ("auto_closed", 1), ("escalated", 2))}
        for cid in (twice, once):
            mine = [s for s in statuses if s.complaint_id == cid]
            assert [s.status.value for s in mine] == [
                "acknowledged", "info_requested", "info_received", "responded", "closed"]
            assert len({s.event_id for s in mine}) == 5
        assert {s.agency_id for s in statuses} <= {"kpk", None}
        # The repeats were dropped, not refused: no dead letter beyond the first ones.
        assert len(await h.read(REJECTED, len(refused))) == len(refused)
        # Nothing is kept for the unknown ids, anywhere.
        for store in ("holdings", "clocks"):
            keys = await h.live_keys(store)
            assert {twice, once} <= keys and not {never, mistyped} & keys, store
