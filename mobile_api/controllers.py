"""The phone's API, version 1: parse, call one service function, answer its struct.

Nurses (and key persons or coordinators who work visits themselves) see the visits assigned to
them in their scope. Every single write is idempotent on its Idempotency-Key; the sync batch is
idempotent per operation (client_op_id), see `backend.sync.service`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Body, HeaderParameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import lifecycle, raising, readiness, reading
from backend.alerts.models import Source
from backend.alerts.schemas import (
    AlertDetailOut,
    AlertOut,
    AlertRaiseIn,
    HandOverIn,
    PhoneCheckOut,
    ReceiptOut,
    ResolveIn,
)
from backend.cases.access import CARE_GIVERS
from backend.clock import Clock
from backend.course import death
from backend.deps import Read
from backend.idempotency import Write
from backend.messages import drafts, letter_reads, letters
from backend.messages.letter_controllers import resend_after
from backend.messages.schemas import (
    CorrespondenceOut,
    DraftOut,
    LetterIn,
    LetterKind,
    LetterOut,
    ReadOut,
    Recipient,
    UnreadOut,
)
from backend.people.actor import Actor
from backend.sync import service as sync
from backend.visits import bedside, my_shift
from mobile_api import examples
from mobile_api import schemas as m

MOBILE = {"roles": CARE_GIVERS}

IfNoneMatch = Annotated[str | None, HeaderParameter(name="If-None-Match", max_length=2000, required=False)]


class MyShiftController(Controller):
    path = "/mobile/v1"
    tags = ["mobile v1"]

    @get(
        "/my-shift",
        opt=MOBILE,
        summary="My visits of the shift running now (or the next), in window order, with what I need at the door",
        description="Poll with If-None-Match: the answer is 304 with no body while nothing changed.",
        responses={
            200: ResponseSpec(m.MyShift, description="My visits of the shift in window order", generate_examples=False),
            304: ResponseSpec(None, description="Not modified: the copy whose ETag was sent is current"),
        },
    )
    async def get_my_shift(
        self,
        read: Read,
        if_none_match: IfNoneMatch = None,
        shift: Literal["current", "next"] = "current",
    ) -> Response[bytes | None]:
        answer = await my_shift.load(
            read.pg,
            read.actor,
            await my_shift.which_shift(read.pg, read.actor, read.now, shift),
            read.today,
            my_shift.parse_if_none_match(if_none_match),
        )
        headers = {"ETag": answer.etag, "Cache-Control": "private, no-cache"}
        if answer.body is None:
            return Response(None, status_code=304, headers=headers)
        return Response(answer.body, headers=headers, media_type=MediaType.JSON)


class VisitController(Controller):
    path = "/mobile/v1/visits/{visit_id:uuid}"
    tags = ["mobile v1"]

    @post("/check-in", opt=MOBILE, status_code=200, summary="Check in at the door (server and device time)")
    async def check_in(
        self,
        write: Write,
        clock: Clock,
        visit_id: uuid.UUID,
        data: Annotated[m.CheckIn, Body(examples=examples.CHECK_IN)],
    ) -> m.VisitAttendance:
        return await write.once(
            data, m.VisitAttendance, lambda: bedside.check_in(write.db, write.actor, visit_id, data, clock.now())
        )

    @post("/check-out", opt=MOBILE, status_code=200, summary="Check out when leaving")
    async def check_out(self, write: Write, clock: Clock, visit_id: uuid.UUID, data: m.CheckOut) -> m.VisitAttendance:
        return await write.once(
            data, m.VisitAttendance, lambda: bedside.check_out(write.db, write.actor, visit_id, data, clock.now())
        )

    @post("/scores", opt=MOBILE, summary="Record symptom scores (ESAS-r built in)")
    async def record_scores(
        self,
        write: Write,
        clock: Clock,
        visit_id: uuid.UUID,
        data: Annotated[m.ScoresIn, Body(examples=examples.SCORES)],
    ) -> m.ScoresOut:
        return await write.once(
            data, m.ScoresOut, lambda: bedside.record_scores(write.db, write.actor, visit_id, data, clock.now())
        )

    @post("/medicine-given", opt=MOBILE, summary="Record as-needed medicine given")
    async def record_medicine_given(
        self, write: Write, clock: Clock, visit_id: uuid.UUID, data: m.MedicineGivenIn
    ) -> m.MedicineGivenOut:
        return await write.once(
            data,
            m.MedicineGivenOut,
            lambda: bedside.give_medicine(write.db, write.actor, visit_id, data, clock.now()),
        )

    @post("/notes", opt=MOBILE, summary="Write a note (append-only: a correction points at the note it corrects)")
    async def add_note(self, write: Write, clock: Clock, visit_id: uuid.UUID, data: m.NoteIn) -> m.NoteOut:
        return await write.once(
            data, m.NoteOut, lambda: bedside.add_note(write.db, write.actor, visit_id, data, clock.now())
        )

    @post("/death", opt=MOBILE, summary="Record a death at home at this visit; the visit is checked out")
    async def record_death_at_visit(
        self, write: Write, clock: Clock, visit_id: uuid.UUID, data: m.DeathAtVisitIn
    ) -> m.DeathAtVisitOut:
        return await write.once(
            data,
            m.DeathAtVisitOut,
            lambda: death.death_at_visit(write.db, write.actor, visit_id, data, clock.now()),
        )


class BedsideController(Controller):
    path = "/mobile/v1"
    tags = ["mobile v1"]

    @post(
        "/medicine-given/{medicine_given_id:uuid}/effect",
        opt=MOBILE,
        status_code=200,
        summary="Record the effect of as-needed medicine given",
    )
    async def record_medicine_effect(
        self, write: Write, clock: Clock, medicine_given_id: uuid.UUID, data: m.EffectIn
    ) -> m.MedicineGivenOut:
        return await write.once(
            data,
            m.MedicineGivenOut,
            lambda: bedside.record_effect(write.db, write.actor, medicine_given_id, data, clock.now()),
        )

    @post(
        "/sync",
        opt=MOBILE,
        status_code=200,
        summary="Apply operations recorded offline; one result per operation",
        description=(
            "Each operation is a SyncOperationIn: {client_op_id, type, device_time, visit_id?, body}. "
            "Resending an operation changes nothing and answers its stored result (replayed: true)."
        ),
    )
    async def sync_batch(
        self, db: AsyncSession, actor: Actor, clock: Clock, data: Annotated[m.SyncIn, Body(examples=examples.SYNC)]
    ) -> m.SyncOut:
        return await sync.apply_batch(db, actor, data, clock.now())


class AlertController(Controller):
    """Alerts from the phone: raise at the bedside, take it, say where you are, confirm a push arrived.

    The push holds only the alert id and severity; the phone reads the rest here, authenticated.
    """

    path = "/mobile/v1"
    tags = ["mobile v1"]

    @post("/alerts", opt=MOBILE, summary="Raise an alert at the bedside (a retry with the same client_id is one raise)")
    async def raise_alert(
        self, write: Write, clock: Clock, data: Annotated[AlertRaiseIn, Body(examples=examples.RAISE)]
    ) -> AlertOut:
        return await write.once(
            data, AlertOut, lambda: raising.raise_alert(write.db, write.actor, data, Source.PHONE, clock.now())
        )

    @get("/alerts/{alert_id:uuid}", opt=MOBILE, summary="An alert, its tiers and whom it called")
    async def get_alert(self, db: AsyncSession, actor: Actor, alert_id: uuid.UUID) -> AlertDetailOut:
        return await reading.get_alert(db, actor, alert_id)

    @post(
        "/alerts/{alert_id:uuid}/{action:str}",
        opt=MOBILE,
        status_code=200,
        summary="Acknowledge, on the way, at the bedside, or reopen",
    )
    async def act_on_alert(self, write: Write, clock: Clock, alert_id: uuid.UUID, action: lifecycle.Action) -> AlertOut:
        return await write.once(
            None, AlertOut, lambda: lifecycle.act(write.db, write.actor, alert_id, action, clock.now())
        )

    @post(
        "/alerts/{alert_id:uuid}/resolve",
        opt=MOBILE,
        status_code=200,
        summary="Resolve the alert one holds with its outcome, at the bedside (the board's rules)",
    )
    async def resolve_alert(self, write: Write, clock: Clock, alert_id: uuid.UUID, data: ResolveIn) -> AlertOut:
        return await write.once(
            data, AlertOut, lambda: lifecycle.resolve(write.db, write.actor, alert_id, data, clock.now())
        )

    @post(
        "/alerts/{alert_id:uuid}/hand-over",
        opt=MOBILE,
        status_code=200,
        summary="Hand the alert one holds to a colleague (the board's rules)",
    )
    async def hand_over_alert(self, write: Write, clock: Clock, alert_id: uuid.UUID, data: HandOverIn) -> AlertOut:
        return await write.once(
            data, AlertOut, lambda: lifecycle.hand_over(write.db, write.actor, alert_id, data, clock.now())
        )

    @post(
        "/notifications/{notification_id:uuid}/received",
        opt=MOBILE,
        status_code=200,
        summary="The phone confirms a push arrived (unconfirmed pushes are sent again after a minute)",
    )
    async def confirm_push_received(self, write: Write, clock: Clock, notification_id: uuid.UUID) -> ReceiptOut:
        return await write.once(
            None, ReceiptOut, lambda: lifecycle.confirm_receipt(write.db, write.actor, notification_id, clock.now())
        )


class LetterController(Controller):
    """Letters with the GP and the hospital: what the key person or contact person has not read,
    a case's threads with each sent letter's state, and writing at the bedside: the drafts filled
    in from the case, and a letter or a reply sent once however often a weak signal makes the
    phone retry (its Idempotency-Key)."""

    path = "/mobile/v1"
    tags = ["mobile v1"]

    @get(
        "/correspondence/unread",
        opt=MOBILE,
        summary="Received letters I have not read, on my cases as key or contact person",
    )
    async def my_unread_letters(self, db: AsyncSession, actor: Actor) -> UnreadOut:
        return await letter_reads.unread(db, actor)

    @get(
        "/cases/{case_id:uuid}/correspondence",
        opt=MOBILE,
        summary="A case's letters with the GP and the hospital, as threads",
    )
    async def case_letters(self, db: AsyncSession, actor: Actor, case_id: uuid.UUID) -> CorrespondenceOut:
        return await letter_reads.threads(db, actor, case_id)

    @get(
        "/cases/{case_id:uuid}/correspondence/draft",
        opt=MOBILE,
        summary="A status note, closing note or notice of a death at home to the GP or the department, filled in",
    )
    async def letter_draft_on_phone(
        self, db: AsyncSession, actor: Actor, clock: Clock, case_id: uuid.UUID, kind: LetterKind, recipient: Recipient
    ) -> DraftOut:
        return await drafts.draft(db, actor, case_id, kind, recipient, clock.today())

    @post(
        "/cases/{case_id:uuid}/correspondence",
        opt=MOBILE,
        summary="Write to the GP or the hospital department, or reply in a thread (a retry sends once)",
        description=(
            "The board's rules: the letter is validated, kept and queued at once (status sending), then sent, "
            "acknowledged, or failed with failure_code. A recipient without a SOR identifier is a 422 naming "
            "`recipient`; send the same Idempotency-Key on every retry."
        ),
    )
    async def write_letter_from_phone(
        self, write: Write, request: Request[Any, Any, Any], clock: Clock, case_id: uuid.UUID, data: LetterIn
    ) -> LetterOut:
        after = resend_after(request)
        return await write.once(
            data, LetterOut, lambda: letters.write(write.db, write.actor, case_id, data, clock.now(), after)
        )

    @post(
        "/cases/{case_id:uuid}/correspondence/{letter_id:uuid}/read",
        opt=MOBILE,
        status_code=200,
        summary="Mark a received letter read by me",
    )
    async def mark_letter_read_on_phone(
        self, db: AsyncSession, actor: Actor, clock: Clock, case_id: uuid.UUID, letter_id: uuid.UUID
    ) -> ReadOut:
        return await letter_reads.mark_read(db, actor, case_id, letter_id, clock.now())


class PhoneCheckController(Controller):
    """ "Test my phone" at the start of a shift: a test push and a test SMS, never an alert.

    The app confirms the test push as it confirms an alert's (`/received`); the SMS counts once
    the operator reports it delivered to the phone, with no reply needed.
    """

    path = "/mobile/v1/phone-checks"
    tags = ["mobile v1"]

    @post("/", opt=MOBILE, summary="Test my phone: Lindra sends this phone a test push and my number a test SMS")
    async def start_phone_check(self, write: Write, clock: Clock) -> PhoneCheckOut:
        return await write.once(None, PhoneCheckOut, lambda: readiness.start_check(write.db, write.actor, clock.now()))

    @get("/{check_id:uuid}", opt=MOBILE, summary="How my phone check stands: the push confirmed, the SMS delivered")
    async def get_phone_check(self, db: AsyncSession, actor: Actor, check_id: uuid.UUID) -> PhoneCheckOut:
        return await readiness.get_check(db, actor, check_id)

    @post(
        "/{check_id:uuid}/received",
        opt=MOBILE,
        status_code=200,
        summary="The phone confirms the test push arrived",
    )
    async def confirm_check_push(self, write: Write, clock: Clock, check_id: uuid.UUID) -> PhoneCheckOut:
        return await write.once(
            None, PhoneCheckOut, lambda: readiness.confirm_push(write.db, write.actor, check_id, clock.now())
        )


MOBILE_CONTROLLERS: list[type] = [
    MyShiftController,
    VisitController,
    BedsideController,
    AlertController,
    LetterController,
    PhoneCheckController,
]
