"""What Kannel tells Lindra: delivery reports of the SMS sent, and replies that take an alert.

A reply acknowledges exactly as the app does (`backend.alerts.lifecycle.acknowledge`, in one
transaction with its audit and event rows), as the person the code was sent to, and only from her
registered number; a reply to a recall (she holds the alert and has not moved on it) says "on the
way" as the app does. Each reply is kept once under the gateway's message id, without the number or
the text, so a redelivered reply changes nothing and gets the first answer. Nothing here logs a
number or a code.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts.lifecycle import TAKEN, acknowledge, progress
from backend.alerts.models import Alert, AlertStatus
from backend.alerts.sms.models import ReplyOutcome, SmsKind, SmsMessage, SmsReply, SmsStatus
from backend.alerts.sms.outbox import queue_sms
from backend.alerts.sms.texts import held_by_text, reply_code
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.mobile import parse_mobile
from backend.people.models import Role, User

log = logging.getLogger("lindra.sms")

# Kannel's report types (dlr-mask bits) and the state each one tells of.
REPORTS = {
    1: SmsStatus.DELIVERED,  # reached the phone
    2: SmsStatus.FAILED,  # the phone could not be reached
    4: SmsStatus.SENT,  # waiting at the operator's SMS centre
    8: SmsStatus.SENT,  # taken by the operator's SMS centre
    16: SmsStatus.FAILED,  # refused by the operator's SMS centre
}
_ORDER = {SmsStatus.QUEUED: 0, SmsStatus.SENT: 1, SmsStatus.DELIVERED: 2, SmsStatus.FAILED: 2}
# An SMS reply has no device: the actor it acts as names none.
NO_DEVICE = uuid.UUID(int=0)


async def record_report(session: AsyncSession, sms_id: uuid.UUID, report: int, now: datetime) -> tuple[str, bool]:
    """Record a delivery report; returns the SMS's state and whether the report changed it.

    A state only moves forward (queued, sent, then delivered or failed), so a report that comes
    twice, or late, changes nothing."""
    if report not in REPORTS:
        raise Problem(422, "Unknown report type", f"Kannel's report types are {sorted(REPORTS)}.", field="type")
    sms = await session.get(SmsMessage, sms_id, with_for_update=True)
    if sms is None:
        raise not_found("sms")
    told, current = REPORTS[report], SmsStatus(sms.status)
    if current not in _ORDER or _ORDER[told] <= _ORDER[current]:
        return sms.status, False
    sms.status = told.value
    sms.sent_at = sms.sent_at or now
    if told is SmsStatus.DELIVERED:
        sms.delivered_at = now
    elif told is SmsStatus.FAILED:
        sms.failed_at, sms.error = now, f"DLR_{report}"
    return sms.status, True


async def handle_reply(
    session: AsyncSession, gateway_id: str, sender: str, body: str, now: datetime
) -> tuple[ReplyOutcome, bool]:
    """Act on a reply; returns what it did and whether it was a redelivery (which does nothing)."""
    reply_id = await session.scalar(
        pg_insert(SmsReply)
        .values(id=uuid.uuid4(), gateway_id=gateway_id, received_at=now, outcome=ReplyOutcome.NOT_A_REPLY.value)
        .on_conflict_do_nothing(index_elements=["gateway_id"])
        .returning(SmsReply.id)
    )
    if reply_id is None:
        first = await session.scalar(select(SmsReply.outcome).where(SmsReply.gateway_id == gateway_id))
        return ReplyOutcome(first or ReplyOutcome.NOT_A_REPLY), True
    outcome, sms = await _act_on(session, reply_id, sender, body, now)
    reply = await session.get_one(SmsReply, reply_id)
    reply.outcome = outcome.value
    reply.sms_id, reply.alert_id = (sms.id, sms.alert_id) if sms else (None, None)
    log.info("sms reply=%s: %s (sms=%s)", reply_id, outcome.value, sms.id if sms else None)
    return outcome, False


async def _act_on(
    session: AsyncSession, reply_id: uuid.UUID, sender: str, body: str, now: datetime
) -> tuple[ReplyOutcome, SmsMessage | None]:
    code = reply_code(body)
    if code is None:
        return ReplyOutcome.NOT_A_REPLY, None
    sms = await session.scalar(
        select(SmsMessage)
        .where(SmsMessage.code == code, SmsMessage.kind.in_([SmsKind.ALERT.value, SmsKind.RECALL.value]))
        .order_by(SmsMessage.created_at.desc())
        .limit(1)
    )
    if sms is None or sms.alert_id is None:
        return ReplyOutcome.UNKNOWN_CODE, None
    person = await session.get_one(User, sms.user_id)
    if (
        person.deleted_at is not None
        or person.disabled_at is not None
        or person.mobile is None
        or parse_mobile(sender, without_plus=True) != person.mobile
    ):
        return ReplyOutcome.FOREIGN_NUMBER, sms
    alert = await session.get_one(Alert, sms.alert_id)
    if alert.status == AlertStatus.RESOLVED.value:
        return ReplyOutcome.RESOLVED, sms
    if alert.climb != sms.climb or alert.paging_stopped_reason is not None:
        return ReplyOutcome.EXPIRED, sms
    if alert.status in TAKEN and alert.acknowledged_by == person.id:
        if sms.kind == SmsKind.RECALL.value and alert.status == AlertStatus.ACKNOWLEDGED.value:
            # She answers the recall: on the way, exactly as the app says it.
            await progress(session, await _actor(session, person, reply_id), alert.id, AlertStatus.ON_THE_WAY, now)
            return ReplyOutcome.ON_THE_WAY, sms
        return ReplyOutcome.ALREADY_YOURS, sms
    try:
        await acknowledge(session, await _actor(session, person, reply_id), alert.id, now)
    except Problem as refused:
        if refused.rule == "already_acknowledged":
            holder = await _first_name(session, alert.acknowledged_by)
            await queue_sms(session, person.id, SmsKind.HELD_BY, held_by_text(person.language, holder), now, alert.id)
            return ReplyOutcome.HELD_BY_OTHER, sms
        if refused.rule == "alert_resolved":
            return ReplyOutcome.RESOLVED, sms
        return ReplyOutcome.EXPIRED, sms  # the case is no longer hers to see
    return ReplyOutcome.ACKNOWLEDGED, sms


_ACTOR = text(
    """
    SELECT o.kind, o.parent_id,
           ARRAY(SELECT district_id FROM user_districts WHERE user_id = :id) AS districts,
           ARRAY(SELECT municipality_id FROM organisation_serves WHERE provider_id = o.id) AS served
    FROM organisations o WHERE o.id = :organisation_id
    """
)


async def _actor(session: AsyncSession, person: User, reply_id: uuid.UUID) -> Actor:
    """The person as the app's requests know her, acting through this reply."""
    row = (await session.execute(_ACTOR, {"id": person.id, "organisation_id": person.organisation_id})).one()
    return Actor(
        user_id=person.id,
        device_id=NO_DEVICE,
        role=Role(person.role),
        organisation_id=person.organisation_id,
        municipality_id=person.organisation_id if row.kind == "municipality" else row.parent_id,
        district_ids=tuple(row.districts),
        served_municipality_ids=tuple(row.served),
        request_id=f"sms-reply-{reply_id}",
    )


async def _first_name(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    """What the reply says of the holder: her first name, or her role if the name is empty."""
    holder = await session.get(User, user_id) if user_id else None
    if holder is None:
        return "En kollega"
    return holder.full_name.split()[0] if holder.full_name.split() else holder.role
