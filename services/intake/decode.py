"""Bytes in, a validated input model or a rejection out. Nothing here raises on bad input."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from schemas import SmsMessage, Submission, WireModel
from schemas.events import ValidationErrorItem
from services.runtime.dead_letter import validation_items

M = TypeVar("M", bound=WireModel)


@dataclass(frozen=True)
class Rejection:
    """Why an input cannot be accepted: a short reason code and the details."""

    reason: str
    errors: list[ValidationErrorItem] = field(default_factory=list)

    @classmethod
    def single(cls, reason: str, loc: str, msg: str) -> Rejection:
        return cls(reason, [ValidationErrorItem(loc=loc, msg=msg)])


# The first failing field decides the reason code; operators filter dead letters by it.
_REASON_BY_FIELD = {
    "body": "invalid_body", "text": "invalid_body", "submitted_at": "invalid_timestamp",
    "received_at": "invalid_timestamp", "channel": "unknown_channel", "nik": "invalid_nik",
    "submission_id": "missing_id", "message_id": "missing_id", "msisdn": "invalid_msisdn",
}


def _reason(exc: ValidationError) -> str:
    for err in exc.errors():
        for part in reversed(err["loc"]):
            if isinstance(part, str) and part in _REASON_BY_FIELD:
                return _REASON_BY_FIELD[part]
    return "invalid_fields"


def decode(raw: bytes | None, model: type[M], max_bytes: int) -> M | Rejection:
    if raw is None or raw == b"":
        return Rejection.single("empty_message", "$", "the record has no value")
    if len(raw) > max_bytes:
        return Rejection.single("too_large", "$", f"{len(raw)} bytes is over the limit of {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection.single("invalid_utf8", "$", f"not UTF-8: {exc.reason} at byte {exc.start}")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return Rejection.single("invalid_json", "$", str(exc)[:300])
    if not isinstance(data, dict):
        return Rejection.single("not_an_object", "$", f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return Rejection(_reason(exc), validation_items(exc))


def decode_submission(raw: bytes | None, max_bytes: int) -> Submission | Rejection:
    return decode(raw, Submission, max_bytes)


def decode_sms(raw: bytes | None, max_bytes: int) -> SmsMessage | Rejection:
    return decode(raw, SmsMessage, max_bytes)
