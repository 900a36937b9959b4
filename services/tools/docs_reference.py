"""The docs site's reference pages, generated from the code at build time (a mkdocs hook).

Each page is a pure function returning Markdown, so unit tests read the same text the site
shows; `on_files` adds them to the build as generated files (never checked in, never stale).
Sources: the topics catalogue and the access plan, the wire models' JSON Schema, the Settings
model, the `lapor` parsers, and, for metrics and reason codes (defined where they are used,
in the stages, which the tools do not import), the services' source read as syntax trees.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICES = Path(__file__).resolve().parents[1]
ROOT = SERVICES.parent
GENERATED = "*Generated from the code when the site is built; do not edit.*"


# --- Markdown helpers -------------------------------------------------------------------

def cell(text: object) -> str:
    """Text for one table cell: outside `code` spans, `&`, `<`, `>` and `*` are escaped (a
    help text's <agency_id> is not an HTML tag), and `|` (a cell's end; the tables extension
    leaves one inside a code span alone); newlines become spaces."""
    parts = str(text).replace("\n", " ").split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code span at all
        parts = ["\\`".join(parts)]
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = (parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    .replace("*", "\\*").replace("|", "\\|"))
    return "`".join(parts)


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code(text: object) -> str:
    return f"`{text}`"


def slug(text: str) -> str:
    """The anchor mkdocs' toc gives a heading of plain words (for links within a page)."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


# --- Topics ------------------------------------------------------------------------------

def _defaults() -> Any:
    from services.runtime.settings import Settings

    return Settings.model_construct()  # the defaults, not this machine's LAPOR_* environment


def _principals_by_topic(names: Iterable[str]) -> dict[str, tuple[list[str], list[str]]]:
    """Topic contract name -> (writers, readers) from the access plan; an agency stands for
    every agency (`agency-{agency_id}`)."""
    from services.tools.access_plan import Operation, Pattern, Resource, plan

    out: dict[str, tuple[list[str], list[str]]] = {n: ([], []) for n in names}
    for principal in plan(_defaults(), ["{agency_id}"]):
        for grant in principal.grants:
            if grant.resource is not Resource.topic:
                continue
            for name, (writers, readers) in out.items():
                hit = (name.startswith(grant.name) if grant.pattern is Pattern.prefixed
                       else name == grant.name)
                if not hit:
                    continue
                if grant.operation in (Operation.write, Operation.all):
                    writers.append(principal.user)
                if grant.operation in (Operation.read, Operation.all):
                    readers.append(principal.user)
    return {n: (sorted(set(w)), sorted(set(r))) for n, (w, r) in out.items()}


def topics_page() -> str:
    from services.runtime import topics as t

    s = _defaults()
    specs = [*t.catalogue(s), *t.agency_topics(s, "{agency_id}")]
    who = _principals_by_topic(spec.name for spec in specs)
    day = t.DAY_MS

    def partitions(spec: t.TopicSpec) -> str:
        if spec.partitions != s.partitions:
            return str(spec.partitions)
        rule = f"`LAPOR_PARTITIONS` ({s.partitions})"
        return rule + (", co-partitioned" if spec.copartition_group else "")

    def retention(spec: t.TopicSpec) -> str:
        if spec.retention_ms < 0:
            return "forever"
        if spec.retention_ms == s.input_retention_days * day:
            return f"`LAPOR_INPUT_RETENTION_DAYS` ({s.input_retention_days} days)"
        if spec.retention_ms == s.notifications_retention_days * day:
            return f"`LAPOR_NOTIFICATIONS_RETENTION_DAYS` ({s.notifications_retention_days} days)"
        days = spec.retention_ms // day
        return f"{days} day" + ("s" if days != 1 else "")

    rows = [(code(spec.name), spec.key, partitions(spec), spec.cleanup_policy, retention(spec),
             ", ".join(map(code, who[spec.name][0])) or "`lapor-admin` only",
             ", ".join(map(code, who[spec.name][1])) or "-")
            for spec in specs]
    return (
        "# Topics\n\n" + GENERATED + "\n\n"
        "Every topic of the contract, from the catalogue (`services/runtime/topics.py`) and the "
        "access plan (`services/tools/access_plan.py`). Names are given without the "
        "deployment's `LAPOR_TOPIC_PREFIX`, which every name and principal carries. "
        "Replication: `LAPOR_REPLICATION_FACTOR` for every topic. Co-partitioned topics are "
        "joined by key and must keep one partition count. Writers and readers are the Kafka "
        "principals (SCRAM users) the access plan grants; `lapor-admin`, the operator's super "
        "user, needs no grant. `agency-{agency_id}` stands for each agency. The services' own "
        "consumer groups and faust's changelog topics (`lapor-<stage>-*`) are not listed.\n\n"
        + table(["topic", "key", "partitions", "cleanup", "retention", "writers", "readers"],
                rows)
        + "\nWhat each event carries: [Events](events.md). The rules of the clocks and "
        "statuses: [the wire contract](contract.md).\n"
    )


