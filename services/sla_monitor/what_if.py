"""What a candidate rules version would do: the SLA monitor's log run twice on the in-memory
runtime, with the rules in force and with the candidate announced from the start, then both
ticked on into the future; the differences per agency. Writes to no topic.

Pure over its inputs: the log's records in, a report out (the CLI reads the topics or a
replay file, and prints)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas import Escalation, RulesVersion, Tick
from schemas.events import CalendarRules, PolicyRules
from services.domain.rules import SHIPPED, rule_set_of
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.runtime.stage import StagedStores, StoreName
from services.runtime.topics import ESCALATIONS, TICKS
from services.sla_monitor.clocks import ComplaintClocks
from services.sla_monitor.compose import build_processor, stage_of
from services.sla_monitor.lifecycle import reprice
from services.sla_monitor.processor import SlaProcessor

HOUR_S = 3600


@dataclass(frozen=True)
class LogRecord:
    """One record of the SLA monitor's inputs. `partition` None: by key (a tick: every one)."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes
    timestamp: float | None = None  # record time, epoch seconds


@dataclass
class MovedDeadline:
    complaint_id: str
    clock: str
    due_before: str
    due_after: str


@dataclass
class AgencyImpact:
    deadlines_moved: list[MovedDeadline] = field(default_factory=list)
    escalations_appear: int = 0
    escalations_disappear: int = 0
    escalations_move: int = 0


