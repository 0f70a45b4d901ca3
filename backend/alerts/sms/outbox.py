"""The SMS outbox: the sweep queues an SMS for each person a push did not reach in time, and a
sender hands the queue to the gateway.

The rows are the truth, as for pushes (`backend.alerts.engine`): the sweep decides in the same
transaction that clears the person's `sms_due_at`, so however many instances sweep, each
person gets one SMS per climb (the unique index says so too); a sender claims rows with SKIP
LOCKED for `CLAIM_SECONDS`, so a sender that dies gives them back; a passing failure (the
gateway restarting) is tried again with backoff until `MAX_ATTEMPTS`; an SMS for an alert taken
meanwhile is cancelled, never sent.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts import channel_health
from backend.alerts.calls import alert_event_row
from backend.alerts.models import Alert
from backend.alerts.sms.gateway import SmsGateway, SmsOut
from backend.alerts.sms.models import SmsKind, SmsMessage, SmsStatus
from backend.alerts.sms.texts import alert_text, new_code
from backend.clock import Clock
from backend.db import memo
from backend.events import emit_many
from backend.wakeup import WokenLoop

log = logging.getLogger("lindra.sms")

SMS_CHANNEL = "lindra_sms"
BATCH = 100
CLAIM_SECONDS = 30
MAX_ATTEMPTS = 16  # with the backoff below, about five minutes of a gateway that does not answer
DEFAULT_SMS_AFTER_SECONDS = 60


def retry_after(attempts: int) -> timedelta:
    """1, 2, 4, 8, 16, then every 30 seconds: a gateway restart is over in seconds, an outage is not."""
    return timedelta(seconds=min(30, 2 ** (attempts - 1)))


async def wake_sms_senders(session: AsyncSession) -> None:
    """Tell every instance's SMS sender, after this transaction commits, that SMS are waiting."""
    if not memo(session).get("sms_woken"):
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": SMS_CHANNEL})
        memo(session)["sms_woken"] = True


# The people whose SMS time has come on an open alert, taken off the list (`sms_due_at`) in the
# statement that reads them, with their number and language and whether a push to them was confirmed.
_DUE = text(
    """
    WITH due AS (
        SELECT t.alert_id, t.climb, t.user_id
        FROM alert_targets t JOIN alerts a ON a.id = t.alert_id AND a.climb = t.climb
        WHERE t.sms_due_at <= :now AND a.status = 'open' AND a.paging_stopped_reason IS NULL
        ORDER BY t.sms_due_at
        LIMIT 500
        FOR UPDATE OF t SKIP LOCKED
    )
    UPDATE alert_targets t SET sms_due_at = NULL
    FROM due, users u
    WHERE t.alert_id = due.alert_id AND t.climb = due.climb AND t.user_id = due.user_id AND u.id = t.user_id
    RETURNING t.alert_id, t.climb, t.tier, t.user_id, u.language,
              CASE WHEN u.deleted_at IS NULL AND u.disabled_at IS NULL THEN u.mobile END AS mobile,
              EXISTS (SELECT 1 FROM notifications n
                      WHERE n.alert_id = t.alert_id AND n.climb = t.climb AND n.user_id = t.user_id
                        AND n.channel = 'push' AND n.confirmed_at IS NOT NULL) AS confirmed
    """
)


async def queue_due_sms(session: AsyncSession, now: datetime) -> int:
    """The sweep's step: an SMS with a fresh reply code for each person called whose push was not
    confirmed within the tier's `sms_after_seconds` (or who had no phone to push to), if she has a
    mobile number. Returns how many were queued."""
    rows = [r for r in (await session.execute(_DUE, {"now": now})).all() if r.mobile and not r.confirmed]
    if not rows:
        return 0
    values = []
    for row in rows:
        code = new_code()
        values.append(
            {
                "id": uuid.uuid4(),
                "kind": SmsKind.ALERT.value,
                "user_id": row.user_id,
                "alert_id": row.alert_id,
                "climb": row.climb,
                "tier": row.tier,
                "code": code,
                "body": alert_text(row.language, code),
                "status": SmsStatus.QUEUED.value,
                "attempts": 0,
                "created_at": now,
                "due_at": now,
            }
        )
    await session.execute(
        pg_insert(SmsMessage)
        .values(values)
        .on_conflict_do_nothing(index_elements=["alert_id", "climb", "user_id"], index_where=text("kind = 'alert'"))
    )
    await wake_sms_senders(session)
    return len(values)


