"""Standard Webhooks (#33) against the PyPI `standardwebhooks` library, written by others: every
call the bridge signs verifies with it under each active secret (two while rotating), a
status the library signs passes the bridge's inbound check, and the secret file's forms and
limits. The library checks timestamps against the wall clock, so these calls are made now."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.bridge.config import BridgeConfig, BridgeConfigError, parse_config
from services.bridge.inbound import Accepted, SeenSignatures, accept_status
from services.bridge.signing import (
    WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, signed_headers, verify_standard, webhook_key,
)
from tests.examples import CID

NEW = "whsec_" + base64.b64encode(b"the-new-key-of-pln-0123456789").decode()
OLD = "whsec_" + base64.b64encode(b"the-old-key-of-pln-9876543210").decode()
RETIRED = "whsec_" + base64.b64encode(b"a-retired-key-of-pln-000000").decode()


def config(tmp_path: Path, *lines: str) -> BridgeConfig:
    path = tmp_path / "pln.secret"
    path.write_text("".join(f"{line}\n" for line in lines))
    path.chmod(0o600)
    text = json.dumps({"agencies": {"pln": {"mode": "webhook", "endpoint": "https://crm.pln.example/in",
                                            "secret_file": "pln.secret"}}})
    return parse_config(text, "bridge.yaml", {"pln"}, tmp_path)


def test_a_call_verifies_with_the_library_under_each_active_secret(tmp_path: Path) -> None:
    rotating = config(tmp_path, NEW, OLD)
    assert rotating.keys["pln"] == (webhook_key(NEW), webhook_key(OLD))
    body = json.dumps({"event_id": "ag-1", "complaint_id": CID}).encode()
    headers = signed_headers(rotating.keys["pln"], rotating.secrets["pln"], int(time.time()), body, "ag-1")
    assert headers[WEBHOOK_ID] == headers["Idempotency-Key"] == "ag-1"
    assert len(headers[WEBHOOK_SIGNATURE].split(" ")) == 2  # one per active secret
    for secret in (NEW, OLD):  # an agency that has the new one, and one not yet switched
        assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(RETIRED).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(body + b" ", headers)
    once = config(tmp_path, NEW)  # after the rotation: the old secret no longer verifies
    headers = signed_headers(once.keys["pln"], once.secrets["pln"], int(time.time()), body, "ag-1")
    Webhook(NEW).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(body, headers)


def library_signed(secret: str, body: bytes, msg_id: str, at: int) -> dict[str, str]:
    return {WEBHOOK_ID: msg_id, WEBHOOK_TIMESTAMP: str(at),
            WEBHOOK_SIGNATURE: Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, UTC), body.decode())}


def test_statuses_the_library_signs_pass_with_either_active_secret_within_the_window(tmp_path: Path) -> None:
    rotating = config(tmp_path, NEW, OLD)
    window = rotating.file.replay_window_s
    now = time.time()
    seen = SeenSignatures(window)

    def answer(secret: str, msg_id: str, at: float, body: dict[str, object] | None = None) -> str:
        raw = json.dumps(body or {"event_id": f"ev-{msg_id}", "complaint_id": CID, "status": "acknowledged",
                                  "at": "2026-03-02T10:00:00+07:00"}).encode()
        result = accept_status(rotating, "pln", library_signed(secret, raw, msg_id, int(at)), raw, now, seen)
        return "accepted" if isinstance(result, Accepted) else f"{result.status} {result.reason}"

    assert answer(NEW, "m1", now) == "accepted"
    assert answer(OLD, "m2", now) == "accepted"  # the agency has not switched yet
    assert answer(RETIRED, "m3", now) == "401 bad_signature"
    assert answer(NEW, "m4", now - window + 1) == "accepted"  # just inside the window
    assert answer(NEW, "m5", now - window - 1) == "400 stale_timestamp"
    assert answer(NEW, "m6", now + window + 1) == "400 stale_timestamp"
    # The same message id again, re-signed 2 s later: a replay, whatever its body.
    assert answer(NEW, "m1", now + 2) == "400 replayed"
    assert answer(NEW, "m1", now - 2, {"event_id": "other", "complaint_id": CID, "status": "in_progress",
                                       "at": "2026-03-02T11:00:00+07:00"}) == "400 replayed"


@pytest.mark.parametrize("signature", [
    "v1,not base64!", "v1", "", "v2," + base64.b64encode(b"x" * 32).decode(), "v1,\u00e9\u00e9",
    " ".join(["v1,AAAA"] * 50), "v1,=",
])
def test_a_malformed_signature_header_is_a_bad_signature_never_an_error(signature: str) -> None:
    key = webhook_key(NEW)
    headers = {WEBHOOK_ID: "m", WEBHOOK_TIMESTAMP: str(int(time.time())), WEBHOOK_SIGNATURE: signature}
    refused = verify_standard((key,), headers, b"{}", time.time(), 300)
    assert refused is not None and refused.status == 401


@pytest.mark.parametrize(("msg_id", "timestamp", "reason"), [
    ("m", "", "missing_signature"), ("m", "soon", "malformed_timestamp"),
    ("m", "\u0661\u0662", "malformed_timestamp"), ("m", "-5", "malformed_timestamp"),
    ("m", "9" * 5000, "malformed_timestamp"),  # past int()'s 4,300 digits: was a 500
    ("m\udcff", "1780000000", "malformed_id"), ("m\u00e9", "1780000000", "malformed_id"),
    ("m" * 257, "1780000000", "malformed_id"),
])
def test_a_missing_or_malformed_timestamp_or_id_is_named(msg_id: str, timestamp: str, reason: str) -> None:
    headers = {WEBHOOK_ID: msg_id, WEBHOOK_TIMESTAMP: timestamp, WEBHOOK_SIGNATURE: "v1,AAAA"}
    refused = verify_standard((webhook_key(NEW),), headers, b"{}", time.time(), 300)
    assert refused is not None and refused.reason == reason


def test_a_secret_file_holds_one_or_two_secrets_each_whsec_base64(tmp_path: Path) -> None:
    with pytest.raises(BridgeConfigError, match="holds 3 secrets"):
        config(tmp_path, NEW, OLD, RETIRED)
    with pytest.raises(BridgeConfigError, match="must be base64"):
        config(tmp_path, "whsec_not*base64")
    with pytest.raises(BridgeConfigError, match="at least 24 bytes"):
        config(tmp_path, "whsec_")
    with pytest.raises(BridgeConfigError, match="at least 24 bytes"):  # guessable in 256 tries
        config(tmp_path, "whsec_AA==")
    assert config(tmp_path, NEW, "", OLD).keys["pln"] == (webhook_key(NEW), webhook_key(OLD))


def test_only_v1_signatures_count_and_the_standard_headers_decide_when_present(tmp_path: Path) -> None:
    pln = config(tmp_path, NEW)
    now = time.time()
    raw = json.dumps({"event_id": "ev-1", "complaint_id": CID, "status": "acknowledged",
                      "at": "2026-03-02T10:00:00+07:00"}).encode()
    good = library_signed(NEW, raw, "m1", int(now))
    relabelled = {**good, WEBHOOK_SIGNATURE: "v2," + good[WEBHOOK_SIGNATURE].split(",", 1)[1]}
    refused = verify_standard(pln.keys["pln"], relabelled, raw, now, 300)
    assert refused is not None and refused.reason == "bad_signature"
    # Both schemes signed, the standard signature tampered with: the deprecated one, still
    # valid, does not let the call through.
    both = signed_headers(pln.keys["pln"], pln.secrets["pln"], int(now), raw, "m2")
    both[WEBHOOK_SIGNATURE] = Webhook(RETIRED).sign("m2", datetime.fromtimestamp(int(now), UTC), raw.decode())
    result = accept_status(pln, "pln", both, raw, now, SeenSignatures(300))
    assert not isinstance(result, Accepted) and result.reason == "bad_signature"


def test_a_refused_call_sent_again_is_refused_for_its_own_reason_not_as_a_replay(tmp_path: Path) -> None:
    # Its first answer lost, the agency retries: "replayed" would say the status went in.
    pln = config(tmp_path, NEW)
    now, seen = time.time(), SeenSignatures(300)
    no_time = json.dumps({"event_id": "ev-1", "complaint_id": CID, "status": "acknowledged"}).encode()
    for retry in range(2):
        result = accept_status(pln, "pln", library_signed(NEW, no_time, "m1", int(now)), no_time,
                               now + retry, seen)
        assert not isinstance(result, Accepted) and result.reason.startswith("invalid_body: at"), result
    fixed = json.dumps({"event_id": "ev-1", "complaint_id": CID, "status": "acknowledged",
                        "at": "2026-03-02T10:00:00+07:00"}).encode()
    assert isinstance(accept_status(pln, "pln", library_signed(NEW, fixed, "m1", int(now)), fixed, now + 2, seen),
                      Accepted)
    again = accept_status(pln, "pln", library_signed(NEW, fixed, "m1", int(now)), fixed, now + 3, seen)
    assert not isinstance(again, Accepted) and again.reason == "replayed"


def test_a_call_signed_both_ways_is_not_accepted_again_without_its_standard_headers(tmp_path: Path) -> None:
    pln = config(tmp_path, NEW)
    now = time.time()
    raw = json.dumps({"event_id": "ev-1", "complaint_id": CID, "status": "acknowledged",
                      "at": "2026-03-02T10:00:00+07:00"}).encode()
    both = signed_headers(pln.keys["pln"], pln.secrets["pln"], int(now), raw, "m1")
    seen = SeenSignatures(300)
    assert isinstance(accept_status(pln, "pln", both, raw, now, seen), Accepted)
    stripped = {k: v for k, v in both.items() if not k.startswith("webhook-")}
    again = accept_status(pln, "pln", stripped, raw, now + 1, seen)
    assert not isinstance(again, Accepted) and again.reason == "replayed"
