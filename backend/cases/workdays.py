"""Danish working days: weekends and public holidays excluded, for the referral deadlines."""

from __future__ import annotations

import functools
from datetime import date, timedelta


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


@functools.cache
def public_holidays(year: int) -> frozenset[date]:
    """Days off in Danish public administration.

    The official holidays, plus Constitution Day, Christmas Eve and New Year's Eve, which
    municipal offices keep closed. Great Prayer Day was abolished from 2024.
    """
    easter = easter_sunday(year)
    days = {
        date(year, 1, 1),
        easter - timedelta(days=3),  # Maundy Thursday
        easter - timedelta(days=2),  # Good Friday
        easter,
        easter + timedelta(days=1),  # Easter Monday
        easter + timedelta(days=39),  # Ascension Day
        easter + timedelta(days=49),  # Whit Sunday
        easter + timedelta(days=50),  # Whit Monday
        date(year, 6, 5),  # Constitution Day
        date(year, 12, 24),
        date(year, 12, 25),
        date(year, 12, 26),
        date(year, 12, 31),
    }
    if year < 2024:
        days.add(easter + timedelta(days=26))  # Great Prayer Day
    return frozenset(days)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def add_working_days(start: date, count: int) -> date:
    """The date `count` working days after `start` (the start day itself does not count)."""
    day = start
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """How many working days after `start` up to and including `end` (0 when `end` is not after
    `start`): the count `add_working_days` moves by, so a deadline of n days is met when this is at most n."""
    return sum(1 for offset in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=offset)))
