"""Statuses delivered twice to the SLA monitor (a repeat the judge let through), on the
in-memory runtime and on the real broker (the same body, tests/harness.py): clocks,
escalations, notices and auto-closes are exactly those of one delivery."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from schemas import Escalation, EscalationTarget
from services.runtime.topics import ACCEPTED, CLOSURES, ESCALATIONS, ROUTED, STATUS, notifications_topic_name
from tests.harness import Records, harness
from tests.sla_scenario import Step, accepted, routed, run_in_memory, status, tick

# A answers late (its first_response warning fires), then responds, and the reporter replies:
# a repeat of `responded` after the reply would start auto_close again. B asks the reporter
# and gets the answer: a repeat of `info_requested` after it would pause follow_up for good.
A, B = "LPR-RPTAAAAAAAA1", "LPR-RPTBBBBBBBB2"
MON = "2026-03-02T09:15:00+07:00"
STATUSES = [
    status(A, "acknowledged", "pln", "2026-03-05T10:00:00+07:00"),
    status(A, "responded", "pln", "2026-03-06T10:00:00+07:00"),
    status(A, "reporter_replied", None, "2026-03-09T10:00:00+07:00"),
    status(B, "acknowledged", "pln", "2026-03-03T10:00:00+07:00"),
    status(B, "info_requested", "pln", "2026-03-04T10:00:00+07:00"),
    status(B, "info_received", "pln", "2026-03-05T10:00:00+07:00"),
]
# Every status again, some right away, some after later ones (each complaint's in its order).
REPEATS = [STATUSES[0], STATUSES[3], STATUSES[1], STATUSES[5], STATUSES[4]]
OPENING = [step for cid in (A, B) for step in (accepted(cid, MON), routed(cid, "pln", MON))]
TICK = tick("2026-06-30T00:00:00+07:00")


def records(steps: list[Step]) -> Records:
    return [(key.encode() if key else None, json.dumps(value).encode()) for _, key, value in steps]


async def test_statuses_delivered_twice_count_once(
    request: pytest.FixtureRequest, runtime: str, tmp_path: Path,
) -> None:
    single = run_in_memory(OPENING + STATUSES + [TICK])
    expected_escalations = sorted(o.event.to_bytes() for o in single if isinstance(o.event, Escalation))
    web = notifications_topic_name("web")
    expected_notices = sorted(o.event.to_bytes() for o in single if o.topic == web)
    # A's first_response warning, B's follow_up ladder; A's answer, B's request, B's levels 2 and 3;
    # and, PLN having units, each complaint's lapse of its admin's verification (internal).
    internal = [o for o in single if isinstance(o.event, Escalation)
                and o.event.target is EscalationTarget.agency_admin]
    assert len(expected_escalations) == 1 + 4 + len(internal) and len(internal) == 2
    assert len(expected_notices) == 2 + 2
    assert not [o for o in single if o.topic == CLOSURES]

    async with harness(request, runtime, ["sla_monitor"], tmp_path) as h:
        await h.publish(ACCEPTED, records([s for s in OPENING if s[0] == ACCEPTED]))
        await h.publish(ROUTED, records([s for s in OPENING if s[0] == ROUTED]))
        await h.publish(STATUS, records(STATUSES + REPEATS))
        # Ticks are watermarks: this one goes out once every repeat has been read (and dropped).
        for _ in range(120):
            await h.read(web, timeout_s=1)  # (in memory: runs the worker until idle)
            if h.log_text().count("status_repeat_ignored") >= len(REPEATS):
                break
            await asyncio.sleep(0.5)
        assert h.log_text().count("status_repeat_ignored") == len(REPEATS)
        await h.tick(TICK[2]["as_of"])
        got = await h.read(ESCALATIONS, expected=len(expected_escalations))
        notices = await h.read(web, expected=len(expected_notices))
        closures = await h.read(CLOSURES, timeout_s=5)

    assert sorted(value for _, value in got) == expected_escalations
    assert sorted(value for _, value in notices) == expected_notices
    assert closures == []
