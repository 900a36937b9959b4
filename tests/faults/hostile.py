"""Hostile records for every input topic (hypothesis), and the check of what came out.

Records: raw bytes, deeply nested JSON, huge strings, wrong types, unknown fields, invalid
times and ids, and well-formed events in the wrong order (statuses for complaints never
seen, ticks far in the past or future, repeats). Every output must be valid against its
topic's JSON Schema or be a dead letter with a reason."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from schemas import WireModel
from schemas.events import (
    AcceptedComplaint, AgencyComplaint, ComplianceStats, Escalation, Notification, RejectedEvent,
    RoutedEvent, SmsMessage, StatusEvent, Submission, Tick,
)
from schemas.export import render_schemas
from services.runtime.topics import (
    ACCEPTED, CLOSURES, COMPLIANCE, ESCALATIONS, NOTIFICATION_TOPICS, REJECTED, ROUTED, SMS, STATUS,
    SUBMITTED, TICKS, TRIAGE, agency_of_topic,
)
from tests.examples import VALID

INPUT_MODELS: dict[str, type[WireModel]] = {
    SUBMITTED: Submission, SMS: SmsMessage, ACCEPTED: AcceptedComplaint, ROUTED: RoutedEvent,
    STATUS: StatusEvent, TICKS: Tick, ESCALATIONS: Escalation, REJECTED: RejectedEvent,
    COMPLIANCE: ComplianceStats}
OUTPUT_MODELS: dict[str, type[WireModel]] = {
    ACCEPTED: AcceptedComplaint, ROUTED: RoutedEvent, STATUS: StatusEvent, ESCALATIONS: Escalation,
    REJECTED: RejectedEvent, COMPLIANCE: ComplianceStats, CLOSURES: StatusEvent,
    TRIAGE: AcceptedComplaint, **{t: Notification for t in NOTIFICATION_TOPICS}}

CIDS = ["LPR-7K2QX9M4TD5W", "LPR-0000000000000", "lpr-7k2qx9m4td5w", "LPR-", "", "x" * 300]
TIMES = ["2026-03-02T09:15:00+07:00", "2026-03-02T09:15:00", "2026-02-30T00:00:00Z", "yesterday",
         "1970-01-01T00:00:00Z", "2026-03-03T00:00:00+07:00", "2027-01-01T00:00:00+07:00",
         "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", 1772417700, None]
AGENCIES = ["pln", "kpk", "bpjs-kesehatan", "PLN", "nobody-here", "", None]
STATUSES = ["acknowledged", "responded", "closed", "not_our_authority", "assigned", "info_requested",
            "info_received", "reporter_replied", "archived", "done", 7]


def deep(depth: int) -> bytes:
    """JSON nested `depth` deep (written as text: too deep for json.dumps itself)."""
    return b"[" * depth + b'{"a": ' * 3 + b'"x"' + b"}" * 3 + b"]" * depth


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=40), st.sampled_from(TIMES), st.sampled_from(CIDS))
junk_json = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=20)


def mutated(model: type[WireModel]) -> st.SearchStrategy[dict[str, Any]]:
    """The valid example with fields replaced, dropped or added (wrong types, bad times/ids)."""
    base = VALID[model]
    fields = sorted(base)
    field_values: dict[str, st.SearchStrategy[Any]] = {
        "complaint_id": st.sampled_from(CIDS), "status": st.sampled_from(STATUSES),
        "agency_id": st.sampled_from(AGENCIES), "target_agency_id": st.sampled_from(AGENCIES)}

    def value_for(name: str) -> st.SearchStrategy[Any]:
        if name.endswith("_at") or name in ("as_of", "day"):
            return st.sampled_from(TIMES)
        return field_values.get(name, junk_json)

    changes = st.dictionaries(st.sampled_from(fields + ["unknown_field", "schema_version"]),
                              st.just(None), max_size=4).flatmap(
        lambda keys: st.fixed_dictionaries({k: value_for(k) for k in keys}))
    drops = st.sets(st.sampled_from(fields), max_size=2)
    return st.tuples(changes, drops).map(
        lambda cd: {k: v for k, v in {**base, **cd[0]}.items() if k not in cd[1]})


def record(topic: str) -> st.SearchStrategy[bytes]:
    model = INPUT_MODELS[topic]
    return st.one_of(
        st.binary(max_size=200),
        st.integers(1, 5000).map(deep),
        st.integers(10_000, 300_000).map(lambda n: json.dumps({**VALID[model], "body": "a" * n,
                                                                "text": "b" * n}).encode()),
        junk_json.map(lambda v: json.dumps(v).encode()),
        mutated(model).map(lambda v: json.dumps(v, default=str).encode()),
        mutated(model).map(lambda v: json.dumps(v, default=str).encode()),
        st.just(json.dumps(VALID[model]).encode()),  # a well-formed one, repeated: order and repeats
    )


def hostile_records(topic: str, n: int, rng_seed: int = 0) -> list[bytes]:
    """n records for `topic` (hypothesis drives the generation; nothing is shrunk)."""
    out: list[bytes] = []

    @seed(rng_seed)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(record(topic))
    def collect(value: bytes) -> None:
        out.append(value)

    collect()
    return out


@lru_cache(maxsize=None)
def validator(model: type[WireModel]) -> Draft202012Validator:
    name = f"{model.schema_name}.v1.schema.json"
    return Draft202012Validator(json.loads(render_schemas()[name]))


def schema_errors(topic: str, value: bytes) -> list[str]:
    """Why an output record breaks its topic's JSON Schema (empty: it is valid)."""
    model = AgencyComplaint if agency_of_topic(topic) else OUTPUT_MODELS.get(topic)
    if model is None:
        return [f"unexpected output topic {topic}"]
    try:
        data = json.loads(value)
    except (ValueError, RecursionError) as exc:
        return [f"not JSON: {exc}"]
    errors = [e.message for e in validator(model).iter_errors(data)]
    if model is RejectedEvent and not errors and not data.get("reason"):
        errors.append("a dead letter without a reason")
    return errors
