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
from services.domain.complaint_id import make_complaint_id
from services.runtime.memory import partition_for
from services.runtime.topics import ROUTED, STATUS, SUBMITTED, notifications_topic_name
from tests.harness import Harness, harness

T = "2026-03-02T09:15:00+07:00"  # Monday
WEB_REPLIES = notifications_topic_name("web")
MEMORY_CLOCK = 1_893_456_000.0  # the in-memory runtime's record time


def submission(sid: str) -> tuple[bytes, bytes]:
    return sid.encode(), json.dumps({"submission_id": sid, "channel": "web", "submitted_at": T,
                                     "body": "Token listrik tidak masuk ke meteran"}).encode()


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
        await h.publish(SUBMITTED, [submission("end-1")])
        [(_, raw)] = await h.read(ROUTED, expected=1)
        agency = RoutedEvent.model_validate_json(raw).agency_id
        await h.publish(STATUS, [(cid.encode(), json.dumps({
            "event_id": "end-close", "complaint_id": cid, "status": "closed", "agency_id": agency,
            "at": "2026-03-02T12:00:00+07:00"}).encode())])
        await h.read(WEB_REPLIES, expected=3)  # accepted, routed, closed: both stages read the close
        for store in ("seen-submitted", "holdings", "clocks"):
            assert cid in await h.live_keys(store), store
        await h.tick("2026-03-03T00:00:00+07:00")  # inside the grace period: kept
        await asyncio.sleep(2 if runtime == "broker" else 0)
        assert cid in await h.live_keys("holdings") and cid in await h.live_keys("clocks")

        await h.tick("2026-03-10T00:00:00+07:00")  # past 2 working days after the close
        assert await gone(h, "holdings", cid) and await gone(h, "clocks", cid)

        # A later submission on the same partition, three days on (record time): the first
        # one's dedup entry is past its one-day retention and goes.
        later = next(f"end-{n}" for n in range(2, 500)
                     if partition_for(f"end-{n}".encode(), 2) == partition_for(b"end-1", 2))
        now = MEMORY_CLOCK if runtime == "memory" else time.time()
        await h.publish(SUBMITTED, [submission(later)], timestamp_s=now + 3 * 86400)
        await h.read(WEB_REPLIES, expected=5)
        assert await gone(h, "seen-submitted", cid)
        assert make_complaint_id("web", later) in await h.live_keys("seen-submitted")
