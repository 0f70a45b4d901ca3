"""Counting Danish working days between two dates, as the national data set reports the referral
deadlines: the inverse of moving a deadline by working days, for any start and any count."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from backend.cases.workdays import add_working_days, is_working_day, working_days_between


@given(st.dates(date(2000, 1, 1), date(2100, 12, 31)), st.integers(0, 40))
def test_the_days_a_deadline_moves_by_are_the_days_counted_back(start: date, count: int) -> None:
    assert working_days_between(start, add_working_days(start, count)) == count


@given(st.dates(date(2000, 1, 1), date(2100, 12, 31)), st.integers(-20, 40))
def test_a_day_off_adds_nothing_and_a_working_day_adds_one(start: date, days: int) -> None:
    end = start + timedelta(days=days)
    before = working_days_between(start, end)
    assert working_days_between(start, end + timedelta(days=1)) == before + (
        days >= 0 and is_working_day(end + timedelta(days=1))
    )


def test_easter_2026_is_counted_out() -> None:
    # Referred Monday 30 March; Maundy Thursday, Good Friday and Easter Monday are days off.
    assert working_days_between(date(2026, 3, 30), date(2026, 4, 8)) == 4
    assert working_days_between(date(2026, 3, 30), date(2026, 4, 15)) == 9
