"""Relatives, children among them: support for children, one primary contact, removal."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit.models import AuditEntry
from backend.cases.models import Relative
from backend.clock import Clock
from tests.cases.helpers import create_case, write_headers
from tests.factories import World

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]


async def _case(client: Client, world: World, clock: Clock) -> str:
    created = await create_case(
        client, world.coordinator, world.district_a, clock.today() - timedelta(days=3), phase="terminal"
    )
    return str(created["id"])


async def _page(client: Client, world: World, case_id: str) -> dict[str, Any]:
    response = await client.get(f"/cases/{case_id}", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _relatives(sessions: Sessions, case_id: str) -> list[Relative]:
    async with sessions() as session:
        query = select(Relative).where(Relative.case_id == uuid.UUID(case_id)).order_by(Relative.created_at)
        return list((await session.scalars(query)).all())


def _relative(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Mette Hansen",
        "relation": "datter",
        "phone": "+45 22 33 44 55",
        "primary_contact": False,
        "lives_with_citizen": False,
        "consent_to_information": True,
    }
    return body | overrides


async def _add(client: Client, world: World, case_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/cases/{case_id}/relatives", json=body, headers=write_headers(world.nurse_a))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_child_without_support_is_flagged_until_support_is_offered(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await _case(client, world, clock)
    child = await _add(
        client,
        world,
        case_id,
        _relative(name="Emil", relation="barnebarn", phone=None, birth_year=clock.today().year - 10),
    )
    assert child["is_child"] is True and child["age"] == 10
    assert child["needs_support_offer"] is True

    page = await _page(client, world, case_id)
    assert "child_without_support" in page["flags"]
    assert [r["name"] for r in page["relatives"] if r["needs_support_offer"]] == ["Emil"]

    patched = await client.patch(
        f"/cases/{case_id}/relatives/{child['id']}",
        json={"support_offered": True, "talks_with_child": "Skolens AKT-lærer"},
        headers=write_headers(world.nurse_a),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["needs_support_offer"] is False
    assert patched.json()["name"] == "Emil"  # fields not sent are left alone

    page = await _page(client, world, case_id)
    assert "child_without_support" not in page["flags"]
    assert page["relatives"][0]["talks_with_child"] == "Skolens AKT-lærer"

    async with sessions() as session:
        details = (
            await session.scalars(
                select(AuditEntry.detail).where(
                    AuditEntry.case_id == uuid.UUID(case_id), AuditEntry.action == "case.relative.update"
                )
            )
        ).all()
    assert details == [{"relative_id": child["id"], "fields": ["support_offered", "talks_with_child"]}]


async def test_an_adult_relative_is_not_a_child(client: Client, world: World, clock: Clock) -> None:
    case_id = await _case(client, world, clock)
    adult = await _add(client, world, case_id, _relative(birth_year=clock.today().year - 40))
    assert adult["is_child"] is False and adult["needs_support_offer"] is False
    page = await _page(client, world, case_id)
    assert "child_without_support" not in page["flags"]


async def test_there_is_at_most_one_primary_contact(client: Client, world: World, clock: Clock) -> None:
    case_id = await _case(client, world, clock)
    wife = await _add(client, world, case_id, _relative(name="Inge", relation="ægtefælle", primary_contact=True))
    son = await _add(client, world, case_id, _relative(name="Peter", relation="søn", primary_contact=True))

    page = await _page(client, world, case_id)
    assert {r["name"]: r["primary_contact"] for r in page["relatives"]} == {"Inge": False, "Peter": True}

    patched = await client.patch(
        f"/cases/{case_id}/relatives/{wife['id']}", json={"primary_contact": True}, headers=write_headers(world.nurse_a)
    )
    assert patched.status_code == 200, patched.text
    page = await _page(client, world, case_id)
    assert {r["name"]: r["primary_contact"] for r in page["relatives"]} == {"Inge": True, "Peter": False}
    assert son["id"] != wife["id"]


async def test_a_removed_relative_leaves_the_page_but_stays_on_record(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await _case(client, world, clock)
    relative = await _add(client, world, case_id, _relative())
    removed = await client.post(
        f"/cases/{case_id}/relatives/{relative['id']}/remove", headers=write_headers(world.nurse_a)
    )
    assert removed.status_code == 200, removed.text

    page = await _page(client, world, case_id)
    assert page["relatives"] == []
    [row] = await _relatives(sessions, case_id)
    assert row.removed_at is not None

    again = await client.post(
        f"/cases/{case_id}/relatives/{relative['id']}/remove", headers=write_headers(world.nurse_a)
    )
    assert again.status_code == 409
    patched = await client.patch(
        f"/cases/{case_id}/relatives/{relative['id']}", json={"phone": None}, headers=write_headers(world.nurse_a)
    )
    assert patched.status_code == 404


async def test_a_childs_support_can_be_recorded_after_the_death(client: Client, world: World, clock: Clock) -> None:
    case_id = await _case(client, world, clock)
    child = await _add(client, world, case_id, _relative(name="Sofie", birth_year=clock.today().year - 7))
    died = await client.post(
        f"/cases/{case_id}/death",
        json={"died_at": clock.now().isoformat(), "place": "home", "gp_informed": True},
        headers=write_headers(world.nurse_a),
    )
    assert died.status_code == 201, died.text
    patched = await client.patch(
        f"/cases/{case_id}/relatives/{child['id']}",
        json={"support_offered": True},
        headers=write_headers(world.nurse_a),
    )
    assert patched.status_code == 200, patched.text
    page = await _page(client, world, case_id)
    assert page["relatives"][0]["support_offered"] is True


async def test_bad_relative_input_is_refused_naming_the_field_and_nothing_is_written(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await _case(client, world, clock)
    bad_inputs = [
        (_relative(birth_year=1899), 422, "birth_year"),
        (_relative(birth_year=clock.today().year + 1), 422, "birth_year"),
        (_relative(relation="r" * 61), 400, "relation"),
        (_relative(phone="call me"), 400, "phone"),
        (_relative(primary_contact="yes"), 400, "primary_contact"),
        (_relative(cpr="0101501234"), 400, "cpr"),
        ({k: v for k, v in _relative().items() if k != "consent_to_information"}, 400, "consent_to_information"),
        (_relative(name="   "), 422, "name"),
    ]
    for body, status, field in bad_inputs:
        response = await client.post(f"/cases/{case_id}/relatives", json=body, headers=write_headers(world.nurse_a))
        assert response.status_code == status, (field, response.text)
        assert response.json()["field"] == field, response.text
    assert await _relatives(sessions, case_id) == []

    relative = await _add(client, world, case_id, _relative())
    bad_patches: list[tuple[dict[str, Any], int, str]] = [
        ({}, 422, "$"),
        ({"name": None}, 400, "name"),
        ({"birth_year": 3000}, 422, "birth_year"),
        ({"nickname": "Mette"}, 400, "nickname"),
    ]
    for patch_body, status, field in bad_patches:
        response = await client.patch(
            f"/cases/{case_id}/relatives/{relative['id']}", json=patch_body, headers=write_headers(world.nurse_a)
        )
        assert response.status_code == status, (patch_body, response.text)
        assert response.json()["field"] == field, response.text
    [row] = await _relatives(sessions, case_id)
    assert (row.name, row.birth_year) == ("Mette Hansen", None)
