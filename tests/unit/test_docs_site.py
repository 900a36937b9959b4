"""The README is the pitch (at most 150 lines) and leads into the docs site; the test command
builds the site strictly (a warning fails it)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for v in node.values() for p in _nav_pages(v)]
    if isinstance(node, list):
        return [p for v in node for p in _nav_pages(v)]
    return []


def _config() -> dict[str, object]:
    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml names Python objects (the mermaid fence): read them as plain tags here.
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    config: dict[str, object] = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    return config


def test_the_readme_is_at_most_150_lines() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 150


def test_every_link_in_the_readme_resolves() -> None:
    links = [m[1] for m in LINK.finditer(README.read_text(encoding="utf-8"))
             if not m[1].startswith(("http://", "https://"))]
    assert len(links) > 20
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, missing


def test_the_readme_leads_to_every_audience_and_keeps_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    for page in ("docs/index.md", "docs/channels/submit.md", "docs/agencies/index.md",
                 "docs/agencies/en/index.md", "docs/operators/deploy.md", "docs/operators/cli.md",
                 "docs/reference/contract.md", "docs/developers/architecture.md"):
        assert f"]({page})" in text, page
    assert "bash scripts/demo   # " in text and "bash scripts/test   # " in text
    assert "mkdocs build --strict" in text  # how to build the site


def test_every_readme_docs_link_is_a_page_of_the_site() -> None:
    nav = set(_nav_pages(_config()["nav"]))
    pages = [m[1].removeprefix("docs/") for m in LINK.finditer(README.read_text(encoding="utf-8"))
             if m[1].startswith("docs/") and m[1].endswith(".md")]
    assert pages and set(pages) <= nav


def test_the_site_is_strict_and_opens_offline() -> None:
    config = _config()
    assert config["strict"] is True and config["use_directory_urls"] is False
    assert "offline" in config["plugins"]  # type: ignore[operator]
    validation = config["validation"]
    assert isinstance(validation, dict)
    assert set(validation.values()) == {"warn"} and len(validation) == 5


def test_the_test_command_builds_the_site_strictly() -> None:
    script = (ROOT / "scripts/test").read_text(encoding="utf-8")
    build = next(line for line in script.splitlines() if ".venv/bin/mkdocs build" in line)
    assert "--strict" in build
    assert "--quiet" not in build and " -q" not in build  # quiet hides the warnings from strict
    assert "status=1" in script.split(".venv/bin/mkdocs build", 1)[1].split("pytest", 1)[0]
