"""Setting up visits and bedside records directly in the database, as the plan generator and the
phone would have left them, and reading back the board's events and audit rows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from backend.audit.models import AuditEntry
from backend.clock import COPENHAGEN, Clock
from backend.config import Settings
from backend.people.tokens import AccessClaims, issue_access_token
from backend.roster.shifts import shift_at
from backend.visits.bedside import ESAS_R_ITEMS
from backend.visits.models import CaseFlag, Event, MedicineGiven, SymptomAssessment, Visit, VisitNote
from tests.cases.helpers import Client, Sessions, create_case
from tests.factories import World, build_world


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A Copenhagen wall-clock time as a UTC instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=COPENHAGEN).astimezone(UTC)


def set_clock(clock: Clock, instant: datetime) -> None:
    """Move the service's clock so that it reads `instant` now (tests restore it with `restore_clock`)."""
    clock.offset = timedelta(0)
    clock.offset = instant - clock.now()


def move_to(clock: Clock, instant: datetime, settings: Settings, *worlds: World) -> None:
    """Move the clock and give everyone in `worlds` a token valid at the new time (tokens last minutes)."""
    set_clock(clock, instant)
    for world in worlds:
        for login in world.users.values():
            claims = AccessClaims(login.user_id, login.device_id, login.role.value)
            login.token = issue_access_token(settings.secret_key, claims, clock.now(), settings.access_token_minutes)


async def world_at(sessions: Sessions, settings: Settings, clock: Clock, instant: datetime) -> World:
    """A fresh municipality whose logins are valid at `instant`."""
    set_clock(clock, instant)
    return await build_world(sessions, settings, clock)


async def make_case(client: Client, world: World, clock: Clock, district: str = "a", **overrides: Any) -> uuid.UUID:
    district_id = world.district_a if district == "a" else world.district_b
    created = await create_case(client, world.coordinator, district_id, clock.today() - timedelta(days=5), **overrides)
    return uuid.UUID(created["id"])


async def add_visit(
    sessions: Sessions,
    case_id: uuid.UUID,
    district_id: uuid.UUID,
    start: datetime,
    minutes: int = 60,
    *,
    status: str = "planned",
    assigned_to: uuid.UUID | None = None,
    kind: str = "planned",
    **columns: Any,
) -> uuid.UUID:
    """A visit row labelled with the shift its window starts in (default shift times)."""
    running = shift_at(start)
    visit = Visit(
        id=uuid.uuid4(),
        case_id=case_id,
        district_id=district_id,
        kind=kind,
        status=status,
        shift_date=running.day,
        shift_kind=running.kind.value,
        window_start=start,
        window_end=start + timedelta(minutes=minutes),
        tasks=columns.pop("tasks", []),
        assigned_to=assigned_to,
        **columns,
    )
    async with sessions() as session, session.begin():
        session.add(visit)
    return visit.id


async def add_rows(sessions: Sessions, *rows: Any) -> None:
    async with sessions() as session, session.begin():
        session.add_all(rows)


def scores(**items: int) -> dict[str, int]:
    return {name: items.get(name, 1) for name in ESAS_R_ITEMS}


def assessment(case_id: uuid.UUID, by: uuid.UUID, at: datetime, **items: int) -> SymptomAssessment:
    return SymptomAssessment(
        id=uuid.uuid4(), case_id=case_id, instrument="ESAS-r", scores=scores(**items), recorded_at=at, recorded_by=by
    )


def medicine(case_id: uuid.UUID, by: uuid.UUID, at: datetime, **columns: Any) -> MedicineGiven:
    values: dict[str, Any] = {"drug": "Morfin", "dose": 2.5, "unit": "mg", "route": "sc", "reason": "Smerter"}
    return MedicineGiven(id=uuid.uuid4(), case_id=case_id, given_at=at, recorded_by=by, **(values | columns))


def note(case_id: uuid.UUID, by: uuid.UUID, at: datetime, text: str, **columns: Any) -> VisitNote:
    return VisitNote(id=uuid.uuid4(), case_id=case_id, text=text, written_at=at, author_id=by, **columns)


def flag(case_id: uuid.UUID, kind: str, at: datetime, **columns: Any) -> CaseFlag:
    return CaseFlag(
        id=uuid.uuid4(), case_id=case_id, kind=kind, detail=columns.pop("detail", {}), raised_at=at, **columns
    )


async def visit_row(sessions: Sessions, visit_id: uuid.UUID) -> Visit:
    async with sessions() as session:
        return await session.get_one(Visit, visit_id)


async def visit_events(sessions: Sessions, visit_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """The board events about a visit, oldest first: (kind, payload)."""
    async with sessions() as session:
        rows = await session.execute(
            select(Event.kind, Event.payload).where(Event.visit_id == visit_id).order_by(Event.id)
        )
        return [(kind, payload) for kind, payload in rows]


async def case_events(sessions: Sessions, case_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Event.kind, Event.payload).where(Event.case_id == case_id).order_by(Event.id)
        )
        return [(kind, payload) for kind, payload in rows]


async def audit_actions(sessions: Sessions, case_id: uuid.UUID) -> list[str]:
    """The case's audit actions, oldest first."""
    async with sessions() as session:
        query = select(AuditEntry.action).where(AuditEntry.case_id == case_id).order_by(AuditEntry.id)
        return list((await session.scalars(query)).all())
