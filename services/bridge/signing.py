"""The signature of every webhook call, out and in: Standard Webhooks
(https://www.standardwebhooks.com), so an agency verifies with its language's maintained
library, and the earlier X-Lapor scheme beside it for one version (deprecated).

Standard Webhooks: `webhook-id` (the event id: the same on every retry, the idempotency key),
`webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated list of
`v1,<base64 HMAC-SHA256>` over `<id>.<timestamp>.<body>`, one per active secret. A secret is
`whsec_<base64 of the key>`; an agency may have two active secrets while it rotates: calls out
are signed with both, a call in passes with either. A receiver refuses a timestamp too far
from its clock: a captured call cannot be replayed later, nor its body changed.

Deprecated: `X-Lapor-Timestamp` and `X-Lapor-Signature: sha256=<hex>`, the HMAC keyed with
the secret file's first line as written, over `<timestamp>.<body>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TIMESTAMP = "X-Lapor-Timestamp"
SIGNATURE = "X-Lapor-Signature"
EVENT_ID = "X-Lapor-Event-Id"
EVENT = "X-Lapor-Event"  # `complaint` for a delivery, `ping` for `lapor bridge check`
SCHEME = "sha256="
WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # a shorter key could be guessed by an unauthenticated caller


def webhook_key(line: str) -> bytes:
    """The HMAC key of a secret file's line: `whsec_<base64>` decoded (ValueError if it is
    not base64 or empty); any other line, as written (the deprecated form)."""
    if not line.startswith(SECRET_PREFIX):
        return line.encode("utf-8")
    try:
        key = base64.b64decode(line[len(SECRET_PREFIX):], validate=True)
    except binascii.Error:
        raise ValueError("a whsec_ secret must be base64 after its prefix") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a whsec_ secret's key must be at least {MIN_KEY_BYTES} bytes "
                         "(Standard Webhooks: 24 to 64)")
    return key


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signed_headers(keys: Sequence[bytes], legacy_secret: bytes, timestamp: int, body: bytes,
                   event_id: str, event: str = "complaint") -> dict[str, str]:
    """A call's headers, signed with every active key (Standard Webhooks) and, deprecated,
    with the secret file's first line as written (X-Lapor)."""
    return {
        "Content-Type": "application/json",
        WEBHOOK_ID: event_id,
        WEBHOOK_TIMESTAMP: str(timestamp),
        WEBHOOK_SIGNATURE: " ".join(standard_signature(k, event_id, timestamp, body) for k in keys),
        TIMESTAMP: str(timestamp),
        SIGNATURE: signature(legacy_secret, timestamp, body),
        EVENT_ID: event_id,
        "Idempotency-Key": event_id,
        EVENT: event,
    }


@dataclass(frozen=True)
class Unverified:
    status: int  # the HTTP answer: 401 for who, 400 for what
    reason: str


def verify(secret: bytes, timestamp: str | None, given: str | None, body: bytes,
           now: float, window_s: float) -> Unverified | None:
    """None when the call is signed with `secret` within the window, else why not."""
    if not timestamp or not given:
        return Unverified(401, "missing_signature")
    try:
        sent = int(timestamp)
    except ValueError:
        return Unverified(400, "malformed_timestamp")
    # The signature first: an unsigned caller learns nothing about the clock window.
    # As bytes: compare_digest refuses a str that is not ASCII (a TypeError, answered 500).
    if not hmac.compare_digest(signature(secret, sent, body).encode(),
                               given.encode("utf-8", "surrogateescape")):
        return Unverified(401, "bad_signature")
    if abs(now - sent) > window_s:
        return Unverified(400, "stale_timestamp")
    return None


def verify_standard(keys: Sequence[bytes], headers: Mapping[str, str], body: bytes,
                    now: float, window_s: float) -> Unverified | None:
    """None when the call carries a Standard Webhooks signature by one of `keys` within the
    window, else why not. Malformed entries are skipped, never an error."""
    msg_id, timestamp = headers.get(WEBHOOK_ID), headers.get(WEBHOOK_TIMESTAMP)
    given = headers.get(WEBHOOK_SIGNATURE)
    if not msg_id or not timestamp or not given:
        return Unverified(401, "missing_signature")
    # Unix seconds have 10 digits for centuries yet; a longer number is refused before int().
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return Unverified(400, "malformed_timestamp")
    if not msg_id.isascii() or len(msg_id) > 256:
        return Unverified(400, "malformed_id")
    sent = int(timestamp)
    expected = [base64.b64decode(standard_signature(k, msg_id, sent, body)[3:]) for k in keys]
    signed = False
    for entry in given.split(" "):  # the header's size bounds them (aiohttp: 8 KiB a line)
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            mac = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if any(hmac.compare_digest(mac, e) for e in expected):
            signed = True
            break
    if not signed:  # the signature first: an unsigned caller learns nothing about the clock
        return Unverified(401, "bad_signature")
    if abs(now - sent) > window_s:
        return Unverified(400, "stale_timestamp")
    return None
