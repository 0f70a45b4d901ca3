"""HTTP for correspondence on a case (MedCom CareCommunication): threads, drafts, writing, reading.

Nurses, coordinators and key persons of the case write; the palliative unit reads. The key person
and the contact person see what they have not read, on the board and the phone.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.access import CARE_GIVERS, CLINICAL_ROLES
from backend.clock import Clock
from backend.idempotency import Write
from backend.messages import drafts, letter_reads, letters
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

WRITE = {"roles": CARE_GIVERS}
READ = {"roles": CLINICAL_ROLES}


def resend_after(request: Request[Any, Any, Any]) -> timedelta:
    """How long a letter waits for its acknowledgement before it is sent again (MedCom: 30 minutes)."""
    return timedelta(seconds=request.app.state.settings.medcom_resend_seconds)


class CorrespondenceController(Controller):
    path = "/cases/{case_id:uuid}/correspondence"
    tags = ["correspondence"]

    @get("/", opt=READ, summary="The case's correspondence with the GP and the hospital, as threads")
    async def correspondence(self, db: AsyncSession, actor: Actor, case_id: uuid.UUID) -> CorrespondenceOut:
        return await letter_reads.threads(db, actor, case_id)

    @get("/draft", opt=WRITE, summary="A status note, closing note or notice of a death at home, filled in")
    async def letter_draft(
        self, db: AsyncSession, actor: Actor, clock: Clock, case_id: uuid.UUID, kind: LetterKind, recipient: Recipient
    ) -> DraftOut:
        return await drafts.draft(db, actor, case_id, kind, recipient, clock.today())

    @post(
        "/",
        opt=WRITE,
        summary="Write to the GP or the hospital department, or reply in a thread; sent through the outbox",
        description=(
            "The letter is built as a MedCom CareCommunication, validated, kept and queued at once (status "
            "sending; sent once the broker took it). It waits for the receiver's acknowledgement and is sent "
            "again with a new Bundle.id when none comes (at most twice, 30 minutes apart); then acknowledged, "
            "or failed with the reason."
        ),
    )
    async def write_letter(
        self, write: Write, request: Request[Any, Any, Any], clock: Clock, case_id: uuid.UUID, data: LetterIn
    ) -> LetterOut:
        after = resend_after(request)
        return await write.once(
            data, LetterOut, lambda: letters.write(write.db, write.actor, case_id, data, clock.now(), after)
        )

    @post("/{letter_id:uuid}/read", opt=READ, status_code=200, summary="Mark a received letter read by me")
    async def mark_letter_read(
        self, db: AsyncSession, actor: Actor, clock: Clock, case_id: uuid.UUID, letter_id: uuid.UUID
    ) -> ReadOut:
        return await letter_reads.mark_read(db, actor, case_id, letter_id, clock.now())

    @get(
        "/attachments/{segment_id:uuid}",
        opt=READ,
        summary="An attachment's content",
        media_type="application/octet-stream",
    )
    async def letter_attachment(
        self, db: AsyncSession, actor: Actor, case_id: uuid.UUID, segment_id: uuid.UUID
    ) -> Response[bytes]:
        _title, content_type, data = await letter_reads.attachment(db, actor, case_id, segment_id)
        # Shown or saved by the browser as what it is, never sniffed into something else.
        headers = {
            "Cache-Control": "no-store",
            "Content-Disposition": "attachment",
            "X-Content-Type-Options": "nosniff",
        }
        return Response(data, media_type=content_type, headers=headers)


class UnreadController(Controller):
    path = "/correspondence"
    tags = ["correspondence"]

    @get("/unread", opt=READ, summary="Received letters I have not read, on the cases where I am key or contact person")
    async def unread_letters(self, db: AsyncSession, actor: Actor) -> UnreadOut:
        return await letter_reads.unread(db, actor)


LETTER_CONTROLLERS = [CorrespondenceController, UnreadController]
