"""The newcomers' pages (docs/channels/, docs/agencies/ in Indonesian and English) against
the code they describe: a statement that drifts from the code fails here.

- The webhook pages' refusal table lists every refusal the bridge's status door answers
  (derived from the code), and their example call is really signed with the example secret:
  the bridge's own check and the PyPI Standard Webhooks library both agree, and its body is
  an agency complaint.
- The pages' code that posts a status back, run as written (with `requests` caught), makes
  a call the bridge accepts.
- The status pages list exactly the statuses an agency may send and every reason a status
  is refused for; their example body passes the status gate.
- The channel pages list every field of a submission and of a raw SMS, every reason intake
  refuses an input for, and every reason a reporter status is refused for; their examples
  are valid inputs, and the reporter status passes the gate.
"""

from __future__ import annotations

import ast
import base64
import inspect
import json
import re
import sys
import textwrap
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from schemas import AgencyComplaint, SmsMessage, Submission
from services.bridge import inbound, signing, web
from services.domain import agency_status_rules
from services.bridge.config import AGENCY_STATUSES, parse_config
from services.bridge.inbound import Accepted, SeenSignatures, accept_status
from services.intake import accept as intake_accept, decode as intake_decode, handlers as intake_handlers
from services.router.judge import Reason
from services.runtime.stage import Record, StagedStores
from services.runtime.topics import REJECTED
from services.status_gate import handlers as gate

DOCS = Path(__file__).resolve().parents[2] / "docs"
WEBHOOK_PAGES = [DOCS / "agencies/webhook.md", DOCS / "agencies/en/webhook.md"]
STATUS_PAGES = [DOCS / "agencies/status.md", DOCS / "agencies/en/status.md"]
EXAMPLE_SECRET = "whsec_WLA35kXDRHV15tK9zg5hPHWgRv+ofOYKd4SvUCvuV64="
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>\w*)[^\n]*\n(?P<code>.*?)^(?P=indent)```", re.M | re.S)


def blocks(page: Path, lang: str) -> list[str]:
    """The page's fenced code blocks of one language, dedented (tabs indent them)."""
    return [textwrap.dedent(m.group("code")) for m in FENCE.finditer(page.read_text())
            if m.group("lang") == lang]


def table_rows(page: Path) -> list[list[str]]:
    """Every Markdown table row of the page, as its cells."""
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in page.read_text().splitlines()
            if line.startswith("|") and not set(line) <= set("|-: ")]


def codes_in(cells: list[str]) -> set[str]:
    return set(re.findall(r"`([a-z_]+)", " ".join(cells)))


def first_column_codes(page: Path) -> set[str]:
    return {m for row in table_rows(page) for m in re.findall(r"^`([a-z_0-9]+)`", row[0])}


# ---- the webhook pages ---------------------------------------------------------------

def unit_rule_reasons() -> set[str]:
    return set(re.findall(r'return "([a-z_]+)"', inspect.getsource(agency_status_rules)))


def refusals_in_code() -> set[tuple[int, str]]:
    """(HTTP status, reason) of every refusal of a status call: the bridge's checks, its
    body check (`invalid_body: …`), its door's 503, and the door's body limit (413)."""
    found = set()
    for module in (signing, inbound):
        for status, reason in re.findall(r'Unverified\((\d{3}),\s*f?"([a-z_]+)', inspect.getsource(module)):
            found.add((int(status), reason))
    # An agency's fields' rules (channel, rule_id, units), which the door shares with the gate.
    found |= {(400, reason) for reason in unit_rule_reasons()}
    door = inspect.getsource(web)
    found |= {(int(s), r) for r, s in re.findall(r'"error": "([^"]+)"\}, status=(\d{3})', door)}
    assert "client_max_size=BODY_MAX" in door  # aiohttp answers a larger body 413
    found.add((413, ""))
    return found


