"""Entries that end on a day: each key is listed under its day (epoch day, UTC) beside the
entries in the same store, so in the same changelog partition; once a partition's time passes
a day, the day's keys are deleted with their listing (tombstones: compacted changelogs shrink
too). Time is always the records' own (record times, ticks), never the worker's clock.

Keys: "expiry:<p>" -> the last day handled; "expiry:<p>:<day>" -> chunk count;
"expiry:<p>:<day>#<k>" -> up to CHUNK keys. Writes are staged like every other write, so a
crash in the middle repeats the deletion, which is idempotent."""

from __future__ import annotations

from collections.abc import Callable

from services.runtime.stage import StagedStores

SCAN_AFTER_DAYS = 400  # a longer jump scans the store's keys instead of every day
DAY_S = 86_400
CHUNK = 100  # keys per listing record: a busy day never becomes one record past the broker's limit


def day_of(timestamp: float) -> int:
    return int(timestamp // DAY_S)


def list_for_expiry(stores: StagedStores, store: str, partition: int, key: str, day: int) -> None:
    """List `key` to be deleted once the partition's time is past `day`."""
    mark_key = f"expiry:{partition}"
    mark = stores.get(store, mark_key)
    if mark is None:
        mark = day - 1
        stores.put(store, mark_key, mark)
    day = max(day, mark + 1)  # a day already handled: listed to go with the next one
    head = f"expiry:{partition}:{day}"
    chunks = stores.get(store, head, 0)
    if chunks:
        last = stores.get(store, f"{head}#{chunks - 1}", [])
        if len(last) < CHUNK:
            stores.put(store, f"{head}#{chunks - 1}", [*last, key])
            return
    stores.put(store, f"{head}#{chunks}", [key])
    stores.put(store, head, chunks + 1)


def expire_through(stores: StagedStores, store: str, partition: int, last_day: int,
                   still_ends: Callable[[str, int], bool]) -> int:
    """Delete the keys listed for every day up to `last_day` for which `still_ends(key, day)`
    (an entry renewed since is listed again later); returns how many keys went."""
    mark_key = f"expiry:{partition}"
    mark = stores.get(store, mark_key)
    if mark is None or last_day <= mark:
        return 0
    deleted = 0
    for day in _listed_days(stores, store, partition, mark + 1, last_day):
        head = f"expiry:{partition}:{day}"
        chunks = stores.get(store, head, 0)
        if not chunks:
            continue  # nothing listed that day: no tombstone for a key that never was
        for k in range(chunks):
            for key in stores.get(store, f"{head}#{k}", []):
                if stores.get(store, key) is not None and still_ends(key, day):
                    stores.delete(store, key)
                    deleted += 1
            stores.delete(store, f"{head}#{k}")
        stores.delete(store, head)
    stores.put(store, mark_key, last_day)
    return deleted


def _listed_days(stores: StagedStores, store: str, partition: int, first: int, last: int) -> list[int]:
    return listed_numbers(stores, store, f"expiry:{partition}:", first, last, SCAN_AFTER_DAYS)


def listed_numbers(stores: StagedStores, store: str, prefix: str, first: int | None, last: int,
                   scan_after: int) -> list[int]:
    """The numbers n up to `last` (from `first`) that may have a listing `prefix + n` (days,
    hour buckets): each n of a short stretch, or, for an open start or a jump longer than
    `scan_after` (a tick months ahead, a hostile one years ahead), only those the store's
    keys show: a long stretch is not walked n by n."""
    if first is not None and last - first <= scan_after:
        return list(range(first, last + 1))
    return sorted({n for k in stores.keys(store) if k.startswith(prefix) and "#" not in k
                   and (n := int(k[len(prefix):])) <= last and (first is None or n >= first)})
