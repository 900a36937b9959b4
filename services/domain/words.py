"""Word matching shared by classification (intake) and routing (router)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_WORD = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=16)  # intake normalises one text for type, category and tier in turn
def normalise_words(text: str) -> str:
    """Lower case, accents folded, anything but letters and digits as one space, padded with
    spaces so that ' kw ' finds whole words and phrases."""
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return " " + _NON_WORD.sub(" ", folded).strip() + " "


def contains_phrase(words: str, phrase: str) -> bool:
    """`words` from normalise_words, `phrase` normalised and stripped."""
    return f" {phrase} " in words
