"""The short fault campaign (the long one: bench/faults.py): nothing lost, nothing invented,
the same compliance totals as a fault-free run, while workers, a broker node and the network
fail (see tests/faults/campaign.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.runtime.settings import Settings
from tests.faults.campaign import Campaign, Plan


async def test_a_short_fault_campaign_loses_nothing_and_invents_nothing(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    # (the cluster's start waits with its own event loop: off this one)
    campaign = await asyncio.to_thread(Campaign, broker_settings, tmp_path, Plan())
    try:
        report = await campaign.run()
    finally:
        campaign.close()
    print("\n".join(report.lines()))
    kinds = {"accepted": 0, "routed": 0, "escalations": 0}
    assert report.lost == kinds and report.extra == kinds, report.lines()
    assert report.compliance_equal, report.lines()
    done = " ".join(what for _, what in report.faults)
    for fault in ("SIGKILL intake", "SIGKILL router", "SIGKILL sla_monitor", "SIGKILL broker node",
                  "latency", "network cut"):
        assert fault in done
