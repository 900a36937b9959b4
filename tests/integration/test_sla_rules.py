"""A rules version published while complaints are open, on the real broker: two SLA workers
(one per partition) each bring it into force at the tick that reaches its effective time and
emit what the in-memory processor emits for the same log; the whole log copied to fresh
topics and replayed through a fresh worker gives the same escalations."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas import Escalation, RulesVersion, Tick
from services.runtime.memory import partition_for
from services.runtime.settings import Settings
from services.runtime.topic_read import read_to_end
from services.runtime.topics import ACCEPTED, ESCALATIONS, ROUTED, TICKS
from services.runtime.topics import RULES as RULES_TOPIC
from services.tools import rules
from services.tools.rules import publish
from tests.integration.test_sla_monitor import play, publish_in_bulk
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.sla_scenario import Step, accepted, announce, routed, run_in_memory, tick
from tests.workers import running

MON = "2026-03-02T09:15:00+07:00"
EFFECTIVE = "2026-03-04T00:00:00+07:00"
RULES = "calendar:\n  holidays: [2026-03-04]\npolicy:\n  agencies:\n    pln: {first_response: 5}\n"


def complaints(partitions: int) -> list[str]:
    """Two complaint ids on each partition (the workers split the partitions)."""
    ids: list[str] = []
    for n in range(200):
        cid = f"LPR-{n:012d}".replace("0", "A")
        if sum(partition_for(c.encode(), partitions) == partition_for(cid.encode(), partitions)
               for c in ids) < 2:
            ids.append(cid)
    return ids[:2 * partitions]


def opening(ids: list[str]) -> list[Step]:
    agencies = ["pln", "kemensos"]
    return [step for i, cid in enumerate(ids)
            for step in (accepted(cid, MON), routed(cid, agencies[i % 2], MON))]


async def escalations(settings: Settings, expected: int) -> set[tuple[str, str]]:
    records = await consume(settings, ESCALATIONS, expected=expected, timeout_s=90)
    return {(e.escalation_id, e.fire_at.isoformat())
            for e in (Escalation.model_validate_json(r.value) for r in records)}


async def copy_log(source: Settings, target: Settings) -> None:
    """Every input record of `source` to the same partition of `target`: events first, then
    the ticks (announcements among them) position by position, a pause between (watermarks)."""
    for topic in (ACCEPTED, ROUTED):
        for r in await read_to_end(source, topic):
            await produce(target, topic, [(r.key, r.value or b"")], partition=r.partition)
    ticks = await read_to_end(source, TICKS)
    by_partition: dict[int, list[bytes]] = {}
    for r in ticks:
        by_partition.setdefault(r.partition, []).append(r.value or b"")
    for position in range(max(len(v) for v in by_partition.values())):
        await asyncio.sleep(1)
        for p, values in by_partition.items():
            if position < len(values):
                await produce(target, TICKS, [(None, values[position])], partition=p)


async def both_assigned(*logs: Callable[[], str], partitions: int, timeout_s: float = 90) -> None:
    """Every worker holds source partitions and together they hold all of them (each one's
    latest recovery says how many it resumed): the group is settled with all of them in it."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    resumed = re.compile(r"Resumed (\d+) of \d+ held source partitions")

    def held(text: str) -> int:
        counts = resumed.findall(text)
        return int(counts[-1]) if counts else 0

    while True:
        counts = [held(log()) for log in logs]
        if all(counts) and sum(counts) == partitions:
            return
        assert asyncio.get_running_loop().time() < deadline, f"partitions held: {counts}"
        await asyncio.sleep(0.5)


async def test_a_version_published_while_complaints_are_open(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    ids = complaints(settings.partitions)
    march = [tick(f"2026-03-{day:02d}T00:00:00+07:00") for day in range(4, 13)]
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES)
    # The same log in memory: the announcement between the 3 March tick and the next.
    expected_log = opening(ids) + [tick("2026-03-03T00:00:00+07:00"),
                                   announce(2, EFFECTIVE, calendar={"holidays": ["2026-03-04"]},
                                            policy={"agencies": {"pln": {"first_response": 5}}})] + march
    expected = {(o.event.escalation_id, o.event.fire_at.isoformat())
                for o in run_in_memory(expected_log, partitions=settings.partitions)
                if isinstance(o.event, Escalation)}
    unchanged = {(o.event.escalation_id, o.event.fire_at.isoformat())
                 for o in run_in_memory(opening(ids) + [tick("2026-03-03T00:00:00+07:00")] + march,
                                        partitions=settings.partitions)
                 if isinstance(o.event, Escalation)}
    assert expected != unchanged  # the version matters to this log

    with running("sla_monitor", settings, tmp_path, name="sla-a") as a, \
            running("sla_monitor", settings, tmp_path, name="sla-b") as b:
        await publish_in_bulk(settings, opening(ids))
        # Both workers hold a partition (each one's latest assignment has a tick partition)
        # before the version is announced: each then brings it into force on its own.
        # (accepted, routed, status and ticks, and the one partition of sla.rules.v1)
        await both_assigned(a.log_text, b.log_text, partitions=4 * settings.partitions + 1)
        await play(settings, [tick("2026-03-03T00:00:00+07:00")])
        version, _ = await publish(settings, rules_file, datetime.fromisoformat(EFFECTIVE), "test")
        assert version.version == 2
        await play(settings, march)
        got = await escalations(settings, len(expected))
        assert got == expected
        # each worker brought the version into force on its own partition(s)
        await asyncio.sleep(1)
        assert "rules_in_force" in a.log_text() and "rules_in_force" in b.log_text()

    # The whole log (inputs, announcements, ticks) through fresh topics and fresh state.
    fresh = isolated(broker_settings)
    await create_contract_topics(fresh)
    with running("sla_monitor", fresh, tmp_path, name="sla-replay"):
        await asyncio.sleep(5)
        await copy_log(settings, fresh)
        assert await escalations(fresh, len(expected)) == expected


async def test_two_publications_of_one_number_leave_the_first_in_force_and_announce_it_alone(
    broker_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two operators publish at the same moment: both read version 1 as the latest and write
    version 2. Readers keep the number's first record, so the later publication is told it
    is not in force, announces nothing, and writes the first again for compaction to keep."""
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    stale = await rules.published_versions(settings)  # what both operators read

    async def read_before_the_other_wrote(*_: object) -> list[RulesVersion]:
        return stale
    monkeypatch.setattr(rules, "published_versions", read_before_the_other_wrote)
    (tmp_path / "rules.yaml").write_text(RULES)
    first, _ = await rules.publish(settings, tmp_path / "rules.yaml", datetime.fromisoformat(EFFECTIVE), "first")
    with pytest.raises(rules.RulesPublishedMeanwhile, match="rules version 2 was published by someone else"):
        await rules.publish(settings, tmp_path / "rules.yaml", datetime.fromisoformat(EFFECTIVE), "second")

    records = await read_to_end(settings, RULES_TOPIC)
    assert [RulesVersion.model_validate_json(r.value or b"").note for r in records] == ["first", "second", "first"]
    assert records[-1].value == records[0].value == first.to_bytes()
    announced = [Tick.model_validate_json(r.value or b"").rules for r in await read_to_end(settings, TICKS)]
    assert [v.note if v else None for v in announced] == ["first"] * settings.partitions
