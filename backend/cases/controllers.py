"""HTTP routes for cases: parse, call one service function, return its schema."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.params import Parameter

from backend.cases import page as case_page
from backend.cases import schemas as s
from backend.cases import service
from backend.cases.access import CASE_MANAGERS, CLINICAL_ROLES
from backend.cases.models import HomeDeathWish, Phase, Status
from backend.cases.record_controllers import RECORD_CONTROLLERS
from backend.clock import Clock
from backend.course import service as course
from backend.deps import Read
from backend.idempotency import Write

DeadlineFilter = Annotated[str | None, Parameter(pattern="^(overdue|due_soon)$")]


class CaseController(Controller):
    path = "/cases"
    tags = ["cases"]

    @get("/", opt={"roles": CLINICAL_ROLES}, summary="Cases you may see, newest referral first")
    async def list_cases(
        self,
        read: Read,
        district_id: uuid.UUID | None = None,
        status: Status | None = None,
        phase: Phase | None = None,
        deadline: DeadlineFilter = None,
        home_death_wish: HomeDeathWish | None = None,
        ids: Annotated[list[uuid.UUID] | None, Parameter(query="id", max_items=200)] = None,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> s.CaseList:
        """`id` (repeated) asks for named cases, e.g. the board naming the cases of its alerts."""
        filters = service.CaseFilters(district_id, status, phase, deadline, home_death_wish, tuple(ids or ()))
        return await service.list_cases(read.pg, read.actor, filters, cursor, limit, read.today)

    @post("/", opt={"roles": CASE_MANAGERS}, summary="Register a referral as a new case")
    async def create_case(self, write: Write, clock: Clock, data: s.CaseCreate) -> s.CaseListItem:
        return await write.once(
            data, s.CaseListItem, lambda: service.create_case(write.db, write.actor, data, clock.today())
        )

    @get("/{case_id:uuid}", opt={"roles": CLINICAL_ROLES}, summary="The case page: everything about one case")
    async def get_case(self, read: Read, case_id: uuid.UUID) -> s.CasePage:
        return await case_page.load_page(read.pg, read.actor, case_id, read.today)

    @patch("/{case_id:uuid}", opt={"roles": CASE_MANAGERS}, summary="Change the citizen's or the case's details")
    async def update_case(self, write: Write, clock: Clock, case_id: uuid.UUID, data: s.CaseUpdate) -> s.CaseListItem:
        return await write.once(
            data,
            s.CaseListItem,
            lambda: service.update_case(write.db, write.actor, case_id, data, clock.now(), clock.today()),
        )

    @post("/{case_id:uuid}/status", opt={"roles": CASE_MANAGERS}, status_code=200, summary="Move the case on")
    async def change_status(
        self, write: Write, clock: Clock, case_id: uuid.UUID, data: s.StatusChange
    ) -> s.CaseListItem:
        return await write.once(
            data,
            s.CaseListItem,
            lambda: course.change_status(write.db, write.actor, case_id, data.status, clock.now(), clock.today()),
        )

    @post(
        "/{case_id:uuid}/unit-referral",
        opt={"roles": CASE_MANAGERS},
        status_code=200,
        summary="Refer the case to the specialised palliative unit",
    )
    async def refer_to_unit(self, write: Write, clock: Clock, case_id: uuid.UUID) -> s.CaseListItem:
        return await write.once(
            None,
            s.CaseListItem,
            lambda: service.refer_to_unit(write.db, write.actor, case_id, clock.now(), clock.today()),
        )


CASE_CONTROLLERS: list[type] = [CaseController, *RECORD_CONTROLLERS]
