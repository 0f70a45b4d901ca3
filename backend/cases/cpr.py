"""CPR numbers: validated by form (ten ASCII digits, a real birth date, the century rule), shown masked."""

from __future__ import annotations

from datetime import date


class InvalidCpr(ValueError):
    """The reason is safe to show: it never contains the number itself."""


def century(year2: int, seventh: int) -> int:
    """The birth century from the two-digit year and the 7th digit (the CPR office's rule)."""
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if year2 <= 36 else 1900
    return 2000 if year2 <= 57 else 1800


_ASCII_DIGITS = frozenset("0123456789")


def normalise(raw: str) -> str:
    """The ten ASCII digits of a CPR number as people type it, or InvalidCpr.

    Spaces anywhere (pasted ones too) and one hyphen after the birth date (`DDMMYY-SSSS`) are the
    separators people write and are dropped. Nothing else is: not a dot (`01.01.50` is more likely a
    date typed into the wrong field), and no digit but 0-9. Python's `isdigit` also accepts
    full-width, Arabic-Indic and superscript digits, which would make a second citizen of the
    same person or fail later on `int`.
    """
    digits = "".join(raw.split())
    if len(digits) == 11 and digits[6] == "-":
        digits = digits[:6] + digits[7:]
    if len(digits) != 10 or not _ASCII_DIGITS.issuperset(digits):
        raise InvalidCpr("A CPR number is ten digits 0-9, written DDMMYYSSSS or DDMMYY-SSSS.")
    birth_date(digits)
    return digits


def birth_date(cpr: str) -> date:
    day, month, year2, seventh = int(cpr[0:2]), int(cpr[2:4]), int(cpr[4:6]), int(cpr[6])
    try:
        return date(century(year2, seventh) + year2, month, day)
    except ValueError:
        raise InvalidCpr("The first six digits of the CPR number are not a real date.") from None


def mask(cpr: str) -> str:
    """How lists show a CPR number: the birth date, the serial hidden."""
    return f"{cpr[:6]}-XXXX"
