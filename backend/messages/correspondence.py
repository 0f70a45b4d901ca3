"""Correspondence in the inbox's transaction: a CareCommunication lands on its case's thread, an
acknowledgement settles a letter we sent, and the worker sends again what waits too long.

A received letter is found its case by CPR in the delivering broker's municipality. One about a
citizen without a case here is refused with MedCom's fatal-error (`MSG_Receiver_Identifier_UNKNOWN`:
this receiver holds no course for the citizen, so the sender learns that it did not land) and its
bytes go, as for a hospital notice. A reply must belong to a thread Lindra knows (its
Communication.identifier, or the message it answers): otherwise fatal-error, nothing kept. Each
segment is kept once per thread, so a reply that repeats the thread adds only what is new.

A letter we send waits for its acknowledgement. MedCom's rule: with none after `resend_after`
(30 minutes), it is sent again with a new Bundle.id, at most twice; with none after the last, it
has failed. A fatal-error acknowledgement fails it at once, with the receiver's reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit import service as audit
from backend.events import emit
from backend.messages import outbox
from backend.messages.care_in import CareMessage, Segment
from backend.messages.care_out import stamped
from backend.messages.codes import AckCode, AckError
from backend.messages.fhir_parse import Refusal, resolve
from backend.messages.letter_events import announce
from backend.messages.models import (
    AckOutbox,
    Correspondence,
    CorrespondenceSegment,
    Direction,
    InboxMessage,
    LetterFailure,
    LetterStatus,
    OutboxStatus,
)
from backend.people.actor import SystemActor, SystemRole

# MedCom: a message without an acknowledgement is sent again, at most twice.
MAX_SENDS = 3
RESEND_AFTER = timedelta(minutes=30)
UNKNOWN_CITIZEN = Refusal(
    AckError.RECEIVER_UNKNOWN, "Communication.subject", "The receiver holds no course of care for this citizen."
)

_CASE_OF = text(
    """
    SELECT k.id, k.district_id FROM citizens c JOIN cases k ON k.citizen_id = c.id
    WHERE c.municipality_id = :municipality AND c.cpr = :cpr
    ORDER BY k.status = 'closed', k.referral_received_on DESC, k.id LIMIT 1
    """
)


def letter_actor(message: InboxMessage) -> SystemActor:
    return SystemActor(client_id=message.client_id, role=SystemRole.CORRESPONDENCE, request_id=str(message.id))


async def land(session: AsyncSession, message: InboxMessage, care: CareMessage, now: datetime) -> Correspondence:
    """Put a received letter on its case's thread, or raise the Refusal that answers it."""
    found = (await session.execute(_CASE_OF, {"municipality": message.municipality_id, "cpr": care.cpr})).first()
    if found is None:
        raise UNKNOWN_CITIZEN
    case_id, district_id = found
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"thread:{case_id}:{care.thread_key}"}
    )
    answered = await _answered(session, case_id, care)
    letter = Correspondence(
        id=uuid.uuid4(),
        municipality_id=message.municipality_id,
        case_id=case_id,
        direction=Direction.IN,
        thread_key=care.thread_key,
        header_id=care.header_id,
        inbox_message_id=message.id,
        replies_to_id=answered.id if answered else None,
        previous_header_id=care.previous_header,
        category=care.category,
        topic=care.topic,
        activity=care.activity,
        sender_name=care.sender_name,
        sender_sor=care.sender_sor,
        sender_endpoint=care.sender_endpoint,
        recipient_endpoint=care.recipient_endpoint,
        written_at=care.written_at,
        status=LetterStatus.RECEIVED,
    )
    session.add(letter)
    await session.flush()
    for segment in care.segments:
        await keep_segment(session, letter, segment)
    await audit.record(
        session,
        letter_actor(message),
        "case.correspondence.received",
        case_id=case_id,
        detail={"correspondence_id": str(letter.id), "category": care.category},
    )
    await emit(
        session,
        "case.correspondence_received",
        message.municipality_id,
        district_id=district_id,
        case_id=case_id,
        payload={"correspondence_id": str(letter.id), "category": care.category},
    )
    return letter


async def _answered(session: AsyncSession, case_id: uuid.UUID, care: CareMessage) -> Correspondence | None:
    """The letter of this case that a reply answers; a reply to a thread we do not know is refused."""
    if care.activity == "new-message":
        return None
    same_thread = await session.scalars(
        select(Correspondence)
        .where(
            Correspondence.case_id == case_id,
            or_(Correspondence.header_id == care.previous_header, Correspondence.thread_key == care.thread_key),
        )
        .order_by((Correspondence.header_id == care.previous_header).desc(), Correspondence.written_at.desc())
    )
    known = same_thread.first()
    if known is None and care.previous_header is not None:
        detail = "This replies to a message this receiver never sent nor received."
        raise Refusal(AckError.DATATYPE_WRONG, "Provenance.entity.what.reference", detail)
    return known  # None: it answers an EDIFACT or OIOXML letter, and starts the thread here


