"""Intake's dedup entries end after LAPOR_DEDUP_RETENTION_DAYS of record time (issue #11):
deleted with their listings, idempotently, and only when no newer acceptance renewed them."""

from __future__ import annotations

import json

from services.intake.compose import build as build_intake
from services.runtime.expiry import CHUNK
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings

DAY = 86_400.0
MONDAY = 1_772_409_600.0  # 2026-03-02 00:00 UTC
T = "2026-03-02T09:15:00+07:00"


def submission(sid: str) -> bytes:
    return json.dumps({"submission_id": sid, "channel": "web", "submitted_at": T,
                       "body": f"Jalan rusak ({sid})"}).encode()


def intake(retention_days: int = 2) -> tuple[MemoryTopics, MemoryWorker]:
    topics = MemoryTopics(partitions=1)
    return topics, MemoryWorker(build_intake(Settings(dedup_retention_days=retention_days)), topics)


def send(topics: MemoryTopics, worker: MemoryWorker, sid: str, day: float) -> None:
    topics.publish("complaints.submitted.v1", sid.encode(), submission(sid),
                   timestamp=MONDAY + day * DAY + 3600)
    run_until_idle([worker])


def ids_kept(worker: MemoryWorker) -> set[str]:
    return {k for k in worker.stores["seen-submitted"] if k.startswith("LPR-")}


def accepted_ids(topics: MemoryTopics) -> list[bytes | None]:
    return [r.key for r in topics.read("complaints.accepted.v1")]


def test_entries_past_retention_are_deleted_with_their_listing() -> None:
    topics, worker = intake(retention_days=2)
    send(topics, worker, "a", 0)
    send(topics, worker, "b", 1)
    assert len(ids_kept(worker)) == 2
    send(topics, worker, "c", 3)  # day 0 lies wholly more than 2 days back; day 1 not yet
    day0 = f"expiry:0:{int(MONDAY // DAY)}"
    assert len(ids_kept(worker)) == 2 and not any(
        k == day0 or k.startswith(day0 + "#") for k in worker.stores["seen-submitted"])
    send(topics, worker, "d", 10)  # days 1 and 3 expire too; only d is kept
    assert len(ids_kept(worker)) == 1
    listings = [k for k in worker.stores["seen-submitted"] if k.startswith("expiry:0:")]
    assert all(k.startswith(f"expiry:0:{int((MONDAY + 10 * DAY) // DAY)}") for k in listings)
    notes = [n.fields["entries"] for r in worker.results for _, n in r.notes if n.event == "dedup_expired"]
    assert notes == [1, 2]


def test_a_duplicate_within_retention_is_still_caught_and_one_past_it_accepted_again() -> None:
    topics, worker = intake(retention_days=2)
    send(topics, worker, "a", 0)
    send(topics, worker, "a", 1)  # a gateway retry the next day: a duplicate
    assert len(accepted_ids(topics)) == 1
    send(topics, worker, "a", 5)  # past retention: accepted again (same id downstream)
    assert len(accepted_ids(topics)) == 2
    send(topics, worker, "x", 6)  # the day-0 listing goes, but a's renewed entry stays
    assert len(ids_kept(worker)) == 2


def test_expiry_is_idempotent_and_chunked() -> None:
    topics, worker = intake(retention_days=2)
    for i in range(CHUNK + 5):
        topics.publish("complaints.submitted.v1", f"s{i}".encode(), submission(f"s{i}"),
                       timestamp=MONDAY + 3600 + i)
    run_until_idle([worker])
    chunks = [k for k in worker.stores["seen-submitted"] if "#" in k]
    assert len(chunks) == 2
    send(topics, worker, "late", 4)
    after_once = dict(worker.stores["seen-submitted"])
    send(topics, worker, "late", 4)  # the same record again: nothing more to delete
    assert {k: v for k, v in worker.stores["seen-submitted"].items()} == after_once
    assert len(ids_kept(worker)) == 1
