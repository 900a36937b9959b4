"""The short fault campaign (the long one: bench/faults.py): nothing lost, nothing invented,
nothing late, the same escalations on the same ticks and the same compliance totals as a
fault-free run, while workers, a broker node and the network fail (see
tests/faults/campaign.py). The outputs are compared once the system is drained (every stage
has committed every input record), so a missing id is lost, not on its way."""

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
    plan = Plan()
    # The fault-free reference did the work (equal to nothing would also be "equal"): nearly
    # every input accepted (a few are malformed on purpose), each routed, escalations fired.
    expected = report.expected
    assert expected["accepted"] >= 0.9 * plan.complaints, report.lines()
    assert expected["routed"] >= expected["accepted"] and expected["escalations"] >= 50, report.lines()
    assert report.compliance_agencies >= 5, report.lines()
    # Drained within the bound at every phase: nothing came late, so nothing can be on its way.
    assert report.drained and report.overruns == [], report.lines()
    assert report.produced == expected, report.lines()
    kinds = {"accepted": 0, "routed": 0, "escalations": 0}
    assert report.lost == kinds and report.extra == kinds, report.lines()
    assert report.late == kinds, report.lines()
    # Every escalation on the tick it fired on without faults: a deadline is not seen late
    # (nor early) because of a restart or a rebalance.
    assert report.moved == {}, report.lines()
    # Each phase is read before the next tick: no status reaches the SLA monitor late.
    assert report.late_statuses == [], report.lines()
    assert report.compliance_equal, report.lines()
    # At-least-once: a SIGKILLed worker repeats its unfinished batch under the same ids, so
    # repeats are allowed, but only of ids it made, and no more than a batch per fault.
    faults = plan.worker_kills + plan.node_kills
    assert set(report.duplicates) == set(kinds), report.lines()
    assert all(0 <= n <= faults * broker_settings.batch_max for n in report.duplicates.values()), \
        report.lines()
    assert report.unexpected_exits == 0, report.lines()  # no worker stopped on its own
    # No agent crashed: a batch whose handling raised (a topic creation refused while a broker
    # node is down, say) is acked without its outputs, and its inputs are never read again.
    assert report.crashes == [], report.lines()
    done = " ".join(what for _, what in report.faults)
    for fault in ("SIGKILL intake", "SIGKILL router", "SIGKILL sla_monitor", "SIGKILL broker node",
                  "latency", "network cut"):
        assert fault in done
