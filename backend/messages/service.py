"""The inbox's use cases: receive a message's bytes, process it in the worker, show its state.

Receiving is one statement (the message's row, its bytes and the worker's wake-up), committed
before anything is parsed: what the broker handed over is never lost, however bad. Processing
claims one waiting message at a time with `FOR UPDATE SKIP LOCKED` and does everything about it
in that one transaction: read, validate, check for a duplicate (under a lock on its
MessageHeader.id, so two instances holding two copies serialise), apply it (a hospital notice
to its stay, a letter to its case's thread, an acknowledgement to the letter of ours it answers),
build the acknowledgement and queue it (an acknowledgement itself is never answered). A failure
rolls all of it back and the message waits for the next sweep: no answer rather than a wrong one.
After `MAX_ATTEMPTS` failures it is answered transient-error, and a re-send of it is processed
afresh.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.messages import codes, correspondence, outbox
from backend.messages.acknowledgement import (
    TRANSIENT,
    InvalidAcknowledgement,
    build_acknowledgement,
    validated_acknowledgement,
)
from backend.messages.care_in import CareMessage, care_message_of
from backend.messages.clients import Client
from backend.messages.codes import AckCode, AckError
from backend.messages.effects import follow_stay
from backend.messages.fhir_parse import Address, Reading, Refusal, read_message, resources
from backend.messages.models import InboxBody, InboxMessage, MessageSettings, MessageState
from backend.messages.stay_records import apply_notice, find_stay, lock_keys, person_of
from backend.messages.stays import StayChange
from backend.messages.validation import Notification, message_header, notification_of
from backend.row_scope import RowScope

log = logging.getLogger("lindra.messages")

INBOX_CHANNEL = "lindra_inbox"
MAX_ATTEMPTS = 5

_RECEIVE = """
    WITH message AS (
        INSERT INTO inbox_messages (id, municipality_id, client_id, media_type, size, body_sha256, received_at, state)
        VALUES ($1, $2, $3, $4, $5, $6, $7, 'received')
        RETURNING id
    ), body AS (
        INSERT INTO inbox_bodies (message_id, municipality_id, body) SELECT id, $2, $8 FROM message
    )
    SELECT pg_notify('lindra_inbox', '') FROM message
    """


def client_scope(client: Client) -> RowScope:
    """The rows a system client's request may write: its municipality's inbox, nothing else."""
    return RowScope(client.role.value, str(client.municipality_id))


async def receive(
    connection: asyncpg.Connection, client: Client, body: bytes, media_type: str, now: datetime
) -> uuid.UUID:
    """Keep the message's bytes, committed at once, and wake the worker; the message's id."""
    message_id = uuid.uuid4()
    digest = hashlib.sha256(body).hexdigest()
    await connection.execute(
        _RECEIVE, message_id, client.municipality_id, client.id, media_type, len(body), digest, now, body
    )
    return message_id


async def process_waiting(
    sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int = 100
) -> list[StayChange]:
    """Process waiting messages, one transaction each, until none waits (or `limit`); the stays they
    changed. Stops at the first failure: the database is likely away, and the next sweep goes on."""
    changes: list[StayChange] = []
    for _ in range(limit):
        claimed_id = None
        try:
            async with sessions.begin() as session:
                message = await _claim(session)
                if message is None:
                    break
                claimed_id = message.id
                change = await process(session, message, now)
        except Exception as error:
            log.error("inbox: processing failed: %s", type(error).__name__)
            await _count_failure(sessions, claimed_id, now)
            break
        if change is not None:
            changes.append(change)
    return changes


async def _claim(session: AsyncSession) -> InboxMessage | None:
    query = (
        select(InboxMessage)
        .where(InboxMessage.state == MessageState.RECEIVED)
        .order_by(InboxMessage.attempts, InboxMessage.received_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).first()


@dataclass(frozen=True, slots=True)
class ReceivedAcknowledgement:
    """An acknowledgement of a letter we sent: never itself acknowledged (MedCom KR)."""

    header_id: str
    header: dict[str, Any]


Content = Notification | CareMessage | ReceivedAcknowledgement


def content_of(doc: dict[str, Any]) -> Content:
    """What a message (already valid for fhir.resources) says, by its event, or Refusal."""
    header, event = message_header(doc)
    if event == codes.CARE_COMMUNICATION:
        return care_message_of(doc, header)
    if event == codes.ACKNOWLEDGEMENT:
        try:
            validated_acknowledgement(doc)
        except InvalidAcknowledgement as error:
            raise Refusal(AckError.DATATYPE_WRONG, "Bundle", str(error)) from None
        return ReceivedAcknowledgement(str(header.get("id")), header)
    return notification_of(doc)


async def process(session: AsyncSession, message: InboxMessage, now: datetime) -> StayChange | None:
    """Everything about one claimed message, in the caller's transaction."""
    body = await session.get(InboxBody, message.id)
    reading = read_message(body.body if body else b"", message.media_type)
    refusal, content = reading.refusal, None
    if refusal is None and reading.doc is not None:
        try:
            content = content_of(reading.doc)
        except Refusal as error:
            refusal = error
    address = reading.address
    if isinstance(content, ReceivedAcknowledgement) or _is_acknowledgement(reading.doc):
        address = None  # an acknowledgement is never acknowledged
    header_id = content.header_id if content else (reading.address.header_id if reading.address else None)
    bundle_id, original, reused = _bundle_id(reading), None, False
    if header_id is not None:
        await lock_keys(session, message.municipality_id, [f"header:{header_id}"])
        original = await _original(session, message.municipality_id, header_id)
        reused = original is None and refusal is None and await _bundle_reused(session, message, bundle_id)
    # Only now, when it is known whose duplicate this is, do the ids go in (the unique index).
    message.header_id, message.bundle_id, message.processed_at = header_id, bundle_id, now
    if original is not None:
        await _answer_duplicate(session, message, original, now)
        return None
    if reused:
        refusal = Refusal(AckError.DAMAGED, "Bundle.id", "This Bundle.id came before with another MessageHeader.id.")
    if refusal is None and isinstance(content, CareMessage):
        refusal = await _land(session, message, content, now)
    if refusal is not None or content is None:
        _refuse(message, refusal or Refusal(AckError.DAMAGED, "Bundle", "Unreadable."), address)
        await _acknowledge(session, message, address, AckCode.FATAL_ERROR, refusal, now)
        return None
    if isinstance(content, ReceivedAcknowledgement):
        settled = await correspondence.settle(session, message, reading.doc or {}, content.header, now)
        message.state = MessageState.APPLIED if settled else MessageState.NOT_OURS
        message.event_code = codes.ACKNOWLEDGEMENT_ACTIVITY
        await session.execute(delete(InboxBody).where(InboxBody.message_id == message.id))
        return None
    change = await _apply(session, message, content, now) if isinstance(content, Notification) else None
    await _acknowledge(session, message, address, AckCode.OK, None, now)
    return change


