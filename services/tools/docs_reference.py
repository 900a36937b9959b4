"""The docs site's reference pages, generated from the code at build time (a mkdocs hook).

Each page is a pure function returning Markdown, so unit tests read the same text the site
shows; `on_files` adds them to the build as generated files (never checked in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def topics_page() -> str:
    return "# Topics\n"


def events_page() -> str:
    return "# Events\n"


def settings_page() -> str:
    return "# Settings\n"


def cli_page() -> str:
    return "# CLI\n"


def metrics_page() -> str:
    return "# Metrics\n"


def reasons_page() -> str:
    return "# Reason codes\n"


PAGES: dict[str, Callable[[], str]] = {
    "reference/topics.md": topics_page,
    "reference/events.md": events_page,
    "reference/settings.md": settings_page,
    "reference/cli.md": cli_page,
    "reference/metrics.md": metrics_page,
    "reference/reasons.md": reasons_page,
}


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: the generated pages join the site's files (the nav names them)."""
    from mkdocs.structure.files import File

    for uri, page in PAGES.items():
        files.append(File.generated(config, uri, content=page()))
    return files