@pytest.mark.parametrize("page", WEBHOOK_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_the_refusal_table_lists_every_refusal_of_the_status_door(page: Path) -> None:
    documented = set()
    for row in table_rows(page):
        if len(row) == 3 and row[0].isdigit():
            reason = re.match(r"`([^`:]+)", row[1])  # `invalid_body: <field>: …` is invalid_body
            documented.add((int(row[0]), reason.group(1) if reason else ""))
    expected = refusals_in_code()
    assert {(s, r) for s, r in expected} - documented == set()
    assert (400, "malformed_timestamp") in documented  # the one an earlier table missed
    assert documented - expected == set(), "a refusal the code never answers"


def example_call(page: Path) -> tuple[dict[str, str], bytes]:
    (call,) = [b for b in blocks(page, "http") if b.startswith("POST ")]
    head, body = call.split("\n\n", 1)
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    return headers, body.rstrip("\n").encode("utf-8")


@pytest.mark.parametrize("page", WEBHOOK_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_the_example_call_is_signed_with_the_example_secret(page: Path) -> None:
    assert EXAMPLE_SECRET in page.read_text()
    headers, body = example_call(page)
    key = signing.webhook_key(EXAMPLE_SECRET)
    sent = int(headers["webhook-timestamp"])
    assert signing.verify_standard([key], headers, body, now=sent, window_s=300) is None
    assert signing.verify(EXAMPLE_SECRET.encode(), headers["X-Lapor-Timestamp"],
                          headers["X-Lapor-Signature"], body, now=sent, window_s=300) is None
    library = Webhook(EXAMPLE_SECRET).sign(headers["webhook-id"],
                                           datetime.fromtimestamp(sent, timezone.utc), body.decode())
    assert library == headers["webhook-signature"]
    complaint = AgencyComplaint.model_validate_json(body)
    assert headers["webhook-id"] == headers["Idempotency-Key"] == complaint.event_id
    assert example_call(WEBHOOK_PAGES[0]) == example_call(WEBHOOK_PAGES[1])


def bridge_config(tmp_path: Path) -> Any:
    secret = tmp_path / "pln.whsec"
    secret.write_text(EXAMPLE_SECRET + "\n")
    secret.chmod(0o600)
    text = f"agencies:\n  pln:\n    mode: webhook\n    endpoint: https://crm.pln.example/lapor\n    secret_file: {secret}\n"
    return parse_config(text, "test", ["pln"], tmp_path)


class CaughtPost:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, data: bytes, headers: dict[str, str], timeout: float) -> str:
        self.calls.append((url, data, headers))
        return "sent"


@pytest.mark.parametrize("page", WEBHOOK_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_the_pages_status_code_makes_a_call_the_bridge_accepts(page: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (code,) = [b for b in blocks(page, "python") if "requests.post(" in b]
    caught = CaughtPost()
    monkeypatch.setitem(sys.modules, "requests", types.SimpleNamespace(post=caught.post))
    exec(compile(code, str(page), "exec"), {"secret": EXAMPLE_SECRET})  # noqa: S102 - the page's own code
    ((url, data, headers),) = caught.calls
    assert url.endswith("/agencies/pln/statuses")
    result = accept_status(bridge_config(tmp_path), "pln", headers, data,
                           datetime.now(timezone.utc).timestamp(), SeenSignatures(300))
    assert isinstance(result, Accepted), result
    assert result.status.status.value == "acknowledged"


# ---- the status pages ----------------------------------------------------------------

def gate_reasons_for(function: Any) -> set[str]:
    return set(re.findall(r'reject\(STAGE, record, "([a-z_]+)"\)', inspect.getsource(function))) | {
        "invalid_status"}  # parse_or_reject's


STATUS_SECTIONS = [(DOCS / "agencies/status.md", "## Setiap status yang boleh dikirim instansi"),
                   (DOCS / "agencies/en/status.md", "## Every status an agency may send")]


@pytest.mark.parametrize("page, heading", STATUS_SECTIONS, ids=["id", "en"])
def test_the_status_page_lists_exactly_what_an_agency_may_send(page: Path, heading: str) -> None:
    part = section(page, heading)
    first_table = part[part.index("\n|"):part.index("\n\n", part.index("\n|"))]
    assert set(re.findall(r"^\| `([a-z_]+)` \|", first_table, re.M)) == {s.value for s in AGENCY_STATUSES}


@pytest.mark.parametrize("page", STATUS_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_the_status_page_lists_every_reason_a_status_is_refused_for(page: Path) -> None:
    # The judge's reasons an agency's status can meet (not the admin's or a reporter's own).
    judge = {r.value for r in Reason} - {"not_in_triage", "unknown_target", "not_the_reporters_channel"}
    gate_reasons = gate_reasons_for(gate._agency) | unit_rule_reasons()
    assert (judge | gate_reasons) - first_column_codes(page) == set()


@pytest.mark.parametrize("page", STATUS_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_the_status_pages_example_passes_the_gate_as_the_agencys(page: Path) -> None:
    (body,) = [b for b in blocks(page, "json") if '"event_id"' in b]
    out = gate.handle(Record("agency-status.pln.v1", 0, 0, 1.0, b"LPR-BYGGMF904VE5", body.encode()),
                      StagedStores({}))
    assert [o.topic for o in out.outputs] == ["status.claims.v1"]


# ---- the channel pages ---------------------------------------------------------------

SUBMIT, REPLIES = DOCS / "channels/submit.md", DOCS / "channels/replies.md"


def section(page: Path, heading: str) -> str:
    """The page's text from a heading to the next heading of its level."""
    text = page.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def section_codes(page: Path, heading: str) -> set[str]:
    """The codes in the first column of the section's tables."""
    return set(re.findall(r"^\| `([a-z_0-9]+)`", section(page, heading), re.M))


@pytest.mark.parametrize("model, heading", [(Submission, "## A complaint:"), (SmsMessage, "## A raw SMS:")])
def test_the_submit_page_lists_every_field(model: Any, heading: str) -> None:
    assert set(model.model_fields) - {"schema_version"} - section_codes(SUBMIT, heading) == set()


def intake_reasons() -> set[str]:
    sources = "".join(inspect.getsource(m) for m in (intake_decode, intake_accept, intake_handlers))
    reasons = set(re.findall(r'Rejection\.single\(\s*"([a-z_0-9]+)"', sources))
    reasons |= set(intake_decode._REASON_BY_FIELD.values())
    return reasons | {"invalid_fields", "internal_error"}


def test_the_submit_page_lists_every_reason_intake_refuses_an_input_for() -> None:
    assert intake_reasons() - section_codes(SUBMIT, "## What is refused") == set()


def literal(code: str, name: str) -> dict[str, Any]:
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            value: dict[str, Any] = ast.literal_eval(node.value)
            return value
    raise AssertionError(f"no {name} = {{...}} in the page's code")


def test_the_submit_pages_examples_are_valid_inputs() -> None:
    code = "\n".join(blocks(SUBMIT, "python"))
    complaint = Submission.model_validate(literal(code, "complaint"))
    assert complaint.channel.value == "web"
    SmsMessage.model_validate(literal(code, "sms"))


def test_the_replies_page_lists_every_reason_a_reporter_status_is_refused_for() -> None:
    # Not the admin's nor an agency's own (a reporter names no unit: the gate refuses one).
    expected = {r.value for r in Reason} - {"not_in_triage", "unknown_target", "not_the_holder",
                                            "unknown_unit", "agency_spoke_first"}
    expected |= gate_reasons_for(gate._reporter)
    assert expected - section_codes(REPLIES, "## Send a reporter") == set()


def test_the_replies_pages_reporter_status_passes_the_gate() -> None:
    status = literal("\n".join(blocks(REPLIES, "python")), "status")
    out = gate.handle(Record("reporter-status.sms.v1", 0, 0, 1.0, status["complaint_id"].encode(),
                             json.dumps(status).encode()), StagedStores({}))
    assert [o.topic for o in out.outputs] == ["status.claims.v1"]
    assert REJECTED not in [o.topic for o in out.outputs]


def test_the_example_secret_is_a_secret_the_bridge_takes() -> None:
    assert len(signing.webhook_key(EXAMPLE_SECRET)) == 32
    assert base64.b64decode(EXAMPLE_SECRET.removeprefix("whsec_"))
