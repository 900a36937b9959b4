"""Deterministic ids: the same inputs always give the same id, so a replay or a retry after a
crash produces an event that consumers recognise as a duplicate."""

from __future__ import annotations

import hashlib


def deterministic_id(kind: str, *parts: object) -> str:
    digest = hashlib.sha256("\x1f".join([kind, *map(str, parts)]).encode("utf-8")).hexdigest()
    return f"{kind}-{digest[:24]}"
