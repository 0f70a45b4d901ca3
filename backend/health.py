"""Liveness and readiness, for load balancers and for the person starting the service."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from sqlalchemy import text

from backend.alerts.watch import OPEN_ALARMS
from backend.db import current_revision, head_revision
from backend.people.actor import PUBLIC


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str  # "ready", or "degraded" while Lindra sees a fault in itself (still serving)
    database: str
    migration: str | None
    expected_migration: str | None
    # worker_silent, push_failing, sms_gateway_down (backend/alerts/watch.py). They do not make this
    # answer a 503: a load balancer would take every instance out, and the boards with their banner.
    faults: list[str] = []


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
                faults = [row.fault for row in await conn.execute(OPEN_ALARMS)]
        except Exception as exc:
            raise HTTPException(status_code=503, detail="The database cannot be reached.") from exc
        if revision != expected:
            raise HTTPException(status_code=503, detail=f"Migrations are at {revision}, expected {expected}.")
        return Readiness(
            status="degraded" if faults else "ready",
            database="ok",
            migration=revision,
            expected_migration=expected,
            faults=faults,
        )
