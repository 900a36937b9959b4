"""The demo starts lacak's own worker (the public page is no longer the operations view's), and
keys complaint ids like a deployment: with the configured key file, else one of its own,
made once (0600) and kept across runs."""

from __future__ import annotations

import os
from pathlib import Path

from services.domain.complaint_id import load_key
from services.runtime.settings import Settings
from services.tools.demo import SERVICES, complaint_id_key


def test_the_demo_starts_the_lacak_worker() -> None:
    assert "lacak" in SERVICES and "ops_view" in SERVICES


def test_the_demo_keys_complaint_ids_with_a_key_of_its_own_made_once(tmp_path: Path) -> None:
    first = complaint_id_key(Settings(complaint_id_key_file=None), tmp_path)
    path = first.complaint_id_key_file
    assert path == tmp_path / "complaint-id.key" and os.stat(path).st_mode & 0o777 == 0o600
    key = load_key(path)
    again = complaint_id_key(Settings(complaint_id_key_file=None), tmp_path)
    assert again.complaint_id_key_file == path and load_key(path) == key  # kept
    given = tmp_path / "given.key"
    assert complaint_id_key(Settings(complaint_id_key_file=given), tmp_path).complaint_id_key_file == given
