"""The docs site's generated reference pages name everything the code defines: every setting,
topic, wire model, `lapor` command and option, metric and reason code (checked against the
code itself, by another route than the generator's own)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import markdown

from schemas.export import render_schemas
from services.domain.notices import load_notice_texts
from services.runtime import topics
from services.runtime.settings import Settings
from services.tools import docs_reference as ref
from services.tools.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_on_the_settings_page_with_its_description() -> None:
    page = ref.settings_page()
    for name, info in Settings.model_fields.items():
        row = next((line for line in page.splitlines() if f"`LAPOR_{name.upper()}`" in line), None)
        assert row is not None, f"LAPOR_{name.upper()} missing"
        assert info.description and ref.cell(info.description) in row


def test_every_topic_is_on_the_topics_page_with_its_key() -> None:
    page = ref.topics_page()
    specs = [*topics.catalogue(Settings.model_construct()),
             *topics.agency_topics(Settings.model_construct(), "{agency_id}")]
    assert len(specs) > 20
    for spec in specs:
        assert f"| `{spec.name}` | {ref.cell(spec.key)} |" in page, spec.name


def test_the_topics_page_says_who_writes_and_reads() -> None:
    rows = {line.split("|")[1].strip(): line for line in ref.topics_page().splitlines()
            if line.startswith("| `")}
    assert "`svc-router`" in rows["`complaints.status.v1`"].split("|")[6]  # its one writer
    agency = rows["`agency.{agency_id}.complaints.v1`"].split("|")
    assert "`agency-{agency_id}`" in agency[7] and "`agency-{agency_id}`" not in agency[6]


def test_every_schema_file_is_an_event_on_the_events_page() -> None:
    page = ref.events_page()
    names = {n.split(".v")[0] for n in render_schemas()}  # what `lapor schemas export` writes
    assert len(names) > 15
    for name in names:
        assert f"\n## {name}\n" in page, name
    for model in ref.wire_models():
        assert f"`{model.topic_name or model.__name__}`" in page
        for field in model.model_fields:
            assert f"| `{field}` |" in page, f"{model.__name__}.{field}"


def test_every_command_and_option_is_on_the_cli_page() -> None:
    page = ref.cli_page()
    seen = 0
    for line, _, parser in ref.commands(build_parser()):
        assert f"\n## {line}\n" in page, line
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in page or f", {option}" in page, f"{line} {option}"
                    seen += 1
    assert seen > 30


def test_commands_walks_nested_subcommands() -> None:
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers()
    inner = sub.add_parser("outer", help="o").add_subparsers()
    inner.add_parser("inner", help="i").add_argument("--flag", help="a %(default)s flag",
                                                     default="d")
    assert [line for line, _, _ in ref.commands(parser)] == ["lapor outer", "lapor outer inner"]
    assert "a d flag" in ref.cli_page(parser)


def test_every_metric_in_the_source_is_on_the_metrics_page() -> None:
    page = ref.metrics_page()
    defined = set()
    for path in (ROOT / "services").rglob("*.py"):
        for kind, name in re.findall(r"(Counter|Gauge|Histogram)\(\s*\"(lapor_\w+)\"",
                                     path.read_text(encoding="utf-8")):
            defined.add(f"{name}_total" if kind == "Counter" else name)
    assert {"lapor_dead_letters_total", "lapor_consumer_lag", "lapor_bridge_refused_in_total",
            "lapor_desk_statuses_sent_total", "lapor_batch_seconds"} <= defined
    for name in defined:
        assert f"| `{name}` |" in page, name
    assert "`stage`, `reason`" in page  # labels


def test_the_reason_codes_page_lists_dead_letters_and_refusals() -> None:
    page = ref.reasons_page()
    dead, refused = page.split("## The bridge's refusals")
    from services.router.judge import Reason

    expected_dead = {r.value for r in Reason} | {
        "empty_message", "too_large", "invalid_utf8", "invalid_json", "not_an_object",
        "invalid_fields", "invalid_tick", "status_for_another_agency", "complaint_never_accepted",
        "not_an_agency_complaint", "bridge_refused", "bridge_gave_up", "bridge_skipped",
        "internal_error", *(set(load_notice_texts().reasons) - {"other"})}
    for code in expected_dead:
        assert f"| `{code}` |" in dead, code
    for code in ("missing_signature", "bad_signature", "unknown_agency", "malformed_timestamp",
                 "malformed_id", "stale_timestamp", "replayed", "agency_mismatch",
                 "status_not_allowed", "invalid_body"):
        assert f"| `{code}` |" in refused, code
    assert "| `invalid_nik` |" not in refused  # intake's codes are not the bridge's answers
    assert "isi aduan kosong" in dead  # what the reporter is told


def test_a_cell_is_one_cell_and_shows_its_text() -> None:
    text = ref.table(["a", "b"], [("`x|y` <id> a|b *c*", "2")])
    html = markdown.markdown(text, extensions=["tables"])
    assert html.count("<td>") == 2
    assert "<code>x|y</code> &lt;id&gt; a|b *c*" in html


def test_the_nav_names_every_generated_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for uri in ref.PAGES:
        assert f": {uri}\n" in config, uri
        assert not (ROOT / "docs" / uri).exists(), f"{uri} is generated, never checked in"


def test_a_field_explained_by_a_comment_in_its_model_is_explained_on_the_page() -> None:
    page = ref.events_page()
    assert "| `level` | integer (&gt;= 2, &lt;= 3) or null | optional | escalated: 2 national " \
           "admin, 3 Ombudsman |" in page
