"""Counters an operator reads at the worker's /metrics page (per worker process)."""

from __future__ import annotations

from collections import Counter
from typing import Any


class IntakeMetrics:
    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()  # by channel
        self.duplicates: Counter[str] = Counter()  # by channel
        self.rejected: Counter[tuple[str, str]] = Counter()  # by (source, reason)

    def snapshot(self) -> dict[str, Any]:
        return {
            "accepted": dict(self.accepted),
            "duplicates": dict(self.duplicates),
            "rejected": {f"{src}/{reason}": n for (src, reason), n in sorted(self.rejected.items())},
        }
