"""The catch-up a socket gets after being away: its own events first, and honest when it was cut."""

from __future__ import annotations

import asyncpg
import pytest

from backend import realtime
from backend.events import emit_many
from tests.cases.helpers import Sessions
from tests.factories import World, acting


async def _emit(sessions: Sessions, world: World, district: object, count: int) -> list[int]:
    async with sessions.begin() as session:
        rows = [{"kind": "visit.checked_in", "municipality_id": world.municipality_id, "district_id": district}] * count
        return await emit_many(session, rows)


async def test_another_district_s_busy_night_does_not_push_a_nurse_s_own_events_out(
    sessions: Sessions, world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realtime, "CATCH_UP_LIMIT", 20)
    connection = await asyncpg.connect(database_url)
    try:
        before = int(await connection.fetchval("SELECT coalesce(max(id), 0) FROM events"))
        mine = await _emit(sessions, world, world.district_a, 10)
        await _emit(sessions, world, world.district_b, 50)

        _, events, complete = await realtime.backlog(connection, acting(world, "nurse_a"), before)
        assert [e.id for e in events if e.district_id == world.district_a] == mine
        assert complete is True

        more = await _emit(sessions, world, world.district_a, 15)  # now 25 of hers: more than the limit
        _, events, complete = await realtime.backlog(connection, acting(world, "nurse_a"), before)
        assert complete is False  # the board reloads over the API instead of trusting the frames
        assert [e.id for e in events] == (mine + more)[-20:]
    finally:
        await connection.close()
