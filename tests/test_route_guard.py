"""The start-up check that every route with roles authenticates its caller, directly or through `write`."""

from __future__ import annotations

import pytest
from litestar import Litestar, get, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app import check_every_route_is_guarded
from backend.deps import provide_actor, provide_db, provide_pg
from backend.idempotency import Write, provide_write
from backend.people.actor import Actor
from backend.people.models import Role

NURSES = {"roles": frozenset({Role.NURSE})}


def _app(*handlers: object) -> Litestar:
    return Litestar(
        route_handlers=list(handlers),
        dependencies={
            "db": Provide(provide_db),
            "pg": Provide(provide_pg),
            "actor": Provide(provide_actor),
            "write": Provide(provide_write, sync_to_thread=False),
        },
    )


@get("/read", opt=NURSES)
async def read(db: AsyncSession, actor: Actor) -> None:
    return None


@post("/write", opt=NURSES)
async def write_something(write: Write) -> None:
    return None


@get("/leak", opt=NURSES)
async def leak(db: AsyncSession) -> None:
    return None


@get("/no-roles")
async def no_roles(db: AsyncSession, actor: Actor) -> None:
    return None


def test_routes_taking_the_actor_or_a_write_pass() -> None:
    check_every_route_is_guarded(_app(read, write_something))


def test_a_route_with_roles_that_takes_neither_actor_nor_write_stops_the_start() -> None:
    with pytest.raises(RuntimeError, match="/leak declares roles but does not authenticate its caller"):
        check_every_route_is_guarded(_app(read, write_something, leak))


def test_a_route_without_roles_stops_the_start() -> None:
    with pytest.raises(RuntimeError, match="/no-roles declares no roles"):
        check_every_route_is_guarded(_app(no_roles))
