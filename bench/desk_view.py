"""How fast a desk worker rebuilds its view from the topics, what it holds in memory, and how
long its busiest pages take.

Usage: .venv/bin/python bench/desk_view.py [N]     (default 200,000: a year of complaints)

A desk worker follows the agency topics, the statuses, the escalations and the ticks from
their beginning at every start (no changelog: services/desk/app.py). This feeds the view
N deliveries and the statuses and escalations a year brings, as the topics' bytes, through
the same `apply_record` the worker calls; a fifth of the complaints stay open. It prints the
records per second, the resident memory after, and the time of PLN's queue (the busiest
agency here) and of one complaint's clocks. Reading the records from Kafka comes on top
(aiokafka reads tens of thousands of records per second on this machine).
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
from services.desk.view import DeskView, apply_record  # noqa: E402
from services.domain.calendar import WorkingCalendar  # noqa: E402
from tests.ids import make_complaint_id  # noqa: E402
from services.domain.registry import load_registry  # noqa: E402
from services.domain.sla_policy import load_policy  # noqa: E402
from services.runtime.topics import ESCALATIONS, STATUS, TICKS, agency_topic_name  # noqa: E402

AGENCIES = ["pln", "bpjs-kesehatan", "kemensos", "kemendagri-dukcapil", "pemda-32-73", "pemda-31-74",
            "kemenkes", "kemendes", "komdigi", "kpk"]
WEIGHTS = [30, 15, 15, 10, 8, 8, 5, 4, 3, 2]


def records(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        cid = make_complaint_id("web", f"bench-{i}")
        agency = rnd.choices(AGENCIES, WEIGHTS)[0]
        at = start + timedelta(minutes=i * 525_600 / n)
        out.append((agency_topic_name(agency), json.dumps({
            "submission_id": f"bench-{i}", "channel": "web", "submitted_at": at.isoformat(),
            "body": "Listrik padam setiap malam sejak seminggu, mohon segera diperbaiki " * 3,
            "title": "Listrik padam", "event_id": f"d-{i}", "complaint_id": cid,
            "accepted_at": at.isoformat(), "type": "complaint", "category": "electricity",
            "sla_tier": "standard_5d", "agency_id": agency,
            "deadlines": {"first_response": (at + timedelta(days=5)).isoformat(),
                          "follow_up": (at + timedelta(days=7)).isoformat()},
            "routing": {"role": "primary", "rule_id": "bench", "routed_at": at.isoformat(), "attempt": 1},
        }).encode()))
        steps = ["acknowledged", "responded", "closed"] if rnd.random() < 0.8 else ["acknowledged"]
        for k, status in enumerate(steps):
            out.append((STATUS, json.dumps({
                "event_id": f"s-{i}-{k}", "complaint_id": cid, "status": status,
                "agency_id": None if status == "closed" else agency,
                "at": (at + timedelta(days=k + 1)).isoformat()}).encode()))
        if rnd.random() < 0.1:
            out.append((ESCALATIONS, json.dumps({
                "escalation_id": f"x-{i}", "complaint_id": cid, "agency_id": agency, "clock": "follow_up",
                "kind": "breach", "level": 1, "target": "agency_supervisor", "started_at": at.isoformat(),
                "due_at": at.isoformat(), "fire_at": at.isoformat(), "as_of": at.isoformat(),
                "attempt": 1}).encode()))
        if i % 500 == 0:
            out.append((TICKS, json.dumps({"as_of": at.isoformat()}).encode()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    n = parser.parse_args().n
    feed = records(n)
    base = rss_mib()
    view = DeskView(load_registry(), WorkingCalendar(), load_policy(None), closed_days=30)
    started = time.perf_counter()
    skipped = sum(apply_record(view, topic, value) is not None for topic, value in feed)
    took = time.perf_counter() - started
    assert skipped == 0
    print(f"{len(feed):,} records ({n:,} complaints) fed in {took:.1f} s: {len(feed) / took:,.0f} records/s")
    print(f"complaints kept: {len(view.facts):,} (closed ones are forgotten after 30 days); "
          f"resident memory {rss_mib():.0f} MiB ({rss_mib() - base:.0f} MiB more than before the feed)")
    started = time.perf_counter()
    queue = view.queue("pln")
    print(f"PLN's queue: {len(queue):,} open complaints in {(time.perf_counter() - started) * 1000:.0f} ms")
    facts, _ = view.holding("pln", queue[0].complaint_id) or (None, None)
    assert facts is not None
    started = time.perf_counter()
    for _ in range(1000):
        view.clocks(facts, "pln")
    print(f"one complaint's clocks: {(time.perf_counter() - started) * 1000:.2f} µs"
          .replace(" µs", " ms per 1,000"))


if __name__ == "__main__":
    main()