async def keep_segment(session: AsyncSession, letter: Correspondence, segment: Segment) -> None:
    """Keep a segment once per thread (a reply repeats the earlier ones)."""
    values = {
        "id": uuid.uuid4(),
        "municipality_id": letter.municipality_id,
        "case_id": letter.case_id,
        "correspondence_id": letter.id,
        "thread_key": letter.thread_key,
        "segment_key": segment.key,
        "position": segment.position,
        "written_at": segment.written_at,
        "author_name": segment.author_name,
        "author_role": segment.author_role,
        "author_phone": segment.author_phone,
        "organisation_name": segment.organisation_name,
        "text": segment.text,
        "title": segment.title,
        "content_type": segment.content_type,
        "size": len(segment.data) if segment.data is not None else None,
        "data": segment.data,
        "url": segment.url,
    }
    statement = insert(CorrespondenceSegment).values(**values)
    await session.execute(statement.on_conflict_do_nothing(constraint="uq_correspondence_segments_case_id"))


async def settle(
    session: AsyncSession, message: InboxMessage, doc: dict[str, Any], header: dict[str, Any], now: datetime
) -> bool:
    """An acknowledgement received: settle the letter it answers; False if it answers none of ours."""
    response = header.get("response") or {}
    code = response.get("code")
    letter = (
        await session.scalars(
            select(Correspondence)
            .where(
                Correspondence.municipality_id == message.municipality_id,
                Correspondence.direction == Direction.OUT,
                Correspondence.header_id == str(response.get("identifier") or ""),
            )
            .with_for_update()
        )
    ).first()
    if letter is None:
        return False
    if letter.status not in (LetterStatus.SENDING, LetterStatus.SENT):
        return True  # the first answer stands
    if code == AckCode.OK:
        letter.status, letter.acknowledged_at, letter.next_send_at = LetterStatus.ACKNOWLEDGED, now, None
    elif code == AckCode.FATAL_ERROR:
        refusal, reason = _reason(doc, response)
        _fail(letter, now, LetterFailure.REFUSED, f"Refused by the receiver: {reason}", refusal)
    else:  # transient-error: the receiver could not take it now; the next send is on its way
        return True
    await _stop_sending(session, letter.id)
    await announce(session, letter.id)
    return True


def _reason(doc: dict[str, Any], response: dict[str, Any]) -> tuple[str, str]:
    """The receiver's MedCom error code, and the code with where and why, as it wrote them."""
    outcome = resolve(doc, (response.get("details") or {}).get("reference")) or {}
    issue = (outcome.get("issue") or [{}])[0]
    details = issue.get("details") or {}
    code = str(((details.get("coding") or [{}])[0]).get("code") or "fatal-error")
    where = ", ".join(issue.get("expression") or [])
    return code[:64], f"{code} ({where}) {details.get('text') or ''}".strip()[:300]


def _fail(
    letter: Correspondence, now: datetime, failure: LetterFailure, reason: str, refusal: str | None = None
) -> None:
    letter.status, letter.failed_at, letter.next_send_at = LetterStatus.FAILED, now, None
    letter.failure_code, letter.refusal_code, letter.failure_reason = failure, refusal, reason[:400]


async def _stop_sending(session: AsyncSession, letter_id: uuid.UUID) -> None:
    await session.execute(
        update(AckOutbox)
        .where(AckOutbox.correspondence_id == letter_id, AckOutbox.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.GAVE_UP)
    )


async def send(session: AsyncSession, letter: Correspondence, broker_url: str, now: datetime, after: timedelta) -> None:
    """Queue the letter's next send: a new Bundle.id and timestamp, the same MessageHeader.id."""
    assert letter.document is not None
    await _stop_sending(session, letter.id)  # an earlier send still waiting for the broker is superseded
    letter.bundle_id, body = stamped(letter.document, now)
    letter.sends += 1
    letter.next_send_at = now + after
    outbox.enqueue(session, None, broker_url, "application/fhir+json", body, now, correspondence_id=letter.id)


_BROKER_OF = text(
    """
    SELECT ack_url FROM system_clients
    WHERE municipality_id = :municipality AND revoked_at IS NULL AND ack_url IS NOT NULL
    ORDER BY created_at DESC LIMIT 1
    """
)


async def broker_url(session: AsyncSession, municipality_id: uuid.UUID) -> str | None:
    """Where the municipality's message broker takes what Lindra sends."""
    found = await session.scalar(_BROKER_OF, {"municipality": municipality_id})
    return str(found) if found else None


async def resend_due(sessions: async_sessionmaker[AsyncSession], now: datetime, after: timedelta) -> int:
    """Send again each letter whose acknowledgement is overdue, or fail it after the last send."""
    async with sessions.begin() as session:
        due = (
            await session.scalars(
                select(Correspondence)
                .where(
                    Correspondence.status.in_([LetterStatus.SENDING, LetterStatus.SENT]),
                    Correspondence.next_send_at <= now,
                )
                .order_by(Correspondence.next_send_at)
                .limit(20)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for letter in due:
            url = await broker_url(session, letter.municipality_id)
            if letter.sends >= MAX_SENDS or url is None:
                last = await session.scalar(
                    select(AckOutbox.last_error)
                    .where(AckOutbox.correspondence_id == letter.id, AckOutbox.last_error.is_not(None))
                    .order_by(AckOutbox.created_at.desc())
                    .limit(1)
                )
                # Never taken by the broker, or taken and never answered by the receiver.
                failure = (
                    LetterFailure.NOT_DELIVERED
                    if letter.status == LetterStatus.SENDING
                    else LetterFailure.NO_ACKNOWLEDGEMENT
                )
                reason = f"No acknowledgement after {letter.sends} sends"
                _fail(letter, now, failure, reason + (f"; the broker last answered {last}." if last else "."))
                await _stop_sending(session, letter.id)
                await announce(session, letter.id)
            else:
                await send(session, letter, url, now, after)
        return len(due)
