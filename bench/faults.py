"""The long fault campaign: `.venv/bin/python bench/faults.py [COMPLAINTS] [--days N]`.

A three-node cluster behind Toxiproxy, two RocksDB workers per service with standbys, the
mixed workload (web and SMS, statuses that acknowledge, pause, refuse and re-route, responses
that end in auto-close), and during it every worker SIGKILLed in turn, broker nodes SIGKILLed
and restarted, latency and network cuts. Prints inputs, faults, lost/extra ids (must be
zero), duplicates, and the time to drain after the last fault. See tests/faults/campaign.py."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncio  # noqa: E402

from services.runtime.settings import Settings  # noqa: E402
from tests.faults.campaign import Campaign, Plan  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("complaints", type=int, nargs="?", default=3000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate", type=float, default=60.0, help="submissions per second")
    args = parser.parse_args()
    plan = Plan(complaints=args.complaints, days=args.days, rate_per_s=args.rate, worker_kills=6,
                node_kills=2, node_down_s=15.0, latency_ms=500, latency_s=10.0, cut_s=8.0)
    work = Path(tempfile.mkdtemp(prefix="lapor-faults-"))
    campaign = Campaign(Settings(), work, plan)
    try:
        report = asyncio.run(campaign.run())
    finally:
        campaign.close()
    print(f"long fault campaign ({args.complaints} complaints, {args.days} days of ticks; logs in {work})")
    print("\n".join(report.lines()))
    clean = not any(report.lost.values()) and not any(report.extra.values()) and report.compliance_equal
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
