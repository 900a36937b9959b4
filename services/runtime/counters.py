"""Per-worker counters an operator reads at a worker's /metrics/ page: records in and out by
topic, and what the handlers noted (accepted, duplicate, rejected by reason, ...)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from services.runtime.stage import BatchResult, Record


class StageCounters:
    def __init__(self) -> None:
        self.records_in: Counter[str] = Counter()
        self.records_out: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()  # "event" or "event/reason"
        self.batches = 0

    def count(self, records: Iterable[Record], result: BatchResult) -> None:
        self.batches += 1
        self.records_in.update(r.topic for r in records)
        self.records_out.update(o.topic for o in result.outputs)
        self.notes.update(f"{n.event}/{n.fields['reason']}" if "reason" in n.fields else n.event
                          for _, n in result.notes)

    def snapshot(self) -> dict[str, Any]:
        return {"batches": self.batches, "records_in": dict(self.records_in),
                "records_out": dict(self.records_out), "handled": dict(sorted(self.notes.items()))}
