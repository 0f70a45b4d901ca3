"""Making cases through the API, as a coordinator would, and reading back what was written."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit.models import AuditEntry
from backend.cases.models import Case
from backend.clock import Clock
from tests.factories import Login, World

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]

_rng = random.SystemRandom()


def valid_cpr() -> str:
    """A CPR number that is valid in form and unique enough for tests sharing one database."""
    born = date(1930, 1, 1) + timedelta(days=_rng.randrange(36 * 365))
    return born.strftime("%d%m%y") + str(_rng.randrange(0, 4)) + f"{_rng.randrange(1000):03d}"


def write_headers(login: Login, key: str | None = None) -> dict[str, str]:
    return login.headers | {"Idempotency-Key": key or str(uuid.uuid4())}


def case_body(district_id: uuid.UUID, received_on: date, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cpr": valid_cpr(),
        "name": "Karen Testesen",
        "address": "Testvej 1, 2200 København N",
        "phone": "+45 12 34 56 78",
        "district_id": str(district_id),
        "diagnosis": "Lungekræft med knoglemetastaser",
        "icd10": "C34.9",
        "phase": "late",
        "referral": {"received_on": received_on.isoformat(), "source": "hospital_ref01"},
    }
    body.update(overrides)
    return body


async def create_case(
    client: Client, login: Login, district_id: uuid.UUID, received_on: date, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/cases", json=case_body(district_id, received_on, **overrides), headers=write_headers(login)
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def terminal_case(client: Client, world: World, clock: Clock, days_ago: int = 3) -> str:
    """A terminal case in district A, referred `days_ago` days ago; its id."""
    created = await create_case(
        client, world.coordinator, world.district_a, clock.today() - timedelta(days=days_ago), phase="terminal"
    )
    return str(created["id"])


async def case_page(client: Client, world: World, case_id: str) -> dict[str, Any]:
    """The case page as the coordinator sees it."""
    response = await client.get(f"/cases/{case_id}", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def add_record(client: Client, world: World, case_id: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` to /cases/{case_id}/{route} as the district's nurse; the record made."""
    response = await client.post(f"/cases/{case_id}/{route}", json=body, headers=write_headers(world.nurse_a))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def case_row(sessions: Sessions, case_id: str) -> Case:
    async with sessions() as session:
        return await session.get_one(Case, uuid.UUID(case_id))


async def case_rows(sessions: Sessions, model: Any, case_id: str, *order_by: Any) -> list[Any]:
    """The rows of `model` (a table with a case_id) belonging to the case, removed ones too."""
    async with sessions() as session:
        query = select(model).where(model.case_id == uuid.UUID(case_id)).order_by(*order_by)
        return list((await session.scalars(query)).all())


async def count_rows(sessions: Sessions, model: Any, case_id: str) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).where(model.case_id == uuid.UUID(case_id))) or 0)


async def audit_details(sessions: Sessions, case_id: str, action: str) -> list[Any]:
    """The details of the case's audit entries for `action`, oldest first."""
    async with sessions() as session:
        query = select(AuditEntry.detail).where(AuditEntry.case_id == uuid.UUID(case_id), AuditEntry.action == action)
        return list((await session.scalars(query.order_by(AuditEntry.id))).all())
