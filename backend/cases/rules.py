"""The rules of a case's course: which status may follow which, and when a deadline is due."""

from __future__ import annotations

from datetime import date

from backend.cases.models import Status
from backend.cases.workdays import add_working_days

FIRST_CONTACT_WORKING_DAYS = 5
ASSESSMENT_WORKING_DAYS = 10
# A deadline is "due soon" when it falls within this many working days.
DUE_SOON_WORKING_DAYS = 2

# Deceased is reached only by registering the death (time, place, who was present).
NEXT_STATUSES: dict[Status, frozenset[Status]] = {
    Status.REFERRED: frozenset({Status.ACTIVE, Status.CLOSED}),
    Status.ACTIVE: frozenset({Status.ADMITTED, Status.CLOSED}),
    Status.ADMITTED: frozenset({Status.ACTIVE, Status.CLOSED}),
    Status.DECEASED: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
}
MAY_DIE_FROM = frozenset({Status.REFERRED, Status.ACTIVE, Status.ADMITTED})


def referral_deadlines(received_on: date) -> tuple[date, date]:
    """First contact within 5 and needs assessment within 10 Danish working days."""
    return (
        add_working_days(received_on, FIRST_CONTACT_WORKING_DAYS),
        add_working_days(received_on, ASSESSMENT_WORKING_DAYS),
    )


def due_soon_limit(today: date) -> date:
    return add_working_days(today, DUE_SOON_WORKING_DAYS)


def deadline_state(due: date, met_on: date | None, today: date) -> str:
    if met_on is not None:
        return "met" if met_on <= due else "met_late"
    if due < today:
        return "overdue"
    if due <= due_soon_limit(today):
        return "due_soon"
    return "open"
