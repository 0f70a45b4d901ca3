"""The test pushes of phone checks (`backend.alerts.readiness`): claimed, sent and recorded like the
alert pushes, by a sender of their own, so a test never sits in the alerts' outbox or its counts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts import channel_health
from backend.alerts.push import PushGateway, PushMessage
from backend.alerts.push_sender import forget_token
from backend.alerts.readiness import CHECK_PUSH_CHANNEL
from backend.alerts.watch_models import CheckPush
from backend.clock import Clock
from backend.wakeup import WokenLoop

CHECK_CLAIM_SECONDS = 30
CHECK_MAX_ATTEMPTS = 5  # a test push that FCM keeps refusing for about half a minute has failed
# A test push that reaches the phone later than this would confuse more than it proves: let it lapse.
CHECK_TTL_SECONDS = 600

_CLAIM = text(
    """
    WITH due AS (
        SELECT p.id FROM phone_checks p
        WHERE (p.push_status = 'pending' AND p.push_due_at <= :now)
           OR (p.push_status = 'sending' AND p.push_claimed_until < :now)
        ORDER BY p.push_due_at
        LIMIT 100
        FOR UPDATE OF p SKIP LOCKED
    )
    UPDATE phone_checks p
    SET push_status = 'sending', push_claimed_until = :until, push_attempts = p.push_attempts + 1
    FROM due, devices d
    WHERE p.id = due.id AND d.id = p.device_id
    RETURNING p.id, p.device_id, p.push_attempts, CASE WHEN d.revoked_at IS NULL THEN d.push_token END AS token
    """
)

_RESULT = text(
    """
    UPDATE phone_checks
    SET push_status = CAST(:status AS text), push_error = :error, push_due_at = :due_at, push_claimed_until = NULL,
        push_sent_at = CASE WHEN CAST(:status AS text) = 'sent' THEN CAST(:now AS timestamptz) ELSE push_sent_at END
    WHERE id = :id AND push_status = 'sending'
    """
)


async def send_check_pushes(sessions: async_sessionmaker[AsyncSession], gateway: PushGateway, now: datetime) -> int:
    """Send the due test pushes and record each result (a passing failure is retried, a dead token forgotten)."""
    until = now + timedelta(seconds=CHECK_CLAIM_SECONDS)
    async with sessions.begin() as session:
        claimed = (await session.execute(_CLAIM, {"now": now, "until": until})).all()
    if not claimed:
        return 0
    sendable = [row for row in claimed if row.token]
    pushes = [PushMessage(row.id, row.token, None, "normal", CHECK_TTL_SECONDS) for row in sendable]
    results = {r.notification_id: r for r in await gateway.send(pushes)}
    await channel_health.record(sessions, "push", channel_health.push_answered(r.outcome for r in results.values()))
    async with sessions.begin() as session:
        for row in claimed:
            result = results.get(row.id)
            status, due_at = CheckPush.FAILED.value, now
            error: str | None = "no_token"
            if result is not None:
                error = result.error
                if result.outcome == "sent":
                    status = CheckPush.SENT.value
                elif result.outcome == "retry" and row.push_attempts < CHECK_MAX_ATTEMPTS:
                    status, due_at = CheckPush.PENDING.value, now + timedelta(seconds=2**row.push_attempts)
                elif result.outcome == "invalid_token":
                    await forget_token(session, row.device_id, row.token)
            params = {"id": row.id, "status": status, "error": error, "due_at": due_at, "now": now}
            await session.execute(_RESULT, params)
    return len(claimed)


class CheckPushSender(WokenLoop):
    """Sends the test pushes of phone checks as soon as one is asked for, and every second regardless."""

    channel = CHECK_PUSH_CHANNEL
    name = "phone check sender"

    def __init__(
        self, database_url: str, sessions: async_sessionmaker[AsyncSession], gateway: PushGateway, clock: Clock
    ) -> None:
        super().__init__(database_url)
        self.sessions = sessions
        self.gateway = gateway
        self.clock = clock

    async def work(self) -> None:
        await send_check_pushes(self.sessions, self.gateway, self.clock.now())
