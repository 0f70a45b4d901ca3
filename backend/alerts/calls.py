"""Calling people about an alert: the pushes and WebSocket messages for whom a tier (or a recall)
calls, the push senders' wake-up, and the events that tell boards and phones what happened.

Shared by the escalation engine and by the watch on acknowledged alerts (`backend.alerts.progress`),
so neither imports the other for it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts.models import Alert
from backend.db import memo
from backend.events import emit

PUSH_CHANNEL = "lindra_push"


async def wake_push_senders(session: AsyncSession) -> None:
    """Tell every instance's push sender, after this transaction commits, that pushes are waiting (once is enough)."""
    if not memo(session).get("push_woken"):
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": PUSH_CHANNEL})
        memo(session)["push_woken"] = True


def alert_event_row(alert: Alert, kind: str, actor_id: uuid.UUID | None = None, **payload: Any) -> dict[str, Any]:
    """An event about an alert as it stands now; `unit` lets the palliative unit follow it once a tier called them."""
    body = {"status": alert.status, "tier": alert.tier, "severity": alert.severity, "reason": alert.reason}
    body["unit"] = alert.unit_notified_at is not None
    body.update(payload)
    return {
        "kind": kind,
        "municipality_id": alert.municipality_id,
        "district_id": alert.district_id,
        "case_id": alert.case_id,
        "alert_id": alert.id,
        "actor_id": actor_id,
        "payload": body,
    }


async def alert_event(
    session: AsyncSession, alert: Alert, kind: str, actor_id: uuid.UUID | None = None, **payload: Any
) -> None:
    """Record an event about an alert (see `alert_event_row`)."""
    await emit(session, **alert_event_row(alert, kind, actor_id, **payload))


# Pushes (one per phone) and WebSocket messages for each row of a `called` CTE (alert_id, climb,
# tier, user_id), and the push senders' wake-up, in the statement that defines `called`
# (PostgreSQL delivers a repeated notification once per transaction).
NOTIFICATIONS_SQL = f"""
    added AS (
        INSERT INTO notifications
            (id, alert_id, climb, tier, user_id, device_id, channel, kind, status, attempts, created_at, due_at,
             sent_at)
        SELECT gen_random_uuid(), c.alert_id, c.climb, c.tier, d.user_id, d.id,
               'push', CAST(:kind AS text), 'pending', 0, CAST(:now AS timestamptz), CAST(:now AS timestamptz), NULL
        FROM called c JOIN devices d ON d.user_id = c.user_id
        WHERE d.revoked_at IS NULL AND d.push_token IS NOT NULL AND d.refresh_expires_at > :now
        UNION ALL
        SELECT gen_random_uuid(), c.alert_id, c.climb, c.tier, c.user_id, NULL,
               'websocket', CAST(:kind AS text), 'sent', 1, CAST(:now AS timestamptz), CAST(:now AS timestamptz),
               CAST(:now AS timestamptz)
        FROM called c
        RETURNING channel
    ), woken AS (
        SELECT pg_notify('{PUSH_CHANNEL}', '') FROM added WHERE channel = 'push' LIMIT 1
    )"""

_NOTIFY = text(
    f"""
    WITH called AS (
        SELECT * FROM unnest(CAST(:alert_ids AS uuid[]), CAST(:climbs AS int[]), CAST(:tiers AS int[]),
                             CAST(:users AS uuid[])) AS c(alert_id, climb, tier, user_id)
    ), {NOTIFICATIONS_SQL}
    SELECT count(*) FROM woken
    """
)

Called = tuple[Alert, int, uuid.UUID]  # an alert, the tier that calls, the person called


async def notify(session: AsyncSession, called: list[Called], kind: str, now: datetime) -> None:
    """One push per phone of each person called (for the sender) and a WebSocket message (the event)."""
    if not called:
        return
    await session.execute(
        _NOTIFY,
        {
            "alert_ids": [alert.id for alert, _, _ in called],
            "climbs": [alert.climb for alert, _, _ in called],
            "tiers": [tier for _, tier, _ in called],
            "users": [user_id for _, _, user_id in called],
            "kind": kind,
            "now": now,
        },
    )
