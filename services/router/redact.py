"""What an agency may see: anonymous complaints lose every trace of the reporter."""

from __future__ import annotations

import re

from schemas import AcceptedComplaint, Privacy

# Full-width forms (０８１２…, ＠) read as the ASCII they stand for, so that the patterns
# below see through them (one character for one: nothing else in the text moves).
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# 16-digit NIK-like numbers, also written in groups (3273 0112 0190 0001) or digit by digit.
_NIK = re.compile(r"(?<!\d)\d{4}[ .\-]?\d{4}[ .\-]?\d{4}[ .\-]?\d{4}(?!\d)")
_NIK_SPELLED = re.compile(r"(?<!\d)\d(?:\s\d){15}(?!\d)")
# Indonesian mobile and fixed numbers: +62 / 62 / 0 followed by 8-13 digits, with separators
# (also after a stray "+", as in ++62…), or digit by digit (0 8 1 2 …). Dates (12-03-2026)
# and sums (Rp 150.000) are not numbers like these.
_PHONE = re.compile(r"(?<!\d)(?:\+62|62|0)[\s.\-]?\(?\d{2,4}\)?(?:[\s.\-]?\d{2,4}){2,4}(?!\d)")
_PHONE_SPELLED = re.compile(r"(?<!\d)(?:\+?6\s?2|0)(?:\s\d){8,13}(?!\d)")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# An address written out to slip past filters: budi(at)mail.id, budi [at] mail [dot] id.
_EMAIL_WRITTEN = re.compile(r"[\w.+\-]+\s*[(\[{]\s*at\s*[)\]}]\s*[\w\-]+"
                            r"(?:\s*(?:\.|[(\[{]\s*dot\s*[)\]}])\s*[\w\-]+)+", re.IGNORECASE)

NIK_MASK, PHONE_MASK, EMAIL_MASK = "[NIK disamarkan]", "[nomor disamarkan]", "[email disamarkan]"


def mask_identity(text: str) -> str:
    text = text.translate(_FULLWIDTH)
    text = _EMAIL_WRITTEN.sub(EMAIL_MASK, _EMAIL.sub(EMAIL_MASK, text))
    text = _NIK_SPELLED.sub(NIK_MASK, _NIK.sub(NIK_MASK, text))
    return _PHONE_SPELLED.sub(PHONE_MASK, _PHONE.sub(PHONE_MASK, text))


def for_agency(c: AcceptedComplaint) -> AcceptedComplaint:
    """The complaint as an agency may receive it."""
    if c.privacy is not Privacy.anonymous:
        return c
    return c.model_copy(update={
        "reporter": None,
        "body": mask_identity(c.body),
        "title": mask_identity(c.title) if c.title else c.title,
    })
