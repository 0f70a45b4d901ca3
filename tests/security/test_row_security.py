"""Row-level security, the second wall: deliberately unscoped queries (no WHERE at all), sent as the
application's database role in a request's scope, see nothing outside that scope.

Each test puts a case with a recorded wish in `world`, in `neighbour` (the municipality next door,
sharing world's palliative unit) and in a third municipality the unit does not serve, then asks
through a pool made as the application makes its own (`make_pool`), its connections reused
from scope to scope, so that a scope left behind would show.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_pool
from backend.people.actor import load_actor
from backend.people.tokens import AccessClaims
from backend.row_scope import APP_ROLE, NONE, SYSTEM, RowScope, acquire, of_actor
from tests.cases.helpers import create_case, write_headers
from tests.factories import Login, World, build_world

Client = AsyncTestClient[Litestar]

# Unscoped on purpose: the query a bug would send.
EVERY_CASE = "SELECT municipality_id FROM cases"
EVERY_CITIZEN = "SELECT municipality_id FROM citizens"
EVERY_WISH = "SELECT c.municipality_id FROM case_wishes w JOIN cases c ON c.id = w.case_id"

POOL_SIZE = 2


@dataclass
class Seen:
    cases: set[uuid.UUID]
    citizens: set[uuid.UUID]
    wishes: set[uuid.UUID]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pooled = await make_pool(database_url, POOL_SIZE)
    yield pooled
    await pooled.close()


async def _case_with_a_wish(client: Client, world: World, clock: Clock) -> None:
    created = await create_case(client, world.coordinator, world.district_a, clock.today())
    wish = {"dies_at_home": "yes", "discussed_on": clock.today().isoformat(), "discussed_with": "borgeren"}
    response = await client.post(f"/cases/{created['id']}/wishes", json=wish, headers=write_headers(world.nurse_a))
    assert response.status_code == 201, response.text


@pytest.fixture
async def third(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> World:
    """A municipality with a palliative unit of its own: world's unit does not serve it."""
    return await build_world(sessions, settings, clock)


@pytest.fixture
async def everywhere(client: Client, clock: Clock, world: World, neighbour: World, third: World) -> None:
    for municipality in (world, neighbour, third):
        await _case_with_a_wish(client, municipality, clock)


async def _scope(pool: asyncpg.Pool, login: Login) -> RowScope:
    """The scope a request of `login` acts in, from the actor as the application loads it."""
    async with acquire(pool, NONE) as connection:
        actor = await load_actor(connection, AccessClaims(login.user_id, login.device_id, login.role.value), "test")
    return of_actor(actor)


async def _seen(pool: asyncpg.Pool, scope: RowScope) -> Seen:
    async with acquire(pool, scope) as connection:
        return Seen(
            cases={r[0] for r in await connection.fetch(EVERY_CASE)},
            citizens={r[0] for r in await connection.fetch(EVERY_CITIZEN)},
            wishes={r[0] for r in await connection.fetch(EVERY_WISH)},
        )


async def test_a_coordinators_unscoped_query_returns_nothing_of_the_neighbouring_municipality(
    everywhere: None, pool: asyncpg.Pool, world: World, neighbour: World
) -> None:
    seen = await _seen(pool, await _scope(pool, world.coordinator))
    assert seen.cases == seen.citizens == seen.wishes == {world.municipality_id}
    assert neighbour.municipality_id not in seen.cases | seen.citizens | seen.wishes


async def test_an_administrators_scope_sees_no_health_rows(everywhere: None, pool: asyncpg.Pool, world: World) -> None:
    assert await _seen(pool, await _scope(pool, world.admin)) == Seen(set(), set(), set())


async def test_a_connection_without_a_scope_sees_no_health_rows(
    everywhere: None, pool: asyncpg.Pool, world: World, database_url: str
) -> None:
    coordinator = await _scope(pool, world.coordinator)
    async with acquire(pool, coordinator) as one, acquire(pool, coordinator) as other:  # every connection
        assert await one.fetch(EVERY_CASE) == await other.fetch(EVERY_CASE) == [(world.municipality_id,)]
    assert await _seen(pool, NONE) == Seen(set(), set(), set())
    fresh = await asyncpg.connect(database_url, server_settings={"role": APP_ROLE})  # never given one
    try:
        assert await fresh.fetch(EVERY_CASE) == await fresh.fetch(EVERY_WISH) == []
    finally:
        await fresh.close()


async def test_the_palliative_units_scope_sees_only_the_municipalities_it_serves(
    everywhere: None, pool: asyncpg.Pool, world: World, neighbour: World, third: World
) -> None:
    seen = await _seen(pool, await _scope(pool, world.unit))
    assert seen.cases == seen.citizens == seen.wishes == {world.municipality_id, neighbour.municipality_id}
    assert third.municipality_id in (await _seen(pool, SYSTEM)).cases


async def test_a_coordinator_cannot_write_a_case_into_the_neighbouring_municipality(
    everywhere: None, pool: asyncpg.Pool, world: World, neighbour: World
) -> None:
    async with acquire(pool, await _scope(pool, world.coordinator)) as connection:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await connection.execute(
                "UPDATE cases SET municipality_id = $1 WHERE municipality_id = $2",
                neighbour.municipality_id,
                world.municipality_id,
            )


async def test_the_applications_connections_act_as_a_role_row_security_binds(
    pool: asyncpg.Pool, database_url: str
) -> None:
    """The pool and the engine as `create_app` makes them, whatever user the URL names."""
    question = "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    async with acquire(pool, NONE) as connection:
        plain = tuple(await connection.fetchrow(question))
    engine = make_engine(database_url, 1)
    try:
        async with engine.connect() as conn:
            orm = tuple((await conn.exec_driver_sql(question)).one())
    finally:
        await engine.dispose()
    assert plain == orm == (APP_ROLE, False, False)
