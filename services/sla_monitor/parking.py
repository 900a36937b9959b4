"""Events read before their complaint. The SLA monitor's four input topics are read
independently, so a routed or status event can be read before the accepted complaint it
belongs to. It waits under "pending:<id>" (in the clocks store) and is applied, in arrival
order, right after the complaint is known.

Parking is bounded, by the accepted topic's own progress: the first parked event lists
"pending:<id>" under the hour of its record time + LAPOR_SLA_PENDING_MAX_HOURS
("pending@p:hour"); once this partition has read accepted complaints written after that hour
and the complaint is still not among them, it never came (its accepted record was written
before the event's), and the parked events go to the dead-letter topic
(`complaint_never_accepted`). Ticks cannot decide this: they promise what has been
published, not what this worker has read of the other topics."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.events import ValidationErrorItem
from services.runtime.dead_letter import dead_letter
from services.runtime.stage import StagedStores, StoreName
from services.runtime.topics import REJECTED, ROUTED, STATUS
from services.sla_monitor.due_index import Emitted, append_listed, bucket_of, clear_listed, listed


def park(view: StagedStores, partition: int, cid: str, kind: str, payload: str,
         record_time: datetime, source: tuple[str, int] | None, pending_max: timedelta) -> None:
    key = f"pending:{cid}"
    parked = list(view.get(StoreName.clocks, key, []))
    topic, offset = source or unknown_position(kind)
    view.put(StoreName.clocks, key, [*parked, [kind, payload, record_time.isoformat(), topic, offset]])
    if not parked:
        bucket = bucket_of(record_time + pending_max)
        done = view.get(StoreName.marks, f"accepted:{partition}")
        if done is None:  # nothing accepted read yet: progress starts from here
            done = bucket_of(record_time) - 1
            view.put(StoreName.marks, f"accepted:{partition}", done)
        append_listed(view, f"pending@{partition}:{max(bucket, done + 1)}", key)


def accepted_progress(view: StagedStores, partition: int, record_time: datetime,
                      pending_max: timedelta) -> list[Emitted]:
    """An accepted record written at `record_time` was read: the parked events listed for
    the hours before it have waited long enough (their dead letters are returned)."""
    done = view.get(StoreName.marks, f"accepted:{partition}")
    through = bucket_of(record_time) - 1
    if done is None:  # nothing parked yet: nothing listed before now
        view.put(StoreName.marks, f"accepted:{partition}", through)
        return []
    if through <= done:
        return []
    letters: list[Emitted] = []
    for bucket in range(done + 1, through + 1):
        head = f"pending@{partition}:{bucket}"
        for key in listed(view, head):
            letters += _expire(view, partition, key, pending_max)
        clear_listed(view, head)
    view.put(StoreName.marks, f"accepted:{partition}", through)
    return letters


def _expire(view: StagedStores, partition: int, key: str, pending_max: timedelta) -> list[Emitted]:
    """Dead letters for what still waits under `key` (its complaint never came)."""
    parked = view.get(StoreName.clocks, key, [])
    if not parked:
        return []  # the complaint came and took its events: a stale listing
    letters = []
    for kind, payload, record_time, *position in parked:
        topic, offset = position if position else unknown_position(kind)
        at = datetime.fromisoformat(record_time) if record_time else None
        letter = dead_letter(
            topic=topic, partition=partition, offset=offset,
            timestamp_s=at.timestamp() if at else 0.0,
            key=key.removeprefix("pending:").encode(), raw=payload.encode(),
            reason="complaint_never_accepted", rejected_by="sla_monitor",
            errors=[ValidationErrorItem(loc="complaint_id", msg=(
                f"no accepted complaint written within "
                f"{pending_max.total_seconds() / 3600:g} hours after this event"))])
        letters.append(Emitted(REJECTED, key.removeprefix("pending:"), letter))
    view.put(StoreName.clocks, key, None)
    return letters


def unknown_position(kind: str) -> tuple[str, int]:
    """Where a parked event came from, when it was parked before positions were kept."""
    return (ROUTED if kind == "routed" else STATUS), -1
