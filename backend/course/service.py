"""The course of a case: admitted, on leave, home again, closed (a death: `backend.course.death`).

One place above cases, visits and alerts, called by every source of such a change: a person at
the board or through the API, a nurse's phone, and the hospital's notices. Each transition is
named with its event time (when it happened, for a notice perhaps hours before it arrived) and
its source, and runs in the caller's transaction: it locks the case, moves its status, writes one
audit row and does what the change means for the visits and the alerts:

    admit        -> admitted             visits ahead cancelled (admitted)      alerts stop paging (admitted)
    start_leave  admitted, on leave      visits stay off, unless resume_visits  -
    end_leave    admitted, back          visits ahead cancelled again           -
    home_again   admitted -> active      the admission's visits planned again   -
    close        -> closed               visits ahead cancelled (case_closed)   alerts stop paging (case_closed)
    died         -> deceased             visits ahead cancelled (deceased)      alerts stop paging (person_died)

A person (`Actor`) is refused a step the case's rules do not allow (422 `status_transition`). A
system (`SystemActor`: a hospital notice) is not refused: the hospital's word is taken as it
comes, a referred case may be admitted, and a step that does not apply (a notice admitting a
closed case) changes nothing, which `Step.changed` says.

The audit row (`case.status`, `case.leave.start`, `case.leave.end`) names the step (`from`, `to`),
the `source`, and `at`, the event time, when it is not the moment the change was recorded. The
case keeps no history of its own: the audit log is where a status's source and time are read.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts.engine import stop_paging_for_case
from backend.audit import service as audit
from backend.cases import schemas as s
from backend.cases.models import Case, Citizen, Status
from backend.cases.rules import NEXT_STATUSES
from backend.cases.service import get_case_for_change, item_of
from backend.errors import Problem
from backend.people.actor import Actor, SystemActor
from backend.visits.away import cancel_future_visits, plan_again_after_admission
from backend.visits.schemas import CancelReason


class Source(enum.StrEnum):
    """Who told us of a change in the course of a case."""

    API = "api"  # a person, at the board or through the API
    PHONE = "phone"  # a nurse on her phone, at a visit or in an offline batch
    HOSPITAL_NOTICE = "hospital_notice"  # a MedCom hospital notification


# A person acting through the API or the phone, or a system acting on a hospital notice.
Who = Actor | SystemActor

# Where a hospital notice may admit from: at home, or referred and not yet seen.
AT_HOME = frozenset({Status.ACTIVE, Status.REFERRED})
# Every status a case can still be closed from.
OPEN = frozenset(Status) - {Status.CLOSED}


@dataclass(frozen=True, slots=True)
class Step:
    """The case after a transition, and whether the transition applied (a notice's may not)."""

    case: Case
    changed: bool


async def record_step(
    session: AsyncSession,
    who: Who,
    case: Case,
    action: str,
    detail: dict[str, Any],
    source: Source,
    at: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """The audit row of a step in the course: its source, and its event time when that is not now."""
    when = {"at": at.isoformat()} if at is not None and at != now else {}
    await audit.record(session, who, action, case_id=case.id, detail=detail | {"source": source.value} | when)


async def _move(
    session: AsyncSession,
    who: Who,
    case: Case,
    to: Status,
    at: datetime,
    source: Source,
    now: datetime,
    starts_from: frozenset[Status],
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move the case's status if the step applies: from `starts_from`, and for a person by the case's rules."""
    current = Status(case.status)
    if isinstance(who, SystemActor):
        if current not in starts_from:
            return False
    elif current not in starts_from or to not in NEXT_STATUSES[current]:
        raise Problem(
            422,
            "Status step not allowed",
            f"A {current.value} case cannot become {to.value}.",
            field="status",
            rule="status_transition",
        )
    case.status, case.updated_at = to, now
    moved = {"from": current.value, "to": to.value}
    await record_step(session, who, case, "case.status", moved | (detail or {}), source, at, now)
    return True


async def _admit(
    session: AsyncSession, who: Who, case: Case, since: datetime, department: str | None, source: Source, now: datetime
) -> bool:
    named = {"department": department} if department else None
    changed = await _move(session, who, case, Status.ADMITTED, since, source, now, AT_HOME, named)
    if changed:
        # Nobody is to knock on the door of someone in hospital.
        await cancel_future_visits(session, case.id, CancelReason.ADMITTED, now)
    if Status(case.status) == Status.ADMITTED:
        await stop_paging_for_case(session, case.id, "admitted", now)
    return changed


async def admit(
    session: AsyncSession,
    who: Who,
    case_id: uuid.UUID,
    since: datetime,
    department: str | None,
    source: Source,
    now: datetime,
) -> Step:
    """In hospital since `since` (in `department`, a ward's name, if known): visits ahead cancelled, pages stopped."""
    case = await get_case_for_change(session, who, case_id)
    return Step(case, await _admit(session, who, case, since, department, source, now))


async def _home_again(session: AsyncSession, who: Who, case: Case, at: datetime, source: Source, now: datetime) -> bool:
    changed = await _move(session, who, case, Status.ACTIVE, at, source, now, frozenset({Status.ADMITTED}))
    if changed:
        await plan_again_after_admission(session, case.id, now)
    return changed


async def home_again(
    session: AsyncSession, who: Who, case_id: uuid.UUID, at: datetime, source: Source, now: datetime
) -> Step:
    """Discharged home at `at`: the case is active again and the visits the admission cancelled are planned again."""
    case = await get_case_for_change(session, who, case_id)
    return Step(case, await _home_again(session, who, case, at, source, now))


async def _close(session: AsyncSession, who: Who, case: Case, at: datetime, source: Source, now: datetime) -> bool:
    changed = await _move(session, who, case, Status.CLOSED, at, source, now, OPEN)
    if changed:
        await stop_paging_for_case(session, case.id, "case_closed", now)
        await cancel_future_visits(session, case.id, CancelReason.CASE_CLOSED, now)
    return changed


async def close(
    session: AsyncSession, who: Who, case_id: uuid.UUID, at: datetime, source: Source, now: datetime
) -> Step:
    """The case ends: its alerts stop paging and its visits ahead are cancelled."""
    case = await get_case_for_change(session, who, case_id)
    return Step(case, await _close(session, who, case, at, source, now))


async def _leave(
    session: AsyncSession, who: Who, case_id: uuid.UUID, action: str, at: datetime, source: Source, now: datetime
) -> Step:
    """A leave step: only an admitted case takes one (a person is refused otherwise, a notice changes nothing)."""
    case = await get_case_for_change(session, who, case_id)
    if Status(case.status) != Status.ADMITTED:
        if isinstance(who, SystemActor):
            return Step(case, False)
        raise Problem(
            422, "Not admitted", "Only an admitted case goes on or comes back from leave.", rule="not_admitted"
        )
    case.updated_at = now
    await record_step(session, who, case, action, {}, source, at, now)
    return Step(case, True)


async def start_leave(
    session: AsyncSession,
    who: Who,
    case_id: uuid.UUID,
    since: datetime,
    source: Source,
    now: datetime,
    *,
    resume_visits: bool = False,
) -> Step:
    """On leave from hospital. Visits stay off (MedCom: the hospital keeps the responsibility) unless
    the municipality has chosen to visit on leave (`resume_visits`)."""
    step = await _leave(session, who, case_id, "case.leave.start", since, source, now)
    if step.changed and resume_visits:
        await plan_again_after_admission(session, case_id, now)
    return step


async def end_leave(
    session: AsyncSession, who: Who, case_id: uuid.UUID, at: datetime, source: Source, now: datetime
) -> Step:
    """Back in hospital after a leave: any visits the leave brought back are cancelled again."""
    step = await _leave(session, who, case_id, "case.leave.end", at, source, now)
    if step.changed:
        await cancel_future_visits(session, case_id, CancelReason.ADMITTED, now)
    return step


async def change_status(
    session: AsyncSession,
    who: Actor,
    case_id: uuid.UUID,
    status: Status,
    now: datetime,
    today: date,
    source: Source = Source.API,
) -> s.CaseListItem:
    """A person moves the case on by naming its new status, now: each status is its transition."""
    if status == Status.DECEASED:
        raise Problem(
            422,
            "Register the death",
            "A case becomes deceased by registering the death.",
            field="status",
            rule="use_death_registration",
        )
    case = await get_case_for_change(session, who, case_id)
    if status == Status.ADMITTED:
        await _admit(session, who, case, now, None, source, now)
    elif status == Status.CLOSED:
        await _close(session, who, case, now, source, now)
    elif status == Status.ACTIVE and Status(case.status) == Status.ADMITTED:
        await _home_again(session, who, case, now, source, now)
    else:  # referred -> active: the care begins (any other step is refused by the rules)
        await _move(session, who, case, status, now, source, now, frozenset(Status))
    citizen = await session.get_one(Citizen, case.citizen_id)
    return item_of(case, citizen, today)
