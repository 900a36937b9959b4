"""`lapor units publish|show|explain`: each agency's units and disposition rules (agency.units.v1).

Publishing writes the agency's next version to agency.units.v1 (compacted, key agency_id)
and announces it on every partition of sla.ticks.v1, where the faust stages (router, SLA
monitor) meet it in order with the ticks; readers that follow agency.units.v1 itself (desk,
lacak, the disposition stage) take it from there. An agency that never published has its
shipped starting set (version 0, services/domain/data/units_starting.yaml)."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas import Category, LaporCategory, Tick, UnitSet
from services.domain import lapor_categories
from services.domain.disposition import ComplaintFacts, Disposition, dispose
from services.domain.registry import Registry, load_registry
from services.domain.unit_catalogue import starting_units
from services.domain.units import AgencyUnits, UnitsBook, problems
from services.runtime.settings import Settings
from services.runtime.topic_read import TopicRecord, read_to_end
from services.runtime.topics import UNITS
from services.tools.versioned_publish import latest_ticks, publish_version

# What a units file may hold. `version` and `published_at` (as `show --json` writes them)
# are ignored: the version is always the agency's next one, the time the publication's.
FILE_KEYS = {"agency_id", "units", "rules", "unit_days_before", "verification_days", "approval",
             "note"}
IGNORED_KEYS = {"version", "published_at"}
# The largest set published, as agency.units.v1's record. Its announcement on the ticks is
# that and a little more, and the router keeps it as a string inside JSON (every quote
# escaped): all must stay under the broker's record limit (1 MiB by default), or the set
# would reach some readers and not others. A regency's set is tens of KiB.
MAX_SET_BYTES = 512 * 1024


class UnitsFileError(ValueError):
    """A units file that may not be published; the message names the file and the entry."""


class UnitsPublishedMeanwhile(RuntimeError):
    """Another publication of the agency took the same version first: this one is not in
    force (the other is put back as the agency's latest record), and nothing was announced."""


def _unit_set(record: TopicRecord) -> UnitSet | None:
    """A record of agency.units.v1 as a unit set; None for a tombstone or a stray write,
    which every reader passes over."""
    if record.value is None:
        return None
    try:
        return UnitSet.model_validate_json(record.value)
    except ValidationError:
        return None


def in_force_record(records: list[TopicRecord], agency_id: str) -> TopicRecord | None:
    """The record of agency.units.v1 every reader keeps in force for the agency: the first
    record of its highest version (each reader applies a version once, the first it reads,
    and never an older one; one partition holds an agency's records in one order)."""
    key, found, highest = agency_id.encode(), None, -1
    for record in records:
        unit_set = _unit_set(record) if record.key == key else None
        if unit_set is not None and unit_set.version > highest:
            found, highest = record, unit_set.version
    return found


def unit_sets(records: list[TopicRecord]) -> list[UnitSet]:
    """The unit sets among agency.units.v1's records, in offset order."""
    return [s for s in map(_unit_set, records) if s is not None]


async def published_sets(settings: Settings) -> list[UnitSet]:
    """Every version on agency.units.v1 as it is now, in offset order."""
    return unit_sets(await read_to_end(settings, UNITS))


async def units_book(settings: Settings, registry: Registry) -> UnitsBook:
    return UnitsBook(starting_units(registry), await published_sets(settings))


def _where(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """A validation error's location as the file's entry: `units[3] (dinas-pupr).name`."""
    out = ""
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict):
                name = node.get("rule_id") or node.get("unit_id")
                out += f" ({name})" if isinstance(name, str) else ""
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(file)"


def read_units_file(path: Path, version: int, published_at: datetime, previous: UnitSet,
                    registry: Registry, note: str | None = None) -> UnitSet:
    """The unit set `path` describes as version `version`, checked whole: a registered
    agency, the wire model's limits, and `problems` against the set in force."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UnitsFileError(f"{path}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UnitsFileError(f"{path}: expected a mapping with agency_id, units and rules")
    unknown = sorted(str(k) for k in data if k not in FILE_KEYS | IGNORED_KEYS)
    if unknown:
        raise UnitsFileError(f"{path}: unknown key(s) {', '.join(unknown)} (a units file has "
                             f"{', '.join(sorted(FILE_KEYS))})")
    agency_id = data.get("agency_id")
    if not isinstance(agency_id, str) or agency_id not in registry:
        raise UnitsFileError(f"{path}: agency_id: {agency_id!r} is not a registered agency")
    if agency_id != previous.agency_id:
        raise UnitsFileError(f"{path}: agency_id {agency_id} is not {previous.agency_id}")
    fields = {k: v for k, v in data.items() if k in FILE_KEYS}
    if note is not None:
        fields["note"] = note
    try:
        unit_set = UnitSet.model_validate({**fields, "version": version,
                                           "published_at": published_at.isoformat()})
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UnitsFileError(f"{path}: {_where(first['loc'], fields)}: {first['msg']}{more}") from None
    found = problems(unit_set, previous)
    if found:
        raise UnitsFileError(f"{path}: " + "; ".join(found))
    size = len(unit_set.to_bytes())
    if size > MAX_SET_BYTES:
        raise UnitsFileError(f"{path}: {size} bytes as published, more than {MAX_SET_BYTES}: "
                             "fewer rules or keywords, or shorter names and explanations")
    return unit_set


async def publish(settings: Settings, path: Path, note: str | None = None) -> UnitSet:
    """Check `path` and publish it as its agency's next version; nothing is written when
    it is refused (UnitsFileError)."""
    registry = load_registry(settings.agencies_file)
    book = await units_book(settings, registry)
    agency_id = _agency_of(path)
    if agency_id not in registry:
        raise UnitsFileError(f"{path}: agency_id: {agency_id!r} is not a registered agency")
    current = book.of(agency_id).unit_set
    unit_set = read_units_file(path, current.version + 1, datetime.now(UTC), current, registry, note)
    ticks = await latest_ticks(settings)
    # Another operator may have published the agency meanwhile: this version first, or a
    # later one (this publication read before theirs landed). Then theirs stays in force.
    lost = await publish_version(
        settings, UNITS, agency_id.encode(), unit_set.to_bytes(),
        lambda records: in_force_record(records, agency_id),
        lambda as_of: Tick(as_of=as_of, units=unit_set), ticks, unit_set.published_at)
    if lost is not None:
        kept = _unit_set(lost)
        assert kept is not None  # in_force_record finds unit sets only
        raise UnitsPublishedMeanwhile(
            f"{path}: version {unit_set.version} of {agency_id} was published by someone else a "
            f"moment earlier; yours is not in force (version {kept.version} is). "
            f"See `lapor units show {agency_id}`, then publish again")
    return unit_set


def _agency_of(path: Path) -> str:
    """The file's agency_id before it is checked whole (its version depends on it)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UnitsFileError(f"{path}: not YAML: {exc}") from None
    agency_id = data.get("agency_id") if isinstance(data, dict) else None
    if not isinstance(agency_id, str):
        raise UnitsFileError(f"{path}: agency_id: missing (the id of a registered agency)")
    return agency_id


def tree(units: AgencyUnits) -> list[str]:
    """The units as an indented tree (children under their parent), retired ones marked,
    then the rules in the order they are tried."""
    unit_set = units.unit_set
    children: dict[str | None, list[str]] = {}
    for u in unit_set.units:
        parent = u.parent_id if u.parent_id in units.by_id else None
        children.setdefault(parent, []).append(u.unit_id)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for unit_id in children.get(parent, []):
            u = units.by_id[unit_id]
            region = f"  [{u.region_code}]" if u.region_code else ""
            retired = "  (retired)" if u.retired else ""
            lines.append(f"{'  ' * (depth + 1)}{u.unit_id}: {u.name}{region}{retired}")
            walk(unit_id, depth + 1)

    walk(None, 0)
    lines.append(f"rules ({len(unit_set.rules)}, highest priority first, then file order):")
    ranked = sorted(enumerate(unit_set.rules), key=lambda ir: (-ir[1].priority, ir[0]))
    for _, r in ranked:
        criteria = [*(f"lapor={c.main}" + (f"/{c.sub}" if c.sub else "") for c in r.lapor_categories),
                    *(f"category={c.value}" for c in r.categories),
                    *([f"keywords={','.join(r.keywords)}"] if r.keywords else []),
                    *([f"regions={','.join(r.regions)}"] if r.regions else [])]
        lines.append(f"  {r.rule_id} (priority {r.priority}) -> {r.unit_id}: "
                     f"{' '.join(criteria) or 'every complaint'}  \"{r.explanation}\"")
    return lines


def show_lines(units: AgencyUnits) -> list[str]:
    s = units.unit_set
    origin = "starting set" if s.version == 0 else f"published {s.published_at.isoformat()}"
    head = [f"{s.agency_id}: units version {s.version} ({origin}){'  ' + s.note if s.note else ''}",
            f"unit deadline: the agency's less {s.unit_days_before} working day(s); verification "
            f"{s.verification_days} working day(s); approval {'required' if s.approval else 'not required'}",
            f"units ({len(units.active_units())} active of {len(s.units)}):"]
    return head + tree(units)


def parse_lapor_category(text: str) -> LaporCategory:
    """MAIN or MAIN/SUB (LAPOR!'s main categories hold no slash; a sub-category may)."""
    main, _, sub = text.partition("/")
    return LaporCategory(main=main.strip(), sub=sub.strip() or None)


def explain(units: AgencyUnits, facts: ComplaintFacts) -> tuple[Disposition | None, list[str]]:
    """The disposition and, rule by rule in the order they are tried, whether it matched."""
    found = dispose(facts, units)
    lines = []
    ranked = sorted(enumerate(units.unit_set.rules), key=lambda ir: (-ir[1].priority, ir[0]))
    for _, r in ranked:
        alone = AgencyUnits.of(units.unit_set.model_copy(update={"rules": [r]}))
        if units.active(r.unit_id) is None:
            verdict = "skipped: its unit is retired or unknown"
        elif dispose(facts, alone) is None:
            verdict = "no match"
        else:
            verdict = "chosen" if found is not None and found.rule_id == r.rule_id else "matches (ranked lower)"
        lines.append(f"  {r.rule_id} (priority {r.priority}) -> {r.unit_id}: {verdict}")
    return found, lines


def _units(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "publish":
        if not args.target:
            print("usage: lapor units publish FILE [--note TEXT]")
            return 2
        try:
            unit_set = asyncio.run(publish(settings, Path(args.target), args.note))
        except UnitsFileError as exc:
            print(f"refused: {exc}")
            return 2
        except UnitsPublishedMeanwhile as exc:
            print(f"not published: {exc}")
            return 1
        print(f"published units version {unit_set.version} of {unit_set.agency_id}: "
              f"{len(unit_set.units)} units, {len(unit_set.rules)} rules")
        return 0
    if not args.target:
        print(f"usage: lapor units {args.action} AGENCY")
        return 2
    registry = load_registry(settings.agencies_file)
    if args.target not in registry:
        print(f"lapor units: {args.target} is not a registered agency")
        return 2
    units = asyncio.run(units_book(settings, registry)).of(args.target)
    if args.action == "show":
        if args.json:
            print(json.dumps(units.unit_set.model_dump(mode="json"), indent=2, ensure_ascii=False))
        else:
            print("\n".join(show_lines(units)))
        return 0
    if args.text is None:
        print("usage: lapor units explain AGENCY --text TEXT [--category C] "
              "[--lapor-category MAIN[/SUB]] [--region CODE]")
        return 2
    category = Category(args.category)
    lapor = (parse_lapor_category(args.lapor_category) if args.lapor_category
             else lapor_categories.from_category(category))
    known = lapor_categories.known(lapor)
    if known is None:
        print(f"lapor units: LAPOR! has no category {args.lapor_category!r}")
        return 2
    facts = ComplaintFacts(category=category, lapor_category=known, text=args.text,
                           region_code=args.region)
    found, lines = explain(units, facts)
    print(f"{args.target} units version {units.version}; category {category.value}, LAPOR! "
          f"{known.main}{'/' + known.sub if known.sub else ''}, region {args.region or '-'}")
    print("\n".join(lines))
    if found is None:
        print("-> no rule matches: the agency's admin dispositions it")
    else:
        print(f"-> {found.unit_id}: {found.unit_name} (rule {found.rule_id}: {found.explanation})")
    return 0


def register(sub: Any) -> None:
    u = sub.add_parser("units", help="publish, show or explain an agency's units (unit kerja, OPD) "
                       "and disposition rules")
    u.add_argument("action", choices=["publish", "show", "explain"])
    u.add_argument("target", nargs="?", metavar="FILE|AGENCY",
                   help="publish: YAML with `agency_id`, `units`, `rules`; show, explain: an agency id")
    u.add_argument("--note", default=None, help="publish: e.g. the regulation it follows")
    u.add_argument("--json", action="store_true", help="show: the unit set in force as JSON")
    u.add_argument("--text", default=None, help="explain: the complaint's title and body")
    u.add_argument("--category", default=Category.other.value, choices=[c.value for c in Category],
                   help="explain: the project's category (default other)")
    u.add_argument("--lapor-category", default=None, metavar="MAIN[/SUB]",
                   help="explain: LAPOR!'s category (default: mapped from --category)")
    u.add_argument("--region", default=None, metavar="CODE",
                   help="explain: the complaint's region code, e.g. 32.73.02")
    u.set_defaults(handler=_units)