def _is_acknowledgement(doc: dict[str, Any] | None) -> bool:
    headers = [r for r in resources(doc or {}) if r.get("resourceType") == "MessageHeader"]
    return bool(headers) and (headers[0].get("eventCoding") or {}).get("code") == codes.ACKNOWLEDGEMENT


async def _land(session: AsyncSession, message: InboxMessage, care: CareMessage, now: datetime) -> Refusal | None:
    """Land a letter on its case; the refusal if it cannot (a citizen without a case here leaves
    no bytes behind, like a hospital notice about someone not ours)."""
    try:
        async with session.begin_nested():
            await correspondence.land(session, message, care, now)
    except Refusal as refusal:
        if refusal is correspondence.UNKNOWN_CITIZEN:
            await session.execute(delete(InboxBody).where(InboxBody.message_id == message.id))
        return refusal
    message.state, message.event_code = MessageState.APPLIED, care.activity
    return None


def _bundle_id(reading: Reading) -> str | None:
    value = reading.doc.get("id") if reading.doc else None
    return value[:64] if isinstance(value, str) else None


async def _original(session: AsyncSession, municipality_id: uuid.UUID, header_id: str) -> InboxMessage | None:
    """The message already processed under this MessageHeader.id (MedCom: then this is a duplicate)."""
    query = select(InboxMessage).where(
        InboxMessage.municipality_id == municipality_id,
        InboxMessage.header_id == header_id,
        InboxMessage.duplicate_of.is_(None),
        InboxMessage.state.not_in([MessageState.RECEIVED, MessageState.FAILED]),
    )
    return (await session.scalars(query)).first()


