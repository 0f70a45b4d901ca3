"""The stays as rows: find the citizen a notice is about, and apply the notice to their stay."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.messages.codes import Kind, Variant
from backend.messages.models import HospitalStay, InboxMessage, StayNotice, StayStatus
from backend.messages.stays import Notice, StayChange, StayView, fold
from backend.messages.validation import Notification


@dataclass(frozen=True, slots=True)
class Person:
    citizen_id: uuid.UUID
    case_id: uuid.UUID | None


_CITIZEN_WITH_CASE = text(
    """
    SELECT c.id AS citizen_id, k.id AS case_id
    FROM citizens c JOIN cases k ON k.citizen_id = c.id AND k.status <> 'closed'
    WHERE c.municipality_id = :municipality AND c.cpr = :cpr
    """
)


async def lock_keys(session: AsyncSession, municipality_id: uuid.UUID, keys: list[str]) -> None:
    """Serialise, until the transaction ends, the work of every instance on these keys."""
    for key in sorted(keys):
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"{municipality_id}:{key}"}
        )


async def find_stay(session: AsyncSession, municipality_id: uuid.UUID, keys: tuple[str, ...]) -> HospitalStay | None:
    query = select(HospitalStay).where(
        HospitalStay.municipality_id == municipality_id,
        or_(HospitalStay.episode_key.in_(keys), HospitalStay.other_keys.overlap(list(keys))),
    )
    return (await session.scalars(query.with_for_update())).first()


async def person_of(
    session: AsyncSession, municipality_id: uuid.UUID, notification: Notification, stay: HospitalStay | None
) -> Person | None:
    """Whose stay this is: the stay's citizen if Lindra follows it already, else a citizen of this
    municipality with a case that is not closed; None: not someone Lindra follows."""
    if stay is not None:
        return Person(stay.citizen_id, stay.case_id)
    row = (
        await session.execute(_CITIZEN_WITH_CASE, {"municipality": municipality_id, "cpr": notification.cpr})
    ).first()
    return None if row is None else Person(row.citizen_id, row.case_id)


def _view(stay: HospitalStay) -> StayView:
    return StayView(
        status=StayStatus(stay.status),
        since=stay.since,
        encounter_class=stay.encounter_class,
        department=stay.department,
        department_sor=stay.department_sor,
        admitted_at=stay.admitted_at,
        leave_started_at=stay.leave_started_at,
        leave_ended_at=stay.leave_ended_at,
        discharged_at=stay.discharged_at,
        died_at=stay.died_at,
    )


def _notice(row: StayNotice) -> Notice:
    return Notice(
        id=row.id,
        kind=Kind(row.kind),
        variant=Variant(row.variant),
        recorded_at=row.recorded_at,
        received_at=row.received_at,
        encounter_class=row.encounter_class,
        deceased=row.deceased,
        period_start=row.period_start,
        period_end=row.period_end,
        leave_start=row.leave_start,
        leave_end=row.leave_end,
        department=row.department,
        department_sor=row.department_sor,
    )


async def apply_notice(
    session: AsyncSession,
    message: InboxMessage,
    notification: Notification,
    person: Person,
    stay: HospitalStay | None,
    now: datetime,
) -> StayChange:
    """Record the notice in the stay's history and fold the history again (see `stays`)."""
    keys = list(notification.episode_keys)
    previous = None if stay is None else _view(stay)
    if stay is None:
        stay = HospitalStay(
            municipality_id=message.municipality_id,
            citizen_id=person.citizen_id,
            case_id=person.case_id,
            episode_key=keys[0],
            other_keys=keys[1:],
            status=StayStatus.VOID,
            encounter_class=notification.encounter_class,
        )
        session.add(stay)
        await session.flush()
    else:
        known = {stay.episode_key, *stay.other_keys}
        stay.other_keys = [*stay.other_keys, *(k for k in keys if k not in known)]
    row = StayNotice(
        stay_id=stay.id,
        message_id=message.id,
        kind=notification.kind.value,
        variant=notification.variant.value,
        event_code="",
        effect="",
        recorded_at=notification.recorded_at,
        received_at=message.received_at,
        encounter_class=notification.encounter_class,
        deceased=notification.deceased,
        period_start=notification.period_start,
        period_end=notification.period_end,
        leave_start=notification.leave_start,
        leave_end=notification.leave_end,
        department=notification.department,
        department_sor=notification.department_sor,
    )
    session.add(row)
    await session.flush()
    history = list((await session.scalars(select(StayNotice).where(StayNotice.stay_id == stay.id))).all())
    folded = fold(_notice(n) for n in history)
    for notice in history:
        notice.event_code, notice.effect = folded.codes[notice.id], folded.effects[notice.id]
    view = folded.view
    stay.status, stay.since, stay.encounter_class = view.status.value, view.since, view.encounter_class
    stay.department, stay.department_sor = view.department, view.department_sor
    stay.admitted_at, stay.leave_started_at, stay.leave_ended_at = (
        view.admitted_at,
        view.leave_started_at,
        view.leave_ended_at,
    )
    stay.discharged_at, stay.died_at, stay.updated_at = view.discharged_at, view.died_at, now
    stay.report_of_admission_requested = stay.report_of_admission_requested or notification.report_of_admission
    return StayChange(
        stay_id=stay.id,
        citizen_id=stay.citizen_id,
        case_id=stay.case_id,
        event_code=folded.codes[row.id],
        previous=previous,
        current=view,
        report_of_admission_requested=stay.report_of_admission_requested,
    )
