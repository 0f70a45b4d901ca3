"""CPR numbers: validated by form (ten digits, a real birth date, the century rule), shown masked."""

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


def normalise(raw: str) -> str:
    """Accept `DDMMYYSSSS` or `DDMMYY-SSSS`; return the ten digits or raise InvalidCpr."""
    digits = raw.strip()
    if len(digits) == 11 and digits[6] == "-":
        digits = digits[:6] + digits[7:]
    if len(digits) != 10 or not digits.isdigit():
        raise InvalidCpr("A CPR number is ten digits, written DDMMYYSSSS or DDMMYY-SSSS.")
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
