"""The schema is only changed by migrations: from empty to head and back to empty."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from backend.db import async_url, downgrade, head_revision, migrate
from backend.models import Base
from tests.conftest import admin_exec, with_database


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_migrations_go_from_empty_to_head_and_back(server_url: str) -> None:
    name = f"lindra_migrations_{uuid.uuid4().hex[:8]}"
    await admin_exec(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        await asyncio.to_thread(migrate, url)
        tables = await _tables(url)
        assert {"cases", "citizens", "users", "devices", "audit_log", "idempotency_keys"} <= tables
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        await conn.close()

        await asyncio.to_thread(downgrade, url, "base")
        assert await _tables(url) == {"alembic_version"}

        await asyncio.to_thread(migrate, url)
        assert "cases" in await _tables(url)
    finally:
        await admin_exec(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


async def test_the_migrations_build_exactly_the_schema_the_models_describe(database_url: str) -> None:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []


async def test_two_instances_starting_at_once_migrate_once(server_url: str) -> None:
    name = f"lindra_migrations_{uuid.uuid4().hex[:8]}"
    await admin_exec(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        # Two processes (Alembic's context is per process): as two instances of `lindra serve` start.
        lindra = str(Path(sys.executable).parent / "lindra")
        runs = [
            await asyncio.create_subprocess_exec(lindra, "migrate", env={**os.environ, "DATABASE_URL": url})
            for _ in range(2)
        ]
        assert [await run.wait() for run in runs] == [0, 0]
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        await conn.close()
    finally:
        await admin_exec(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')
