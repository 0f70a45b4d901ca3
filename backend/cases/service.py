"""Cases: creating, changing and listing them, within the actor's scope, audited."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import date, datetime

import msgspec
from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.cases import cpr as cpr_rules
from backend.cases import schemas as s
from backend.cases.access import case_scope
from backend.cases.models import Case, Citizen, HomeDeathWish, Phase, Status
from backend.cases.rules import NEXT_STATUSES, deadline_state, due_soon_limit, referral_deadlines
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.models import Organisation


async def get_case_for_change(session: AsyncSession, actor: Actor, case_id: uuid.UUID) -> Case:
    """The case row, locked for this transaction, if the actor may see it (else 404)."""
    case = (await session.scalars(select(Case).where(Case.id == case_id, case_scope(actor)).with_for_update())).first()
    if case is None:
        raise not_found("case")
    return case


async def _check_district(session: AsyncSession, actor: Actor, district_id: uuid.UUID) -> None:
    found = await session.scalar(
        select(Organisation.id).where(
            Organisation.id == district_id,
            Organisation.kind == "district",
            Organisation.parent_id == actor.municipality_id,
        )
    )
    if found is None:
        raise Problem(422, "Unknown district", "The district is not one of your municipality's.", field="district_id")


def _cpr(raw: str) -> str:
    try:
        return cpr_rules.normalise(raw)
    except cpr_rules.InvalidCpr as exc:
        raise Problem(422, "Invalid CPR number", str(exc), field="cpr") from None


def list_item(case: Case, citizen: Citizen, today: date) -> s.CaseListItem:
    states = (
        deadline_state(case.first_contact_due, case.first_contact_on, today),
        deadline_state(case.assessment_due, case.assessment_on, today),
    )
    deadline = "overdue" if "overdue" in states else "due_soon" if "due_soon" in states else None
    return s.CaseListItem(
        id=case.id,
        cpr_masked=cpr_rules.mask(citizen.cpr),
        name=citizen.name,
        district_id=case.district_id,
        status=Status(case.status),
        phase=Phase(case.phase),
        home_death_wish=HomeDeathWish(case.home_death_wish) if case.home_death_wish else None,
        referral_received_on=case.referral_received_on,
        first_contact_due=case.first_contact_due,
        assessment_due=case.assessment_due,
        deadline=deadline if case.status not in (Status.DECEASED, Status.CLOSED) else None,
        updated_at=case.updated_at,
    )


async def create_case(session: AsyncSession, actor: Actor, data: s.CaseCreate, today: date) -> s.CaseListItem:
    """A referral received: the citizen (found by CPR or new) gets a case in `referred`."""
    number = _cpr(data.cpr)
    await _check_district(session, actor, data.district_id)
    if data.referral.received_on > today:
        raise Problem(
            422,
            "Date in the future",
            "A referral cannot be received in the future.",
            field="referral.received_on",
        )
    citizen = (await session.scalars(select(Citizen).where(Citizen.cpr == number).with_for_update())).first()
    if citizen is None:
        citizen = Citizen(cpr=number, name=data.name, address=data.address, phone=data.phone)
        session.add(citizen)
        await session.flush()
    else:
        open_case = await session.scalar(
            select(Case.id).where(Case.citizen_id == citizen.id, Case.status != Status.CLOSED)
        )
        if open_case is not None:
            raise Problem(
                409,
                "Citizen already has a case",
                "This citizen already has an open case.",
                field="cpr",
                rule="one_open_case",
            )
        citizen.name, citizen.address, citizen.phone = data.name, data.address, data.phone
    first_contact_due, assessment_due = referral_deadlines(data.referral.received_on)
    case = Case(
        citizen_id=citizen.id,
        municipality_id=actor.municipality_id,
        district_id=data.district_id,
        diagnosis=data.diagnosis,
        icd10=data.icd10,
        phase=data.phase,
        status=Status.REFERRED,
        referral_received_on=data.referral.received_on,
        referral_source=data.referral.source,
        first_contact_due=first_contact_due,
        assessment_due=assessment_due,
        terminal_grant="not_applied",
        carers_leave="not_applied",
    )
    session.add(case)
    await session.flush()
    await session.refresh(case)
    await audit.record(session, actor, "case.create", case_id=case.id)
    return list_item(case, citizen, today)


_CITIZEN_FIELDS = ("name", "address", "phone")


async def update_case(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: s.CaseUpdate, now: datetime, today: date
) -> s.CaseListItem:
    """Change the fields sent, and only those; the audit row names the fields, not their values."""
    case = await get_case_for_change(session, actor, case_id)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if not changes:
        raise Problem(422, "Nothing to change", "Send at least one field to change.", field="$")
    if "district_id" in changes:
        await _check_district(session, actor, changes["district_id"])
    if changes.get("terminal_declared_on") and changes["terminal_declared_on"] > today:
        raise Problem(
            422,
            "Date in the future",
            "A terminal declaration cannot be dated in the future.",
            field="terminal_declared_on",
        )
    citizen = await session.get_one(Citizen, case.citizen_id)
    for name, value in changes.items():
        setattr(citizen if name in _CITIZEN_FIELDS else case, name, value)
    case.updated_at = now
    await audit.record(session, actor, "case.update", case_id=case.id, detail={"fields": sorted(changes)})
    return list_item(case, citizen, today)


async def change_status(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, status: Status, now: datetime, today: date
) -> s.CaseListItem:
    case = await get_case_for_change(session, actor, case_id)
    current = Status(case.status)
    if status == Status.DECEASED:
        raise Problem(
            422,
            "Register the death",
            "A case becomes deceased by registering the death.",
            field="status",
            rule="use_death_registration",
        )
    if status not in NEXT_STATUSES[current]:
        raise Problem(
            422,
            "Status step not allowed",
            f"A {current.value} case cannot become {status.value}.",
            field="status",
            rule="status_transition",
        )
    case.status = status
    case.updated_at = now
    await audit.record(
        session, actor, "case.status", case_id=case.id, detail={"from": current.value, "to": status.value}
    )
    citizen = await session.get_one(Citizen, case.citizen_id)
    return list_item(case, citizen, today)


async def refer_to_unit(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, now: datetime, today: date
) -> s.CaseListItem:
    """Open the case to the palliative unit serving the municipality."""
    case = await get_case_for_change(session, actor, case_id)
    if case.status in (Status.DECEASED, Status.CLOSED):
        raise Problem(
            422,
            "Case has ended",
            "A deceased or closed case cannot be referred.",
            field="status",
            rule="case_ended",
        )
    if case.unit_referred_at is None:
        case.unit_referred_at = now
        case.updated_at = now
        await audit.record(session, actor, "case.unit_referral", case_id=case.id)
    citizen = await session.get_one(Citizen, case.citizen_id)
    return list_item(case, citizen, today)


# ---- the list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilters:
    district_id: uuid.UUID | None = None
    status: Status | None = None
    phase: Phase | None = None
    deadline: str | None = None  # "overdue" | "due_soon"
    home_death_wish: HomeDeathWish | None = None


def encode_cursor(received_on: date, case_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{received_on.isoformat()}|{case_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[date, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        day, _, ident = raw.partition("|")
        return date.fromisoformat(day), uuid.UUID(ident)
    except ValueError:
        raise Problem(
            400, "Invalid cursor", "Use the next_cursor of the previous page as it is.", field="cursor"
        ) from None


def _filtered(query: Select[tuple[Case, Citizen]], filters: CaseFilters, today: date) -> Select[tuple[Case, Citizen]]:
    if filters.district_id is not None:
        query = query.where(Case.district_id == filters.district_id)
    if filters.status is not None:
        query = query.where(Case.status == filters.status)
    if filters.phase is not None:
        query = query.where(Case.phase == filters.phase)
    if filters.home_death_wish is not None:
        query = query.where(Case.home_death_wish == filters.home_death_wish)
    if filters.deadline is not None:
        running = Case.status.not_in([Status.DECEASED, Status.CLOSED])
        if filters.deadline == "overdue":
            late = or_(
                and_(Case.first_contact_on.is_(None), Case.first_contact_due < today),
                and_(Case.assessment_on.is_(None), Case.assessment_due < today),
            )
        else:
            limit = due_soon_limit(today)
            late = or_(
                and_(Case.first_contact_on.is_(None), Case.first_contact_due.between(today, limit)),
                and_(Case.assessment_on.is_(None), Case.assessment_due.between(today, limit)),
            )
        query = query.where(running, late)
    return query


async def list_cases(
    session: AsyncSession, actor: Actor, filters: CaseFilters, cursor: str | None, limit: int, today: date
) -> s.CaseList:
    """Newest referrals first, a page at a time; each case shown is an audited read."""
    query = select(Case, Citizen).join(Citizen, Citizen.id == Case.citizen_id).where(case_scope(actor))
    query = _filtered(query, filters, today)
    if cursor:
        after_day, after_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Case.referral_received_on < after_day,
                and_(Case.referral_received_on == after_day, Case.id < after_id),
            )
        )
    rows = (
        await session.execute(query.order_by(Case.referral_received_on.desc(), Case.id.desc()).limit(limit + 1))
    ).all()
    page = rows[:limit]
    items = [list_item(case, citizen, today) for case, citizen in page]
    await audit.record_case_reads(session, actor, "case.list", [item.id for item in items])
    next_cursor = encode_cursor(page[-1][0].referral_received_on, page[-1][0].id) if len(rows) > limit else None
    return s.CaseList(items=items, next_cursor=next_cursor)


async def touch(session: AsyncSession, case_id: uuid.UUID, now: datetime) -> None:
    """Mark the case changed (the list shows when it last changed)."""
    await session.execute(update(Case).where(Case.id == case_id).values(updated_at=now))
