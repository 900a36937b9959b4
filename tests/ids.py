"""The tests' tracking-id key: complaint ids are keyed (services/domain/complaint_id.py), and
every worker a test starts reads this key from LAPOR_COMPLAINT_ID_KEY_FILE (set for the whole
session by tests/conftest.py), so a test computes the id intake will give a submission."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from services.domain import complaint_id

TEST_KEY = b"lapor-router-tests-only-not-a-deployment-key"


def make_complaint_id(channel: str, submission_id: str) -> str:
    """The id intake gives (channel, submission_id) under the tests' key."""
    return complaint_id.make_complaint_id(channel, submission_id, TEST_KEY)


def key_file() -> Path:
    """The tests' key in a file (the same bytes for every test process: written atomically)."""
    folder = Path(tempfile.gettempdir()) / f"lapor-tests-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / "complaint-id.key"
    if not path.exists() or path.read_bytes().strip() != TEST_KEY:
        fd, tmp = tempfile.mkstemp(dir=folder)
        with os.fdopen(fd, "wb") as out:
            out.write(TEST_KEY + b"\n")
        os.replace(tmp, path)
    return path
