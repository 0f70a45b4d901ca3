"""Readiness at the start of a shift: "test my phone", and who on the roster is known to be reachable.

A nurse's phone asks for a check; Lindra sends it a test push (marked as a test, so the app says so
and confirms it) and a test SMS to her work mobile. The push counts once the phone confirms it; the
SMS once Kannel's delivery report says it reached the phone: she need not reply. Neither is an
alert: they are rows of their own (`phone_checks`, and `sms_messages` of kind `test`) that no
indicator, ledger or alert list reads.

A check counts for a shift from `READY_BEFORE` before the shift starts to its end, so a nurse who
tests her phone as she arrives counts for the shift she starts.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import schemas as s
from backend.alerts.sms.models import SmsKind
from backend.alerts.sms.outbox import queue_sms
from backend.alerts.sms.texts import test_text
from backend.alerts.watch_models import CheckPush, PhoneCheck
from backend.audit import service as audit
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.models import Device, User

CHECK_PUSH_CHANNEL = "lindra_check_push"
READY_BEFORE = timedelta(hours=1)


async def start_check(session: AsyncSession, actor: Actor, now: datetime) -> s.PhoneCheckOut:
    """A test push to the phone that asks and a test SMS to the person's work mobile."""
    if actor.municipality_id is None:
        raise Problem(403, "No municipality", "Only a municipality's staff are on its roster.", rule="no_roster")
    device = await session.get_one(Device, actor.device_id)
    person = await session.get_one(User, actor.user_id)
    check = PhoneCheck(
        id=uuid.uuid4(),
        municipality_id=actor.municipality_id,
        user_id=actor.user_id,
        device_id=actor.device_id,
        created_at=now,
        push_status=(CheckPush.PENDING if device.push_token else CheckPush.NO_TOKEN).value,
        push_attempts=0,
        push_due_at=now,
    )
    session.add(check)
    await session.flush()
    if device.push_token:
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHECK_PUSH_CHANNEL})
    if person.mobile:
        await queue_sms(session, person.id, SmsKind.TEST, test_text(person.language), now, None, check_id=check.id)
    await audit.record(session, actor, "phone_check.started", subject_user_id=actor.user_id)
    return await get_check(session, actor, check.id)


_CHECK = text(
    """
    SELECT p.id, p.created_at, p.push_status, p.push_sent_at, p.push_confirmed_at,
           m.status AS sms_status, m.delivered_at AS sms_delivered_at
    FROM phone_checks p LEFT JOIN sms_messages m ON m.check_id = p.id
    WHERE p.id = :id AND p.user_id = :user_id
    """
)


async def get_check(session: AsyncSession, actor: Actor, check_id: uuid.UUID) -> s.PhoneCheckOut:
    """How the caller's own check stands: the push sent or confirmed, the SMS delivered."""
    row = (await session.execute(_CHECK, {"id": check_id, "user_id": actor.user_id})).first()
    if row is None:
        raise not_found("phone check")
    return s.PhoneCheckOut(
        id=row.id,
        created_at=row.created_at,
        push=CheckPush(row.push_status),
        push_sent_at=row.push_sent_at,
        push_confirmed_at=row.push_confirmed_at,
        sms=row.sms_status or "no_number",
        sms_delivered_at=row.sms_delivered_at,
    )


async def confirm_push(session: AsyncSession, actor: Actor, check_id: uuid.UUID, now: datetime) -> s.PhoneCheckOut:
    """The app says the test push arrived; only on the phone of the person it was for (a retry changes nothing)."""
    confirmed = await session.scalar(
        text(
            """
            UPDATE phone_checks
            SET push_status = 'confirmed', push_confirmed_at = coalesce(push_confirmed_at, :now)
            WHERE id = :id AND user_id = :user_id AND push_status IN ('pending', 'sending', 'sent', 'confirmed')
            RETURNING id
            """
        ),
        {"id": check_id, "user_id": actor.user_id, "now": now},
    )
    if confirmed is None:
        raise not_found("phone check with a push to confirm")
    return await get_check(session, actor, check_id)


# Per person: a phone with a push token, a number, and the latest push confirmed and SMS delivered
# by a check made since `since`.
_READINESS = text(
    """
    SELECT u.id AS user_id, w.since,
           EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id AND d.revoked_at IS NULL
                     AND d.push_token IS NOT NULL AND d.refresh_expires_at > :now) AS has_token,
           u.mobile IS NOT NULL AS has_number,
           (SELECT max(p.push_confirmed_at) FROM phone_checks p
             WHERE p.user_id = u.id AND p.created_at >= w.since) AS push_confirmed_at,
           (SELECT max(m.delivered_at) FROM phone_checks p JOIN sms_messages m ON m.check_id = p.id
             WHERE p.user_id = u.id AND p.created_at >= w.since) AS sms_delivered_at
    FROM unnest(CAST(:users AS uuid[]), CAST(:since AS timestamptz[])) AS w(user_id, since)
    JOIN users u ON u.id = w.user_id
    """
)


async def readiness(
    session: AsyncSession, people: list[tuple[uuid.UUID, datetime]], now: datetime
) -> dict[tuple[uuid.UUID, datetime], Any]:
    """Each (person, shift start)'s row of `_READINESS`: what her checks since `READY_BEFORE` before it showed."""
    if not people:
        return {}
    params = {"users": [u for u, _ in people], "since": [start - READY_BEFORE for _, start in people], "now": now}
    rows = (await session.execute(_READINESS, params)).all()
    return {(row.user_id, row.since + READY_BEFORE): row for row in rows}
