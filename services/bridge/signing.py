"""The signature of every webhook call, out and in (the GitHub/Stripe scheme).

A call carries `X-Lapor-Timestamp` (Unix seconds) and `X-Lapor-Signature: sha256=<hex>`,
the HMAC-SHA256, keyed with the agency's secret, of the ASCII timestamp, a `.`, and the body
bytes exactly as sent. A receiver recomputes it, compares in constant time, and refuses a
timestamp too far from its clock: a captured call cannot be replayed later, nor its body
changed. `X-Lapor-Event-Id` is the idempotency key (the event id: the same on every retry).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

TIMESTAMP = "X-Lapor-Timestamp"
SIGNATURE = "X-Lapor-Signature"
EVENT_ID = "X-Lapor-Event-Id"
EVENT = "X-Lapor-Event"  # `complaint` for a delivery, `ping` for `lapor bridge check`
SCHEME = "sha256="


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signed_headers(secret: bytes, timestamp: int, body: bytes, event_id: str,
                   event: str = "complaint") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP: str(timestamp),
        SIGNATURE: signature(secret, timestamp, body),
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