async def queue_sms(
    session: AsyncSession,
    user_id: uuid.UUID,
    kind: SmsKind,
    body: str,
    now: datetime,
    alert_id: uuid.UUID | None,
    *,
    code: str | None = None,
    climb: int | None = None,
    check_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Queue one SMS of a fixed text to a person (sent after this transaction commits); with the
    reply `code` it names and the alert's `climb` it was sent in, when a reply may act on it; or
    about a phone check (`check_id`), through which a person's request may write it."""
    sms_id = uuid.uuid4()
    session.add(
        SmsMessage(
            id=sms_id,
            kind=kind.value,
            user_id=user_id,
            alert_id=alert_id,
            climb=climb,
            code=code,
            check_id=check_id,
            body=body,
            status=SmsStatus.QUEUED.value,
            attempts=0,
            created_at=now,
            due_at=now,
        )
    )
    await wake_sms_senders(session)
    return sms_id


_CLAIM = text(
    """
    WITH due AS (
        SELECT s.id FROM sms_messages s
        WHERE s.status = 'queued' AND s.due_at <= :now AND (s.claimed_until IS NULL OR s.claimed_until < :now)
          AND (CAST(:kinds AS text[]) IS NULL OR s.kind = ANY (CAST(:kinds AS text[])))
        ORDER BY s.due_at
        LIMIT :limit
        FOR UPDATE OF s SKIP LOCKED
    )
    UPDATE sms_messages s SET claimed_until = :until, attempts = s.attempts + 1
    FROM due
    WHERE s.id = due.id
    RETURNING s.id, s.kind, s.alert_id, s.user_id, s.body, s.attempts,
              (SELECT u.mobile FROM users u
               WHERE u.id = s.user_id AND u.deleted_at IS NULL AND u.disabled_at IS NULL) AS mobile,
              CASE s.kind
                  WHEN 'alert' THEN EXISTS (
                      SELECT 1 FROM alerts a WHERE a.id = s.alert_id AND a.climb = s.climb AND a.status = 'open'
                        AND a.paging_stopped_reason IS NULL)
                  -- a recall is wanted while she holds the alert and has not moved on it
                  WHEN 'recall' THEN EXISTS (
                      SELECT 1 FROM alerts a WHERE a.id = s.alert_id AND a.status = 'acknowledged'
                        AND a.acknowledged_by = s.user_id AND a.paging_stopped_reason IS NULL)
                  ELSE true
              END AS wanted
    """
)

# A delivery report may come before the sender records the gateway's answer: it wins.
_RESULT = text(
    """
    UPDATE sms_messages
    SET status = CASE WHEN status = 'queued' THEN :status ELSE status END,
        sent_at = CASE WHEN :status = 'sent' THEN coalesce(sent_at, :now) ELSE sent_at END,
        failed_at = CASE WHEN :status = 'failed' AND status = 'queued' THEN :now ELSE failed_at END,
        error = coalesce(:error, error), due_at = :due_at, claimed_until = NULL
    WHERE id = :id
    """
)


async def claim_due_sms(
    sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int, kinds: list[SmsKind] | None = None
) -> list[Any]:
    """Take up to `limit` due SMS (of `kinds`, else any) for this sender (for `CLAIM_SECONDS`); their rows."""
    until = now + timedelta(seconds=CLAIM_SECONDS)
    wanted = [k.value for k in kinds] if kinds else None
    async with sessions.begin() as session:
        params = {"now": now, "until": until, "limit": limit, "kinds": wanted}
        return list((await session.execute(_CLAIM, params)).all())


async def deliver_sms(
    sessions: async_sessionmaker[AsyncSession], gateway: SmsGateway, claimed: list[Any], now: datetime
) -> None:
    """Hand the claimed SMS to the gateway and record each answer: sent, again later, or failed;
    an alert's SMS whose alert was taken meanwhile is cancelled, one whose number is gone fails."""
    sendable = [row for row in claimed if row.wanted and row.mobile]
    results = {r.sms_id: r for r in await gateway.send([SmsOut(row.id, row.mobile, row.body) for row in sendable])}
    updates = []
    for row in claimed:
        status, due_at = SmsStatus.FAILED.value, now
        error: str | None = "no_mobile"
        if not row.wanted:
            status, error = SmsStatus.CANCELLED.value, None
        elif (result := results.get(row.id)) is not None:
            error = result.error
            if result.outcome == "sent":
                status = SmsStatus.SENT.value
            elif result.outcome == "retry" and (row.attempts < MAX_ATTEMPTS or row.kind == SmsKind.WATCH.value):
                status, due_at = SmsStatus.QUEUED.value, now + retry_after(row.attempts)
        updates.append({"id": row.id, "status": status, "error": error, "due_at": due_at, "now": now})
    await channel_health.record(sessions, "sms", channel_health.sms_answered(r.outcome for r in results.values()))
    texted: dict[uuid.UUID, list[str]] = {}
    for row, update in zip(claimed, updates, strict=True):
        if row.kind == SmsKind.ALERT.value and update["status"] == SmsStatus.SENT.value:
            texted.setdefault(row.alert_id, []).append(str(row.user_id))
    async with sessions.begin() as session:
        await session.execute(_RESULT, updates)
        if texted:  # the boards show "SMS sent" by each person the SMS went to
            alerts = await session.scalars(select(Alert).where(Alert.id.in_(list(texted))))
            await emit_many(session, [alert_event_row(a, "alert.sms", user_ids=texted[a.id]) for a in alerts])


class SmsSender(WokenLoop):
    """Sends the SMS outbox as soon as a transaction says so (LISTEN), and every second regardless."""

    channel = SMS_CHANNEL
    name = "sms sender"

    def __init__(
        self, database_url: str, sessions: async_sessionmaker[AsyncSession], gateway: SmsGateway, clock: Clock
    ) -> None:
        super().__init__(database_url)
        self.sessions = sessions
        self.gateway = gateway
        self.clock = clock

    async def release(self) -> None:
        await self.gateway.aclose()

    async def work(self) -> None:
        while True:
            now = self.clock.now()
            claimed = await claim_due_sms(self.sessions, now, BATCH)
            if claimed:
                await deliver_sms(self.sessions, self.gateway, claimed, now)
            if len(claimed) < BATCH:
                break
