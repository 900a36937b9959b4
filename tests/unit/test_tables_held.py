"""A faust worker says so (an error log line and a counter) when it handles a batch from a
partition whose table partitions it was not given while those hold records (it never
recovered them); where they hold none (a fresh deployment, whose first assignment may not yet
know the changelog topics) it says nothing and does not ask again in the same assignment."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from services.runtime import faust_runtime
from services.runtime.faust_runtime import BatchRunner
from services.runtime.metrics import StageMetrics
from services.runtime.stage import Record

CLOCKS, OVERDUE = "p.lapor-sla_monitor-clocks-changelog", "p.lapor-sla_monitor-overdue-changelog"


class Runner:
    """The check alone, on a BatchRunner whose app's assignor answers `held`."""

    def __init__(self, held: set[TP], holding: set[tuple[str, int]], monkeypatch: pytest.MonkeyPatch):
        self.held, self.holding = held, holding
        self.asked: list[list[tuple[str, int]]] = []
        self.errors: list[dict[str, Any]] = []
        runner: Any = object.__new__(BatchRunner)
        runner.app = SimpleNamespace(assignor=SimpleNamespace(assigned_actives=lambda: set(self.held)))
        runner.settings = None
        runner.metrics = self.metrics = StageMetrics("sla_monitor")
        runner._changelogs = {"clocks": CLOCKS, "overdue": OVERDUE}
        runner._held_seen, runner._looked_at = None, set()
        runner._log = SimpleNamespace(error=lambda event, **fields: self.errors.append({"event": event, **fields}))
        self.runner = runner

        async def holding_records(_: object, partitions: list[tuple[str, int]]) -> set[tuple[str, int]]:
            self.asked.append(partitions)
            return set(partitions) & self.holding

        monkeypatch.setattr(faust_runtime, "partitions_holding_records", holding_records)

    async def check(self, partition: int) -> None:
        await self.runner._check_tables_held([Record("status", partition, 0, 0.0, b"k", b"v")])

    def counted(self) -> float:
        return self.metrics.registry.get_sample_value("lapor_tables_not_held_total") or 0


async def test_a_batch_whose_unheld_table_partitions_hold_records_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    r = Runner({TP(CLOCKS, 0), TP(OVERDUE, 0)}, {(OVERDUE, 1)}, monkeypatch)
    await r.check(0)  # held: nothing asked, nothing said
    assert r.asked == [] and r.errors == []
    await r.check(1)
    await r.check(1)  # said once an assignment, not per batch
    assert r.errors == [{"event": "tables_not_held", "partitions": [f"{OVERDUE}:1"]}]
    assert r.counted() == 1 and r.asked == [[(CLOCKS, 1), (OVERDUE, 1)]]


async def test_unheld_table_partitions_with_no_record_are_asked_once_per_assignment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = Runner({TP(CLOCKS, 0), TP(CLOCKS, 1), TP(OVERDUE, 0)}, set(), monkeypatch)
    await r.check(1)
    await r.check(1)  # found empty once: not asked again in the same assignment
    assert r.asked == [[(OVERDUE, 1)]] and r.errors == [] and r.counted() == 0
    r.held = {TP(CLOCKS, 1)}  # a rebalance: another worker may have written since
    r.holding = {(OVERDUE, 1)}
    await r.check(1)
    assert [e["partitions"] for e in r.errors] == [[f"{OVERDUE}:1"]]
