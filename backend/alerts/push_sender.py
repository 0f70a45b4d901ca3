"""The push sender: hands the outbox of pushes to the gateway, after the transaction that wrote them.

Pushes are rows written in the same transaction as the tier (`backend.alerts.engine`), sent by
whichever instance's sender claims them first, retried with backoff, and never sent once the
alert is taken or stopped. A push FCM calls dead forgets the token and makes the person's SMS due
at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts import channel_health
from backend.alerts.calls import PUSH_CHANNEL, alert_event
from backend.alerts.models import Alert
from backend.alerts.progress import RECALL
from backend.alerts.push import FcmGateway, PushGateway, PushMessage
from backend.clock import Clock
from backend.metrics import PUSHES
from backend.wakeup import WokenLoop

log = logging.getLogger("lindra.alerts")

# Pushes in flight at once per sender: firebase-admin sends each as its own request over at most 100 connections;
# more would wait in its pool and time out unsent.
PUSH_BATCH = 100
PUSH_CLAIM_SECONDS = 30  # a sender that dies mid-send gives its rows back after this
PUSH_MAX_ATTEMPTS = 8

_ALERTS_BY_ID = select(Alert).where(Alert.id.in_(bindparam("ids", expanding=True)))


_CLAIM = text(
    """
    WITH due AS (
        SELECT n.id FROM notifications n JOIN alerts a ON a.id = n.alert_id AND a.climb = n.climb
        WHERE n.channel = 'push'
          AND ((n.status = 'pending' AND n.due_at <= :now) OR (n.status = 'sending' AND n.claimed_until < :now))
          AND (a.status = 'open'
               OR (n.kind = 'recall' AND a.status = 'acknowledged' AND a.acknowledged_by = n.user_id))
          AND a.paging_stopped_reason IS NULL
        ORDER BY n.due_at
        LIMIT :limit
        FOR UPDATE OF n SKIP LOCKED
    )
    UPDATE notifications n
    SET status = 'sending', claimed_until = :until, attempts = n.attempts + 1
    FROM due, alerts a, devices d
    WHERE n.id = due.id AND a.id = n.alert_id AND d.id = n.device_id
    RETURNING n.id, n.alert_id, a.severity, n.kind, n.attempts, n.device_id,
              CASE WHEN d.revoked_at IS NULL THEN d.push_token END AS token,
              -- the push expires when the call does: the tier's timeout, or a recall's time left
              CASE WHEN n.kind = 'recall'
                   THEN greatest(1, ceil(extract(epoch FROM a.progress_due_at - CAST(:now AS timestamptz))))::int
                   ELSE (a.tiers -> n.tier ->> 'ack_timeout_seconds')::int END AS ttl_seconds
    """
)

# A statement that is a transaction by itself needs no BEGIN and COMMIT around it.
_ONE_STATEMENT = {"isolation_level": "AUTOCOMMIT"}

_RESULT = text(
    """
    UPDATE notifications
    SET status = :status, error = :error, message_id = :message_id, sent_at = :sent_at,
        due_at = :due_at, claimed_until = NULL
    WHERE id = :id AND status = 'sending'
    """
)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60, 2 ** (attempts - 1)))


async def claim_due_pushes(sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int) -> list[Any]:
    """Mark up to `limit` due pushes as being sent by this instance (for `PUSH_CLAIM_SECONDS`); their rows.

    One statement, a transaction by itself: every instance's sender claims on every wake-up, so
    each saves its BEGIN and COMMIT round trips."""
    until = now + timedelta(seconds=PUSH_CLAIM_SECONDS)
    async with sessions() as session:
        connection = await session.connection(execution_options=_ONE_STATEMENT)
        return list((await connection.execute(_CLAIM, {"now": now, "until": until, "limit": limit})).all())


async def deliver(
    sessions: async_sessionmaker[AsyncSession], gateway: PushGateway, claimed: list[Any], now: datetime
) -> None:
    """Send claimed pushes and record each result (retry with backoff, give up, forget a dead token)."""
    sendable = [row for row in claimed if row.token]
    messages = [
        PushMessage(row.id, row.token, row.alert_id, row.severity, row.ttl_seconds, recall=row.kind == RECALL)
        for row in sendable
    ]
    results = await gateway.send(messages)
    outcome = {r.notification_id: r for r in results}
    for sent in results:
        PUSHES.labels(sent.outcome).inc()
    updates: list[dict[str, Any]] = []
    dead_tokens: list[tuple[uuid.UUID, str]] = []
    for row in claimed:
        result = outcome.get(row.id)
        status, sent_at, due_at = "failed", None, now
        error: str | None = "no_token"
        message_id: str | None = None
        if result is not None:
            error, message_id = result.error, result.message_id
            if result.outcome == "sent":
                status, sent_at = "sent", now
            elif result.outcome == "retry" and row.attempts < PUSH_MAX_ATTEMPTS:
                status, due_at = "pending", now + _backoff(row.attempts)
            elif result.outcome == "invalid_token":
                status = "invalid_token"
                dead_tokens.append((row.device_id, row.token))
        updates.append(
            {
                "id": row.id,
                "status": status,
                "error": error,
                "message_id": message_id,
                "sent_at": sent_at,
                "due_at": due_at,
            }
        )
    await channel_health.record(sessions, "push", channel_health.push_answered(r.outcome for r in results))
    failed = _failed_for_good(claimed, updates)
    if not (dead_tokens or failed):  # the usual case: one statement, a transaction by itself
        async with sessions() as session:
            connection = await session.connection(execution_options=_ONE_STATEMENT)
            await connection.execute(_RESULT, updates)
    else:  # the results, the dead tokens cleared and the boards told, all or none
        async with sessions.begin() as session:
            await session.execute(_RESULT, updates)
            for device_id, token in dead_tokens:
                await forget_token(session, device_id, token)
            dead = [u["id"] for u in updates if u["status"] == "invalid_token"]
            if dead:  # the sweep, within a quarter second, queues the SMS
                await session.execute(_TEXT_NOW, {"ids": dead, "now": now})
            for alert in await session.scalars(_ALERTS_BY_ID, {"ids": list(failed)}):
                await alert_event(session, alert, "alert.delivery", pushes=failed[alert.id])


# A person whose only phone FCM calls dead cannot be pushed to: her SMS is due now, not after
# `sms_after_seconds`. (Her SMS not yet queued, and no other phone of hers with a token.)
_TEXT_NOW = text(
    """
    UPDATE alert_targets t SET sms_due_at = :now
    FROM notifications n
    WHERE n.id = ANY (CAST(:ids AS uuid[])) AND t.alert_id = n.alert_id AND t.climb = n.climb
      AND t.user_id = n.user_id AND t.sms_due_at > :now
      AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = n.user_id AND d.revoked_at IS NULL
                        AND d.push_token IS NOT NULL AND d.refresh_expires_at > :now)
    """
)


async def forget_token(session: AsyncSession, device_id: uuid.UUID, token: str) -> None:
    """FCM calls the token dead: clear it, only if unchanged (the phone may have registered a fresh one)."""
    await session.execute(
        text("UPDATE devices SET push_token = NULL WHERE id = :id AND push_token = :token"),
        {"id": device_id, "token": token},
    )


# Push results that change what a board shows of a called person: no phone to reach any more.
_BOARD_VISIBLE_RESULTS = frozenset({"invalid_token", "failed"})


def _failed_for_good(claimed: list[Any], results: list[dict[str, Any]]) -> dict[uuid.UUID, dict[str, int]]:
    """The alerts one of whose pushes failed for good, with their pushes counted by result: each gets an
    event, so its boards read it again.

    A push sent, or waiting for its retry, changes nothing a board shows (the phone's receipt
    does, with an event of its own): announcing every batch to every board tripled the frames an
    alert costs."""
    by_alert: dict[uuid.UUID, dict[str, int]] = {}
    for row, result in zip(claimed, results, strict=True):
        counts = by_alert.setdefault(row.alert_id, {})
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return {alert_id: counts for alert_id, counts in by_alert.items() if _BOARD_VISIBLE_RESULTS & counts.keys()}


class PushSender(WokenLoop):
    """Sends the outbox as soon as a transaction says so (LISTEN), and every second regardless.

    Claimed batches are delivered side by side, up to `PUSH_BATCH` messages in flight (what the
    gateway's connections carry): a push claimed while FCM is slow to answer another batch goes
    out at once instead of waiting for that answer.
    """

    channel = PUSH_CHANNEL
    name = "push sender"

    def __init__(
        self, database_url: str, sessions: async_sessionmaker[AsyncSession], gateway: PushGateway, clock: Clock
    ) -> None:
        super().__init__(database_url)
        self.sessions = sessions
        self.gateway = gateway
        self.clock = clock
        self._in_flight = 0  # messages claimed and not yet recorded
        self._full = False  # the last claim stopped for want of room, not for want of pushes
        self._deliveries: set[asyncio.Task[None]] = set()

    async def release(self) -> None:
        # Let deliveries under way record their results (a claim left behind is taken again in 30 s).
        if self._deliveries:
            await asyncio.wait(self._deliveries, timeout=5)
        if isinstance(self.gateway, FcmGateway):
            await self.gateway.aclose()

    async def work(self) -> None:
        while not (full := self._in_flight >= PUSH_BATCH):
            room, now = PUSH_BATCH - self._in_flight, self.clock.now()
            claimed = await claim_due_pushes(self.sessions, now, room)
            if claimed:
                self._in_flight += len(claimed)
                delivery = asyncio.create_task(self._deliver(claimed, now))
                self._deliveries.add(delivery)
                delivery.add_done_callback(self._deliveries.discard)
            if len(claimed) < room:  # nothing more is due
                break
        self._full = full

    async def _deliver(self, claimed: list[Any], now: datetime) -> None:
        try:
            await deliver(self.sessions, self.gateway, claimed, now)
        except Exception as exc:  # the claim runs out and another sender takes the pushes again
            log.error("push delivery: %s", type(exc).__name__)
        finally:
            self._in_flight -= len(claimed)
            if self._full:  # room again for what waited for it
                self._full = False
                self.wake()
