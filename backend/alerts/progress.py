"""The watch on acknowledged alerts: acknowledged and then forgotten is not taken.

An acknowledgement (or a hand-over) starts the alert's clock, the policy's
`progress_within_minutes`; "on the way", "at the bedside" or a resolution stops it. When it runs
out, the holder is called again: a push, and an SMS if she does not confirm the push within the
tier's `sms_after_seconds` (at once without a phone to push to). When it runs out a second time,
her acknowledgement is released (audited, the boards told) and the alert returns to the climb:
everyone it called is called again and the next tier fires.

The clock is columns of the alert, so a restart loses nothing: the sweep, on any instance,
claims what is due with SKIP LOCKED, as it claims due tiers.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts.calls import alert_event, notify
from backend.alerts.models import Alert, AlertStatus, AlertTarget, Notification, Severity
from backend.alerts.policies import progress_minutes
from backend.alerts.sms.models import SmsKind
from backend.alerts.sms.outbox import DEFAULT_SMS_AFTER_SECONDS, queue_sms
from backend.alerts.sms.texts import new_code, recall_text
from backend.audit import service as audit
from backend.people.actor import SystemActor, SystemRole

RECALL = "recall"  # the kind of the pushes that call a holder again
# Who the audit log names when the watch releases an acknowledgement: Lindra itself.
WATCH_CLIENT_ID = uuid.UUID(int=0)
WATCH_BATCH = 100


async def start_clock(session: AsyncSession, alert: Alert, now: datetime) -> None:
    """The alert was taken (acknowledged or handed over, at `now`): its holder has the policy's time."""
    minutes = await progress_minutes(session, alert.municipality_id, Severity(alert.severity))
    alert.progress_due_at = now + timedelta(minutes=minutes)
    alert.recalled_at = alert.recall_sms_due_at = None


async def stop_clock(session: AsyncSession, alert: Alert) -> None:
    """Progress, a resolution or the end of paging: nobody is called again for want of progress."""
    if alert.progress_due_at is None and alert.recall_sms_due_at is None:
        return
    alert.progress_due_at = alert.recalled_at = alert.recall_sms_due_at = None
    await session.execute(
        update(Notification)
        .where(Notification.alert_id == alert.id, Notification.kind == RECALL, Notification.status == "pending")
        .values(status="cancelled")
    )


_DUE = (
    select(Alert)
    .where(
        Alert.status == AlertStatus.ACKNOWLEDGED.value,
        Alert.paging_stopped_reason.is_(None),
        Alert.progress_due_at <= bindparam("now"),
    )
    .order_by(Alert.progress_due_at)
    .limit(WATCH_BATCH)
    .with_for_update(skip_locked=True, key_share=True)
)

_HAS_PHONE = text(
    """
    SELECT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = :user_id AND d.revoked_at IS NULL
                     AND d.push_token IS NOT NULL AND d.refresh_expires_at > :now)
    """
)


async def watch_acknowledged(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """The sweep's step: recall the holders whose clock ran out, return to the climb the alerts
    whose clock ran out after a recall, and text the recalled who did not confirm the push.

    Returns (holders called again or texted, alerts returned to the climb): a returned alert is
    due to fire its next tier at once."""
    recalled = returned = 0
    for alert in (await session.scalars(_DUE, {"now": now})).all():
        if alert.recalled_at is None:
            await _recall(session, alert, now)
            recalled += 1
        else:
            await _return_to_climb(session, alert, now)
            returned += 1
    await session.flush()  # the statement below reads the recalls just made
    return recalled + await _text_the_recalled(session, now), returned


async def _recall(session: AsyncSession, alert: Alert, now: datetime) -> None:
    holder = alert.acknowledged_by
    assert holder is not None and alert.progress_due_at is not None and alert.acknowledged_at is not None
    # As long again as she had: the clock ran from her acknowledgement to now.
    alert.progress_due_at = now + (alert.progress_due_at - alert.acknowledged_at)
    alert.recalled_at = now
    tier = max(alert.tier, 0)  # taken from the board before a rule's first tier fired: the first
    sms_after = alert.tiers[tier].get("sms_after_seconds", DEFAULT_SMS_AFTER_SECONDS)
    has_phone = await session.scalar(_HAS_PHONE, {"user_id": holder, "now": now})
    alert.recall_sms_due_at = now + timedelta(seconds=sms_after) if has_phone else now
    alert.updated_at = now
    await notify(session, [(alert, tier, holder)], RECALL, now)
    await alert_event(session, alert, "alert.recalled", user_ids=[str(holder)])


async def _return_to_climb(session: AsyncSession, alert: Alert, now: datetime) -> None:
    holder = alert.acknowledged_by
    await stop_clock(session, alert)
    alert.status = AlertStatus.OPEN.value
    alert.acknowledged_by = alert.acknowledged_at = None
    alert.next_escalation_at = now  # the sweep fires the next tier (none left: the calls below go on)
    alert.updated_at = now
    called = await session.scalars(
        update(AlertTarget)
        .where(AlertTarget.alert_id == alert.id, AlertTarget.climb == alert.climb)
        .values(next_notify_at=now)
        .returning(AlertTarget.user_id)
    )
    watch = SystemActor(client_id=WATCH_CLIENT_ID, role=SystemRole.ESCALATION, request_id=f"watch-{alert.id}")
    detail = {"alert_id": str(alert.id), "released": str(holder)}
    await audit.record(
        session, watch, "alert.returned_to_climb", case_id=alert.case_id, subject_user_id=holder, detail=detail
    )
    user_ids = [str(u) for u in called.all()]
    await alert_event(session, alert, "alert.returned_to_climb", released=str(holder), user_ids=user_ids)


# The recalled holders whose SMS time has come, taken off the list in the statement that reads
# them, with their number and language and whether the recall's push to them was confirmed.
_RECALL_SMS_DUE = text(
    """
    WITH due AS (
        SELECT a.id FROM alerts a
        WHERE a.recall_sms_due_at <= :now AND a.status = 'acknowledged' AND a.paging_stopped_reason IS NULL
        ORDER BY a.recall_sms_due_at
        LIMIT 500
        FOR NO KEY UPDATE OF a SKIP LOCKED
    )
    UPDATE alerts a SET recall_sms_due_at = NULL
    FROM due, users u
    WHERE a.id = due.id AND u.id = a.acknowledged_by
    RETURNING a.id, a.climb, a.tier, u.id AS user_id, u.language,
              CASE WHEN u.deleted_at IS NULL AND u.disabled_at IS NULL THEN u.mobile END AS mobile,
              EXISTS (SELECT 1 FROM notifications n
                      WHERE n.alert_id = a.id AND n.user_id = u.id AND n.kind = 'recall'
                        AND n.created_at >= a.recalled_at AND n.confirmed_at IS NOT NULL) AS confirmed
    """
)


async def _text_the_recalled(session: AsyncSession, now: datetime) -> int:
    rows = [r for r in (await session.execute(_RECALL_SMS_DUE, {"now": now})).all() if r.mobile and not r.confirmed]
    for row in rows:
        code = new_code()
        body = recall_text(row.language, code)
        await queue_sms(session, row.user_id, SmsKind.RECALL, body, now, row.id, code=code, climb=row.climb)
    return len(rows)
