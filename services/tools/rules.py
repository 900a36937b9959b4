"""`lapor rules publish|show`: versions of the calendar and SLA policy (sla.rules.v1).

Publishing writes the version to sla.rules.v1 (the kept history) and announces it on every
partition of sla.ticks.v1, where each SLA worker meets it in order with the ticks: it comes
into force at the first tick that reaches its effective time (see the SLA processor)."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas import RulesVersion, Tick
from services.domain.rules import SHIPPED, in_force, new_version, shipped_version
from services.runtime.settings import Settings
from services.runtime.topic_read import TopicRecord, read_to_end
from services.runtime.topics import RULES
from services.tools.versioned_publish import latest_ticks, publish_version


class RulesPublishedMeanwhile(RuntimeError):
    """Another operator published the same version number a moment earlier: theirs is in
    force (written again as the number's latest record), and nothing was announced."""


def _version(record: TopicRecord) -> RulesVersion | None:
    """A record of sla.rules.v1 as a version; None for a tombstone or a stray write, which
    every reader passes over."""
    if record.value is None:
        return None
    try:
        return RulesVersion.model_validate_json(record.value)
    except ValidationError:
        return None


def first_of_number(records: list[TopicRecord], number: int) -> TopicRecord | None:
    """The first record of sla.rules.v1 of version `number`: every reader keeps that one
    (`published_versions`, the SLA monitor's first on each partition)."""
    return next((r for r in records if (v := _version(r)) is not None and v.version == number), None)


def versions_of(records: list[TopicRecord], shipped: RulesVersion) -> list[RulesVersion]:
    """Version 1 (the shipped files) and every version among the records, by number."""
    found = {SHIPPED: shipped}
    for r in records:
        if (v := _version(r)) is not None:
            found.setdefault(v.version, v)  # a number published twice: the first one counts
    return [found[n] for n in sorted(found)]


async def published_versions(settings: Settings) -> list[RulesVersion]:
    """Version 1 (the shipped files) and every version on sla.rules.v1, by number."""
    return versions_of(await read_to_end(settings, RULES),
                       shipped_version(settings.calendar_file, settings.sla_policy_file))


async def publish(settings: Settings, path: Path, effective_from: datetime,
                  note: str | None = None) -> tuple[RulesVersion, list[str]]:
    """Validate and publish the next version; returns it and warnings for the operator."""
    versions = await published_versions(settings)
    version = new_version(path, versions[-1].version + 1, effective_from, datetime.now(UTC), note)
    ticks = await latest_ticks(settings)
    warnings = []
    if ticks and effective_from <= max(ticks.values()):
        warnings.append(f"effective {effective_from.isoformat()} is not after the latest tick "
                        f"({max(ticks.values()).isoformat()}): it applies from the next tick; "
                        "escalations already emitted stay")
    lost = await publish_version(
        settings, RULES, str(version.version).encode(), version.to_bytes(),
        lambda records: first_of_number(records, version.version),
        lambda as_of: Tick(as_of=as_of, rules=version), ticks, version.published_at)
    if lost is not None:
        raise RulesPublishedMeanwhile(
            f"{path}: rules version {version.version} was published by someone else a moment "
            "earlier; yours is not in force. See `lapor rules show`, then publish again")
    return version, warnings


def summary(v: RulesVersion) -> dict[str, Any]:
    return {"version": v.version, "effective_from": v.effective_from.isoformat(),
            "published_at": v.published_at.isoformat(), "note": v.note,
            "holidays_added": [d.isoformat() for d in v.calendar.holidays],
            "working_days_given_back": [d.isoformat() for d in v.calendar.working_days],
            "default_limits": v.policy.default.model_dump(exclude_none=True),
            "agency_limits": {a: lim.model_dump(exclude_none=True) for a, lim in v.policy.agencies.items()}}


async def show(settings: Settings) -> tuple[list[RulesVersion], RulesVersion, datetime]:
    versions = await published_versions(settings)
    ticks = await latest_ticks(settings)
    now = max(ticks.values()) if ticks else datetime.now(UTC)
    current = in_force(versions, now)
    assert current is not None  # version 1 is in force from the beginning
    return versions, current, now


def _rules(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "publish":
        if not args.file or not args.effective_from:
            print("usage: lapor rules publish FILE --from TIME")
            return 2
        try:
            effective = datetime.fromisoformat(args.effective_from)
            version, warnings = asyncio.run(publish(settings, Path(args.file), effective, args.note))
        except ValueError as exc:
            print(f"refused: {exc}")
            return 2
        except RulesPublishedMeanwhile as exc:
            print(f"not published: {exc}")
            return 1
        for w in warnings:
            print(f"warning: {w}")
        print(f"published rules version {version.version}, in force from "
              f"{version.effective_from.isoformat()}")
        return 0
    versions, current, now = asyncio.run(show(settings))
    if args.json:
        print(json.dumps({"as_of": now.isoformat(), "in_force": current.version,
                          "versions": [summary(v) for v in versions]}, indent=2))
        return 0
    print(f"as of {now.isoformat()} (latest tick): version {current.version} in force")
    for v in versions:
        s = summary(v)
        mark = "*" if v.version == current.version else " "
        print(f"{mark} v{v.version:<3} from {s['effective_from']:25} +{len(s['holidays_added'])} holidays "
              f"-{len(s['working_days_given_back'])} days off, {len(s['agency_limits'])} agencies "
              f"with own limits  {v.note or ''}")
    return 0


def register(sub: Any) -> None:
    r = sub.add_parser("rules", help="publish or show versions of the calendar and SLA policy")
    r.add_argument("action", choices=["publish", "show"])
    r.add_argument("file", nargs="?", help="publish: YAML with `calendar:` and `policy:`")
    r.add_argument("--from", dest="effective_from", default=None,
                   help="publish: event time it applies from (RFC 3339 with offset)")
    r.add_argument("--note", default=None, help="publish: e.g. the decree it follows")
    r.add_argument("--json", action="store_true", help="show: JSON output")
    r.set_defaults(handler=_rules)
