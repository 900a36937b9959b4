"""Cost of an SLA tick against many open complaints, on the processor's in-memory stores.

Usage: .venv/bin/python bench/sla_ticks.py [OPEN]   (default 1,000,000)

Builds OPEN open complaints (first response and follow-up clocks running) through the
processor's own event handlers, then measures ticks that make 100
and 10,000 complaints due. Prints time per tick and the process's resident memory before and
after the state was built (tracemalloc would be exact but makes a 1,000,000 build take hours).
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sla_state import TICKS, WATERMARK_TICK, build, new_processor, rss_mib  # noqa: E402
from services.runtime.stage import StagedStores  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    processor, stores = new_processor()
    gc.collect()
    rss_before = rss_mib()
    t0 = time.perf_counter()
    build(processor, stores, n)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_after = rss_mib()
    processor.tick(StagedStores(stores), 0, WATERMARK_TICK).view.commit()
    rows = []
    for label, as_of, _due in TICKS:
        t = time.perf_counter()
        res = processor.tick(StagedStores(stores), 0, as_of)
        elapsed = time.perf_counter() - t
        res.view.commit()
        rows.append((label, len(res.outputs), elapsed))
    print(f"\n{n:,} open complaints (built in {build_s:.0f} s through the event handlers)")
    print(f"resident memory: {rss_before:,.0f} MiB before, {rss_after:,.0f} MiB after "
          f"({(rss_after - rss_before) * 1024 / max(n, 1):.2f} KiB per open complaint)")
    print(f"{'tick':28} {'outputs':>8} {'seconds':>9} {'ms / output':>12}")
    for label, outputs, elapsed in rows:
        per = f"{elapsed / outputs * 1000:.3f}" if outputs else "-"
        print(f"{label:28} {outputs:8} {elapsed:9.4f} {per:>12}")


if __name__ == "__main__":
    main()
