"""A death: registered by a person (the API), at a visit (the phone) or by a hospital notice.

The case becomes deceased in the caller's transaction with its time and place; every alert on it
stops paging and every visit ahead is cancelled. A person registering a second death is answered
409 `already_deceased`; a notice about a case already deceased or closed changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts.engine import stop_paging_for_case
from backend.cases import record_schemas as r
from backend.cases import schemas as s
from backend.cases.models import Case, Place, Status, Wish
from backend.cases.records import check_text
from backend.cases.rules import MAY_DIE_FROM
from backend.cases.service import get_case_for_change
from backend.clock import COPENHAGEN
from backend.course.service import Source, Step, Who, record_step
from backend.errors import Problem
from backend.people.actor import Actor, SystemActor
from backend.visits import bedside
from backend.visits.away import cancel_future_visits
from backend.visits.models import VisitStatus
from backend.visits.schemas import CancelReason
from mobile_api import schemas as m

# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=5)


def _may_die(who: Who, case: Case) -> bool:
    """Whether a death can be registered on the case: a person is told why not, a notice is not."""
    current = Status(case.status)
    if case.died_at is None and current in MAY_DIE_FROM:
        return True
    if isinstance(who, SystemActor):
        return False
    if case.died_at is not None or current == Status.DECEASED:
        raise Problem(409, "Already deceased", "The death is already registered.", rule="already_deceased")
    raise Problem(
        422,
        "Status step not allowed",
        f"A death cannot be registered on a {current.value} case.",
        rule="status_transition",
    )


def _check_time(case: Case, at: datetime, now: datetime) -> None:
    """A person's time of death lies neither in the future nor before the referral."""
    if at > now + CLOCK_SKEW:
        raise Problem(422, "Time in the future", "The time of death cannot be in the future.", field="died_at")
    if at.astimezone(COPENHAGEN).date() < case.referral_received_on:
        raise Problem(
            422,
            "Before the referral",
            "The time of death is before the referral was received.",
            field="died_at",
            rule="before_referral",
        )


async def _record_death(
    session: AsyncSession,
    who: Who,
    case: Case,
    place: Place,
    at: datetime,
    source: Source,
    now: datetime,
    present: str | None = None,
    gp_informed: bool | None = None,
) -> None:
    current = Status(case.status)
    case.died_at, case.death_place = at.astimezone(UTC), place
    case.death_present, case.gp_informed = present, gp_informed
    case.status, case.updated_at = Status.DECEASED, now
    await record_step(session, who, case, "case.death.register", {"from": current.value}, source)
    await stop_paging_for_case(session, case.id, "person_died", now)
    await cancel_future_visits(session, case.id, CancelReason.DECEASED, now)


async def died(
    session: AsyncSession,
    who: Who,
    case_id: uuid.UUID,
    place: Place,
    at: datetime,
    source: Source,
    now: datetime,
    *,
    present: str | None = None,
    gp_informed: bool | None = None,
) -> Step:
    """The person died at `at` in `place`: the case becomes deceased, pages and visits stop."""
    case = await get_case_for_change(session, who, case_id)
    if not _may_die(who, case):
        return Step(case, False)
    if isinstance(who, Actor):
        _check_time(case, at, now)
    await _record_death(session, who, case, place, at, source, now, present, gp_informed)
    return Step(case, True)


async def death_cancelled(
    session: AsyncSession, who: SystemActor, case_id: uuid.UUID, place: Place, at: datetime, now: datetime
) -> Step:
    """A hospital cancels the death it reported (AN_MORS): cleared only if it is that death (place and
    time), the case admitted again; a death registered otherwise is left as it is."""
    case = await get_case_for_change(session, who, case_id)
    if case.death_place != place or case.died_at != at:
        return Step(case, False)
    case.died_at, case.death_place, case.status, case.updated_at = None, None, Status.ADMITTED, now
    detail = {"to": Status.ADMITTED.value}
    await record_step(session, who, case, "case.death.cancel", detail, Source.HOSPITAL_NOTICE)
    return Step(case, True)


async def register_death(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: r.DeathIn, now: datetime, source: Source
) -> s.DeathOut:
    """Time, place, who was present, GP informed; the case becomes deceased in the same transaction."""
    case = await get_case_for_change(session, actor, case_id)
    _may_die(actor, case)
    check_text(data)
    _check_time(case, data.died_at, now)
    await _record_death(session, actor, case, data.place, data.died_at, source, now, data.present, data.gp_informed)
    # The newest wish, ordered as the case page orders them.
    preferred = await session.scalar(
        select(Wish.preferred_place_of_death)
        .where(Wish.case_id == case.id)
        .order_by(Wish.recorded_at.desc(), Wish.id)
        .limit(1)
    )
    return s.DeathOut(
        died_at=data.died_at.astimezone(UTC),
        place=data.place,
        present=data.present,
        gp_informed=data.gp_informed,
        preferred_place=Place(preferred) if preferred else None,
        died_where_wished=(preferred == data.place) if preferred else None,
    )


async def death_at_visit(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: m.DeathAtVisitIn, now: datetime
) -> m.DeathAtVisitOut:
    """A death at home, told by the phone: the case's death registration (place home), then the visit is checked out."""
    visit, case = await bedside.visit_for_change(session, actor, visit_id)
    bedside.require_checked_in(visit)
    bedside.not_in_future(data.died_at, now, "died_at")
    device_time = data.device_time or now
    bedside.not_in_future(device_time, now, "device_time")
    death = await register_death(
        session,
        actor,
        case.id,
        r.DeathIn(died_at=data.died_at, place=Place.HOME, present=data.present, gp_informed=data.gp_informed),
        now,
        Source.PHONE,
    )
    state = bedside.visit_state(visit)
    if visit.status == VisitStatus.UNDER_WAY:
        state = await bedside.leave_visit(session, actor, visit, case, device_time, data.position, now)
    return m.DeathAtVisitOut(death=msgspec.convert(msgspec.to_builtins(death), m.DeathRecorded), visit=state)