# --- Events ------------------------------------------------------------------------------

def wire_models() -> list[type[Any]]:
    """Every top-level wire model (a topic's event, or a webhook's body), found as WireModel's
    subclasses with a schema name."""
    import schemas  # noqa: F401  (imports every wire module, so every subclass exists)
    from schemas.common import WireModel

    from schemas.events import ALL_EVENTS

    found: list[type[Any]] = list(ALL_EVENTS)  # the contract's order first
    todo: list[type[Any]] = [WireModel]
    while todo:
        model = todo.pop(0)
        todo.extend(model.__subclasses__())
        if model.schema_name and model not in found:
            found.append(model)
    return found


def _type_of(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{slug(name)})"
    if "const" in prop:
        return f"`{prop['const']!r}`".replace("'", '"')
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    for union in ("anyOf", "oneOf", "allOf"):
        if union in prop:
            kinds = [_type_of(p, defs) for p in prop[union] if p.get("type") != "null"]
            nullable = any(p.get("type") == "null" for p in prop[union])
            return " or ".join(kinds) + (" or null" if nullable else "")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}), defs)}"
    if kind == "object" and "additionalProperties" in prop:
        extra = prop["additionalProperties"]
        return "map to " + (_type_of(extra, defs) if isinstance(extra, dict) else "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    detail = [prop[k] for k in ("format",) if k in prop]
    if "pattern" in prop and prop.get("format") != "date-time":  # RFC 3339 says it
        detail.append(f"`{prop['pattern']}`")
    for bound, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                        ("minLength", "length >="), ("maxLength", "length <="),
                        ("minItems", "items >="), ("maxItems", "items <=")):
        if bound in prop:
            detail.append(f"{word} {prop[bound]}")
    return str(kind) + (f" ({', '.join(map(str, detail))})" if detail else "")


def field_comments(model: type[Any]) -> dict[str, str]:
    """Field name -> the comment beside it in the model's source (most wire fields are
    explained there, not in a description), for the model and the bases it inherits from."""
    out: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            found = re.match(r"    ([a-z_][a-z0-9_]*)\s*:[^#]*#\s*(.+)$", line)
            if found and "noqa" not in found[2] and "type:" not in found[2]:
                out[found[1]] = found[2].strip()
    return out


def _fields_table(schema: dict[str, Any], defs: dict[str, Any],
                  comments: dict[str, str] | None = None) -> str:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        default = prop.get("default")
        said = "required" if name in required else "optional" + (
            f", default `{default}`".replace("True", "true").replace("False", "false")
            if default not in (None, [], {}) else "")
        rows.append((code(name), _type_of(prop, defs), said,
                     prop.get("description") or (comments or {}).get(name, "")))
    return table(["field", "type", "", "description"], rows)


def _doc(model: type[Any]) -> str:
    return " ".join((model.__doc__ or "").split())


def _topic_of(model: type[Any]) -> str:
    return code(model.topic_name) if model.topic_name else "no topic (an HTTP body)"


