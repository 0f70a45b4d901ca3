"""CPR numbers and Danish working days: the rules behind validation and referral deadlines."""

from __future__ import annotations

from datetime import date

import pytest

from backend.cases.cpr import InvalidCpr, birth_date, mask, normalise
from backend.cases.rules import deadline_state, referral_deadlines
from backend.cases.workdays import add_working_days, easter_sunday, is_working_day


@pytest.mark.parametrize(
    ("cpr", "born"),
    [
        ("0101501234", date(1950, 1, 1)),  # 7th digit 0-3: the 1900s
        ("2902403999", date(1940, 2, 29)),
        ("0101204234", date(2020, 1, 1)),  # 4 with year <= 36: the 2000s
        ("0101504234", date(1950, 1, 1)),  # 4 with year > 36: the 1900s
        ("0101109234", date(2010, 1, 1)),  # 9 like 4
        ("0101575234", date(2057, 1, 1)),  # 5-8 with year <= 57: the 2000s
        ("0101585234", date(1858, 1, 1)),  # 5-8 with year > 57: the 1800s
    ],
)
def test_the_century_rule_gives_the_birth_date(cpr: str, born: date) -> None:
    assert birth_date(cpr) == born


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "123456789",
        "12345678901",
        "abcdefghij",
        "3002501234",
        "2902413999",
        "0100501234",
        "01.01.50-1234",
        "０１０１５０１２３４",  # full-width digits: the same person would become a second citizen
        "٠١٠١٥٠١٢٣٤",  # Arabic-Indic digits
        "010150123¹",  # a superscript one: Python calls it a digit, int() refuses it
        "01-0150-1234",
    ],
)
def test_malformed_or_impossible_cpr_numbers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidCpr) as raised:
        normalise(bad)
    assert bad not in str(raised.value) or not bad


def test_cpr_is_normalised_and_masked() -> None:
    assert normalise(" 010150-1234 ") == "0101501234"
    assert normalise("010150 1234") == "0101501234"  # the spaces people type are separators
    assert mask("0101501234") == "010150-XXXX"


def test_easter_dates() -> None:
    assert easter_sunday(2026) == date(2026, 4, 5)
    assert easter_sunday(2027) == date(2027, 3, 28)
    assert easter_sunday(2028) == date(2028, 4, 16)


def test_easter_2027_holidays_are_not_working_days() -> None:
    for holiday in (date(2027, 3, 25), date(2027, 3, 26), date(2027, 3, 29), date(2027, 5, 6), date(2027, 5, 17)):
        assert not is_working_day(holiday), holiday
    assert is_working_day(date(2027, 3, 24)) and is_working_day(date(2027, 3, 30))


def test_deadlines_across_easter_2027() -> None:
    # Received Wednesday before Easter: Maundy Thursday to Easter Monday are all off.
    assert referral_deadlines(date(2027, 3, 24)) == (date(2027, 4, 5), date(2027, 4, 12))


def test_deadlines_across_christmas_and_new_year() -> None:
    assert referral_deadlines(date(2026, 12, 22)) == (date(2027, 1, 4), date(2027, 1, 11))
    # Received on a Saturday: counting starts on Monday.
    assert add_working_days(date(2026, 11, 21), 5) == date(2026, 11, 27)


def test_deadline_states() -> None:
    due = date(2026, 11, 25)  # a Wednesday
    assert deadline_state(due, date(2026, 11, 24), date(2026, 11, 30)) == "met"
    assert deadline_state(due, date(2026, 11, 26), date(2026, 11, 30)) == "met_late"
    assert deadline_state(due, None, date(2026, 11, 26)) == "overdue"
    assert deadline_state(due, None, date(2026, 11, 23)) == "due_soon"
    assert deadline_state(due, None, date(2026, 11, 18)) == "open"
