"""Dedup entries end: each is listed under the day (record time) it was written, and once a
day lies wholly past LAPOR_DEDUP_RETENTION_DAYS, its entries and its listing are deleted
(tombstones, so the compacted changelog shrinks too). Time is the records' own: a partition
moves its expiry forward as its records' times pass, never by the worker's clock.

Keys beside the complaint ids in the same store (so in the same changelog partition):
"expiry:<p>" -> the last day purged; "expiry:<p>:<day>" -> chunk count;
"expiry:<p>:<day>#<k>" -> up to CHUNK complaint ids."""

from __future__ import annotations

from services.runtime.stage import StagedStores

DAY_S = 86_400
CHUNK = 100  # ids per listing record: a busy day never becomes one record past the broker's limit


def _day(timestamp: float) -> int:
    return int(timestamp // DAY_S)


def remember(stores: StagedStores, store: str, partition: int, cid: str, timestamp: float) -> None:
    """Record the complaint as seen at `timestamp` and list it for expiry."""
    stores.put(store, cid, timestamp)
    mark_key = f"expiry:{partition}"
    mark = stores.get(store, mark_key)
    day = _day(timestamp)
    if mark is None:
        mark = day - 1
        stores.put(store, mark_key, mark)
    day = max(day, mark + 1)  # a record older than what was purged: listed to go next
    head = f"expiry:{partition}:{day}"
    chunks = stores.get(store, head, 0)
    if chunks:
        last = stores.get(store, f"{head}#{chunks - 1}", [])
        if len(last) < CHUNK:
            stores.put(store, f"{head}#{chunks - 1}", [*last, cid])
            return
    stores.put(store, f"{head}#{chunks}", [cid])
    stores.put(store, head, chunks + 1)


def expire(stores: StagedStores, store: str, partition: int, now: float, retention_s: float) -> int:
    """Delete the entries of every day that lies wholly more than `retention_s` before `now`;
    returns how many entries went. Idempotent: a repeated call finds nothing left to do."""
    mark_key = f"expiry:{partition}"
    mark = stores.get(store, mark_key)
    cutoff = _day(now - retention_s) - 1
    if mark is None or cutoff <= mark:
        return 0
    deleted = 0
    for day in range(mark + 1, cutoff + 1):
        head = f"expiry:{partition}:{day}"
        for k in range(stores.get(store, head, 0)):
            for cid in stores.get(store, f"{head}#{k}", []):
                seen_at = stores.get(store, cid)
                # Accepted again since (a submission past its retention): listed later too.
                if seen_at is not None and _day(seen_at) <= day:
                    stores.delete(store, cid)
                    deleted += 1
            stores.delete(store, f"{head}#{k}")
        stores.delete(store, head)
    stores.put(store, mark_key, cutoff)
    return deleted