def events_page() -> str:
    import schemas
    import schemas.events

    models = wire_models()
    parts: dict[str, dict[str, Any]] = {}
    out = ["# Events\n\n", GENERATED, "\n\n",
           "Every event of the contract, from the wire models in `schemas/` (their JSON "
           "Schema; the same files are in `schemas/json/`, `lapor schemas export`). Every "
           "event carries `schema_version: 1`; unknown fields are ignored on read (v1 may gain "
           "optional fields) and are not passed on. Timestamps are RFC 3339 with an offset. "
           "An optional field that is unset is left out of the JSON.\n\n"]
    out.append(table(["event", "topic"], ((f"[{m.schema_name}](#{slug(m.schema_name)})",
                                           _topic_of(m)) for m in models)))
    for model in models:
        schema = model.model_json_schema(mode="validation")
        defs = schema.get("$defs", {})
        parts.update(defs)
        out += [f"\n## {model.schema_name}\n\n",
                f"`{model.__name__}` on {_topic_of(model)}. {_doc(model)}\n\n",
                _fields_table(schema, defs, field_comments(model))]
    out.append("\n## Parts\n\nObjects and value lists the events above refer to.\n")
    for name in sorted(parts):
        part = parts[name]
        out.append(f"\n### {name}\n\n")
        if part.get("description"):
            out.append(" ".join(part["description"].split()) + "\n\n")
        if "enum" in part:
            out.append("Values: " + ", ".join(f"`{v}`" for v in part["enum"]) + ".\n")
        else:
            found = getattr(schemas, name, None) or getattr(schemas.events, name, None)
            out.append(_fields_table(part, parts, field_comments(found) if found else None))
    return "".join(out)


# --- Settings ----------------------------------------------------------------------------

def _sections(source: str) -> dict[str, str]:
    """Field name -> the `# --- section ---` comment it stands under in settings.py."""
    section, out = "General", dict[str, str]()
    for line in source.splitlines():
        head = re.match(r"\s*# --- (.+?) -+\s*$", line)
        if head:
            section = head[1].strip()
        field = re.match(r"    ([a-z_][a-z0-9_]*)\s*:", line)
        if field:
            out.setdefault(field[1], section)
    return out


