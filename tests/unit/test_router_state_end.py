"""The router's holdings end (issue #11): a closed complaint's holding is deleted, with its
listing, at the first tick a grace period (working days) after the close."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from services.domain.calendar import WorkingCalendar
from services.router.compose import build as build_router
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from tests.integration.test_router import accepted, status

CID = "LPR-BBBBBBBBBBB2"
CLOSED_AT = "2026-03-03T10:00:00+07:00"  # tests.integration.test_router's STATUS_AT


def router(grace: int = 3) -> tuple[MemoryTopics, MemoryWorker]:
    topics = MemoryTopics(partitions=1)
    return topics, MemoryWorker(build_router(Settings(partitions=1, closed_grace_days=grace)), topics)


def publish(topics: MemoryTopics, worker: MemoryWorker, topic: str, value: bytes,
            key: bytes | None = CID.encode()) -> None:
    topics.publish(topic, key, value, partition=0)
    run_until_idle([worker])


def tick(as_of: datetime) -> bytes:
    return json.dumps({"as_of": as_of.isoformat()}).encode()


def test_a_closed_holding_ends_after_the_grace_period() -> None:
    topics, worker = router(grace=3)
    publish(topics, worker, "complaints.accepted.v1",
            json.dumps(accepted(CID, "Dana desa dikorupsi kepala desa", "32.05")).encode())
    holdings = worker.stores["holdings"]
    publish(topics, worker, "status.claims.v1", status(CID, "closed", "pln"))  # not the holder
    assert "closed_at" not in holdings[CID]
    publish(topics, worker, "status.claims.v1", status(CID, "closed", None))  # the auto-close
    assert holdings[CID]["closed_at"] == CLOSED_AT
    ends = WorkingCalendar().deadline(datetime.fromisoformat(CLOSED_AT), 3, "Asia/Jakarta")
    publish(topics, worker, "sla.ticks.v1", tick(ends), key=None)  # the same day: not yet
    assert CID in holdings
    publish(topics, worker, "sla.ticks.v1", tick(ends + timedelta(days=2)), key=None)
    assert CID not in holdings and not [k for k in holdings if k.startswith("expiry:0:")]
    publish(topics, worker, "status.claims.v1", status(CID, "responded", "kpk", n=2))
    notes = [n.event for r in worker.results for _, n in r.notes]
    assert notes.count("holdings_purged") == 1 and notes[-1] == "status_refused"
    # After its end a complaint is unknown: a late status is dead-lettered, with no state.
    assert json.loads(topics.read("complaints.rejected.v1")[-1].value or b"")["reason"] == "unknown_complaint"
    assert CID not in holdings


def test_an_open_holding_stays_whatever_the_ticks() -> None:
    topics, worker = router(grace=1)
    publish(topics, worker, "complaints.accepted.v1",
            json.dumps(accepted(CID, "Dana desa dikorupsi kepala desa", "32.05")).encode())
    publish(topics, worker, "sla.ticks.v1", tick(datetime.fromisoformat("2027-01-01T00:00:00+07:00")),
            key=None)
    assert CID in worker.stores["holdings"]
