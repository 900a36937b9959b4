"""State ends (issue #11), the same body in memory and on the broker (where it reads the
changelog topics: what a restarted worker would recover): a closed complaint's SLA clocks and
router holding end after the grace period (ticks), its dedup entry after the retention (record
time of later input), with tombstones."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from schemas import RoutedEvent
from tests.ids import make_complaint_id
from services.runtime.memory import partition_for
from services.runtime.topics import CLAIMS, ROUTED, SUBMITTED, notifications_topic_name
from tests.harness import Harness, harness

T = "2026-03-02T09:15:00+07:00"  # Monday
WEB_REPLIES = notifications_topic_name("web")
MEMORY_CLOCK = 1_893_456_000.0  # the in-memory runtime's record time


def submission(sid: str, at: str = T) -> tuple[bytes, bytes]:
    return sid.encode(), json.dumps({"submission_id": sid, "channel": "web", "submitted_at": at,
                                     "body": "Token listrik tidak masuk ke meteran"}).encode()


def closed(cid: str, agency: str | None, at: str) -> tuple[bytes, bytes]:
    return cid.encode(), json.dumps({"event_id": f"close-{cid}", "complaint_id": cid,
                                     "status": "closed", "agency_id": agency, "at": at}).encode()


def beside(cid: str) -> str:
    """A submission id whose complaint shares `cid`'s partition (of 2): one tick's handling
    there looks at both, so the end of one proves the other was looked at too."""
    return next(f"mark-{n}" for n in range(500) if partition_for(
        make_complaint_id("web", f"mark-{n}").encode(), 2) == partition_for(cid.encode(), 2))


async def routed_agencies(h: Harness, cids: set[str], timeout_s: float = 180) -> dict[str, str | None]:
    """Each complaint's agency once all of `cids` were routed: a routing may be repeated
    (at least once), so two records need not be two complaints."""
    deadline = time.monotonic() + timeout_s
    while True:
        agency = {e.complaint_id: e.agency_id for e in (
            RoutedEvent.model_validate_json(raw) for _, raw in await h.read(ROUTED, expected=len(cids)))}
        if cids <= agency.keys() or time.monotonic() > deadline:
            assert cids <= agency.keys(), f"not routed: {cids - agency.keys()}"
            return agency


async def gone(h: Harness, store: str, key: str, timeout_s: float = 60) -> bool:
    for _ in range(int(timeout_s)):
        if key not in await h.live_keys(store):
            return True
        await asyncio.sleep(1)
    return False


async def test_a_closed_complaints_state_ends_everywhere(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    async with harness(request, runtime, ["intake", "router", "sla_monitor"], tmp_path,
                       closed_grace_days=2, dedup_retention_days=1) as h:
        cid = make_complaint_id("web", "end-1")
        # A marker beside it, closed a week earlier: its grace ends first.
        mark = beside(cid)
        marker = make_complaint_id("web", mark)
        await h.publish(SUBMITTED, [submission(mark, "2026-02-23T09:15:00+07:00"), submission("end-1")])
        agency = await routed_agencies(h, {cid, marker})
        # As the status gate writes them: the router judges both and passes them on.
        await h.publish(CLAIMS, [closed(marker, agency[marker], "2026-02-24T12:00:00+07:00"),
                                 closed(cid, agency[cid], "2026-03-02T12:00:00+07:00")])
        await h.read(WEB_REPLIES, expected=6)  # accepted, routed, closed each: both stages read the closes
        for store in ("seen-submitted", "holdings", "clocks"):
            assert {cid, marker} <= await h.live_keys(store), store
        await h.tick("2026-03-03T00:00:00+07:00")  # inside end-1's grace period, past the marker's
        # The marker's state ended at this tick, on the same partition: the tick was handled
        # there by both stages, and end-1's is kept.
        assert await gone(h, "holdings", marker) and await gone(h, "clocks", marker)
        assert cid in await h.live_keys("holdings") and cid in await h.live_keys("clocks")

        await h.tick("2026-03-10T00:00:00+07:00")  # past 2 working days after the close
        assert await gone(h, "holdings", cid) and await gone(h, "clocks", cid)

        # A later submission on the same partition, three days on (record time): the first
        # one's dedup entry is past its one-day retention and goes.
        later = next(f"end-{n}" for n in range(2, 500)
                     if partition_for(f"end-{n}".encode(), 2) == partition_for(b"end-1", 2))
        now = MEMORY_CLOCK if runtime == "memory" else time.time()
        await h.publish(SUBMITTED, [submission(later)], timestamp_s=now + 3 * 86400)
        await h.read(WEB_REPLIES, expected=8)
        assert await gone(h, "seen-submitted", cid)
        assert make_complaint_id("web", later) in await h.live_keys("seen-submitted")
