"""complaint_id: deterministic from (channel, submission_id), short and readable on the phone.

``LPR-`` + 11 Crockford base32 characters (55 bits of HMAC-SHA256: about 1 chance in 18,000
of any collision among 2 million complaints) + 1 check character. The check character is a
weighted sum in the field GF(32), which catches every single mistyped character and every
swap of two adjacent characters (a plain Luhn mod 32 misses swaps like 0<->Z).

Why keyed: the id is also the reporter's tracking number, and lacak answers anyone who types
one. An unkeyed hash of (channel, submission id) lets whoever knows a channel's submission
ids (often sequential) compute every complaint's tracking number. Under the deployment's
secret key (LAPOR_COMPLAINT_ID_KEY_FILE, held by intake alone) the id is still deterministic
for intake, so a re-sent submission gets the same id, but to anyone else it is 55 random
bits: with lacak's request budgets, walking that space finds nothing. The key must never
change (a re-sent submission would get another id) and is backed up like the CA; the id's
length and check character are the same as before (SMS replies keep their size).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
PREFIX = "LPR-"
BODY_LEN = 11
# What people say or type for look-alike characters, read the Crockford way.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _gf32_mul(a: int, b: int) -> int:
    """Multiplication in GF(2^5) with the primitive polynomial x^5 + x^2 + 1."""
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a & 32:
            a ^= 0b100101
    return result


def _weighted_terms() -> tuple[dict[str, int], ...]:
    """For each position i of the body, char -> alpha^(i+1) * value(char), alpha = x = 2:
    the check character's sum becomes table lookups (it was a tenth of intake's time)."""
    terms, weight = [], 2
    for _ in range(BODY_LEN):
        terms.append({char: _gf32_mul(weight, value) for value, char in enumerate(ALPHABET)})
        weight = _gf32_mul(weight, 2)
    return tuple(terms)


_TERMS = _weighted_terms()


def _check_char(body: str) -> str:
    # sum of alpha^(i+1) * v_i: a substitution changes it by alpha^k * (a xor b) != 0, and an
    # adjacent swap by alpha^k * (1 + alpha) * (a xor b) != 0.
    total = 0
    for terms, char in zip(_TERMS, body):
        total ^= terms[char]
    return ALPHABET[total]


KEY_MIN = 32  # characters of the key file's first line (`new_key` writes 43: 32 random bytes)


class ComplaintIdKeyError(ValueError):
    """The tracking-id key is missing or too short: intake must not start without it."""


def new_key() -> str:
    """A fresh key for a new deployment's key file (32 random bytes, urlsafe base64)."""
    return secrets.token_urlsafe(32)


def load_key(path: Path | None) -> bytes:
    """The key in a key file (its first line), refused when missing or shorter than KEY_MIN."""
    if path is None:
        raise ComplaintIdKeyError("LAPOR_COMPLAINT_ID_KEY_FILE is not set: complaint ids are keyed with the "
                        "deployment's secret (write one with `lapor complaint-id-key FILE`, "
                        "once, and back it up like the CA)")
    try:
        text = next(iter(path.read_text().splitlines()), "").strip()
    except OSError as exc:
        raise ComplaintIdKeyError(f"cannot read the complaint id key file {path}: {exc.strerror}") from None
    if len(text) < KEY_MIN:
        raise ComplaintIdKeyError(f"the complaint id key in {path} has fewer than {KEY_MIN} characters")
    return text.encode()


def make_complaint_id(channel: str, submission_id: str, key: bytes) -> str:
    """The id of a submission under the deployment's key (`load_key`)."""
    if len(key) < KEY_MIN:
        raise ComplaintIdKeyError(f"a complaint id key has at least {KEY_MIN} characters")
    digest = hmac.new(key, f"{channel}\x1f{submission_id}".encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:8], "big") >> (64 - 5 * BODY_LEN)
    body = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(BODY_LEN)))
    return PREFIX + body + _check_char(body)


def normalise_complaint_id(text: str) -> str | None:
    """The canonical id for what a citizen typed or said (case, dashes, spaces, O/0, I/1), or
    None when the check character shows a mistake."""
    cleaned = text.strip().upper().replace(" ", "").replace("-", "")
    if cleaned.startswith("LPR"):
        cleaned = cleaned[3:]
    cleaned = cleaned.translate(_READ_AS)
    if len(cleaned) != BODY_LEN + 1 or any(c not in ALPHABET for c in cleaned):
        return None
    body, check = cleaned[:-1], cleaned[-1]
    return PREFIX + cleaned if _check_char(body) == check else None
