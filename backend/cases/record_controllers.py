"""HTTP routes for what is recorded on a case: parse, call one service function, return its schema.

Nurses (their districts), coordinators and key persons (their municipality) write; the palliative
unit reads. Every write is idempotent on its Idempotency-Key.
"""

from __future__ import annotations

import uuid

from litestar import Controller, get, patch, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import care, records
from backend.cases import record_schemas as r
from backend.cases import schemas as s
from backend.cases.access import CARE_GIVERS, CLINICAL_ROLES
from backend.clock import Clock
from backend.course import death
from backend.course.service import Source
from backend.idempotency import Write
from backend.people.actor import Actor

WRITE = {"roles": CARE_GIVERS}
READ = {"roles": CLINICAL_ROLES}


class CaseRecordController(Controller):
    path = "/cases/{case_id:uuid}"
    tags = ["case records"]

    @post("/wishes", opt=WRITE, summary="Record a conversation about wishes (kept as history)")
    async def add_wish(self, write: Write, clock: Clock, case_id: uuid.UUID, data: r.WishIn) -> s.WishOut:
        return await write.once(
            data, s.WishOut, lambda: records.add_wish(write.db, write.actor, case_id, data, clock.now(), clock.today())
        )

    @post("/medicine", opt=WRITE, summary="Add anticipatory medicine kept in the home")
    async def add_medicine(self, write: Write, clock: Clock, case_id: uuid.UUID, data: r.MedicineIn) -> s.MedicineOut:
        return await write.once(
            data,
            s.MedicineOut,
            lambda: records.add_medicine(write.db, write.actor, case_id, data, clock.now(), clock.today()),
        )

    @post(
        "/medicine/{medicine_id:uuid}/remove",
        opt=WRITE,
        status_code=200,
        summary="Record medicine as no longer in the home",
    )
    async def remove_medicine(
        self, write: Write, clock: Clock, case_id: uuid.UUID, medicine_id: uuid.UUID, data: r.MedicineRemoval
    ) -> s.MedicineOut:
        return await write.once(
            data,
            s.MedicineOut,
            lambda: records.remove_medicine(
                write.db, write.actor, case_id, medicine_id, data, clock.now(), clock.today()
            ),
        )

    @post("/relatives", opt=WRITE, summary="Add a relative (a child is a relative under 18)")
    async def add_relative(self, write: Write, clock: Clock, case_id: uuid.UUID, data: r.RelativeIn) -> s.RelativeOut:
        return await write.once(
            data,
            s.RelativeOut,
            lambda: records.add_relative(write.db, write.actor, case_id, data, clock.now(), clock.today()),
        )

    @patch("/relatives/{relative_id:uuid}", opt=WRITE, summary="Change a relative's details")
    async def update_relative(
        self, write: Write, clock: Clock, case_id: uuid.UUID, relative_id: uuid.UUID, data: r.RelativeUpdate
    ) -> s.RelativeOut:
        return await write.once(
            data,
            s.RelativeOut,
            lambda: records.update_relative(
                write.db, write.actor, case_id, relative_id, data, clock.now(), clock.today()
            ),
        )

    @post(
        "/relatives/{relative_id:uuid}/remove",
        opt=WRITE,
        status_code=200,
        summary="Remove a relative from the case (kept for the record)",
    )
    async def remove_relative(
        self, write: Write, clock: Clock, case_id: uuid.UUID, relative_id: uuid.UUID
    ) -> s.RelativeOut:
        return await write.once(
            None,
            s.RelativeOut,
            lambda: records.remove_relative(write.db, write.actor, case_id, relative_id, clock.now(), clock.today()),
        )

    @put("/care-team", opt=WRITE, summary="Set the care team (fields left out are cleared)")
    async def set_care_team(self, write: Write, clock: Clock, case_id: uuid.UUID, data: r.CareTeamIn) -> s.CareTeam:
        return await write.once(
            data, s.CareTeam, lambda: care.set_care_team(write.db, write.actor, case_id, data, clock.now())
        )

    @patch("/referral", opt=WRITE, summary="Record when first contact and the needs assessment happened")
    async def update_referral(
        self, write: Write, clock: Clock, case_id: uuid.UUID, data: r.ReferralUpdate
    ) -> s.ReferralOut:
        return await write.once(
            data,
            s.ReferralOut,
            lambda: care.update_referral(write.db, write.actor, case_id, data, clock.now(), clock.today()),
        )

    @put("/action-plan", opt=WRITE, summary="Write a new version of the action plan")
    async def put_action_plan(
        self, write: Write, clock: Clock, case_id: uuid.UUID, data: r.ActionPlanIn
    ) -> s.ActionPlanOut:
        return await write.once(
            data,
            s.ActionPlanOut,
            lambda: care.put_action_plan(write.db, write.actor, case_id, data, clock.now(), clock.today()),
        )

    @get("/action-plan/versions", opt=READ, summary="Every version of the action plan, newest first")
    async def action_plan_versions(self, db: AsyncSession, actor: Actor, case_id: uuid.UUID) -> list[s.ActionPlanOut]:
        return await care.action_plan_versions(db, actor, case_id)

    @post("/status-notes", opt=WRITE, summary="Write a status note on a significant change")
    async def add_status_note(
        self, write: Write, clock: Clock, case_id: uuid.UUID, data: r.StatusNoteIn
    ) -> s.StatusNoteOut:
        return await write.once(
            data, s.StatusNoteOut, lambda: records.add_status_note(write.db, write.actor, case_id, data, clock.now())
        )

    @post("/death", opt=WRITE, summary="Register the death; the case becomes deceased")
    async def register_death(self, write: Write, clock: Clock, case_id: uuid.UUID, data: r.DeathIn) -> s.DeathOut:
        return await write.once(
            data,
            s.DeathOut,
            lambda: death.register_death(write.db, write.actor, case_id, data, clock.now(), Source.API),
        )


RECORD_CONTROLLERS: list[type] = [CaseRecordController]
