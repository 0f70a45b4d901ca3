"""HTTP routes for visit plans: parse, call one service function, return its schema."""

from __future__ import annotations

import uuid

from litestar import Controller, get, put
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.access import CASE_MANAGERS, CLINICAL_ROLES
from backend.clock import Clock
from backend.idempotency import Write
from backend.people.actor import Actor
from backend.visits import plan_schemas as s
from backend.visits import plans


class VisitPlanController(Controller):
    path = "/cases/{case_id:uuid}/visit-plan"
    tags = ["visit plans"]

    @get("/", opt={"roles": CLINICAL_ROLES}, summary="The case's visit plan: visits per shift, windows, tasks")
    async def get_plan(self, db: AsyncSession, actor: Actor, case_id: uuid.UUID) -> s.VisitPlanOut:
        return await plans.get_plan(db, actor, case_id)

    @put("/", opt={"roles": CASE_MANAGERS}, summary="Replace the visit plan; future visits follow at once")
    async def set_plan(self, write: Write, clock: Clock, case_id: uuid.UUID, data: s.VisitPlanIn) -> s.VisitPlanSet:
        return await write.once(
            data, s.VisitPlanSet, lambda: plans.set_plan(write.db, write.actor, case_id, data, clock.now())
        )


PLAN_CONTROLLERS: list[type] = [VisitPlanController]
