"""Who may see which case, as a matrix: every role, own and other district, other municipality."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import Client, create_case, write_headers
from tests.factories import World, build_world

# (who, may read the case of district A before it is referred to the unit, ... after)
MATRIX = [
    ("nurse_a", 200, 200),
    ("nurse_b", 404, 404),
    ("coordinator", 200, 200),
    ("key_person", 200, 200),
    ("unit", 404, 200),
    ("admin", 403, 403),
    ("other.nurse_a", 404, 404),
    ("other.coordinator", 404, 404),
    ("other.key_person", 404, 404),
    ("other.unit", 404, 404),
    ("other.admin", 403, 403),
]


@pytest.fixture
async def other(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> World:
    """A second municipality with its own staff and its own palliative unit."""
    return await build_world(sessions, settings, clock)


async def test_case_reads_follow_the_access_matrix(client: Client, world: World, other: World, clock: Clock) -> None:
    case_id = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]

    def login(who: str):  # type: ignore[no-untyped-def]
        return getattr(other, who.split(".", 1)[1]) if who.startswith("other.") else getattr(world, who)

    async def read_all(column: int) -> None:
        for row in MATRIX:
            who, expected = row[0], row[column]
            page = await client.get(f"/cases/{case_id}", headers=login(who).headers)
            assert page.status_code == expected, (who, page.text)
            listed = await client.get("/cases", headers=login(who).headers)
            if expected == 403:
                assert listed.status_code == 403, who
            else:
                ids = [item["id"] for item in listed.json()["items"]]
                assert (case_id in ids) == (expected == 200), who

    await read_all(1)
    referred = await client.post(f"/cases/{case_id}/unit-referral", headers=write_headers(world.coordinator))
    assert referred.status_code == 200
    await read_all(2)


async def test_changes_follow_role_and_scope(client: Client, world: World, other: World, clock: Clock) -> None:
    case_id = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]
    body = {"phase": "terminal"}
    expectations = [
        (world.nurse_a, 403),  # nurses record at the bedside, they do not re-plan the case
        (world.unit, 403),
        (world.admin, 403),
        (other.coordinator, 404),
        (world.key_person, 200),
    ]
    for login, expected in expectations:
        response = await client.patch(f"/cases/{case_id}", json=body, headers=write_headers(login))
        assert response.status_code == expected, (login.role, response.text)

    create = await client.post("/cases", json={}, headers=write_headers(world.nurse_a))
    assert create.status_code == 403


async def test_requests_without_a_valid_token_are_refused(
    client: Client, world: World, restore_clock: Clock, settings: Settings
) -> None:
    assert (await client.get("/cases")).status_code == 401
    bad = await client.get("/cases", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    in_url = await client.get("/cases", params={"access_token": world.coordinator.token})
    assert in_url.status_code == 400 and in_url.json()["field"] == "access_token"

    assert (await client.get("/cases", headers=world.coordinator.headers)).status_code == 200
    restore_clock.shift(timedelta(minutes=settings.access_token_minutes, seconds=5))
    expired = await client.get("/cases", headers=world.coordinator.headers)
    assert expired.status_code == 401
