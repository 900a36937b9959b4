"""Text normalisation of complaint bodies and titles, and SMS privacy keywords."""

from __future__ import annotations

import re
import unicodedata

from schemas import Privacy

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")
TITLE_MAX = 80

# A leading RAHASIA / ANONIM (any case, punctuation after it allowed) sets the privacy.
_PRIVACY_PREFIX = re.compile(r"^\s*(rahasia|anonim)\b[\s.,:;!#*\-_/]*", re.IGNORECASE)
_PRIVACY = {"rahasia": Privacy.confidential, "anonim": Privacy.anonymous}


def clean_text(text: str) -> str:
    """NFC, no control or zero-width characters, trimmed; line breaks kept, spaces folded."""
    value = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    value = "\n".join(_SPACES.sub(" ", line).strip() for line in value.split("\n"))
    return _BLANK_LINES.sub("\n\n", value).strip()


def derive_title(body: str) -> str:
    """The first sentence or line of the body, at most TITLE_MAX characters on a word."""
    first = re.split(r"(?<=[.!?])\s|\n", body, maxsplit=1)[0].strip()
    if len(first) <= TITLE_MAX:
        return first
    cut = first[:TITLE_MAX].rsplit(" ", 1)[0]
    return (cut or first[:TITLE_MAX]).rstrip(",;:") + "…"


def split_privacy_prefix(text: str) -> tuple[Privacy | None, str]:
    match = _PRIVACY_PREFIX.match(text)
    if not match:
        return None, text
    return _PRIVACY[match.group(1).lower()], text[match.end():]
