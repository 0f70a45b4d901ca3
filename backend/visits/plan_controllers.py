"""HTTP routes for shift patterns, the roster and visit plans: parse, call one service function, return its schema."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, get, put
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.access import CASE_MANAGERS, CLINICAL_ROLES
from backend.clock import Clock
from backend.idempotency import Write
from backend.people.actor import Actor
from backend.people.models import Role
from backend.visits import patterns, plans, roster
from backend.visits import schedule_schemas as s
from backend.visits.models import ShiftKind
from backend.wire import checked

# Everyone who works for a municipality (the palliative unit serves several and has no roster).
MUNICIPAL_STAFF = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON, Role.ADMIN})
ROSTER_EDITORS = frozenset({Role.COORDINATOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


class ShiftPatternController(Controller):
    path = "/shift-patterns"
    tags = ["roster"]

    @get("/", opt={"roles": MUNICIPAL_STAFF}, summary="The municipality's shift times")
    async def get_patterns(self, db: AsyncSession, actor: Actor) -> s.ShiftPatternsOut:
        return await patterns.get_patterns(db, actor)

    @put("/", opt={"roles": ADMINS}, summary="Set the three shifts' times (they must cover the day)")
    async def set_patterns(self, write: Write, data: s.ShiftPatternsIn) -> s.ShiftPatternsOut:
        return await write.once(data, s.ShiftPatternsOut, lambda: patterns.set_patterns(write.db, write.actor, data))


class RosterController(Controller):
    path = "/roster"
    tags = ["roster"]

    @get("/", opt={"roles": MUNICIPAL_STAFF}, summary="Who works which shift, day by day")
    async def get_roster(
        self,
        db: AsyncSession,
        actor: Actor,
        first: Annotated[date, QueryParameter(name="from")],
        last: Annotated[date, QueryParameter(name="to")],
    ) -> s.RosterOut:
        return await roster.get_roster(db, actor, checked(first, "from"), checked(last, "to"))

    @get(
        "/coverage",
        opt={"roles": MUNICIPAL_STAFF},
        operation_id="getRosterCoverage",
        summary="Gaps in the roster for the hours ahead",
    )
    async def coverage(
        self, db: AsyncSession, actor: Actor, clock: Clock, hours: Annotated[int, Parameter(ge=1, le=168)] = 24
    ) -> s.CoverageOut:
        return await roster.coverage(db, actor, clock.now(), hours)

    @put(
        "/{shift_date:date}/{shift_kind:str}",
        opt={"roles": ROSTER_EDITORS},
        summary="Replace the roster of one shift",
    )
    async def set_roster(
        self, write: Write, clock: Clock, shift_date: date, shift_kind: ShiftKind, data: s.RosterIn
    ) -> s.RosterShiftOut:
        return await write.once(
            data,
            s.RosterShiftOut,
            lambda: roster.set_roster(
                write.db, write.actor, checked(shift_date, "shift_date"), shift_kind, data, clock.today()
            ),
        )


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


SCHEDULE_CONTROLLERS: list[type] = [ShiftPatternController, RosterController, VisitPlanController]
