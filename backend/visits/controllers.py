"""HTTP routes for coordinating visits: the shift's board, assigning, handing back, cancelling, ad-hoc
and acute visits, the case timeline and the flags. Parse, call one service function, return its schema."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Parameter

from backend.cases.access import CARE_GIVERS, CASE_MANAGERS, CLINICAL_ROLES
from backend.clock import Clock
from backend.deps import Read
from backend.idempotency import Write
from backend.people.models import Role
from backend.visits import coordination as service
from backend.visits import coordination_reads as reads
from backend.visits import schemas as s

MANAGERS = {"roles": CASE_MANAGERS}
COORDINATORS = {"roles": frozenset({Role.COORDINATOR})}
NURSES = {"roles": frozenset({Role.NURSE})}

ShiftSelector = Annotated[
    str,
    Parameter(
        pattern=r"^(current|next|tonight|\d{4}-\d{2}-\d{2}/(day|evening|night))$",
        description="current, next, tonight, or a shift by its Copenhagen start date and kind: 2026-03-28/night",
    ),
]


class VisitBoardController(Controller):
    path = "/visits"
    tags = ["visits"]

    @get("/", opt=MANAGERS, summary="A shift's visits across the districts, counted by state")
    async def shift_visits(
        self, read: Read, shift: ShiftSelector = "current", district_id: uuid.UUID | None = None
    ) -> s.ShiftBoard:
        return await reads.shift_board(read.pg, read.actor, shift, district_id, read.now)

    @get("/tonight", opt=MANAGERS, summary="Tonight's visits: the running night shift, else the coming one")
    async def tonight(self, read: Read, district_id: uuid.UUID | None = None) -> s.ShiftBoard:
        return await reads.shift_board(read.pg, read.actor, "tonight", district_id, read.now)

    @post("/{visit_id:uuid}/assign", opt=COORDINATORS, status_code=200, summary="Assign or reassign to a nurse")
    async def assign(self, write: Write, clock: Clock, visit_id: uuid.UUID, data: s.AssignIn) -> s.VisitOut:
        return await write.once(
            data, s.VisitOut, lambda: service.assign(write.db, write.actor, visit_id, data, clock.now())
        )

    @post("/{visit_id:uuid}/hand-back", opt=NURSES, status_code=200, summary="Give your planned visit back")
    async def hand_back(self, write: Write, clock: Clock, visit_id: uuid.UUID, data: s.HandBackIn) -> s.VisitOut:
        return await write.once(
            data, s.VisitOut, lambda: service.hand_back(write.db, write.actor, visit_id, data, clock.now())
        )

    @post("/{visit_id:uuid}/cancel", opt=COORDINATORS, status_code=200, summary="Cancel a planned visit")
    async def cancel(self, write: Write, clock: Clock, visit_id: uuid.UUID, data: s.CancelIn) -> s.VisitOut:
        return await write.once(
            data, s.VisitOut, lambda: service.cancel(write.db, write.actor, visit_id, data, clock.now())
        )


class CaseVisitController(Controller):
    path = "/cases/{case_id:uuid}"
    tags = ["visits"]

    @get(
        "/timeline",
        opt={"roles": CLINICAL_ROLES},
        summary="Visits, scores, medicine, notes, flags and letters, newest first",
    )
    async def timeline(
        self,
        read: Read,
        case_id: uuid.UUID,
        before: Annotated[str | None, Parameter(max_length=200)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> s.Timeline:
        return await reads.timeline(read.pg, read.actor, case_id, before, limit, read.now)

    @post("/visits", opt={"roles": CARE_GIVERS}, summary="Make an ad-hoc or acute visit")
    async def create_visit(self, write: Write, clock: Clock, case_id: uuid.UUID, data: s.VisitCreate) -> s.VisitOut:
        return await write.once(
            data, s.VisitOut, lambda: service.create_visit(write.db, write.actor, case_id, data, clock.now())
        )


class CaseFlagController(Controller):
    path = "/case-flags"
    tags = ["visits"]

    @get("/", opt=MANAGERS, summary="The municipality's open flags, the longest waiting first")
    async def list_flags(
        self,
        read: Read,
        open: bool = True,
        district_id: uuid.UUID | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 200,
    ) -> s.FlagList:
        return await reads.list_flags(read.pg, read.actor, open, district_id, limit)

    @post(
        "/{flag_id:uuid}/resolve",
        opt=MANAGERS,
        status_code=200,
        operation_id="resolveCaseFlag",
        summary="Mark a flag as dealt with",
    )
    async def resolve(self, write: Write, clock: Clock, flag_id: uuid.UUID) -> s.FlagOut:
        return await write.once(
            None, s.FlagOut, lambda: service.resolve_flag(write.db, write.actor, flag_id, clock.now())
        )


COORDINATION_CONTROLLERS: list[type] = [VisitBoardController, CaseVisitController, CaseFlagController]
