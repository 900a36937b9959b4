"""What an agency may see: anonymous complaints lose every trace of the reporter."""

from __future__ import annotations

import re

from schemas import AcceptedComplaint, Privacy

# 16-digit NIK-like numbers, also written in groups (3273 0112 0190 0001).
_NIK = re.compile(r"(?<!\d)\d{4}[ .\-]?\d{4}[ .\-]?\d{4}[ .\-]?\d{4}(?!\d)")
# Indonesian mobile and fixed numbers: +62 / 62 / 0 followed by 8-13 digits, with separators.
_PHONE = re.compile(r"(?<![\d+])(?:\+62|62|0)[\s.\-]?\(?\d{2,4}\)?(?:[\s.\-]?\d{2,4}){2,4}(?!\d)")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")

NIK_MASK, PHONE_MASK, EMAIL_MASK = "[NIK disamarkan]", "[nomor disamarkan]", "[email disamarkan]"


def mask_identity(text: str) -> str:
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _NIK.sub(NIK_MASK, text)
    return _PHONE.sub(PHONE_MASK, text)


def for_agency(c: AcceptedComplaint) -> AcceptedComplaint:
    """The complaint as an agency may receive it."""
    if c.privacy is not Privacy.anonymous:
        return c
    return c.model_copy(update={
        "reporter": None,
        "body": mask_identity(c.body),
        "title": mask_identity(c.title) if c.title else c.title,
    })
