"""Alembic environment: runs migrations over the asyncpg engine the service itself uses."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from backend.models import Base

target_metadata = Base.metadata


# Several instances starting at once: the first migrates, the others wait for it and find nothing to do.
MIGRATION_LOCK = 7_341_102


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        # Data migrations span municipalities: the owner is bound by row security too (FORCE).
        connection.execute(text("SELECT set_config('lindra.role', 'system', true)"))
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


asyncio.run(_run_async())
