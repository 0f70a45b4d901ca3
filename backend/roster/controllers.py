"""HTTP routes for shift patterns and the roster: parse, call one service function, return its schema."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, get, put
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import Clock
from backend.idempotency import Write
from backend.people.actor import Actor
from backend.people.models import Role
from backend.roster import patterns, service
from backend.roster import schemas as s
from backend.roster.models import ShiftKind
from backend.visits import shift_change
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
        return await write.once(
            data, s.ShiftPatternsOut, lambda: shift_change.set_shift_times(write.db, write.actor, data)
        )


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
        return await service.get_roster(db, actor, checked(first, "from"), checked(last, "to"))

    @get(
        "/coverage",
        opt={"roles": MUNICIPAL_STAFF},
        operation_id="getRosterCoverage",
        summary="Gaps in the roster for the hours ahead",
    )
    async def coverage(
        self, db: AsyncSession, actor: Actor, clock: Clock, hours: Annotated[int, Parameter(ge=1, le=168)] = 24
    ) -> s.CoverageOut:
        return await service.coverage(db, actor, clock.now(), hours)

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
            lambda: service.set_roster(
                write.db, write.actor, checked(shift_date, "shift_date"), shift_kind, data, clock.today()
            ),
        )


ROSTER_CONTROLLERS: list[type] = [ShiftPatternController, RosterController]
