"""Visits made directly in the database (the generation job is not ours), and the phone's calls."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec
from httpx import Response
from sqlalchemy import func, select, update

from backend.clock import Clock
from backend.roster.shifts import Shift, shift_at
from backend.visits.models import Event, Visit
from mobile_api.schemas import MyShift
from tests.cases.helpers import Client, Sessions, create_case, write_headers
from tests.factories import Login, World

SHIFT_NOW = "current"


def current_shift(clock: Clock) -> Shift:
    return shift_at(clock.now())


def at(clock: Clock, minutes: float = 0) -> str:
    """A device time `minutes` from now, as the phone sends it (with its offset)."""
    return (clock.now() + timedelta(minutes=minutes)).isoformat()


async def new_case(client: Client, world: World, clock: Clock, **overrides: Any) -> str:
    """A case in district A (unless told otherwise), referred three days ago; its id."""
    district = overrides.pop("district_id", world.district_a)
    overrides.setdefault("phase", "terminal")
    created = await create_case(client, world.coordinator, district, clock.today() - timedelta(days=3), **overrides)
    return str(created["id"])


async def add_visit(
    sessions: Sessions,
    clock: Clock,
    case_id: str,
    district_id: uuid.UUID,
    assigned_to: uuid.UUID | None,
    *,
    minutes: int = 60,
    length: int = 60,
    status: str = "planned",
    tasks: Sequence[str] = ("Tjek sprøjtepumpe", "Mundpleje"),
    shift: Shift | None = None,
) -> str:
    """A planned visit whose window starts `minutes` after the start of the shift running now."""
    shift = shift or current_shift(clock)
    start = shift.starts + timedelta(minutes=minutes)
    async with sessions() as session, session.begin():
        visit = Visit(
            case_id=uuid.UUID(case_id),
            district_id=district_id,
            kind="planned",
            status=status,
            shift_date=shift.day,
            shift_kind=shift.kind.value,
            window_start=start,
            window_end=start + timedelta(minutes=length),
            tasks=list(tasks),
            assigned_to=assigned_to,
        )
        session.add(visit)
        await session.flush()
        return str(visit.id)


async def change_visit(sessions: Sessions, visit_id: str, **values: Any) -> None:
    """What a coordinator does meanwhile (reassign, cancel), straight in the database."""
    async with sessions() as session, session.begin():
        await session.execute(update(Visit).where(Visit.id == uuid.UUID(visit_id)).values(**values))


async def visit_row(sessions: Sessions, visit_id: str) -> Visit:
    async with sessions() as session:
        return await session.get_one(Visit, uuid.UUID(visit_id))


async def events(sessions: Sessions, case_id: str, kind: str) -> list[Event]:
    async with sessions() as session:
        query = select(Event).where(Event.case_id == uuid.UUID(case_id), Event.kind == kind).order_by(Event.id)
        return list((await session.scalars(query)).all())


async def count(sessions: Sessions, model: Any, **where: Any) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await session.scalar(query) or 0)


async def phone_post(client: Client, login: Login, path: str, body: Any, key: str | None = None) -> Response:
    return await client.post(f"/mobile/v1{path}", json=body, headers=write_headers(login, key))


async def check_in(client: Client, login: Login, clock: Clock, visit_id: str, minutes: float = 0) -> dict[str, Any]:
    response = await phone_post(client, login, f"/visits/{visit_id}/check-in", {"device_time": at(clock, minutes)})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def my_shift(client: Client, login: Login, **params: str) -> dict[str, Any]:
    """The answer, held to the published schema: every field there with its type, nothing more, and
    each value spelled as the application's own encoder spells it (times in UTC with `Z`)."""
    response = await client.get("/mobile/v1/my-shift", params=params, headers=login.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    typed = msgspec.json.decode(response.content, type=MyShift, strict=True)
    result: dict[str, Any] = response.json()
    assert msgspec.json.decode(msgspec.json.encode(typed)) == result
    return result
