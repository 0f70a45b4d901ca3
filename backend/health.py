"""Liveness and readiness, for load balancers and for the person starting the service."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from sqlalchemy import text

from backend.db import current_revision, head_revision
from backend.people.actor import PUBLIC


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    database: str
    migration: str | None
    expected_migration: str | None


class HealthController(Controller):
    tags = ["health"]
    opt = {"roles": PUBLIC}

    @get("/health", summary="The process is alive")
    async def health(self) -> Health:
        return Health(status="ok")

    @get("/ready", summary="The database is reachable and migrated to the head revision")
    async def ready(self, state: State) -> Readiness:
        expected = head_revision()
        try:
            async with state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                revision = await conn.run_sync(current_revision)
        except Exception as exc:
            raise HTTPException(status_code=503, detail="The database cannot be reached.") from exc
        if revision != expected:
            raise HTTPException(status_code=503, detail=f"Migrations are at {revision}, expected {expected}.")
        return Readiness(status="ready", database="ok", migration=revision, expected_migration=expected)
