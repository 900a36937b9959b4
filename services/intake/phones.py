"""Phone numbers and e-mail addresses, normalised."""

from __future__ import annotations

import re

import phonenumbers

_SEPARATORS = re.compile(r"[\s\-().]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_msisdn(number: str) -> str | None:
    """E.164 for an Indonesian (or international) number: '0812-3456-7890', '62812...',
    '+62 812 ...' all become '+62812...'. None when it is not a possible number."""
    digits = _SEPARATORS.sub("", number.strip())
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("62"):
        digits = "+" + digits
    try:
        parsed = phonenumbers.parse(digits, "ID")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def normalise_email(address: str) -> str | None:
    value = address.strip()
    if not _EMAIL.match(value):
        return None
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"
