"""Standby replicas (LAPOR_STANDBY_REPLICAS): a second SLA worker keeps warm copies of the
first one's tables, takes over its partitions when it is killed, and fires the next tick's
escalations, reading only the changelog tail it lacked, not the whole changelog."""

from __future__ import annotations

from pathlib import Path

from schemas import Escalation
from services.runtime.settings import Settings
from tests.integration.test_sla_monitor import (
    play, publish_in_bulk, tick_until, wait_until_running,
)
from tests.kafka_helpers import consume, create_contract_topics, isolated
from tests.sla_scenario import Step, accepted, routed, run_in_memory, tick
from tests.workers import running

PROBE = "LPR-ZZZZZZZZZZZ9"


def recovery_starts(log: str) -> list[tuple[str, int, int]]:
    """(table, partition, offset) rows of faust's 'Reading Starts At - Active' tables."""
    rows: list[tuple[str, int, int]] = []
    table = ""
    for block in log.split("Reading Starts At - Active")[1:]:
        for line in block.splitlines()[2:]:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 3 or not cells[1].isdigit():
                if line.startswith("+") and rows:
                    break
                continue
            table = table if cells[0] == "〃" else cells[0]
            rows.append((table, int(cells[1]), int(cells[2])))
    return rows


async def test_a_standby_takes_over_a_killed_worker(broker_settings: Settings, tmp_path: Path) -> None:
    # RocksDB on each worker's own disk, as in production: a store that keeps its offsets is
    # what lets a promoted standby start from where its copy is (faust's memory store has no
    # persisted offsets, so it reads every changelog from the start whatever the standbys).
    settings = isolated(broker_settings).model_copy(
        update={"standby_replicas": 1, "log_level": "DEBUG", "store": "rocksdb://"})
    await create_contract_topics(settings)
    complaints = [f"LPR-{i:011d}S" for i in range(200)]
    log: list[Step] = []
    for cid in complaints:
        log += [accepted(cid, "2026-03-02T09:00:00+07:00"), routed(cid, "pln", "2026-03-02T09:00:00+07:00")]
    # Each moment passed by the SLA monitor's allowed lateness (10 minutes).
    warning, breach = tick("2026-03-05T00:10:00+07:00"), tick("2026-03-06T00:10:00+07:00")
    model = [o.event for o in run_in_memory(log + [warning, breach]) if isinstance(o.event, Escalation)]
    expected = {e.escalation_id for e in model}
    # Two of the contract's each (and pln's admin's verification lapse where pln has units, #34).
    assert len([e for e in model if e.target.value != "agency_admin"]) == 2 * len(complaints)

    disk_a = settings.model_copy(update={"data_dir": tmp_path / "disk-a"})
    disk_b = settings.model_copy(update={"data_dir": tmp_path / "disk-b"})
    with running("sla_monitor", disk_a, tmp_path, name="sla-a") as a, \
            running("sla_monitor", disk_b, tmp_path, name="sla-b") as b:
        await wait_until_running(settings)
        await publish_in_bulk(settings, log)
        await play(settings, [warning], pause_s=4)
        await consume(settings, "sla.escalations.v1", expected=1 + len(complaints), timeout_s=60)
        b_before = b.log_text()
        a.kill()
        records = await tick_until(settings, 1 + len(expected), start=breach[2]["as_of"])
        b_after = b.log_text()[len(b_before):]

    ids = {Escalation.model_validate_json(r.value).escalation_id for r in records
           if Escalation.model_validate_json(r.value).complaint_id != PROBE}
    assert ids == expected  # every escalation of the second tick came, from the survivor
    # The survivor recovered the taken-over partitions from its warm copy: every clocks
    # changelog partition it had to read was read from an offset past the start.
    starts = [(p, o) for t, p, o in recovery_starts(b_after) if t.endswith("-clocks-changelog")]
    assert starts and all(offset > 0 for _, offset in starts), starts