def _annotation(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if not getattr(annotation, "__args__", None) \
        else None
    text = text or str(annotation)
    return re.sub(r"\b(typing|pathlib|collections\.abc)\.", "", text).replace("NoneType", "None")


def settings_page() -> str:
    from services.runtime import settings as module

    defaults = _defaults()
    sections = _sections(Path(module.__file__ or "").read_text(encoding="utf-8"))
    by_section: dict[str, list[tuple[str, ...]]] = {}
    for name, info in module.Settings.model_fields.items():
        default = getattr(defaults, name)
        shown = "unset" if default is None else f"`{default}`" if default != "" else "empty"
        if name == "broker_cache":  # the builder's home directory is nobody's default
            shown = "`~/.cache/lapor-router`"
        by_section.setdefault(sections.get(name, "General"), []).append(
            (code(f"LAPOR_{name.upper()}"), code(_annotation(info.annotation)), shown,
             info.description or ""))
    out = ["# Settings\n\n", GENERATED, "\n\n",
           "Every setting of every service and of `lapor`: one pydantic-settings object "
           "(`services/runtime/settings.py`) read from `LAPOR_*` environment variables. A "
           "value that is not valid stops the process at start with the setting's name. "
           "Secrets are never settings: a setting names the file that holds one (its first "
           "line).\n"]
    for section, rows in by_section.items():
        out += [f"\n## {section[:1].upper()}{section[1:]}\n\n",
                table(["variable", "type", "default", "description"], rows)]
    return "".join(out)


# --- CLI ---------------------------------------------------------------------------------

def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%(" in text:
        params = {**vars(action), "prog": prog}
        params = {k: getattr(v, "__name__", v) for k, v in params.items()}
        text = text % params
    return " ".join(text.split())


def _usage(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar if isinstance(action.metavar, str) else action.dest
    name = ", ".join(action.option_strings)
    if action.nargs == 0:
        return name
    meta = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    return f"{name} {meta}"


def _detail(action: argparse.Action) -> str:
    bits = []
    if action.choices and not isinstance(action.choices, dict):
        bits.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    if action.option_strings and action.nargs != 0 and action.default not in (None, False):
        bits.append(f"default `{action.default}`")
    if isinstance(action, argparse._AppendAction):
        bits.append("may repeat")
    if action.required and action.option_strings:
        bits.append("required")
    return "; ".join(bits)


def commands(parser: argparse.ArgumentParser, path: str = "lapor"
             ) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(command line, help, parser) of every command and subcommand, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", helps.get(name, ""), sub
                yield from commands(sub, f"{path} {name}")


def cli_page(parser: argparse.ArgumentParser | None = None) -> str:
    if parser is None:
        from services.tools.cli import build_parser

        parser = build_parser()
    out = ["# CLI\n\n", GENERATED, "\n\n",
           "Every `lapor` command and option, from its argparse parsers (`services/tools/cli.py`, "
           "the modules it registers, and the commands services bring through the "
           "`lapor.commands` entry point). `lapor <command> --help` says the same. Every "
           "command reads the `LAPOR_*` [settings](settings.md); on the compose stack, see "
           "[the CLI on the stack](../operators/cli.md).\n\n"]
    found = list(commands(parser))
    out.append(table(["command", "what it does"],
                     ((f"[{line}](#{slug(line)})", " ".join(h.split())) for line, h, _ in found)))
    for line, help_text, sub in found:
        out.append(f"\n## {line}\n\n")
        said = " ".join((sub.description or help_text or "").split())
        if said:
            out.append(cell(said) + "\n\n")
        rows = [(code(_usage(a)), _help(a, line), _detail(a)) for a in sub._actions
                if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
        subs = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if rows:
            out.append(table(["argument", "meaning", ""], rows))
        if subs:
            out.append("\nSubcommands: " + ", ".join(
                f"[{line} {name}](#{slug(f'{line} {name}')})"
                for a in subs for name in a.choices) + ".\n")
    return "".join(out)


# --- Metrics and reason codes (read from the source) -------------------------------------

@dataclass(frozen=True)
class Found:
    name: str
    kind: str
    text: str
    labels: tuple[str, ...]
    where: str


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SERVICES.rglob("*.py")):
        if "tools" in path.relative_to(SERVICES).parts[:1]:
            continue  # the operator tools define no service metric and refuse no record
        yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"))


def _string(node: ast.AST | None) -> str | None:
    """A string constant, adjacent constants joined, or an f-string with `{…}` left as `<…>`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else
                       f"<{ast.unparse(v.value).split('.')[-1]}>"
                       for v in node.values if isinstance(v, (ast.Constant, ast.FormattedValue)))
    return None


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


METRIC_KINDS = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram",
                "Summary": "summary"}


def metrics() -> list[Found]:
    """Every Prometheus metric the services define (prometheus_client's constructors)."""
    out = []
    for where, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _callee(node) in METRIC_KINDS
                    and len(node.args) >= 2):
                continue
            name, text = _string(node.args[0]), _string(node.args[1])
            if name is None or text is None:
                continue
            labels = node.args[2] if len(node.args) > 2 else next(
                (k.value for k in node.keywords if k.arg == "labelnames"), None)
            names = tuple(s for e in getattr(labels, "elts", []) if (s := _string(e)))
            kind = METRIC_KINDS[_callee(node)]
            # prometheus_client exposes a counter as <name>_total
            shown = f"{name}_total" if kind == "counter" and not name.endswith("_total") else name
            out.append(Found(shown, kind, text, names, where))
    return sorted(set(out), key=lambda f: (f.name, f.where))


def metrics_page() -> str:
    found = metrics()
    return (
        "# Metrics\n\n" + GENERATED + "\n\n"
        "Every Prometheus metric the services define, found in their source. Each worker "
        "serves its own at `/metrics/` on its web port (`LAPOR_WEB_HOST`:`LAPOR_WEB_PORT`); "
        "the stage metrics carry a `stage` label. Labels are ids and codes, never personal "
        "data. A histogram also exposes `_bucket`, `_sum` and `_count` series. What to watch "
        "and alert on: [Monitoring](../operators/monitoring.md).\n\n"
        + table(["metric", "type", "labels", "meaning", "defined in"],
                ((code(f.name), f.kind, ", ".join(map(code, f.labels)) or "-", f.text,
                  code(f.where)) for f in found))
    )


# How each reason-carrying call takes its reason code: callee name -> argument position (or
# keyword). Dead letters (complaints.rejected.v1) and the bridge's answers to agencies.
DEAD_LETTER_CALLS: dict[str, int | str] = {"reject": 2, "parse_or_reject": 3, "single": 0, "Rejection": 0,
                     "_dead": 1, "dead_letter": "reason"}
REFUSAL_CALLS: dict[str, int | str] = {"Unverified": 1}


def _reason_arg(call: ast.Call, where: int | str) -> ast.AST | None:
    if isinstance(where, int):
        return call.args[where] if len(call.args) > where else None
    return next((k.value for k in call.keywords if k.arg == where), None)


@dataclass(frozen=True)
class Reason:
    code: str
    where: str


def _reasons_of(calls: dict[str, int | str], tables: bool = False) -> list[Reason]:
    out: set[Reason] = set()
    for where, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _callee(node) in calls:
                text = _string(_reason_arg(node, calls[_callee(node)]))
                if text:
                    out.add(Reason(text.split(":")[0], where))
            # A function naming the code (intake's `_reason`): each string it returns is one.
            if (tables and isinstance(node, ast.FunctionDef) and node.name.startswith("_reason")):
                out.update(Reason(s, where) for r in ast.walk(node)
                           if isinstance(r, ast.Return) and (s := _string(r.value)))
            # A table of codes by field (intake's decode): every value is a reason code.
            if (tables and isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.startswith("_REASON")
                    and isinstance(node.value, ast.Dict)):
                out.update(Reason(s, where) for v in node.value.values if (s := _string(v)))
    return sorted(out, key=lambda r: (r.code, r.where))


def _enum_values(path: str, class_name: str) -> list[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return [s for item in node.body if isinstance(item, ast.Assign)
                    if (s := _string(item.value))]
    raise LookupError(f"{class_name} not in {path}")


def dead_letter_reasons() -> list[Reason]:
    judged = [Reason(v, "services/router/judge.py") for v in
              _enum_values("services/router/judge.py", "Reason")]
    from schemas import BridgeUndelivered

    undelivered = BridgeUndelivered.model_json_schema()["properties"]["reason"]["enum"]
    bridge = [Reason(v, "services/bridge/outbound.py") for v in undelivered]
    return sorted({*_reasons_of(DEAD_LETTER_CALLS, tables=True), *judged, *bridge},
                  key=lambda r: (r.code, r.where))


def refusal_reasons() -> list[Reason]:
    return _reasons_of(REFUSAL_CALLS)


def _reporter_words() -> dict[str, str]:
    from services.domain.notices import load_notice_texts

    return load_notice_texts().reasons


def reasons_page() -> str:
    words = _reporter_words()

    def grouped(reasons: list[Reason]) -> list[tuple[str, str]]:
        by: dict[str, list[str]] = {}
        for r in reasons:
            by.setdefault(r.code, []).append(r.where)
        return [(c, ", ".join(code(w) for w in sorted(set(ws)))) for c, ws in by.items()]

    return (
        "# Reason codes\n\n" + GENERATED + "\n\n"
        "The codes the services give when they refuse something, found in their source.\n\n"
        "## Dead letters\n\n"
        "A record a stage cannot use is not lost: it goes to `complaints.rejected.v1` with "
        "its original bytes, where it came from (topic, partition, offset, key), the stage "
        "(`rejected_by`), `errors` (`[{loc, msg}]`) and one of these `reason` codes; "
        "`lapor_dead_letters_total{reason}` counts them. A code of the form "
        "`invalid_<schema_name>` names the event that did not match its schema "
        "([Events](events.md)). `internal_error` is a defect: the worker did not stop, and "
        "the record is kept. For a reporter's own complaint, intake replies in plain words "
        "(the reporter's words column; any other code: \"" + words.get("other", "") + "\").\n\n"
        + table(["reason", "given by", "the reporter is told"],
                ((code(c), w, words.get(c, "")) for c, w in
                 grouped([*dead_letter_reasons(), Reason("internal_error",
                                                          "services/runtime/stage.py")])))
        + "\n## The bridge's refusals\n\n"
        "What the bridge answers an agency's status call it refuses (`{\"error\": reason}`, "
        "counted by `lapor_bridge_refused_in_total{reason}`); nothing is published. An "
        "`invalid_body` answer names the field and the problem after a colon. What each "
        "means for the caller: [webhook](../agencies/en/webhook.md).\n\n"
        + table(["reason", "given by"], ((code(c), w) for c, w in grouped(refusal_reasons())))
    )


PAGES: dict[str, Callable[[], str]] = {
    "reference/topics.md": topics_page,
    "reference/events.md": events_page,
    "reference/settings.md": settings_page,
    "reference/cli.md": cli_page,
    "reference/metrics.md": metrics_page,
    "reference/reasons.md": reasons_page,
}


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: the generated pages join the site's files (the nav names them)."""
    from mkdocs.structure.files import File

    for uri, page in PAGES.items():
        files.append(File.generated(config, uri, content=page()))
    return files
