"""What a tick looks up: the SLA monitor's lists in its `due` store, and the result a
processing step builds. Lists are chunked: "<head>" holds the number of chunks and
"<head>#k" up to DUE_CHUNK ids. Deadlines all fall at 00:00 local time, so one hour bucket
can list every complaint due that day; chunks keep each changelog record small and an
addition O(DUE_CHUNK), where a single list per bucket grows without bound (a record over the
broker's message limit, and quadratic bytes in the changelog)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas import WireModel
from services.domain.rules import RuleSet
from services.runtime.expiry import listed_numbers
from services.runtime.stage import StagedStores, StoreName

BUCKET_S = 3600  # due index granularity: one bucket per hour of fire_at
DUE_CHUNK = 100  # complaint ids per due-index record
SCAN_AFTER_BUCKETS = 24 * 62  # a tick further ahead than this scans the index's keys


def bucket_of(at: datetime) -> int:
    return int(at.timestamp()) // BUCKET_S


@dataclass
class Emitted:
    topic: str  # contract topic name
    key: str
    event: WireModel


@dataclass
class Result:
    view: StagedStores  # reads through, and stages, this event's store writes
    rules: RuleSet  # the calendar and policy in force on the event's partition
    outputs: list[Emitted] = field(default_factory=list)
    note: str = ""
    purged: int = 0  # complaints whose state this tick deleted
    source: tuple[str, int] | None = None  # the input record's (topic, offset), for parking
    rules_switched: tuple[int, int] | None = None  # (version now in force, complaints re-listed)
    repeats: list[tuple[str, str]] = field(default_factory=list)  # (complaint, event id) ignored
    late: list[tuple[str, str]] = field(default_factory=list)  # (complaint, event id) read late


def append_listed(view: StagedStores, head: str, cid: str) -> None:
    chunks = view.get(StoreName.due, head, 0)
    if chunks:
        last = view.get(StoreName.due, f"{head}#{chunks - 1}", [])
        if len(last) < DUE_CHUNK:
            view.put(StoreName.due, f"{head}#{chunks - 1}", [*last, cid])
            return
    view.put(StoreName.due, f"{head}#{chunks}", [cid])
    view.put(StoreName.due, head, chunks + 1)


def listed(view: StagedStores, head: str) -> list[str]:
    ids: list[str] = []
    for k in range(view.get(StoreName.due, head, 0)):
        ids.extend(view.get(StoreName.due, f"{head}#{k}", []))
    return list(dict.fromkeys(ids))


def clear_listed(view: StagedStores, head: str) -> None:
    if not view.get(StoreName.due, head, 0):
        return  # nothing listed: no tombstone for a key that never was
    for k in range(view.get(StoreName.due, head, 0)):
        view.put(StoreName.due, f"{head}#{k}", None)
    view.put(StoreName.due, head, None)


def listed_buckets(view: StagedStores, prefix: str, first: int | None, last: int) -> list[int]:
    """The hour buckets from `first` to `last` that may hold a listing under `prefix`
    (every hour of a short stretch; the listed ones after a long jump or an open start)."""
    return listed_numbers(view, StoreName.due, prefix, first, last, SCAN_AFTER_BUCKETS)
