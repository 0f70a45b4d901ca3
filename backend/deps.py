"""Request-scoped dependencies: the use case's transaction, the clock and the authenticated actor.

Litestar resolves independent dependencies of one level concurrently in a task group, which
costs more than the hot reads themselves; `read` therefore chains pg -> actor -> read, one at a
time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import COPENHAGEN, Clock
from backend.db import transaction
from backend.people.actor import Actor, bearer_claims, check_role, load_actor


async def provide_db(state: State) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed after the handler succeeds, rolled back if it raises."""
    async for session in transaction(state.sessions):
        yield session


async def provide_pg(state: State) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection for single-statement reads, returned to the pool after the request."""
    async with state.pool.acquire() as connection:
        yield connection


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


def request_id(request: Request[Any, Any, Any]) -> str:
    rid: str = request.scope.setdefault("state", {}).get("request_id") or str(uuid.uuid4())
    return rid


async def provide_actor(request: Request[Any, Any, Any], pg: asyncpg.Connection, state: State) -> Actor:
    claims = bearer_claims(request, state.settings.secret_key, state.clock.now())
    actor = await load_actor(pg, claims, request_id(request))
    check_role(actor, request.route_handler)
    return actor


@dataclass(frozen=True, slots=True)
class Read:
    """What a read-only use case needs: a plain connection, who is asking, and the time."""

    pg: asyncpg.Connection
    actor: Actor
    now: datetime

    @property
    def today(self) -> date:
        return self.now.astimezone(COPENHAGEN).date()


def provide_read(pg: asyncpg.Connection, actor: Actor, state: State) -> Read:
    return Read(pg, actor, state.clock.now())
