"""docs/asyncapi.yaml passes the AsyncAPI project's own validator (`@asyncapi/cli validate`,
pinned, installed by scripts/setup), warnings counted as failures. A missing validator is a
failure, not a skip; and broken copies of the document must fail, so a validator that says
yes to anything (a wrong binary, a changed exit code) cannot pass this test."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.runtime.settings import Settings
from services.tools.asyncapi_cli import validate

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def cache() -> Path:
    return Settings().broker_cache


def test_the_checked_in_document_is_valid(cache: Path) -> None:
    result = validate(DOCUMENT, cache)
    assert result.returncode == 0, f"asyncapi validate failed:\n{result.stdout}\n{result.stderr}"
    assert "0 errors, 0 warnings" in result.stdout, result.stdout


def broken(doc: dict[str, Any], how: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    channel = doc["channels"]["complaints_accepted_v1"]
    if how == "dangling reference":
        channel["messages"]["accepted"]["payload"] = {"$ref": "#/components/schemas/Nope"}
    elif how == "binding against its schema":  # Kafka binding 0.5.0: a list of policies
        channel["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] = "compact,delete"
    elif how == "operation action of AsyncAPI 2":
        doc["operations"]["send_complaints_accepted_v1"]["action"] = "publish"
    return doc


def test_an_unbroken_copy_passes(cache: Path, tmp_path: Path) -> None:
    # The control for the broken copies below: written the same way, it passes, so they
    # fail for what was broken in them.
    copy_path = tmp_path / "asyncapi.yaml"
    doc = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    copy_path.write_text(yaml.safe_dump(broken(doc, "nothing"), sort_keys=False), encoding="utf-8")
    result = validate(copy_path, cache)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("how", ["dangling reference", "binding against its schema",
                                 "operation action of AsyncAPI 2"])
def test_a_broken_copy_fails(cache: Path, tmp_path: Path, how: str) -> None:
    doc = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    copy_path = tmp_path / "asyncapi.yaml"
    copy_path.write_text(yaml.safe_dump(broken(doc, how), sort_keys=False), encoding="utf-8")
    result = validate(copy_path, cache)
    assert result.returncode != 0, f"a broken document ({how}) passed:\n{result.stdout}"
    assert "error" in result.stdout, result.stdout