@dataclass
class WhatIfReport:
    candidate_version: int
    effective_from: str
    ticked_until: str
    open_complaints: int
    agencies: dict[str, AgencyImpact]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def thin_ticks(records: Iterable[LogRecord]) -> list[LogRecord]:
    """Keep every record but ticks that a later tick of the same partition and hour makes
    redundant (the due index is by hour; escalations keep their fire_at). A year of ticks
    every few seconds is millions of records; this leaves a few thousand per partition."""
    records = list(records)
    last: dict[tuple[int | None, int], int] = {}
    for i, r in enumerate(records):
        if r.topic == TICKS and b'"rules"' not in r.value:
            last[(r.partition, int(Tick.model_validate_json(r.value).as_of.timestamp()) // HOUR_S)] = i
    keep = set(last.values())
    return [r for i, r in enumerate(records)
            if r.topic != TICKS or b'"rules"' in r.value or i in keep]


class _Run:
    """One in-memory SLA worker fed the log."""

    def __init__(self, settings: Settings):
        self.processor: SlaProcessor = build_processor(settings)
        self.topics = MemoryTopics(settings.partitions)
        self.worker = MemoryWorker(stage_of(self.processor), self.topics)

    def feed(self, r: LogRecord) -> None:
        parts = range(self.topics.partitions) if r.topic == TICKS and r.partition is None else [r.partition]
        for p in parts:
            self.topics.publish(r.topic, r.key, r.value, partition=p, timestamp=r.timestamp)
        if r.topic == TICKS:  # what a tick emits (an auto-close) is read back before what follows
            run_until_idle([self.worker])

    def tick(self, as_of: datetime) -> None:
        self.feed(LogRecord(TICKS, None, None, Tick(as_of=as_of).to_bytes()))

    def escalations(self) -> dict[tuple[str, str, str, str, int, int | None], tuple[str, datetime]]:
        """(complaint, agency, clock, kind, level, attempt) -> (agency, fire_at); a unit's
        internal clock is named "unit_response:<unit>" (two units' lapses stay two)."""
        run_until_idle([self.worker])
        out = {}
        for result in self.worker.results:
            for o in result.outputs:
                if o.topic == ESCALATIONS:
                    e = Escalation.model_validate_json(o.value)
                    clock = e.clock.value + (f":{e.unit_id}" if e.unit_id else "")
                    out[(e.complaint_id, e.agency_id, clock, e.kind.value, e.level, e.attempt)] = (
                        e.agency_id, e.fire_at)
        return out


def _latest_tick_and_next_version(records: list[LogRecord]) -> tuple[datetime | None, int]:
    """The log's latest tick, and the version number a candidate gets (after every one
    announced in the log), from one pass over its ticks."""
    ticks = [Tick.model_validate_json(r.value) for r in records if r.topic == TICKS]
    latest = max((t.as_of for t in ticks if t.rules is None), default=None)
    return latest, max([SHIPPED, *(t.rules.version for t in ticks if t.rules is not None)]) + 1


def _moved_deadlines(run: _Run, candidate: RulesVersion, at: datetime,
                     report: dict[str, AgencyImpact]) -> int:
    """Running clocks of the open complaints whose due time the candidate moves, against the
    rules that would be in force at `at` without it."""
    stores = StagedStores(run.worker.stores)
    after = rule_set_of(candidate.to_bytes().decode())
    count = 0
    for cid, raw in run.worker.stores[StoreName.clocks].items():
        if cid.startswith("pending:") or raw.get("closed"):
            continue
        count += 1
        state = ComplaintClocks.from_dict(raw)
        before = run.processor.rules_for(stores, state.partition or 0, at)
        reprice(state, before.policy)  # (a version announced but not yet in force there)
        moved = ComplaintClocks.from_dict(raw)
        reprice(moved, after.policy)
        for old, new in zip(state.clocks, moved.clocks):
            if not old.running:
                continue
            due_before, due_after = old.due_at(before.calendar), new.due_at(after.calendar)
            if due_before != due_after and max(due_before, due_after) >= candidate.effective_from:
                # A unit's internal deadline too, named with its unit (what-if shows units).
                name = old.name.value + (f":{old.unit_id}" if old.unit_id else "")
                report[old.agency_id].deadlines_moved.append(MovedDeadline(
                    cid, name, due_before.isoformat(), due_after.isoformat()))
    return count


def what_if(settings: Settings, records: list[LogRecord], calendar: CalendarRules,
            policy: PolicyRules, effective_from: datetime | None = None, horizon_days: int = 90,
            progress: Callable[[int], object] | None = None) -> WhatIfReport:
    records = thin_ticks(records)
    latest, version = _latest_tick_and_next_version(records)
    start = effective_from or latest
    if start is None:
        raise ValueError("the log has no tick: give --from")
    candidate = RulesVersion(version=version, effective_from=start,
                             published_at=start, calendar=calendar, policy=policy,
                             note="what-if candidate")
    baseline, trial = _Run(settings), _Run(settings)
    trial.feed(LogRecord(TICKS, None, None, Tick(as_of=start, rules=candidate).to_bytes()))
    for n, r in enumerate(records, 1):
        baseline.feed(r)
        trial.feed(r)
        if progress is not None:
            progress(n)
    impact: dict[str, AgencyImpact] = defaultdict(AgencyImpact)
    open_count = _moved_deadlines(baseline, candidate, start, impact)
    # Then both run on, a tick a day from the log's last, as if nothing else happened: what
    # would fire, and when (before `start` by the same rules in both).
    now = latest or start
    until = max(now, start) + timedelta(days=horizon_days)
    at = now
    while at < until:
        at += timedelta(days=1)
        baseline.tick(at)
        trial.tick(at)
    before, after = baseline.escalations(), trial.escalations()
    for key in before.keys() | after.keys():
        agency = (before.get(key) or after[key])[0]
        if key not in after:
            impact[agency].escalations_disappear += 1
        elif key not in before:
            impact[agency].escalations_appear += 1
        elif before[key][1] != after[key][1]:
            impact[agency].escalations_move += 1
    changed = {a: i for a, i in sorted(impact.items()) if i.deadlines_moved or i.escalations_appear
               or i.escalations_disappear or i.escalations_move}
    return WhatIfReport(candidate.version, start.isoformat(), until.isoformat(), open_count, changed)
