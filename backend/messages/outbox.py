"""Acknowledgements and letters on their way out: rows, posted over HTTP to the broker by the worker,
retried with backoff until the broker takes them (any 2xx) or `MAX_ATTEMPTS` have failed.

A row is claimed by moving its next attempt `CLAIM_SECONDS` ahead in a short transaction
(`FOR UPDATE SKIP LOCKED`), posted after that commits, and its result recorded in another: an
instance that dies mid-post gives the row back when the claim runs out, and two instances never
post one row at once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.messages.letter_events import announce
from backend.messages.models import AckOutbox, OutboxStatus

log = logging.getLogger("lindra.messages")

MAX_ATTEMPTS = 12
CLAIM_SECONDS = 60
FIRST_RETRY_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 900.0
BATCH = 20


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: 1 s, 2 s, 4 s ... at most 15 minutes."""
    return timedelta(seconds=min(LONGEST_WAIT_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempts - 1)))


def enqueue(
    session: AsyncSession,
    message_id: uuid.UUID | None,
    url: str,
    media_type: str,
    body: bytes,
    now: datetime,
    correspondence_id: uuid.UUID | None = None,
) -> None:
    """Send `body` to `url` once the caller's transaction commits: the acknowledgement of the
    received message `message_id`, or a send of the letter `correspondence_id`."""
    session.add(
        AckOutbox(
            message_id=message_id,
            correspondence_id=correspondence_id,
            url=url,
            media_type=media_type,
            body=body,
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
        )
    )


_CLAIM = text(
    """
    UPDATE ack_outbox o SET next_attempt_at = :claimed_until, attempts = o.attempts + 1
    WHERE o.id IN (
        SELECT id FROM ack_outbox WHERE status = 'pending' AND next_attempt_at <= :now
        ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING o.id, o.url, o.media_type, o.body, o.attempts
    """
)

# A letter the broker took is sent (it then waits for its acknowledgement, and boards hear of it); a row its letter has
# given up on meanwhile (superseded by a re-send, or settled) stays given up.
_RECORD = text(
    """
    WITH recorded AS (
        UPDATE ack_outbox SET status = CASE WHEN status = 'gave_up' THEN 'gave_up' ELSE :status END,
                              sent_at = :sent_at, next_attempt_at = :next_attempt_at, last_error = :error
        WHERE id = :id
        RETURNING correspondence_id
    )
    UPDATE correspondence SET status = 'sent'
    WHERE id = (SELECT correspondence_id FROM recorded) AND status = 'sending' AND :status = 'sent'
    RETURNING id
    """
)


async def send_due(sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, now: datetime) -> int:
    """Post the acknowledgements and letters that are due; how many the brokers took."""
    async with sessions.begin() as session:
        claimed = (
            await session.execute(
                _CLAIM, {"now": now, "claimed_until": now + timedelta(seconds=CLAIM_SECONDS), "limit": BATCH}
            )
        ).all()
    taken = 0
    for row in claimed:
        error = await _post(http, row.url, row.media_type, row.body)
        if error is None:
            values = {"status": OutboxStatus.SENT, "sent_at": now, "next_attempt_at": now, "error": None}
            taken += 1
        else:
            status = OutboxStatus.GAVE_UP if row.attempts >= MAX_ATTEMPTS else OutboxStatus.PENDING
            values = {"status": status, "sent_at": None, "next_attempt_at": now + backoff(row.attempts), "error": error}
            log.warning("outbox row %s not taken (attempt %d): %s", row.id, row.attempts, error)
        async with sessions.begin() as session:
            now_sent = (await session.execute(_RECORD, {"id": row.id, **values})).scalar_one_or_none()
            if now_sent is not None:
                await announce(session, now_sent)
    return taken


async def _post(http: httpx.AsyncClient, url: str, media_type: str, body: bytes) -> str | None:
    """None when the broker took it, else why not (no URL or body in the text: they stay out of logs)."""
    try:
        response = await http.post(url, content=body, headers={"Content-Type": media_type})
    except httpx.HTTPError as error:
        return type(error).__name__
    return None if response.is_success else f"HTTP {response.status_code}"
