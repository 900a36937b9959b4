"""Cost of an SLA tick against many open complaints, on the processor's in-memory stores.

Usage: .venv/bin/python bench/sla_ticks.py [OPEN]   (default 1,000,000)

Builds OPEN open complaints (first response and follow-up clocks running) through the
processor's own event handlers, then measures ticks that make 100
and 10,000 complaints due. Prints time per tick and the memory of the state.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas import AcceptedComplaint, RoutedEvent  # noqa: E402
from services.common.calendar import WorkingCalendar  # noqa: E402
from services.common.registry import load_registry  # noqa: E402
from services.common.settings import Settings  # noqa: E402
from services.common.sla_policy import load_policy  # noqa: E402
from services.sla_monitor.processor import SlaProcessor, apply_writes  # noqa: E402

def build(processor: SlaProcessor, stores: dict[str, Any], batches: list[tuple[datetime, int, float]]) -> None:
    """For each batch (first acceptance, count, seconds apart): accepted + routed to pln."""
    start = batches[0][0]
    template = AcceptedComplaint.model_validate({
        "event_id": "e", "complaint_id": "LPR-000000000000", "submission_id": "s", "channel": "web",
        "submitted_at": start.isoformat(), "accepted_at": start.isoformat(), "body": "x",
        "type": "complaint", "category": "electricity", "sla_tier": "standard_5d", "classification": {}})
    routed = RoutedEvent.model_validate({"event_id": "r", "complaint_id": "LPR-000000000000",
                                         "agency_id": "pln", "role": "primary", "rule_id": "pln",
                                         "reason": "x", "attempt": 1, "routed_at": start.isoformat()})
    i = 0
    for first, count, spacing in batches:
        for j in range(count):
            at = first + timedelta(seconds=spacing * j)
            cid = f"LPR-{i:012d}"
            i += 1
            c = template.model_copy(update={"complaint_id": cid, "accepted_at": at})
            apply_writes(stores, processor.accepted(0, c))
            apply_writes(stores, processor.routed(0, routed.model_copy(update={"complaint_id": cid, "routed_at": at})))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    stores: dict[str, Any] = {k: {} for k in ("clocks", "due", "marks", "stats", "overdue")}
    processor = SlaProcessor(stores, WorkingCalendar(), load_policy(None), load_registry(Settings()))
    tracemalloc.start()
    t0 = time.perf_counter()
    # 100 complaints accepted on Monday 5 Jan, 10,000 on Monday 12 Jan (both during the
    # working day, WIB), and all the others from April on: every deadline is a local
    # midnight, so the ticks below make exactly 100 and 10,000 complaints due.
    build(processor, stores, [(datetime(2026, 1, 5, 2, 0, tzinfo=UTC), 100, 60.0),
                              (datetime(2026, 1, 12, 1, 0, tzinfo=UTC), 10_000, 1.0),
                              (datetime(2026, 4, 6, 1, 0, tzinfo=UTC), max(0, n - 10_100), 0.5)])
    build_s = time.perf_counter() - t0
    gc.collect()
    state_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    # First tick sets the watermark before anything is due (the Sunday before).
    apply_writes(stores, processor.tick(0, datetime(2026, 1, 4, tzinfo=UTC)))
    # first_response warnings fire at 00:00 WIB two working days after acceptance.
    rows = []
    for label, as_of in (("idle tick (nothing due)", datetime(2026, 1, 7, 16, 0, tzinfo=UTC)),
                         ("tick: 100 complaints due", datetime(2026, 1, 7, 17, 0, tzinfo=UTC)),
                         ("tick: later levels of the 100", datetime(2026, 1, 14, 16, 0, tzinfo=UTC)),
                         ("tick: 10,000 complaints due", datetime(2026, 1, 14, 17, 0, tzinfo=UTC))):
        t = time.perf_counter()
        res = processor.tick(0, as_of)
        elapsed = time.perf_counter() - t
        apply_writes(stores, res)
        rows.append((label, len(res.outputs), elapsed))
    print(f"\n{n:,} open complaints (built in {build_s:.0f} s through the event handlers)")
    print(f"state in memory (clocks + due index, tracemalloc): {state_mb:,.0f} MiB")
    print(f"{'tick':28} {'outputs':>8} {'seconds':>9} {'ms / output':>12}")
    for label, outputs, elapsed in rows:
        per = f"{elapsed / outputs * 1000:.3f}" if outputs else "-"
        print(f"{label:28} {outputs:8} {elapsed:9.4f} {per:>12}")


if __name__ == "__main__":
    main()
