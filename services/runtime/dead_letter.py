"""Dead letters: the original bytes, where they came from, and why they were refused."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas import RejectedEvent
from schemas.events import ValidationErrorItem
from services.domain.ids import deterministic_id

_REASON = re.compile(r"^[a-z0-9_]+$")


def validation_items(exc: ValidationError) -> list[ValidationErrorItem]:
    """pydantic's errors as the dead letter's [{loc, msg}] (loc dotted, '$' for the whole)."""
    return [ValidationErrorItem(loc=".".join(map(str, e["loc"])) or "$", msg=e["msg"])
            for e in exc.errors(include_url=False)]


def dead_letter(*, topic: str, partition: int, offset: int, timestamp_s: float, key: bytes | None,
                raw: bytes | None, reason: str, errors: list[ValidationErrorItem],
                rejected_by: str) -> RejectedEvent:
    raw = raw or b""
    if reason != "internal_error" and not _REASON.match(reason):
        reason = "internal_error"  # a dead letter must always be writable
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return RejectedEvent(
        # The input's position identifies it: a retry of the same record gives the same id.
        event_id=deterministic_id("rejected", topic, partition, offset),
        source_topic=topic, source_partition=partition, source_offset=offset,
        received_at=datetime.fromtimestamp(timestamp_s, UTC),
        reason=reason, errors=errors, raw=text, raw_encoding=encoding,
        source_key=key.decode("utf-8", "backslashreplace") if key is not None else None,
        rejected_by=rejected_by,
    )
