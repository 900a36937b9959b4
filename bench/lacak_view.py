"""How fast a lacak worker rebuilds its view from the topics, what it holds in memory, and how
long one reporter's lookup takes.

Usage: .venv/bin/python bench/lacak_view.py [N]     (default 200,000: a year of complaints)

A lacak worker follows complaints.routed.v1 and complaints.status.v1 from their beginning at
every start (no group, no changelog: services/lacak/app.py). This feeds the view N routings
(a tenth re-routed on "bukan wewenang") and the statuses a year brings, as the topics' bytes,
through the same `apply_record` the worker calls, each record twice (Kafka repeats: the
second copy must change nothing); a fifth of the complaints stay open. It prints the records
per second, the complaints kept (closed ones are forgotten after 30 days), the resident
memory after, and the time of one lookup as the page answers it. Reading the records from
Kafka comes on top.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sla_state import rss_mib  # noqa: E402
from services.domain.registry import load_registry  # noqa: E402
from services.domain.tracking import progress  # noqa: E402
from services.lacak.view import TrackingView, apply_record  # noqa: E402
from services.runtime.topics import ROUTED, STATUS  # noqa: E402
from tests.ids import make_complaint_id  # noqa: E402

AGENCIES = ["pln", "bpjs-kesehatan", "kemensos", "kemendagri-dukcapil", "pemda-32-73", "kemenkes"]


def records(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        cid = make_complaint_id("web", f"bench-{i}")
        at = start + timedelta(minutes=i * 525_600 / n)
        holders = rnd.sample(AGENCIES, 2 if rnd.random() < 0.1 else 1)
        for attempt, agency in enumerate(holders, 1):
            out.append((ROUTED, json.dumps({
                "event_id": f"r-{i}-{attempt}", "complaint_id": cid, "agency_id": agency,
                "role": "primary", "rule_id": "bench", "reason": "category electricity",
                "attempt": attempt, "routed_at": (at + timedelta(hours=attempt - 1)).isoformat()}).encode()))
        steps = ["acknowledged", "responded", "closed"] if rnd.random() < 0.8 else ["acknowledged"]
        for k, status in enumerate(steps):
            out.append((STATUS, json.dumps({
                "event_id": f"s-{i}-{k}", "complaint_id": cid, "status": status,
                "agency_id": None if status == "closed" else holders[-1],
                "at": (at + timedelta(days=k + 1)).isoformat()}).encode()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    n = parser.parse_args().n
    feed = records(n)
    base = rss_mib()
    view = TrackingView(closed_days=30)
    started = time.perf_counter()
    for topic, value in feed:
        assert apply_record(view, topic, value) is None
        assert apply_record(view, topic, value) is None  # the repeat: dropped by event id
    took = time.perf_counter() - started
    print(f"{2 * len(feed):,} records ({len(feed):,} and a repeat of each; {n:,} complaints) fed in "
          f"{took:.1f} s: {2 * len(feed) / took:,.0f} records/s")
    print(f"complaints kept: {len(view.timelines):,} (closed ones are forgotten after 30 days); "
          f"resident memory {rss_mib():.0f} MiB ({rss_mib() - base:.0f} MiB more than before the feed)")
    registry, kept = load_registry(), list(view.timelines)
    started = time.perf_counter()
    for cid in kept[:1000]:
        progress(view.timelines, cid, registry)
    took = time.perf_counter() - started
    print(f"one lookup as the page answers it: {took * 1000 / 1000:.3f} ms "
          f"(1,000 lookups in {took * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
