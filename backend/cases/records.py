"""What is recorded on a case besides its core fields: wishes, anticipatory medicine, relatives and
status notes. The care team, referral dates and action plan are in `backend.cases.care`; admission,
leave, death and closing are the course of the case, in `backend.course`.

Every write locks the case (404 when it is not the actor's), marks it changed and writes one audit
row naming ids and fields only, all in the request's transaction: a refused write leaves nothing.

After death the case still takes what bereavement and clearing the home need: status notes,
relatives (children's support, contact details) and the removal of medicine left in the home.
Everything else is refused on a deceased case, and everything on a closed one (rule `case_ended`).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.cases import page
from backend.cases import record_schemas as r
from backend.cases import schemas as s
from backend.cases.models import Case, HomeDeathWish, Medicine, Place, Relative, Status, StatusNote, Wish
from backend.cases.service import get_case_for_change
from backend.errors import Problem, not_found
from backend.people.actor import Actor

# ---- shared ------------------------------------------------------------------------------------


async def open_case(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    now: datetime,
    *,
    after_death: bool = False,
    locked: Case | None = None,
) -> Case:
    """The case, locked and marked changed, if a record may still be written on it.

    `after_death` lets the bereavement writes through on a deceased case; a closed case takes none.
    `locked` is the case when the caller already holds its lock, loaded in the actor's scope (not read again).
    """
    case = locked if locked is not None and locked.id == case_id else await get_case_for_change(session, actor, case_id)
    if case.status == Status.CLOSED or (case.status == Status.DECEASED and not after_death):
        raise Problem(
            422,
            "Case has ended",
            f"This cannot be recorded on a {case.status} case.",
            rule="case_ended",
        )
    case.updated_at = now
    return case


def check_text(value: object, path: str = "") -> None:
    """Refuse text that is only whitespace, naming the field's dotted path (the edge, `backend.wire`,
    has refused control characters already)."""
    if isinstance(value, str):
        if not value.strip():
            raise Problem(422, "Empty text", "Write something, not only spaces.", field=path)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            check_text(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{path}[{index}]")


def not_in_future(day: date, today: date, field: str) -> None:
    if day > today:
        raise Problem(422, "Date in the future", "This date cannot be in the future.", field=field)


def changes_sent(data: msgspec.Struct) -> dict[str, Any]:
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if not changes:
        raise Problem(422, "Nothing to change", "Send at least one field to change.", field="$")
    return changes


# ---- wishes ------------------------------------------------------------------------------------


def _place_of_death(data: r.WishIn) -> Place | None:
    """The preferred place of death, which must agree with the answer about dying at home."""
    place = data.preferred_place_of_death
    if data.dies_at_home == HomeDeathWish.YES:
        if place is None:
            return Place.HOME
        if place != Place.HOME:
            raise Problem(
                422,
                "Wish contradicts itself",
                "Wishing to die at home means the preferred place of death is the home.",
                field="preferred_place_of_death",
                rule="wish_contradiction",
            )
    elif data.dies_at_home == HomeDeathWish.NO and place == Place.HOME:
        raise Problem(
            422,
            "Wish contradicts itself",
            "Not wishing to die at home, the preferred place of death cannot be the home.",
            field="preferred_place_of_death",
            rule="wish_contradiction",
        )
    return place


async def add_wish(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: r.WishIn, now: datetime, today: date
) -> s.WishOut:
    """A new wish row every time (history is kept); the case keeps the newest answer for lists."""
    case = await open_case(session, actor, case_id, now)
    check_text(data)
    not_in_future(data.discussed_on, today, "discussed_on")
    wish = Wish(
        case_id=case.id,
        dies_at_home=data.dies_at_home,
        preferred_place_of_care=data.preferred_place_of_care,
        preferred_place_of_death=_place_of_death(data),
        discussed_on=data.discussed_on,
        discussed_with=data.discussed_with,
        recorded_by=actor.user_id,
        recorded_at=now,
    )
    session.add(wish)
    await session.flush()
    case.home_death_wish = data.dies_at_home
    await audit.record(session, actor, "case.wish.add", case_id=case.id, detail={"wish_id": str(wish.id)})
    return msgspec.convert(wish, s.WishOut, from_attributes=True)


# ---- anticipatory medicine ---------------------------------------------------------------------


def _medicine_out(medicine: Medicine, today: date) -> s.MedicineOut:
    out = msgspec.convert(medicine, s.MedicineOut, from_attributes=True)
    page.medicine_status([out], today)  # sets the state the case page would show
    return out


async def add_medicine(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: r.MedicineIn, now: datetime, today: date
) -> s.MedicineOut:
    case = await open_case(session, actor, case_id, now)
    check_text(data)
    if data.expires_on < today:
        raise Problem(
            422, "Already expired", "Expired medicine does not count as medicine in the home.", field="expires_on"
        )
    medicine = Medicine(
        case_id=case.id,
        indication=data.indication,
        drug=data.drug,
        strength=data.strength,
        quantity=data.quantity,
        expires_on=data.expires_on,
        recorded_by=actor.user_id,
        recorded_at=now,
    )
    session.add(medicine)
    await session.flush()
    await audit.record(session, actor, "case.medicine.add", case_id=case.id, detail={"medicine_id": str(medicine.id)})
    return _medicine_out(medicine, today)


async def remove_medicine(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    medicine_id: uuid.UUID,
    data: r.MedicineRemoval,
    now: datetime,
    today: date,
) -> s.MedicineOut:
    """No longer in the home; the row stays for the record. Allowed after death (clearing the home)."""
    case = await open_case(session, actor, case_id, now, after_death=True)
    medicine = (
        await session.scalars(
            select(Medicine).where(Medicine.id == medicine_id, Medicine.case_id == case.id).with_for_update()
        )
    ).first()
    if medicine is None:
        raise not_found("medicine")
    if medicine.removed_at is not None:
        raise Problem(409, "Already removed", "This medicine is already recorded as removed.", rule="already_removed")
    medicine.removed_at = now
    await audit.record(
        session,
        actor,
        "case.medicine.remove",
        case_id=case.id,
        detail={"medicine_id": str(medicine.id), "reason": data.reason.value},
    )
    return _medicine_out(medicine, today)


# ---- relatives ---------------------------------------------------------------------------------


def relative_out(relative: Relative, today: date) -> s.RelativeOut:
    """As the case page shows it (age, child, support still to offer)."""
    return page._relative(msgspec.convert(relative, page._RelativeRow, from_attributes=True), today)


def _check_birth_year(year: int | None, today: date) -> None:
    if year is not None and not 1900 <= year <= today.year:
        raise Problem(422, "Invalid birth year", f"A birth year is from 1900 to {today.year}.", field="birth_year")


async def _unset_primary(session: AsyncSession, case_id: uuid.UUID, keep: uuid.UUID | None) -> None:
    """At most one primary contact per case: the new one replaces the old."""
    query = update(Relative).where(
        Relative.case_id == case_id, Relative.removed_at.is_(None), Relative.primary_contact.is_(True)
    )
    if keep is not None:
        query = query.where(Relative.id != keep)
    await session.execute(query.values(primary_contact=False))


async def _relative_for_change(session: AsyncSession, case_id: uuid.UUID, relative_id: uuid.UUID) -> Relative:
    relative = (
        await session.scalars(
            select(Relative).where(Relative.id == relative_id, Relative.case_id == case_id).with_for_update()
        )
    ).first()
    if relative is None:
        raise not_found("relative")
    return relative


async def add_relative(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: r.RelativeIn, now: datetime, today: date
) -> s.RelativeOut:
    """Allowed after death: bereavement follow-up reaches relatives, children first."""
    case = await open_case(session, actor, case_id, now, after_death=True)
    check_text(data)
    _check_birth_year(data.birth_year, today)
    if data.primary_contact:
        await _unset_primary(session, case.id, None)
    relative = Relative(case_id=case.id, created_at=now, **msgspec.structs.asdict(data))
    session.add(relative)
    await session.flush()
    await audit.record(session, actor, "case.relative.add", case_id=case.id, detail={"relative_id": str(relative.id)})
    return relative_out(relative, today)


async def update_relative(
    session: AsyncSession,
    actor: Actor,
    case_id: uuid.UUID,
    relative_id: uuid.UUID,
    data: r.RelativeUpdate,
    now: datetime,
    today: date,
) -> s.RelativeOut:
    """Change the fields sent; allowed after death (e.g. support offered to a child in bereavement)."""
    case = await open_case(session, actor, case_id, now, after_death=True)
    relative = await _relative_for_change(session, case.id, relative_id)
    if relative.removed_at is not None:
        raise not_found("relative")
    changes = changes_sent(data)
    check_text(data)
    if "birth_year" in changes:
        _check_birth_year(changes["birth_year"], today)
    if changes.get("primary_contact"):
        await _unset_primary(session, case.id, relative.id)
    for name, value in changes.items():
        setattr(relative, name, value)
    await audit.record(
        session,
        actor,
        "case.relative.update",
        case_id=case.id,
        detail={"relative_id": str(relative.id), "fields": sorted(changes)},
    )
    return relative_out(relative, today)


async def remove_relative(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, relative_id: uuid.UUID, now: datetime, today: date
) -> s.RelativeOut:
    """No longer shown on the case; the row stays for the record."""
    case = await open_case(session, actor, case_id, now, after_death=True)
    relative = await _relative_for_change(session, case.id, relative_id)
    if relative.removed_at is not None:
        raise Problem(409, "Already removed", "This relative is already removed.", rule="already_removed")
    relative.removed_at = now
    await audit.record(
        session, actor, "case.relative.remove", case_id=case.id, detail={"relative_id": str(relative.id)}
    )
    return relative_out(relative, today)


# ---- status notes ------------------------------------------------------------------------------


async def add_status_note(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: r.StatusNoteIn, now: datetime
) -> s.StatusNoteOut:
    """A significant change in the citizen's health; allowed after death (the death, bereavement)."""
    case = await open_case(session, actor, case_id, now, after_death=True)
    check_text(data)
    note = StatusNote(case_id=case.id, text=data.text, author_id=actor.user_id, created_at=now)
    session.add(note)
    await session.flush()
    await audit.record(session, actor, "case.status_note.add", case_id=case.id, detail={"status_note_id": str(note.id)})
    return msgspec.convert(note, s.StatusNoteOut, from_attributes=True)
