"""Dedup entries end: each is listed under the day (record time) it was written, and once a
day lies wholly past LAPOR_DEDUP_RETENTION_DAYS, its entries go (services/runtime/expiry.py).
A partition moves its expiry forward as its records' times pass."""

from __future__ import annotations

from services.runtime.expiry import day_of, expire_through, list_for_expiry
from services.runtime.stage import StagedStores


def remember(stores: StagedStores, store: str, partition: int, cid: str, timestamp: float) -> None:
    """Record the complaint as seen at `timestamp` and list it for expiry."""
    stores.put(store, cid, timestamp)
    list_for_expiry(stores, store, partition, cid, day_of(timestamp))


def expire(stores: StagedStores, store: str, partition: int, now: float, retention_s: float) -> int:
    """Delete the entries of every day that lies wholly more than `retention_s` before `now`."""
    return expire_through(stores, store, partition, day_of(now - retention_s) - 1,
                          lambda cid, day: day_of(stores.get(store, cid)) <= day)
