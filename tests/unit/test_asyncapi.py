"""The AsyncAPI document (services/tools/asyncapi.py, checked in as docs/asyncapi.yaml): it is
what the code makes, it covers every topic of the catalogue with its model, key, bindings and
ACLs, and its payload schemas are draft-07 schemas that judge messages as the models do. The
AsyncAPI CLI's own validation is tests/integration/test_asyncapi_validate.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from schemas import AgencyComplaint, Channel, Notification, SmsMessage, Submission, Tick
from schemas.export import render_schemas
from services.runtime.topics import (
    ACCEPTED, REJECTED, STATUS, TICKS, TRIAGE, agency_topics, catalogue,
)
from services.tools import asyncapi
from services.tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "asyncapi.yaml"
REGENERATE = "run `lapor schemas asyncapi --out docs/asyncapi.yaml` and commit it"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    built: dict[str, Any] = yaml.safe_load(asyncapi.render())
    return built


def channel_at(doc: dict[str, Any], address: str) -> dict[str, Any]:
    found = [c for c in doc["channels"].values() if c["address"] == address]
    assert len(found) == 1, f"{address}: {len(found)} channels"
    channel: dict[str, Any] = found[0]
    return channel


def addresses_of(doc: dict[str, Any]) -> dict[str, str]:
    """Every topic name the document's channels stand for -> its channel's address (a
    channel family stands for one topic per channel; an agency's stays a template)."""
    names = {}
    for c in doc["channels"].values():
        params = c.get("parameters", {})
        values = params["channel"]["enum"] if "channel" in params else [None]
        for v in values:
            names[c["address"].replace("{channel}", v) if v else c["address"]] = c["address"]
    return names


def operation(doc: dict[str, Any], action: str, address: str) -> dict[str, Any]:
    chid = next(k for k, c in doc["channels"].items() if c["address"] == address)
    op: dict[str, Any] = doc["operations"][f"{action}_{chid}"]
    assert op["action"] == action and op["channel"] == {"$ref": f"#/channels/{chid}"}
    return op


def test_the_checked_in_document_is_what_the_code_makes() -> None:
    assert CHECKED_IN.exists(), f"docs/asyncapi.yaml is missing: {REGENERATE}"
    assert CHECKED_IN.read_text(encoding="utf-8") == asyncapi.render(), (
        f"docs/asyncapi.yaml differs from the code (schemas/, topics, access plan): {REGENERATE}")


def test_the_document_does_not_depend_on_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Anyone regenerating it (a shell with a deployment's LAPOR_* exported) gets the same file.
    before = asyncapi.render()
    for name, value in {"LAPOR_PARTITIONS": "12", "LAPOR_TOPIC_PREFIX": "staging.",
                        "LAPOR_REPLICATION_FACTOR": "1", "LAPOR_INPUT_RETENTION_DAYS": "9",
                        "LAPOR_BROKER_PORT": "19092"}.items():
        monkeypatch.setenv(name, value)
    assert asyncapi.render() == before


def test_the_cli_writes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "asyncapi.yaml"
    assert main(["schemas", "asyncapi", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == asyncapi.render()
    capsys.readouterr()
    assert main(["schemas", "asyncapi"]) == 0
    assert capsys.readouterr().out == asyncapi.render()


def test_it_is_asyncapi_3_with_both_ways_in(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"scramSha512", "X509"}
    servers = doc["servers"]
    assert all(s["protocol"] == "kafka-secure" for s in servers.values())
    assert servers["production"]["security"] == [{"$ref": "#/components/securitySchemes/scramSha512"}]
    assert servers["production-certificates"]["security"] == [
        {"$ref": "#/components/securitySchemes/clientCertificate"}]
    assert servers["production-certificates"]["variables"]["broker"]["default"] == "kafka:9095"
    assert servers["local"]["host"] == "127.0.0.1:9092"


def test_every_topic_of_the_catalogue_is_a_channel(doc: dict[str, Any]) -> None:
    settings = asyncapi.reference_settings()
    have = addresses_of(doc)
    assert {s.name for s in catalogue(settings)} <= have.keys()
    assert {s.name for s in agency_topics(settings, "{agency_id}")} <= have.keys()
    # and every topic a wire model names (the JSON Schema export's x-topic)
    topics = {json.loads(t)["x-topic"] for t in render_schemas().values()} - {""}
    expanded = {t.replace("{channel}", c.value) for t in topics for c in Channel}
    assert expanded <= have.keys()


def test_a_topic_without_a_model_is_refused() -> None:
    with pytest.raises(KeyError, match="no wire model"):
        asyncapi._model_of("complaints.unknown.v1")


def test_families_are_parameterised_channels(doc: dict[str, Any]) -> None:
    agency = channel_at(doc, "agency.{agency_id}.complaints.v1")
    assert set(agency["parameters"]) == {"agency_id"}
    replies = channel_at(doc, "complaints.notifications.{channel}.v1")
    assert replies["parameters"]["channel"]["enum"] == [c.value for c in Channel]
    assert channel_at(doc, "agency-status.{agency_id}.v1")["bindings"]["kafka"]["partitions"] == 1


def test_bindings_are_the_catalogues(doc: dict[str, Any]) -> None:
    settings = asyncapi.reference_settings()
    for spec in [*catalogue(settings), *agency_topics(settings, "{agency_id}")]:
        address = addresses_of(doc)[spec.name]
        kafka = channel_at(doc, address)["bindings"]["kafka"]
        config = kafka["topicConfiguration"]
        assert (kafka["partitions"], kafka["replicas"]) == (spec.partitions, spec.replication_factor)
        assert config["cleanup.policy"] == sorted(spec.cleanup_policy.split(",")), spec.name
        assert config["retention.ms"] == spec.retention_ms, spec.name
        assert channel_at(doc, address)["x-lapor-key"] == spec.key


def test_keys_are_the_catalogues(doc: dict[str, Any]) -> None:
    def key(address: str) -> dict[str, Any]:
        message = next(iter(channel_at(doc, address)["messages"].values()))
        schema: dict[str, Any] = message["bindings"]["kafka"]["key"]
        return schema

    complaint_id = key(ACCEPTED)
    assert complaint_id["type"] == "string" and complaint_id["pattern"].startswith("^LPR-")
    assert key(SmsMessage.topic_name)["type"] == "string"
    assert key(SmsMessage.topic_name)["maxLength"] == 32  # the msisdn field's own schema
    assert key(TICKS)["type"] == "null"  # one per partition, no key
    assert key(REJECTED) == {"type": "string", "description": "UTF-8 text: input key."}
    assert "'|'" in key("bridge.open311-requests.v1")["description"]


def test_publishers_and_subscribers_are_the_access_plans(doc: dict[str, Any]) -> None:
    def who(action: str, address: str) -> list[str]:
        users: list[str] = operation(doc, action, address)["x-lapor-principals"]
        return users

    assert who("send", STATUS) == ["svc-router"]  # the one judge of statuses
    assert "national-admin" not in who("receive", REJECTED)  # dead letters keep raw input
    assert who("receive", TRIAGE) == ["national-admin"]
    assert who("receive", "complaints.notifications.{channel}.v1") == ["channel-{channel}"]
    assert who("send", "agency-status.{agency_id}.v1") == ["agency-{agency_id}", "svc-bridge", "svc-desk"]
    assert who("send", "disposition.auto.v1") == ["svc-disposition"]
    assert who("receive", "disposition.auto.v1") == ["svc-status-gate"]
    assert who("receive", "agency.{agency_id}.complaints.v1") == [
        "agency-{agency_id}", "svc-bridge", "svc-desk", "svc-disposition"]
    assert who("send", "agency.{agency_id}.complaints.v1") == ["svc-router"]
    assert who("send", "channels.sms.v1") == ["channel-sms"]
    assert who("send", Submission.topic_name) == sorted(
        f"channel-{c.value}" for c in Channel if c is not Channel.sms)
    # operators' commands: no grant, only the super user
    assert who("send", "bridge.control.v1") == ["lapor-admin"]
    op = operation(doc, "send", STATUS)
    assert "`svc-router`" in op["description"]
    assert {s["$ref"].rsplit("/", 1)[1] for s in op["security"]} == {"scramSha512", "clientCertificate"}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*([node["$ref"]] if "$ref" in node else []), *(r for v in node.values() for r in refs(v))]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_reference_resolves_inside_the_document(doc: dict[str, Any]) -> None:
    found = refs(doc)
    assert found
    for ref in found:
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]


def test_schemas_are_draft_07(doc: dict[str, Any]) -> None:
    text = json.dumps(doc)
    assert "$defs" not in text  # 2020-12's; the refs point into components/schemas
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert not ("$ref" in node and len(node) > 1), f"$ref with siblings: {node}"
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    Draft7Validator.check_schema(doc["components"]["schemas"]["AgencyComplaint"])


def validator(doc: dict[str, Any], address: str) -> Draft7Validator:
    message = next(iter(channel_at(doc, address)["messages"].values()))
    return Draft7Validator({"allOf": [message["payload"]], "components": doc["components"]})


def test_payload_schemas_judge_messages_as_the_models_do(doc: dict[str, Any]) -> None:
    submission = Submission(submission_id="web-1", channel=Channel.web, body="Jalan rusak",
                            submitted_at="2026-03-02T09:15:00+07:00")
    good = json.loads(submission.to_bytes())
    assert not list(validator(doc, Submission.topic_name).iter_errors(good))
    for bad in ({**good, "privacy": "secret"}, {k: v for k, v in good.items() if k != "body"},
                {**good, "submitted_at": "2026-03-02T09:15:00"}):
        assert list(validator(doc, Submission.topic_name).iter_errors(bad)), bad
    notice = Notification(event_id="e1", kind="accepted", channel=Channel.sms, text="Diterima",
                          at="2026-03-02T09:15:00+07:00")
    replies = "complaints.notifications.{channel}.v1"
    assert not list(validator(doc, replies).iter_errors(json.loads(notice.to_bytes())))
    tick = json.loads(Tick(as_of="2026-03-02T09:15:00+07:00").to_bytes())
    assert not list(validator(doc, TICKS).iter_errors(tick))
    agency = validator(doc, AgencyComplaint.topic_name)
    assert list(agency.iter_errors({**good, "complaint_id": "LPR-0000000000AA"}))  # no routing


def test_a_default_beside_a_reference_still_counts(doc: dict[str, Any]) -> None:
    privacy = doc["components"]["schemas"]["Submission"]["properties"]["privacy"]
    assert privacy == {"allOf": [{"$ref": "#/components/schemas/Privacy"}], "title": "Privacy",
                       "default": "public"}


def test_no_text_reads_as_an_html_tag(doc: dict[str, Any]) -> None:
    # Renderers (the HTML template, Studio) take `<agency_id>` outside a code span for a tag
    # and drop it: "agency..complaints.v1" is what a reader would see.
    def texts(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [*(v for k, v in node.items() if k in ("description", "summary")
                      and isinstance(v, str)), *(t for v in node.values() for t in texts(v))]
        if isinstance(node, list):
            return [t for v in node for t in texts(v)]
        return []

    found = texts(doc)
    assert any("{agency_id}" in t for t in found)
    for text in found:
        outside = "".join(text.split("`")[::2])
        assert not re.search(r"<\w[\w ]*>", outside), text
