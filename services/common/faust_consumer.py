"""faust's aiokafka consumer with two fixes that keep a restarted worker from skipping input.

Both were found by the intake crash test (a worker killed mid-batch and restarted onto the
backlog read nothing at all, in about one run of three):

1. aiokafka 0.14.0 ``seek_to_committed`` seeks only when the committed offset is *truthy*:
   a partition committed at offset 0 keeps whatever position the prefetch left it at. faust
   relies on that seek to undo records it fetched and dropped, so here offset 0 is sought too.
2. faust 0.15.3 hands aiokafka its live set of active partitions. When that set becomes empty
   while a fetch is waiting (recovery pauses the changelogs while the sources are still
   paused), aiokafka reads an empty set as "every partition" and drains the source
   partitions; faust then drops those records because they are not active, and the fetch
   position has moved past them. Here aiokafka gets a view of the same set that is never
   falsy, so it only ever drains partitions that are active at that moment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP


class _ActiveView:
    """The live set of active partitions, always truthy (membership is all aiokafka asks)."""

    def __init__(self, live: set[TP]) -> None:
        self._live = live

    def __contains__(self, tp: object) -> bool:
        return tp in self._live

    def __iter__(self) -> Iterator[TP]:
        return iter(set(self._live))

    def __len__(self) -> int:
        return len(self._live)

    def __bool__(self) -> bool:
        return True


class GuardedConsumer(Consumer):
    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        view: Any = None if active_partitions is None else _ActiveView(active_partitions)
        return await super()._getmany(view, timeout)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        for tp, offset in committed.items():
            if offset == 0:  # aiokafka skipped it (see 1. above)
                await self._seek(tp, 0)
        return committed
