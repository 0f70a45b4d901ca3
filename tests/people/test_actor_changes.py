"""A change to who a login is counts at once, whoever writes it.

Each instance keeps the actors it loaded lately (`backend.people.actor.KnownActors`). These tests
load one with a request first, then change its rows straight in the database, as another
instance, the command line or someone with psql would, and watch what the next request gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import asyncpg
import pytest
from litestar import Litestar
from sqlalchemy import text

from backend.db import make_pool
from backend.errors import Problem
from backend.people.actor import KnownActors
from backend.people.tokens import AccessClaims
from tests.factories import World
from tests.people.helpers import Client
from tests.realtime.helpers import Sessions, until

# What changes, as SQL on the world's rows; then which login asks what, and what it must get.
Check = Callable[[int, dict[str, Any]], bool]
CHANGES: dict[str, tuple[str, str, str, Check]] = {
    "device signed out": (
        "UPDATE devices SET revoked_at = now() WHERE id = :nurse_a_device",
        "nurse_a",
        "/me",
        lambda status, _: status == 401,
    ),
    "user deleted": (
        "UPDATE users SET deleted_at = now() WHERE id = :nurse_a",
        "nurse_a",
        "/me",
        lambda status, _: status == 401,
    ),
    "role changed": (
        "UPDATE users SET role = 'admin' WHERE id = :nurse_a",
        "nurse_a",
        "/mobile/v1/my-shift",
        lambda status, _: status == 403,
    ),
    "district taken away": (
        "DELETE FROM user_districts WHERE user_id = :nurse_a",
        "nurse_a",
        "/me",
        lambda status, me: status == 200 and me["district_ids"] == [],
    ),
    "municipality no longer served": (
        "DELETE FROM organisation_serves WHERE provider_id = :unit_org",
        "unit",
        "/me",
        lambda status, me: status == 200 and me["served_municipality_ids"] == [],
    ),
    "organisation moved": (
        "UPDATE organisations SET parent_id = NULL, kind = 'municipality' WHERE id = :district_a",
        "nurse_a",
        "/me",
        lambda status, me: status == 200 and me["municipality_id"] == me["organisation"]["id"],
    ),
}


async def _asks(client: Client, headers: dict[str, str], path: str) -> tuple[int, dict[str, Any]]:
    answer = await client.get(path, headers=headers)
    return answer.status_code, answer.json() if answer.status_code == 200 else {}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_change_written_straight_to_the_database_counts_within_moments(
    client: Client, world: World, sessions: Sessions, change: str
) -> None:
    sql, who, path, holds = CHANGES[change]
    login = getattr(world, who)
    before = await _asks(client, login.headers, path)
    assert not holds(*before), before  # and the instance now knows this login
    async with sessions.begin() as session:
        await session.execute(
            text(sql),
            {
                "nurse_a": world.nurse_a.user_id,
                "nurse_a_device": world.nurse_a.device_id,
                "unit_org": world.unit_id,
                "district_a": world.district_a,
            },
        )

    deadline = time.monotonic() + 2.0
    while not holds(*(after := await _asks(client, login.headers, path))):
        assert time.monotonic() < deadline, f"after '{change}' the login still got {after}"
        await asyncio.sleep(0.02)


async def test_while_the_instance_cannot_hear_changes_it_asks_the_database_every_time(
    app: Litestar, client: Client, world: World, sessions: Sessions, database_url: str
) -> None:
    hub = app.state.hub
    assert (await client.get("/me", headers=world.nurse_b.headers)).status_code == 200
    owner = await asyncpg.connect(database_url)  # the URL's user, as the listener is
    await owner.execute("SELECT pg_terminate_backend($1)", hub.listener_pid)
    await owner.close()
    await until(lambda: not hub.connected)
    async with sessions.begin() as session:
        await session.execute(
            text("UPDATE devices SET revoked_at = now() WHERE id = :id"), {"id": world.nurse_b.device_id}
        )

    # No announcement can arrive: the answer comes from the database itself.
    assert (await client.get("/me", headers=world.nurse_b.headers)).status_code == 401
    await until(lambda: hub.connected)
    assert (await client.get("/me", headers=world.nurse_a.headers)).status_code == 200


class _HeldPool:
    """The real pool, but a login's row, once read, is handed back only on `go`: time to announce a change."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.read = asyncio.Event()
        self.go = asyncio.Event()
        self._connection: asyncpg.Connection | None = None

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[_HeldPool]:
        async with self.pool.acquire() as connection:
            self._connection = connection
            yield self

    async def fetchrow(self, query: str, *args: Any) -> Any:
        assert self._connection is not None
        row = await self._connection.fetchrow(query, *args)
        self.read.set()
        await self.go.wait()
        return row


async def test_a_login_read_before_a_change_was_announced_is_not_kept(database_url: str, world: World) -> None:
    known = KnownActors()
    known.trust()  # as the hub does once it listens; here nobody listens, so only `forget` tells it
    claims = AccessClaims(world.nurse_a.user_id, world.nurse_a.device_id, "nurse")
    pool = await make_pool(database_url, 2)
    try:
        held = _HeldPool(pool)
        loading = asyncio.create_task(known.load(cast(asyncpg.Pool, held), claims, "before"))
        await held.read.wait()  # the request has read who it is: not signed out yet
        await pool.execute("UPDATE devices SET revoked_at = now() WHERE id = $1", world.nurse_a.device_id)
        known.forget()  # the announcement arrives while that request is still under way
        held.go.set()
        assert (await loading).request_id == "before"  # it began before the change: it goes through

        with pytest.raises(Problem) as refused:  # but what it read is not kept for the next one
            await known.load(pool, claims, "after")
        assert refused.value.status == 401
    finally:
        await pool.close()
