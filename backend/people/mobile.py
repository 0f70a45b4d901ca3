"""Staff work mobile numbers: read as people type them, kept in E.164, shown masked.

Lindra sends SMS to this number when a push goes unconfirmed, and accepts an SMS reply only from
it. A Danish number is +45 and eight digits (never starting 0 or 1); typed with spaces, dashes,
`0045` or as the eight digits alone, it means the same number. Another country's number is taken
in international form (+ or 00, then 8 to 15 digits). The number is personal data: every answer
but the administrator's user page shows it masked, and no log line holds it.
"""

from __future__ import annotations

import re

from backend.errors import Problem

_SEPARATORS = re.compile(r"[\s\-().\u00a0]")
_DANISH = re.compile(r"^\+45[2-9][0-9]{7}$")
_INTERNATIONAL = re.compile(r"^\+[1-9][0-9]{7,14}$")


def parse_mobile(typed: str, *, without_plus: bool = False) -> str | None:
    """The E.164 form of a number as typed, or None if it is none.

    `without_plus`: digits in international form without `+` or `00` (as some SMS centres hand
    over a sender) are read as international, not refused."""
    number = _SEPARATORS.sub("", typed)
    if number.startswith("00"):
        number = "+" + number[2:]
    elif re.fullmatch(r"[0-9]{8}", number):
        number = "+45" + number
    elif without_plus and re.fullmatch(r"[1-9][0-9]{8,14}", number):
        number = "+" + number
    if number.startswith("+45"):
        return number if _DANISH.match(number) else None
    return number if _INTERNATIONAL.match(number) else None


def checked_mobile(typed: str | None, field: str = "mobile") -> str | None:
    """The number an administrator typed, in E.164 (None clears it), or a 422 naming the field."""
    if typed is None:
        return None
    number = parse_mobile(typed)
    if number is None:
        raise Problem(
            422,
            "Invalid mobile number",
            "A Danish mobile number is eight digits (with or without +45 or 0045); another country's "
            "starts with + or 00 and its country code.",
            field=field,
            rule="mobile_number",
        )
    return number


def masked(number: str | None) -> str | None:
    """The number as shown outside the administrator's user page: country code and last two digits."""
    if number is None:
        return None
    country = "+45" if number.startswith("+45") else number[:3]
    return country + "•" * (len(number) - len(country) - 2) + number[-2:]
