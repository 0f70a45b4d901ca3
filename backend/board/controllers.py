"""HTTP routes for the board's figures: the quality indicators (JSON and CSV) and the cases at risk."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.board import health, risk
from backend.board import indicators as figures
from backend.board import schemas as s
from backend.cases.access import CASE_MANAGERS, CLINICAL_ROLES
from backend.clock import Clock
from backend.people.actor import Actor
from backend.people.models import Role
from backend.wire import checked

# Aggregates name nobody: the administrator reads them too; a nurse's view is her own district's cases.
INDICATOR_READERS = CASE_MANAGERS | {Role.ADMIN}

FirstDay = Annotated[date, QueryParameter(name="from", description="First Copenhagen day, included")]
LastDay = Annotated[date, QueryParameter(name="to", description="Last Copenhagen day, included (at most 366 days)")]


class IndicatorController(Controller):
    path = "/"
    tags = ["board"]

    @get("/indicators", opt={"roles": INDICATOR_READERS}, summary="Quality indicators for a period and district")
    async def indicators(
        self,
        db: AsyncSession,
        actor: Actor,
        clock: Clock,
        state: State,
        first_day: FirstDay,
        last_day: LastDay,
        district_id: uuid.UUID | None = None,
    ) -> s.Indicators:
        min_count = state.settings.indicator_min_count
        first_day, last_day = checked(first_day, "from"), checked(last_day, "to")
        return await figures.indicators(db, actor, first_day, last_day, district_id, clock.today(), min_count)

    @get("/indicators.csv", opt={"roles": INDICATOR_READERS}, summary="The same indicators as CSV: indicator,key,value")
    async def indicators_csv(
        self,
        db: AsyncSession,
        actor: Actor,
        clock: Clock,
        state: State,
        first_day: FirstDay,
        last_day: LastDay,
        district_id: uuid.UUID | None = None,
    ) -> Response[str]:
        min_count = state.settings.indicator_min_count
        first_day, last_day = checked(first_day, "from"), checked(last_day, "to")
        found = await figures.indicators(db, actor, first_day, last_day, district_id, clock.today(), min_count)
        name = f"lindra-indicators-{first_day.isoformat()}-{last_day.isoformat()}.csv"
        return Response(
            figures.as_csv(found),
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to text types
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


class AtRiskController(Controller):
    path = "/board/at-risk"
    tags = ["board"]

    @get("/", opt={"roles": CLINICAL_ROLES}, summary="Live cases at risk in your scope, most reasons first")
    async def at_risk(
        self, db: AsyncSession, actor: Actor, clock: Clock, district_id: uuid.UUID | None = None
    ) -> s.AtRisk:
        return await risk.at_risk(db, actor, district_id, clock.now())


class FaultController(Controller):
    path = "/board/faults"
    tags = ["board"]

    @get("/", opt={"roles": CLINICAL_ROLES | {Role.ADMIN}}, summary="Faults Lindra sees in itself now (the red banner)")
    async def faults(self, db: AsyncSession, actor: Actor) -> s.Faults:
        # They name nobody and no municipality: every board's signed-in user sees them alike.
        return await health.open_faults(db)


BOARD_API_CONTROLLERS: list[type] = [IndicatorController, AtRiskController, FaultController]
