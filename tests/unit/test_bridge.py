"""The bridge's decisions without Kafka or HTTP: its configuration's checks, the signature
scheme (checked against an independent HMAC computation, as an agency would write it),
inbound refusals, the Open311 mapping, and the delivery policy."""

from __future__ import annotations

import hashlib
import itertools
import hmac
import json
from datetime import UTC, datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from schemas import AgencyComplaint, Category, Status
from schemas.bridge import Open311Request
from services.bridge.config import BridgeConfigError, Open311Agency, parse_config
from services.bridge.delivery import Verdict, backoff_s, verdict
from services.runtime.lane_runtime import REVOKE_WAIT_S
from services.web.rate_limit import TokenBucket
from services.bridge.inbound import Accepted, SeenSignatures, accept_status
from services.bridge.open311 import (
    Open311Error, apply_update, parse_filed, parse_requests, parse_token, parse_updates,
    service_request_form,
)
from services.bridge.signing import SIGNATURE, TIMESTAMP, signed_headers, verify
from tests.agency_peers import whsec
from tests.examples import CID, VALID

AGENCIES = {"pln", "pemda-32-73", "kemensos"}
SECRET = b"s3cret-of-pln"
NOW = 1_780_000_000
MESSAGES = itertools.count()


def secret_file(tmp_path: Path, name: str, text: str = SECRET.decode(), mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def config_text(tmp_path: Path, **pln: object) -> str:
    secret_file(tmp_path, "pln.secret")
    secret_file(tmp_path, "pemda.key", "key-pemda")
    agencies = {
        "pln": {"mode": "webhook", "endpoint": "https://crm.pln.example/in",
                "secret_file": "pln.secret", **pln},
        "pemda-32-73": {"mode": "open311", "endpoint": "http://127.0.0.1:9/georeport/v2",
                        "api_key_file": "pemda.key",
                        "service_codes": {"roads_infrastructure": "JALAN", "default": "UMUM"}},
    }
    return json.dumps({"agencies": agencies})


def test_a_valid_file_is_read_with_its_secrets(tmp_path: Path) -> None:
    config = parse_config(config_text(tmp_path), "bridge.yaml", AGENCIES, tmp_path)
    assert config.secrets == {"pln": SECRET, "pemda-32-73": b"key-pemda"}
    assert config.keys == {"pln": (SECRET,)}  # a secret not in whsec_ form is its own key
    pemda = config.agency("pemda-32-73")
    assert isinstance(pemda, Open311Agency)
    assert pemda.service_code(Category.roads_infrastructure) == "JALAN"
    assert pemda.service_code(Category.electricity) == "UMUM"


@pytest.mark.parametrize(("change", "message"), [
    ({"endpoint": "http://crm.pln.example/in"}, "agencies.pln.webhook.endpoint: Value error, must be https"),
    ({"rate_per_s": 0}, "agencies.pln.webhook.rate_per_s: Input should be greater than 0"),
    ({"retries": 3}, "agencies.pln.webhook.retries: Extra inputs are not permitted"),
    ({"secret_file": "missing.secret"}, "agencies.pln: cannot read secret file"),
    ({"mode": "ftp"}, "agencies.pln: Input tag 'ftp' found using 'mode' does not match"),
])
def test_every_mistake_is_named_with_its_agency_and_field(tmp_path: Path, change: dict[str, object],
                                                          message: str) -> None:
    with pytest.raises(BridgeConfigError) as caught:
        parse_config(config_text(tmp_path, **change), "bridge.yaml", AGENCIES, tmp_path)
    assert message in str(caught.value)
    assert str(caught.value).startswith("bridge.yaml: ")


def test_unknown_agencies_loose_secrets_and_missing_service_codes_are_refused(tmp_path: Path) -> None:
    text = config_text(tmp_path)
    with pytest.raises(BridgeConfigError, match="agencies.pln: not a registered agency"):
        parse_config(text, "b", AGENCIES - {"pln"}, tmp_path)
    secret_file(tmp_path, "pln.secret", mode=0o644)
    with pytest.raises(BridgeConfigError, match="readable by others"):
        parse_config(text, "b", AGENCIES, tmp_path)
    data = json.loads(config_text(tmp_path))
    data["agencies"]["pemda-32-73"]["service_codes"] = {"roads_infrastructure": "JALAN"}
    with pytest.raises(BridgeConfigError, match=r"no service_code for \['civil_service'"):
        parse_config(json.dumps(data), "b", AGENCIES, tmp_path)
    data["agencies"]["pemda-32-73"]["status_map"] = {"FIXED": "assigned"}
    with pytest.raises(BridgeConfigError, match="status an agency may not send"):
        parse_config(json.dumps(data), "b", AGENCIES, tmp_path)
    # A GeoReport state names no unit: a disposed would hand the complaint back at every poll.
    data["agencies"]["pemda-32-73"]["status_map"] = {"REFERRED": "disposed"}
    with pytest.raises(BridgeConfigError, match="status an agency may not send from Open311"):
        parse_config(json.dumps(data), "b", AGENCIES, tmp_path)
    with pytest.raises(BridgeConfigError, match="not valid YAML"):
        parse_config("agencies: [", "b", AGENCIES, tmp_path)


def test_the_signature_is_what_an_agency_computes_with_the_documented_recipe() -> None:
    body = b'{"complaint_id":"LPR-7K2QX9M4TD5W"}'
    headers = signed_headers((SECRET,), SECRET, NOW, body, "ag-1")
    expected = hmac.new(SECRET, f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE] == f"sha256={expected}"
    assert headers[TIMESTAMP] == str(NOW)
    assert headers["X-Lapor-Event-Id"] == headers["Idempotency-Key"] == "ag-1"
    assert verify(SECRET, str(NOW), headers[SIGNATURE], body, NOW + 299, 300) is None


@pytest.mark.parametrize(("timestamp", "tamper", "now", "reason"), [
    (str(NOW), b"x", NOW, "bad_signature"),  # body changed
    (str(NOW + 1), b"", NOW, "bad_signature"),  # timestamp changed
    (str(NOW), b"", NOW + 301, "stale_timestamp"),
    (str(NOW), b"", NOW - 301, "stale_timestamp"),
    ("soon", b"", NOW, "malformed_timestamp"),
    ("", b"", NOW, "missing_signature"),
])
def test_tampered_late_or_unsigned_calls_fail(timestamp: str, tamper: bytes, now: int, reason: str) -> None:
    body = b'{"a":1}'
    given = signed_headers((SECRET,), SECRET, NOW, body, "e")[SIGNATURE]
    refused = verify(SECRET, timestamp, given, body + tamper, now, 300)
    assert refused is not None and refused.reason == reason


@pytest.mark.parametrize("given", ["sha256=\u00e9\u00e9", "sha256=\udcff", "\u2603"])
def test_a_signature_that_is_not_ascii_is_a_bad_signature(given: str) -> None:
    refused = verify(SECRET, str(NOW), given, b"{}", NOW, 300)
    assert refused is not None and (refused.status, refused.reason) == (401, "bad_signature")


def status_call(body: Mapping[str, object], secret: bytes = SECRET, at: int = NOW) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    # Each call its own message id, as an agency's sender makes one per message.
    return signed_headers((secret,), secret, at, raw, f"msg-{next(MESSAGES)}"), raw


def test_inbound_statuses_pass_only_signed_fresh_once_and_for_their_agency(tmp_path: Path) -> None:
    config = parse_config(config_text(tmp_path), "b", AGENCIES, tmp_path)
    seen = SeenSignatures(300)
    ack = {"event_id": "pln-ack-1", "complaint_id": CID, "status": "acknowledged",
           "at": "2026-03-02T10:00:00+07:00"}

    def reason(agency: str, headers: dict[str, str], raw: bytes, now: int = NOW) -> str:
        result = accept_status(config, agency, headers, raw, now, seen)
        return "accepted" if isinstance(result, Accepted) else f"{result.status} {result.reason}"

    assert reason("pln", *status_call(ack, secret=b"guess")) == "401 bad_signature"
    assert reason("pln", *status_call(ack, at=NOW - 3600)) == "400 stale_timestamp"
    assert reason("kemensos", *status_call(ack)) == "401 unknown_agency"  # not a webhook agency
    assert reason("pemda-32-73", *status_call(ack)) == "401 unknown_agency"  # open311: no inbound
    assert reason("pln", *status_call({**ack, "agency_id": "kemensos"})) == "400 agency_mismatch"
    assert reason("pln", *status_call({**ack, "status": "assigned"})) == "400 status_not_allowed"
    assert reason("pln", *status_call({**ack, "status": "done"})).startswith("400 invalid_body: status:")
    headers, raw = status_call(ack)
    result = accept_status(config, "pln", headers, raw, NOW, seen)
    assert isinstance(result, Accepted) and result.status.agency_id == "pln"
    assert reason("pln", headers, raw) == "400 replayed"  # the same call again, in the window
    # ... and at the window's far edge, where its timestamp still passes: still a replay.
    assert reason("pln", headers, raw, now=NOW + 300) == "400 replayed"
    # The deprecated headers alone (X-Lapor) still pass for one version, once.
    legacy, raw = status_call({**ack, "event_id": "pln-ack-2"})
    legacy = {k: v for k, v in legacy.items() if not k.startswith("webhook-")}
    assert reason("pln", legacy, raw) == "accepted"
    assert reason("pln", legacy, raw) == "400 replayed"


def test_a_status_call_naming_a_unit_wrongly_is_refused_at_the_door(tmp_path: Path) -> None:
    """The gate would dead-letter these after the bridge answered 202: the agency must hear
    the refusal (the judge names units; a unit only on a disposition inside the agency; the
    rule is the disposition stage's, the channel the reporter's)."""
    config = parse_config(config_text(tmp_path), "b", AGENCIES, tmp_path)
    seen = SeenSignatures(300)
    disposed = {"event_id": "pln-disp-1", "complaint_id": CID, "status": "disposed",
                "at": "2026-03-02T10:00:00+07:00", "unit_id": "uid-jabar"}

    def reason(body: Mapping[str, object]) -> str:
        result = accept_status(config, "pln", *status_call(body), NOW, seen)
        return "accepted" if isinstance(result, Accepted) else f"{result.status} {result.reason}"

    assert reason({**disposed, "unit_name": "Kantor Pusat"}) == "400 unit_name_is_the_judges"
    assert reason({**disposed, "status": "acknowledged"}) == "400 unit_only_on_disposed"
    assert reason({**disposed, "target_agency_id": "kemensos"}) == "400 disposed_names_no_agency"
    # The disposition stage's mark and the reporter's side: never an agency's to send.
    assert reason({**disposed, "rule_id": "jalan-air"}) == "400 rule_id_is_the_stages"
    assert reason({**disposed, "channel": "sms"}) == "400 reporter_status_from_an_agency"
    assert reason(disposed) == "accepted"  # to one of its units: the judge decides which exist
    assert reason({**disposed, "event_id": "pln-disp-2", "unit_id": None}) == "accepted"  # to its admin


def complaint(**change: object) -> AgencyComplaint:
    return AgencyComplaint.model_validate({**VALID[AgencyComplaint], **change})


def pemda(tmp_path: Path) -> Open311Agency:
    agency = parse_config(config_text(tmp_path), "b", AGENCIES, tmp_path).agency("pemda-32-73")
    assert isinstance(agency, Open311Agency)
    return agency


def test_a_service_request_carries_identity_only_where_privacy_allows(tmp_path: Path) -> None:
    reporter = {"name": "Siti Aminah", "phone": "+6281234567890", "email": "siti@example.id"}
    place = {"region_code": "32.73", "lat": -6.9, "lon": 107.6, "address": "Jl. Asia Afrika"}
    public = dict(service_request_form(complaint(reporter=reporter, location=place,
                                                 category="roads_infrastructure", title="Jalan"),
                                       pemda(tmp_path), "key"))
    assert public["service_code"] == "JALAN" and public["api_key"] == "key"
    assert public["description"].startswith(f"[LAPOR! {CID}] Jalan\n\n")
    assert (public["lat"], public["long"], public["address_string"]) == ("-6.9", "107.6", "Jl. Asia Afrika")
    assert (public["email"], public["phone"], public["first_name"], public["last_name"]) == (
        "siti@example.id", "+6281234567890", "Siti", "Aminah")
    # An anonymous complaint's form has no identity field even if a reporter slipped through.
    anonymous = service_request_form(complaint(reporter=reporter, privacy="anonymous"),
                                     pemda(tmp_path), "key")
    names = {name for name, _ in anonymous}
    assert names == {"api_key", "service_code", "description"}
    assert "Siti" not in json.dumps(anonymous) and "6281234567890" not in json.dumps(anonymous)


def test_answers_of_a_georeport_server_are_read_or_refused() -> None:
    assert parse_filed([{"service_request_id": 638344}]).service_request_id == "638344"
    assert parse_filed([{"token": "12345"}]).token == "12345"
    assert parse_token([{"service_request_id": "638349", "token": "12345"}]) == "638349"
    assert parse_token([{"token": "12345"}]) is None
    bad: Any
    for bad in ({"errors": []}, [], [{"service_notice": "thanks"}]):
        with pytest.raises(Open311Error):
            parse_filed(bad)
    states = parse_requests([{"service_request_id": "7", "status": "closed",
                              "status_notes": "Diperbaiki", "updated_datetime": "2026-03-03T10:00:00+07:00"}])
    assert [(u.service_request_id, u.status, u.notes) for u in states] == [("7", "closed", "Diperbaiki")]
    updates = parse_updates({"service_request_updates": [
        {"update_id": "u2", "service_request_id": "7", "status": "FIXED", "updated_datetime": "2026-03-04T00:00:00Z"},
        {"update_id": "u1", "service_request_id": "7", "status": "IN_PROGRESS", "updated_datetime": "2026-03-03T00:00:00Z"},
    ]})
    assert [u.key for u in updates] == ["u1", "u2"]  # in time order
    with pytest.raises(Open311Error):
        parse_updates({"updates": []})


def test_updates_become_statuses_once_with_stable_ids(tmp_path: Path) -> None:
    agency = pemda(tmp_path)
    state = Open311Request(agency_id="pemda-32-73", complaint_id=CID, service_request_id="7",
                           filed_at=datetime(2026, 3, 2, tzinfo=UTC))
    now = datetime(2026, 3, 5, tzinfo=UTC)
    progress, fixed, refused = parse_updates({"service_request_updates": [
        {"update_id": "u1", "service_request_id": "7", "status": "IN_PROGRESS", "updated_datetime": "2026-03-03T00:00:00Z"},
        {"update_id": "u2", "service_request_id": "7", "status": "FIXED", "updated_datetime": "2026-03-04T00:00:00Z",
         "description": "Sudah ditambal"},
        {"update_id": "u3", "service_request_id": "7", "status": "NOT_COUNCILS_RESPONSIBILITY",
         "updated_datetime": "2026-03-04T01:00:00Z"},
    ]})
    first = apply_update(agency, state, progress, now)
    assert first is not None and first.status is not None
    assert (first.status.status, first.status.agency_id, first.status.at) == (
        Status.in_progress, "pemda-32-73", datetime(2026, 3, 3, tzinfo=UTC))
    assert apply_update(agency, first.state, progress, now) is None  # seen again: nothing
    again = apply_update(agency, state, progress, now)  # the same update after a restart
    assert again is not None and again.status is not None
    assert again.status.event_id == first.status.event_id
    done = apply_update(agency, first.state, fixed, now)
    assert done is not None and done.status is not None
    assert (done.status.status, done.status.note) == (Status.resolved, "Sudah ditambal")
    assert apply_update(agency, done.state, progress, now) is None  # an older update polled again
    other = apply_update(agency, first.state, refused, now)
    assert other is not None and other.status is not None and other.status.status is Status.not_our_authority
    opened = parse_requests([{"service_request_id": "7", "status": "open", "updated_datetime": "x"}])[0]
    seen_open = apply_update(agency, state, opened, now)
    assert seen_open is not None and seen_open.status is None and seen_open.state.last_status == "open"


@pytest.mark.parametrize(("status", "expected"), [
    (200, Verdict.delivered), (202, Verdict.delivered), (204, Verdict.delivered),
    (None, Verdict.retry), (500, Verdict.retry), (503, Verdict.retry), (429, Verdict.retry),
    (408, Verdict.retry), (400, Verdict.refused), (401, Verdict.refused), (404, Verdict.refused),
    (422, Verdict.refused), (301, Verdict.refused), (410, Verdict.gone),
])
def test_what_an_answer_means(status: int | None, expected: Verdict) -> None:
    assert verdict(status) is expected


def test_backoff_grows_to_its_cap_with_full_jitter() -> None:
    assert [backoff_s(n, 1.0, 60.0, draw=1.0) for n in (1, 2, 3, 6, 7, 20)] == [1, 2, 4, 32, 60, 60]
    assert backoff_s(5, 1.0, 60.0, draw=0.25) == 4.0
    draws = {round(backoff_s(4, 1.0, 60.0), 3) for _ in range(50)}
    assert len(draws) > 10 and all(0 <= d <= 8 for d in draws)


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=3)
    assert [bucket.wait(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.wait(100.0) == pytest.approx(0.5)
    assert bucket.wait(100.5) == 0.0
    assert bucket.wait(100.5) == pytest.approx(0.5)
    assert bucket.wait(110.0) == 0.0  # refilled, never above the burst
    assert [bucket.wait(110.0) for _ in range(2)] == [0.0, 0.0]
    assert bucket.wait(110.0) > 0


def test_an_answer_is_waited_for_25_seconds_at_most(tmp_path: Path) -> None:
    """A try (lookup and POST) must end within the time a rebalance waits for it."""
    (tmp_path / "pln.secret").write_text(whsec("pln") + "\n")
    (tmp_path / "pln.secret").chmod(0o600)
    text = json.dumps({"agencies": {"pln": {"mode": "webhook", "endpoint": "https://crm.pln.example/in",
                                            "secret_file": "pln.secret", "timeout_s": 26}}})
    with pytest.raises(BridgeConfigError, match="timeout_s"):
        parse_config(text, "bridge.yaml", {"pln"}, tmp_path)
    assert 2 * 25 < REVOKE_WAIT_S