async def _bundle_reused(session: AsyncSession, message: InboxMessage, bundle_id: str | None) -> bool:
    """Whether another message came with this Bundle.id (under another header: MedCom calls it an error)."""
    if bundle_id is None:
        return False
    query = select(InboxMessage.id).where(
        InboxMessage.municipality_id == message.municipality_id,
        InboxMessage.bundle_id == bundle_id,
        InboxMessage.id != message.id,
        InboxMessage.state != MessageState.RECEIVED,
    )
    return (await session.scalars(query.limit(1))).first() is not None


async def _answer_duplicate(
    session: AsyncSession, message: InboxMessage, original: InboxMessage, now: datetime
) -> None:
    """The first answer again, byte for byte; nothing applied, nothing shown twice, nothing kept."""
    message.state, message.duplicate_of = MessageState.DUPLICATE, original.id
    message.ack_code, message.ack_media_type, message.ack_body = (
        original.ack_code,
        original.ack_media_type,
        original.ack_body,
    )
    original.duplicates += 1
    await session.execute(delete(InboxBody).where(InboxBody.message_id == message.id))
    await _send(session, message, now)


def _refuse(message: InboxMessage, refusal: Refusal, address: Address | None) -> None:
    message.state = MessageState.REFUSED
    message.error_code, message.error_element = refusal.error.value, refusal.element[:200]
    unanswerable = "" if address else " No acknowledgement can be addressed: the MessageHeader cannot be read."
    message.reason = (refusal.detail + unanswerable)[:400]


async def _apply(
    session: AsyncSession, message: InboxMessage, notification: Notification, now: datetime
) -> StayChange | None:
    await lock_keys(session, message.municipality_id, [f"stay:{key}" for key in notification.episode_keys])
    stay = await find_stay(session, message.municipality_id, notification.episode_keys)
    person = await person_of(session, message.municipality_id, notification, stay)
    if person is None:
        # Hospitals notify for everyone; the receiver filters (Health Act §12c). Nothing about the
        # person is kept: the bytes go, the hash and the ids for duplicates stay, the row counts.
        message.state = MessageState.NOT_OURS
        await session.execute(delete(InboxBody).where(InboxBody.message_id == message.id))
        return None
    change = await apply_notice(session, message, notification, person, stay, now)
    message.state, message.event_code = MessageState.APPLIED, change.event_code
    await follow_stay(session, message, change, now)
    return change


async def _acknowledge(
    session: AsyncSession,
    message: InboxMessage,
    address: Address | None,
    code: AckCode,
    refusal: Refusal | None,
    now: datetime,
) -> None:
    if address is None:
        return
    message.ack_code, message.ack_media_type = code.value, message.media_type
    message.ack_body = build_acknowledgement(address, code, refusal, now, message.media_type)
    await _send(session, message, now)


async def _send(session: AsyncSession, message: InboxMessage, now: datetime) -> None:
    """Queue the message's acknowledgement for the broker, unless the care record answers instead."""
    if message.ack_body is None or message.ack_media_type is None:
        return
    settings = await session.get(MessageSettings, message.municipality_id)
    if settings is not None and settings.care_record_acknowledges:
        return
    url = await session.scalar(text("SELECT ack_url FROM system_clients WHERE id = :id"), {"id": message.client_id})
    if url:
        outbox.enqueue(session, message.id, url, message.ack_media_type, message.ack_body, now)


async def _count_failure(
    sessions: async_sessionmaker[AsyncSession], message_id: uuid.UUID | None, now: datetime
) -> None:
    """One more failed attempt; the last one answers transient-error (our side, not the message)."""
    if message_id is None:
        return
    try:
        async with sessions.begin() as session:
            await session.execute(
                update(InboxMessage).where(InboxMessage.id == message_id).values(attempts=InboxMessage.attempts + 1)
            )
            message = await session.get(InboxMessage, message_id)
            if message is None or message.attempts < MAX_ATTEMPTS:
                return
            body = await session.get(InboxBody, message_id)
            address = read_message(body.body if body else b"", message.media_type).address
            message.state, message.processed_at = MessageState.FAILED, now
            message.reason = "Processing failed on the receiver's side; answered transient-error."
            await _acknowledge(session, message, address, AckCode.TRANSIENT_ERROR, TRANSIENT, now)
    except Exception as error:
        log.error("inbox: could not count a failure: %s", type(error).__name__)
