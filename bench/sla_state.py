"""Open complaints for the SLA benchmarks, built through the processor's own event handlers
(the same state a worker holds), with the ticks that make a known number of them due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import AcceptedComplaint, RoutedEvent
from services.domain.registry import load_registry
from services.domain.rules import shipped_version
from services.runtime.stage import StagedStores
from services.sla_monitor.processor import Result, SlaProcessor

STORES = ("clocks", "due", "marks", "stats", "overdue")
# 100 complaints accepted on Monday 5 Jan, 10,000 on Monday 12 Jan (both in the working day,
# WIB) and all the others from April on, half a second apart: every deadline is a local
# midnight, so the ticks below make exactly 100 and then 10,000 complaints due.
WATERMARK_TICK = datetime(2026, 1, 4, tzinfo=UTC)  # the Sunday before: nothing due yet
TICKS = (("idle tick (nothing due)", datetime(2026, 1, 7, 16, 0, tzinfo=UTC), 0),
         ("tick: 100 complaints due", datetime(2026, 1, 7, 17, 0, tzinfo=UTC), 100),
         ("tick: later levels of the 100", datetime(2026, 1, 14, 16, 0, tzinfo=UTC), 100),
         ("tick: 10,000 complaints due", datetime(2026, 1, 14, 17, 0, tzinfo=UTC), 10_000))
# The 10,000's first-response breaches (00:00 WIB on Friday 16 Jan): a tick for a restarted worker.
LATER_TICK = ("tick: the 10,000 breach", datetime(2026, 1, 15, 17, 0, tzinfo=UTC), 10_000)


def rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def new_processor() -> tuple[SlaProcessor, dict[str, Any]]:
    stores: dict[str, Any] = {k: {} for k in STORES}
    return SlaProcessor(shipped_version(None, None), load_registry()), stores


def batches(n: int) -> list[tuple[datetime, int, float]]:
    """(first acceptance, count, seconds apart) for n open complaints."""
    return [(datetime(2026, 1, 5, 2, 0, tzinfo=UTC), min(n, 100), 60.0),
            (datetime(2026, 1, 12, 1, 0, tzinfo=UTC), min(max(0, n - 100), 10_000), 1.0),
            (datetime(2026, 4, 6, 1, 0, tzinfo=UTC), max(0, n - 10_100), 0.5)]


def build(processor: SlaProcessor, stores: dict[str, Any], n: int,
          partition_of: Callable[[str], int] = lambda cid: 0,
          on_result: Callable[[int, Result], None] | None = None) -> None:
    """n complaints, each accepted and routed to pln; `on_result(partition, result)` sees
    every staged result before it is applied (what a worker would write to its changelogs)."""
    start = batches(n)[0][0]
    template = AcceptedComplaint.model_validate({
        "event_id": "e", "complaint_id": "LPR-000000000000", "submission_id": "s", "channel": "web",
        "submitted_at": start.isoformat(), "accepted_at": start.isoformat(), "body": "x",
        "type": "complaint", "category": "electricity", "sla_tier": "standard_5d", "classification": {}})
    routed = RoutedEvent.model_validate({"event_id": "r", "complaint_id": "LPR-000000000000",
                                         "agency_id": "pln", "role": "primary", "rule_id": "pln",
                                         "reason": "x", "attempt": 1, "routed_at": start.isoformat()})

    def step(partition: int, res: Result) -> None:
        if on_result is not None:
            on_result(partition, res)
        res.view.commit()

    i = 0
    for first, count, spacing in batches(n):
        for j in range(count):
            at = first + timedelta(seconds=spacing * j)
            cid = f"LPR-{i:012d}"
            i += 1
            p = partition_of(cid)
            step(p, processor.accepted(StagedStores(stores), p, template.model_copy(update={"complaint_id": cid, "accepted_at": at})))
            # The routed event is handled after the acceptance was written, as in a worker.
            step(p, processor.routed(StagedStores(stores), p, routed.model_copy(update={"complaint_id": cid, "routed_at": at})))
