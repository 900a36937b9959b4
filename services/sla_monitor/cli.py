"""`lapor sla what-if`: the SLA monitor's own operator command, registered with the `lapor`
CLI through the `lapor.commands` entry point (the CLI never imports the SLA monitor)."""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from services.domain.rules import read_rules_file
from services.runtime.settings import Settings
from services.runtime.topic_read import read_to_end
from services.runtime.topics import ACCEPTED, ROUTED, STATUS, TICKS
from services.sla_monitor.what_if import LogRecord, WhatIfReport, what_if

INPUTS = (ACCEPTED, ROUTED, STATUS, TICKS)


def read_replay_file(path: Path) -> list[LogRecord]:
    """JSONL as `lapor replay` takes it: {"topic", "key"?, "value", "partition"?, "timestamp"?}."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            value = item["value"]
            raw = value.encode() if isinstance(value, str) else json.dumps(value).encode()
            topic = item["topic"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: expected {{topic, key?, value}}: {exc}") from None
        if topic in INPUTS:
            key = item.get("key")
            out.append(LogRecord(topic, item.get("partition"), key.encode() if key else None, raw,
                                 item.get("timestamp")))
    return out


async def read_live(settings: Settings) -> list[LogRecord]:
    """The SLA monitor's four inputs as they are now, merged by record time while keeping
    each partition's order (read-only: no consumer group, nothing written)."""
    streams: list[list[LogRecord]] = []
    with tqdm(desc="reading topics", unit=" records", file=sys.stderr) as bar:
        for topic in INPUTS:
            done = bar.n
            records = await read_to_end(settings, topic, progress=lambda n: bar.update(done + n - bar.n))
            by_partition: dict[int, list[LogRecord]] = {}
            for r in records:
                if r.value is not None:
                    by_partition.setdefault(r.partition, []).append(
                        LogRecord(topic, r.partition, r.key, r.value, r.timestamp_ms / 1000))
            streams += by_partition.values()
    return list(heapq.merge(*streams, key=lambda r: r.timestamp or 0.0))


def render(report: WhatIfReport, limit: int = 10) -> str:
    rows = [f"candidate version {report.candidate_version}, from {report.effective_from}; "
            f"{report.open_complaints} open complaints; both runs ticked until {report.ticked_until}"]
    if not report.agencies:
        return "\n".join(rows + ["no deadline or escalation changes"])
    rows.append(f"{'agency':28} {'deadlines moved':>15} {'esc. appear':>11} {'disappear':>9} {'move':>6}")
    for agency, i in report.agencies.items():
        rows.append(f"{agency:28} {len(i.deadlines_moved):15} {i.escalations_appear:11} "
                    f"{i.escalations_disappear:9} {i.escalations_move:6}")
    for agency, i in report.agencies.items():
        for m in i.deadlines_moved[:limit]:
            rows.append(f"  {agency}: {m.complaint_id} {m.clock} {m.due_before} -> {m.due_after}")
        if len(i.deadlines_moved) > limit:
            rows.append(f"  {agency}: ... {len(i.deadlines_moved) - limit} more (--json lists all)")
    return "\n".join(rows)


def _sla(args: argparse.Namespace, settings: Settings) -> int:
    try:
        calendar, policy = read_rules_file(Path(args.rules))
        effective = datetime.fromisoformat(args.effective_from) if args.effective_from else None
        if effective is not None and effective.tzinfo is None:
            raise ValueError("--from needs a UTC offset")
        records = read_replay_file(Path(args.replay)) if args.replay else asyncio.run(read_live(settings))
    except (ValueError, OSError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    with tqdm(total=len(records), desc="replaying twice", unit=" records", file=sys.stderr) as bar:
        report = what_if(settings, records, calendar, policy, effective, args.horizon_days,
                         progress=lambda n: bar.update(n - bar.n))
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    return 0


def register(sub: Any) -> None:
    s = sub.add_parser("sla", help="the SLA monitor's operator commands")
    s.add_argument("action", choices=["what-if"])
    s.add_argument("--rules", required=True, help="candidate rules file (as for `lapor rules publish`)")
    s.add_argument("--from", dest="effective_from", default=None,
                   help="event time the candidate would apply from (default: the latest tick)")
    s.add_argument("--replay", default=None, help="a JSONL log instead of the live topics")
    s.add_argument("--horizon-days", type=int, default=90, help="days to tick on after the log")
    s.add_argument("--json", action="store_true", help="JSON output")
    s.set_defaults(handler=_sla)
