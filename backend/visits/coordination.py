"""Coordinating visits: assigning, handing back, cancelling, ad-hoc and acute visits, and resolving
the flags the coordinator has looked at.

Each change locks the visit (or flag) within the actor's case scope, changes it, and records its
audit row and its board event in the request's transaction. The reads are in `coordination_reads`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import events
from backend.audit import service as audit
from backend.cases.access import case_scope
from backend.cases.models import Case, Status
from backend.cases.records import check_text
from backend.cases.schemas import PersonRef
from backend.cases.service import get_case_for_change
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.models import Role, User, UserDistrict
from backend.roster.models import ShiftKind
from backend.roster.patterns import shift_times
from backend.roster.shifts import shift_at
from backend.visits import schemas as s
from backend.visits import warnings
from backend.visits.models import CaseFlag, Visit, VisitKind, VisitStatus

# An ad-hoc or acute visit: at most this long, starting no earlier or later than this around now.
MAX_WINDOW = timedelta(hours=12)
EARLIEST_START = timedelta(hours=24)
LATEST_START = timedelta(days=30)


# ---- changing visits --------------------------------------------------------------------------


def visit_out(visit: Visit, assignee: PersonRef | None, now: datetime) -> s.VisitOut:
    """The visit as the board shows it after a change; `now` tells whether a planned visit is overdue."""
    overdue = visit.status == VisitStatus.PLANNED and visit.window_end < now
    return s.VisitOut(
        id=visit.id,
        case_id=visit.case_id,
        district_id=visit.district_id,
        kind=VisitKind(visit.kind),
        status=VisitStatus(visit.status),
        state=s.BoardVisitState.OVERDUE if overdue else s.BoardVisitState(visit.status),
        shift_date=visit.shift_date,
        shift_kind=ShiftKind(visit.shift_kind),
        window_start=visit.window_start,
        window_end=visit.window_end,
        tasks=list(visit.tasks or []),
        assignee=assignee,
        handed_back_reason=visit.handed_back_reason,
        checked_in_at=visit.checked_in_at,
        checked_out_at=visit.checked_out_at,
        missed_at=visit.missed_at,
        reason=visit.reason,
        alert_id=visit.alert_id,
        updated_at=visit.updated_at,
    )


async def _visit_for_change(session: AsyncSession, actor: Actor, visit_id: uuid.UUID) -> tuple[Visit, uuid.UUID]:
    """The visit, locked, and its case's municipality, if the case is in the actor's scope (else 404)."""
    row = (
        await session.execute(
            select(Visit, Case.municipality_id)
            .join(Case, Case.id == Visit.case_id)
            .where(Visit.id == visit_id, case_scope(actor))
            .with_for_update(of=Visit, key_share=True)
        )
    ).first()
    if row is None:
        raise not_found("visit")
    return row[0], row[1]


def _must_be_planned(visit: Visit, doing: str) -> None:
    if visit.status == VisitStatus.UNDER_WAY:
        raise Problem(
            409,
            "Visit under way",
            f"The nurse has checked in: the visit cannot be {doing} now.",
            rule="visit_under_way",
        )
    if visit.status != VisitStatus.PLANNED:
        raise Problem(
            409,
            "Visit not planned",
            f"A {visit.status} visit cannot be {doing}.",
            rule="visit_not_planned",
        )


async def _nurse_of(session: AsyncSession, user_id: uuid.UUID, district_id: uuid.UUID, field: str) -> PersonRef:
    """The user, if a live nurse working in the district; else 422 naming `field`."""
    name = await session.scalar(
        select(User.full_name)
        .join(UserDistrict, UserDistrict.user_id == User.id)
        .where(
            User.id == user_id,
            User.role == Role.NURSE,
            User.deleted_at.is_(None),
            UserDistrict.district_id == district_id,
        )
    )
    if name is None:
        raise Problem(
            422,
            "Not a nurse of the district",
            "Assign the visit to a nurse who works in the visit's district.",
            field=field,
        )
    return PersonRef(id=user_id, name=name)


async def _person(session: AsyncSession, user_id: uuid.UUID | None) -> PersonRef | None:
    if user_id is None:
        return None
    return PersonRef(id=user_id, name=await session.scalar(select(User.full_name).where(User.id == user_id)) or "")


async def assign(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: s.AssignIn, now: datetime
) -> s.VisitOut:
    """Assign or reassign a planned visit to a nurse of its district."""
    visit, municipality_id = await _visit_for_change(session, actor, visit_id)
    _must_be_planned(visit, "reassigned" if visit.assigned_to else "assigned")
    nurse = await _nurse_of(session, data.user_id, visit.district_id, "user_id")
    previous = visit.assigned_to
    await audit.record(
        session,
        actor,
        "visit.assign",
        case_id=visit.case_id,
        detail={"visit_id": str(visit.id), "user_id": str(nurse.id)},
    )
    if previous != nurse.id:
        visit.assigned_to, visit.handed_back_reason, visit.updated_at = nurse.id, None, now
        await warnings.record_visit_event(
            session,
            "visit.assigned",
            visit,
            municipality_id,
            actor.user_id,
            user_id=str(nurse.id),
            previous_user_id=str(previous) if previous else None,
        )
    return visit_out(visit, nurse, now)


async def hand_back(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: s.HandBackIn, now: datetime
) -> s.VisitOut:
    """The assigned nurse gives her planned visit back, with a reason the coordinator reads."""
    visit, municipality_id = await _visit_for_change(session, actor, visit_id)
    if visit.assigned_to != actor.user_id:
        raise Problem(
            403, "Not your visit", "Only the nurse assigned to the visit can hand it back.", rule="not_assigned"
        )
    _must_be_planned(visit, "handed back")
    check_text(data.reason, "reason")
    visit.assigned_to, visit.handed_back_reason, visit.updated_at = None, data.reason, now
    await audit.record(session, actor, "visit.hand_back", case_id=visit.case_id, detail={"visit_id": str(visit.id)})
    await warnings.record_visit_event(
        session, "visit.handed_back", visit, municipality_id, actor.user_id, user_id=str(actor.user_id)
    )
    return visit_out(visit, None, now)


async def cancel(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: s.CancelIn, now: datetime
) -> s.VisitOut:
    """A planned visit that is no longer to happen; the reason is a code, kept in the event and the audit."""
    visit, municipality_id = await _visit_for_change(session, actor, visit_id)
    _must_be_planned(visit, "cancelled")
    visit.status, visit.cancel_reason, visit.updated_at = VisitStatus.CANCELLED, data.reason.value, now
    await audit.record(
        session,
        actor,
        "visit.cancel",
        case_id=visit.case_id,
        detail={"visit_id": str(visit.id), "reason": data.reason.value},
    )
    await warnings.record_visit_event(
        session, "visit.cancelled", visit, municipality_id, actor.user_id, reason=data.reason.value
    )
    return visit_out(visit, await _person(session, visit.assigned_to), now)


def _check_window(data: s.VisitCreate, now: datetime) -> None:
    if data.window_end <= data.window_start:
        raise Problem(422, "Window ends before it starts", "The window must end after it starts.", field="window_end")
    if data.window_end - data.window_start > MAX_WINDOW:
        raise Problem(422, "Window too long", "A visit's window is at most 12 hours.", field="window_end")
    if data.window_start < now - EARLIEST_START:
        raise Problem(422, "Window in the past", "A visit cannot start more than 24 hours ago.", field="window_start")
    if data.window_start > now + LATEST_START:
        raise Problem(422, "Window too far ahead", "A visit can be made at most 30 days ahead.", field="window_start")


async def create_visit(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: s.VisitCreate, now: datetime
) -> s.VisitOut:
    """An ad-hoc or acute visit on a case, in the shift its window starts in.

    A nurse may create only an acute visit, for herself, on a case of her district.
    """
    if data.kind == VisitKind.PLANNED:
        raise Problem(
            422, "Not an ad-hoc visit", "Planned visits come from the visit plan; use ad_hoc or acute.", field="kind"
        )
    if actor.role == Role.NURSE:
        if data.kind != VisitKind.ACUTE:
            raise Problem(403, "Forbidden", "A nurse may create acute visits only.", field="kind", rule="role")
        if data.assigned_to not in (None, actor.user_id):
            raise Problem(
                403,
                "Forbidden",
                "A nurse may create an acute visit for herself only.",
                field="assigned_to",
                rule="role",
            )
    if data.alert_id is not None and data.kind != VisitKind.ACUTE:
        raise Problem(422, "Only for acute visits", "Only an acute visit is linked to an alert.", field="alert_id")
    case = await get_case_for_change(session, actor, case_id)
    if case.status in (Status.DECEASED, Status.CLOSED):
        raise Problem(422, "Case has ended", f"A visit cannot be made on a {case.status} case.", rule="case_ended")
    check_text(data.reason, "reason")
    _check_window(data, now)
    assignee_id = actor.user_id if actor.role == Role.NURSE else data.assigned_to
    assignee = await _nurse_of(session, assignee_id, case.district_id, "assigned_to") if assignee_id else None
    running = shift_at(data.window_start, await shift_times(session, case.municipality_id))
    visit = Visit(
        id=uuid.uuid4(),
        case_id=case.id,
        district_id=case.district_id,
        kind=data.kind,
        status=VisitStatus.PLANNED,
        shift_date=running.day,
        shift_kind=running.kind,
        window_start=data.window_start,
        window_end=data.window_end,
        tasks=[],
        assigned_to=assignee_id,
        alert_id=data.alert_id,
        reason=data.reason,
        updated_at=now,
    )
    session.add(visit)
    await session.flush()
    await audit.record(
        session, actor, "visit.create", case_id=case.id, detail={"visit_id": str(visit.id), "kind": data.kind.value}
    )
    await warnings.record_visit_event(
        session,
        "visit.created",
        visit,
        case.municipality_id,
        actor.user_id,
        visit_kind=data.kind.value,
        user_id=str(assignee_id) if assignee_id else None,
    )
    return visit_out(visit, assignee, now)


# ---- flags ------------------------------------------------------------------------------------


async def resolve_flag(session: AsyncSession, actor: Actor, flag_id: uuid.UUID, now: datetime) -> s.FlagOut:
    """The coordinator has looked at it: resolved, and a board event says so."""
    row = (
        await session.execute(
            select(CaseFlag, Case.municipality_id, Case.district_id)
            .join(Case, Case.id == CaseFlag.case_id)
            .where(CaseFlag.id == flag_id, case_scope(actor))
            .with_for_update(of=CaseFlag)
        )
    ).first()
    if row is None:
        raise not_found("flag")
    flag, municipality_id, district_id = row
    if flag.resolved_at is not None:
        raise Problem(409, "Already resolved", "This flag is already resolved.", rule="already_resolved")
    flag.resolved_at, flag.resolved_by = now, actor.user_id
    await audit.record(session, actor, "case.flag.resolve", case_id=flag.case_id, detail={"flag_id": str(flag.id)})
    await events.emit(
        session,
        "case.flag_resolved",
        municipality_id,
        district_id=district_id,
        case_id=flag.case_id,
        actor_id=actor.user_id,
        payload={"flag_id": str(flag.id), "kind": flag.kind},
    )
    return s.FlagOut(
        id=flag.id,
        case_id=flag.case_id,
        district_id=district_id,
        kind=flag.kind,
        detail=flag.detail,
        raised_at=flag.raised_at,
        resolved_at=flag.resolved_at,
        resolved_by=flag.resolved_by,
    )
