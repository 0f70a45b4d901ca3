"""Cases: creating, changing and listing them, within the actor's scope, audited."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import msgspec
from sqlalchemy import select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.cases import cpr as cpr_rules
from backend.cases import schemas as s
from backend.cases.access import Positional, case_scope, scope_sql
from backend.cases.models import Case, Citizen, HomeDeathWish, Phase, Status
from backend.cases.rules import deadline_state, due_soon_limit, referral_deadlines
from backend.errors import Problem, not_found
from backend.people.actor import Actor, SystemActor
from backend.people.models import Organisation


async def get_case_for_change(session: AsyncSession, actor: Actor | SystemActor, case_id: uuid.UUID) -> Case:
    """The case row, locked for this transaction, if the actor may see it (else 404).

    A system (a hospital notice) has no scope: its caller found the case within the client's municipality.

    FOR NO KEY UPDATE: changes to the case queue behind each other, but rows that merely point at the
    case (an event, an alert, a flag, whose foreign keys take a key-share lock) are not held up.
    """
    scope = true() if isinstance(actor, SystemActor) else case_scope(actor)
    case = (
        await session.scalars(select(Case).where(Case.id == case_id, scope).with_for_update(key_share=True))
    ).first()
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


def list_item(row: Mapping[str, Any], today: date) -> s.CaseListItem:
    """A case as lists show it: the CPR masked, the worst deadline state."""
    states = (
        deadline_state(row["first_contact_due"], row["first_contact_on"], today),
        deadline_state(row["assessment_due"], row["assessment_on"], today),
    )
    deadline = "overdue" if "overdue" in states else "due_soon" if "due_soon" in states else None
    return s.CaseListItem(
        id=row["id"],
        cpr_masked=cpr_rules.mask(row["cpr"]),
        name=row["name"],
        district_id=row["district_id"],
        status=Status(row["status"]),
        phase=Phase(row["phase"]),
        home_death_wish=HomeDeathWish(row["home_death_wish"]) if row["home_death_wish"] else None,
        referral_received_on=row["referral_received_on"],
        first_contact_due=row["first_contact_due"],
        assessment_due=row["assessment_due"],
        deadline=deadline if row["status"] not in (Status.DECEASED, Status.CLOSED) else None,
        updated_at=row["updated_at"],
    )


_LIST_COLUMNS = (
    "id",
    "district_id",
    "status",
    "phase",
    "home_death_wish",
    "referral_received_on",
    "first_contact_due",
    "assessment_due",
    "first_contact_on",
    "assessment_on",
    "updated_at",
)


def item_of(case: Case, citizen: Citizen, today: date) -> s.CaseListItem:
    values = {name: getattr(case, name) for name in _LIST_COLUMNS}
    return list_item(values | {"cpr": citizen.cpr, "name": citizen.name}, today)


async def _own_citizen(session: AsyncSession, actor: Actor, number: str, data: s.CaseCreate) -> Citizen:
    """The caller's municipality's citizen with this CPR, new or without an open case, locked.

    Only the caller's municipality is looked in: another municipality's citizen of the same CPR is
    another row, never found, changed or hinted at. The row is inserted with ON CONFLICT DO NOTHING
    and then read locked, so a registration racing another for the same new CPR waits for it and
    finds its case, instead of failing on the unique key (whose error puts the CPR in PostgreSQL's log).
    """
    inserted = await session.scalar(
        pg_insert(Citizen)
        .values(
            id=uuid.uuid4(),
            municipality_id=actor.municipality_id,
            cpr=number,
            name=data.name,
            address=data.address,
            phone=data.phone,
        )
        .on_conflict_do_nothing(index_elements=[Citizen.municipality_id, Citizen.cpr])
        .returning(Citizen.id)
    )
    citizen = (
        await session.scalars(
            select(Citizen)
            .where(Citizen.municipality_id == actor.municipality_id, Citizen.cpr == number)
            .with_for_update()
        )
    ).one()
    if inserted is not None:
        return citizen
    open_case = await session.scalar(select(Case.id).where(Case.citizen_id == citizen.id, Case.status != Status.CLOSED))
    if open_case is not None:
        raise Problem(
            409,
            "Citizen already has a case",
            "This citizen already has an open case.",
            field="cpr",
            rule="one_open_case",
        )
    citizen.name, citizen.address, citizen.phone = data.name, data.address, data.phone
    return citizen


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
    citizen = await _own_citizen(session, actor, number, data)
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
    return item_of(case, citizen, today)


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
    return item_of(case, citizen, today)


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
    return item_of(case, citizen, today)


# ---- the list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilters:
    district_id: uuid.UUID | None = None
    status: Status | None = None
    phase: Phase | None = None
    deadline: str | None = None  # "overdue" | "due_soon"
    home_death_wish: HomeDeathWish | None = None
    ids: tuple[uuid.UUID, ...] = ()


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


# The page and its audit rows (one per case shown) are one statement.
_LIST_SQL = """
WITH page AS (
    SELECT {columns}, citizens.cpr, citizens.name
    FROM cases JOIN citizens ON citizens.id = cases.citizen_id
    WHERE {where}
    ORDER BY cases.referral_received_on DESC, cases.id DESC
    LIMIT {limit} + 1
),
audit AS (
    INSERT INTO audit_log (user_id, role, action, case_id, request_id)
    SELECT $1, $2, 'case.list', id, $3
    FROM (SELECT id FROM page ORDER BY referral_received_on DESC, id DESC LIMIT {limit}) AS shown
)
SELECT * FROM page ORDER BY referral_received_on DESC, id DESC
"""


def _conditions(actor: Actor, filters: CaseFilters, cursor: str | None, today: date, bind: Positional) -> list[str]:
    where = [f"({scope_sql(actor, bind)})"]
    for column in ("district_id", "status", "phase", "home_death_wish"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"cases.{column} = {bind(value)}")
    if filters.ids:
        where.append(f"cases.id = ANY(CAST({bind(list(filters.ids))} AS uuid[]))")
    if filters.deadline is not None:
        low, high = (None, bind(today)) if filters.deadline == "overdue" else (bind(today), bind(due_soon_limit(today)))
        within = f"< {high}" if low is None else f"BETWEEN {low} AND {high}"
        where.append(
            "cases.status NOT IN ('deceased', 'closed') AND ("
            f"(cases.first_contact_on IS NULL AND cases.first_contact_due {within}) OR "
            f"(cases.assessment_on IS NULL AND cases.assessment_due {within}))"
        )
    if cursor:
        after_day, after_id = decode_cursor(cursor)
        day, ident = bind(after_day), bind(after_id)
        where.append(f"(cases.referral_received_on, cases.id) < ({day}, {ident})")
    return where


async def list_cases(
    pg: asyncpg.Connection, actor: Actor, filters: CaseFilters, cursor: str | None, limit: int, today: date
) -> s.CaseList:
    """Newest referrals first, a page at a time; each case shown is an audited read."""
    bind = Positional(actor.user_id, actor.role.value, actor.request_id)
    where = " AND ".join(_conditions(actor, filters, cursor, today, bind))
    sql = _LIST_SQL.format(columns=", ".join(f"cases.{c}" for c in _LIST_COLUMNS), where=where, limit=int(limit))
    rows = await pg.fetch(sql, *bind.values)
    items = [list_item(row, today) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = encode_cursor(last["referral_received_on"], last["id"]) if last else None
    return s.CaseList(items=items, next_cursor=next_cursor)


async def touch(session: AsyncSession, case_id: uuid.UUID, now: datetime) -> None:
    """Mark the case changed (the list shows when it last changed)."""
    await session.execute(update(Case).where(Case.id == case_id).values(updated_at=now))
