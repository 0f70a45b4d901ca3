"""Request-scoped dependencies: the use case's transaction, the clock and the authenticated actor.

The actor is found before anything else (`authenticate`, the app's before_request hook);
`actor` and `read` hand it on. Litestar resolves independent async dependencies of one level
concurrently in a task group, which costs more than the hot reads themselves; `read` therefore
depends on the one connection only.
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
from backend.messages.clients import CLIENT_ROLE, authenticate_client
from backend.people.actor import PUBLIC, Actor, allowed_roles, bearer_claims, check_role
from backend.row_scope import NONE, RowScope, acquire, of_actor


def row_scope(request: Request[Any, Any, Any]) -> RowScope:
    """The health rows this request's connections may see: its actor's, none before a login."""
    actor: Actor | None = getattr(request.state, "actor", None)
    return NONE if actor is None else of_actor(actor)


async def provide_db(state: State, request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """One transaction per request, in its actor's row scope: committed after the handler
    succeeds, rolled back if it raises."""
    async for session in transaction(state.sessions, row_scope(request)):
        yield session


async def provide_pg(state: State, request: Request[Any, Any, Any]) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection for single-statement reads, in the actor's row scope, returned to the
    pool after the request."""
    async with acquire(state.pool, row_scope(request)) as connection:
        yield connection


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


def request_id(request: Request[Any, Any, Any]) -> str:
    rid: str = request.scope.setdefault("state", {}).get("request_id") or str(uuid.uuid4())
    return rid


async def authenticate(request: Request[Any, Any, Any]) -> None:
    """Who is asking, checked before the route's parameters and body are read (the app's
    `before_request`): a caller without a valid login always gets 401 and learns nothing about
    the route's inputs, and a role the route does not allow gets 403, not a validation error."""
    if request.scope["path"].startswith("/schema") or allowed_roles(request.route_handler) == PUBLIC:
        return  # the OpenAPI document and its page are public (every other route declares its roles)
    client_role = request.route_handler.opt.get(CLIENT_ROLE)
    if client_role is not None:  # a system client's route: never a person's
        request.state.client = await authenticate_client(request, client_role)
        return
    state = request.app.state
    claims = bearer_claims(request, state.settings.secret_key, state.clock.now())
    actor = await state.hub.actors.load(state.pool, claims, request_id(request))
    check_role(actor, request.route_handler)
    request.state.actor = actor


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The actor `authenticate` found for this request."""
    actor: Actor = request.state.actor
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


def provide_read(request: Request[Any, Any, Any], pg: asyncpg.Connection, state: State) -> Read:
    return Read(pg, provide_actor(request), state.clock.now())
