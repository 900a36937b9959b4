"""Tracking ids that cannot be enumerated: a complaint id is an HMAC of (channel, submission id)
under the deployment's key (services/domain/complaint_id.py), in the same format as before
(LPR-, 11 Crockford characters, the check character). Another key gives other ids; without
the key they cannot be computed from the channel and the submission id; intake does not
start without a key, and `lapor complaint-id-key` writes one once and never replaces it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.domain.complaint_id import (
    ALPHABET, BODY_LEN, KEY_MIN, PREFIX, ComplaintIdKeyError, _check_char, load_key, make_complaint_id,
    new_key, normalise_complaint_id,
)
from services.intake.compose import build as build_intake
from services.runtime.settings import Settings
from tests.ids import TEST_KEY

SUBMISSIONS = [("web", str(n)) for n in range(1, 201)] + [("sms", f"m-{n}") for n in range(1, 51)]
OTHER_KEY = b"another-deployment-key-of-at-least-32-chars"


def unkeyed(channel: str, submission_id: str) -> str:
    """The id as it was computed before it was keyed (anyone could compute it)."""
    digest = hashlib.sha256(f"{channel}\x1f{submission_id}".encode()).digest()
    value = int.from_bytes(digest[:8], "big") >> (64 - 5 * BODY_LEN)
    body = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(BODY_LEN)))
    return PREFIX + body + _check_char(body)


def test_the_id_keeps_its_format_and_check_character() -> None:
    for channel, sid in SUBMISSIONS:
        cid = make_complaint_id(channel, sid, TEST_KEY)
        assert cid.startswith("LPR-") and len(cid) == 16 and all(c in ALPHABET for c in cid[4:])
        assert normalise_complaint_id(cid) == cid
        assert cid == make_complaint_id(channel, sid, TEST_KEY)  # deterministic for the key's holder


def test_another_key_gives_other_ids() -> None:
    ours = {make_complaint_id(c, s, TEST_KEY) for c, s in SUBMISSIONS}
    theirs = {make_complaint_id(c, s, OTHER_KEY) for c, s in SUBMISSIONS}
    assert len(ours) == len(theirs) == len(SUBMISSIONS)
    assert not ours & theirs


def test_without_the_key_an_id_cannot_be_computed_from_channel_and_submission_id() -> None:
    ours = {make_complaint_id(c, s, TEST_KEY) for c, s in SUBMISSIONS}
    # Not the unkeyed hash, nor a hash of the key-less input under any key one might guess.
    guesses = {unkeyed(c, s) for c, s in SUBMISSIONS}
    guesses |= {make_complaint_id(c, s, guess) for c, s in SUBMISSIONS
                for guess in (b"\0" * KEY_MIN, b"lapor" * 8, (c + s).encode().ljust(KEY_MIN, b"\0"))}
    assert not ours & guesses
    # Sequential submission ids give ids that share nothing predictable: the first body
    # characters of consecutive ids differ as often as chance has it (31 in 32).
    firsts = [make_complaint_id("web", str(n), TEST_KEY)[4] for n in range(1, 1001)]
    same = sum(a == b for a, b in zip(firsts, firsts[1:]))
    assert same < 80


def test_a_key_is_required_and_long_enough(tmp_path: Path) -> None:
    with pytest.raises(ComplaintIdKeyError, match="LAPOR_COMPLAINT_ID_KEY_FILE is not set"):
        load_key(None)
    with pytest.raises(ComplaintIdKeyError, match="cannot read"):
        load_key(tmp_path / "missing.key")
    short = tmp_path / "short.key"
    short.write_text("x" * (KEY_MIN - 1) + "\n")
    with pytest.raises(ComplaintIdKeyError, match="fewer than 32"):
        load_key(short)
    with pytest.raises(ComplaintIdKeyError):
        make_complaint_id("web", "1", b"short")
    good = tmp_path / "good.key"
    good.write_text(new_key() + "\nignored\n")
    assert len(load_key(good)) >= KEY_MIN and b"ignored" not in load_key(good)


def test_intake_does_not_start_without_the_key(tmp_path: Path) -> None:
    with pytest.raises(ComplaintIdKeyError):
        build_intake(Settings(complaint_id_key_file=None))
    key = tmp_path / "k"
    key.write_text(TEST_KEY.decode())
    build_intake(Settings(complaint_id_key_file=key))


def test_lapor_complaint_id_key_writes_one_once_and_never_prints_it(tmp_path: Path) -> None:
    path = tmp_path / "ids" / "complaint-id.key"

    def lapor() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "services.tools.cli", "complaint-id-key", str(path)],
                              capture_output=True, text=True, timeout=60)

    first = lapor()
    assert first.returncode == 0, first.stderr
    key = path.read_text().strip()
    assert len(key) >= KEY_MIN and os.stat(path).st_mode & 0o777 == 0o600
    assert key not in first.stdout + first.stderr
    again = lapor()
    assert again.returncode == 0 and "kept" in again.stdout
    assert path.read_text().strip() == key  # never replaced
