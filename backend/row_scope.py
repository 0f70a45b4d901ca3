"""Row-level security, the second wall behind the service layer: whose health rows a connection sees.

PostgreSQL's policies (migration 20261204_0011) let the application's role (`APP_ROLE`, neither
superuser nor owner) see the rows of the health tables only within the scope its connection
names in two settings: `lindra.role` and `lindra.municipalities`. A query that forgets its
`WHERE` then returns nothing rather than another municipality's rows.

- A request acts in its actor's scope (`of_actor`): her municipality, or the municipalities the
  palliative unit serves; an administrator's role sees no health rows at all.
- Work outside a request that spans municipalities (sweeps, the push sender, the realtime hub's
  fan-out, the demo loader, tests' setup) names `SYSTEM`.
- A connection that names no scope (`NONE`) sees nothing.
- A use case that answers with aggregates only may count a municipality's rows (`counting`).

SQLAlchemy sessions carry their scope in `Session.info`, set for their transaction only (`SET
LOCAL`, one statement after BEGIN; AUTOCOMMIT statements see `_scope_transaction`). The plain
asyncpg connections of the hot reads keep theirs for the session instead: on each acquire from
the pool it is made the acquirer's (`using`): nothing while it stays the same (the same role in
the same municipality), one round trip when it changes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NamedTuple

import asyncpg
from sqlalchemy import Connection, TextClause, event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from backend.people.models import Role

if TYPE_CHECKING:
    from backend.people.actor import Actor

# The database role the application acts as; the migration creates it and grants it the tables.
APP_ROLE = "lindra_app"


class RowScope(NamedTuple):
    """What a connection may see: `role` is an actor's role or "system", `municipalities` their
    ids joined by commas."""

    role: str
    municipalities: str


NONE = RowScope("", "")
SYSTEM = RowScope("system", "")
AGGREGATES = "aggregates"  # a role the database lets see a municipality's rows, for counting them


def of_actor(actor: Actor) -> RowScope:
    """The actor's scope: the municipalities the palliative unit serves, or the one she works for
    (whether her role sees health rows there at all is the database's rule, by role)."""
    if actor.role == Role.PALLIATIVE_UNIT:
        municipalities: tuple[Any, ...] = actor.served_municipality_ids
    else:
        municipalities = (actor.municipality_id,) if actor.municipality_id else ()
    return RowScope(actor.role.value, ",".join(str(m) for m in municipalities))


def startup_settings(scope: RowScope) -> dict[str, str]:
    """`scope` as settings sent when connecting, for a connection of its own that keeps one scope
    for its whole life (the realtime hub's listener, a benchmark's seeder), whoever the URL names."""
    return {"lindra.role": scope.role, "lindra.municipalities": scope.municipalities}


def _set_sql(local: bool) -> str:
    flag = "true" if local else "false"
    return f"SELECT set_config('lindra.role', $1, {flag}), set_config('lindra.municipalities', $2, {flag})"


def _set_text(local: bool) -> TextClause:
    return text(_set_sql(local).replace("$1", ":role").replace("$2", ":municipalities"))


# SQLAlchemy sessions: the scope rides in `Session.info` and holds for each of its transactions.

SESSION_KEY = "lindra.row_scope"
_HELD = "lindra.held_row_scope"  # in the DBAPI connection's `info`: its session-level scope
_SET_LOCAL, _SET_HELD = _set_text(local=True), _set_text(local=False)


def session_info(scope: RowScope) -> dict[str, RowScope]:
    """The `info` a session (or a sessionmaker) is given to act in `scope`."""
    return {SESSION_KEY: scope}


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    """Put the session's scope on the connection before its first statement, unless it holds it.

    In a transaction it is set for that transaction only. In AUTOCOMMIT (one statement, a
    transaction by itself) such a setting would be gone before the statement: there it is set for
    the connection's session, and remembered with the connection, so that every later
    transaction on it that names another scope, `NONE` included, sets its own over it.
    """
    wanted: RowScope = session.info.get(SESSION_KEY, NONE)
    held: RowScope = connection.info.get(_HELD, NONE)  # a new connection holds none
    if wanted == held:
        return
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        connection.execute(_SET_HELD, wanted._asdict())
        connection.info[_HELD] = wanted
    else:
        connection.execute(_SET_LOCAL, wanted._asdict())


@asynccontextmanager
async def counting(session: AsyncSession, municipality_id: uuid.UUID) -> AsyncIterator[None]:
    """Inside the block, the session's transaction sees the municipality's health rows whatever
    the actor's role, to count them (the administrator's indicators); then its own scope again.
    Only for statements that answer with aggregates."""
    await session.execute(_SET_LOCAL, RowScope(AGGREGATES, str(municipality_id))._asdict())
    yield
    await session.execute(_SET_LOCAL, session.info.get(SESSION_KEY, NONE)._asdict())


# Plain asyncpg connections: the scope of the context that acquires them.

_acquiring: ContextVar[RowScope] = ContextVar("lindra_row_scope", default=NONE)


@contextmanager
def using(scope: RowScope) -> Iterator[None]:
    """Connections acquired from a `ScopedConnection` pool inside this block act in `scope`."""
    token = _acquiring.set(scope)
    try:
        yield
    finally:
        _acquiring.reset(token)


@asynccontextmanager
async def acquire(pool: asyncpg.Pool, scope: RowScope) -> AsyncIterator[asyncpg.Connection]:
    """A connection from `pool` acting in `scope`, released when the block ends."""
    with using(scope):
        connection = await pool.acquire()
    try:
        yield connection
    finally:
        await pool.release(connection)


class ScopedConnection(asyncpg.Connection):
    """An asyncpg connection that remembers the scope it last set, so that setting it again is free."""

    __slots__ = ("_row_scope",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._row_scope = NONE  # a new session has neither setting: it sees nothing

    async def adopt(self, scope: RowScope) -> None:
        """Act in `scope` from now on. Set outside any transaction (the pool rolls back what a user
        left open), so no rollback can bring an earlier scope back behind the remembered one."""
        if scope != self._row_scope:
            await self.execute(_SET_SESSION, *scope)
            self._row_scope = scope


_SET_SESSION = _set_sql(local=False)


async def adopt_acquirers_scope(connection: Any) -> None:
    """The pool's `setup` hook: a connection handed out acts in the scope of whoever acquires it
    (`using`), `NONE` unless they said otherwise; never in the last user's."""
    await connection.adopt(_acquiring.get())
