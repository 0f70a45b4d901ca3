"""Taking an alert from acknowledged to resolved (and back), each step locking it; and the phone's receipt of a push."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import schemas as s
from backend.alerts.calls import alert_event
from backend.alerts.engine import fire_next_tier, stop_calling
from backend.alerts.models import Alert, AlertStatus, Notification, Outcome, UnitDecision
from backend.alerts.progress import start_clock, stop_clock
from backend.alerts.raising import LIVE_CASE, open_for_reason
from backend.alerts.reading import alert_out
from backend.audit import service as audit
from backend.cases.access import case_scope
from backend.cases.models import Case
from backend.cases.service import get_case_for_change
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.models import Role, User

TAKEN = frozenset({AlertStatus.ACKNOWLEDGED.value, AlertStatus.ON_THE_WAY.value, AlertStatus.AT_BEDSIDE.value})
# Who may take over an acknowledged alert.
HOLDER_ROLES = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON})


async def _locked(session: AsyncSession, actor: Actor, alert_id: uuid.UUID) -> Alert:
    alert = (
        await session.scalars(
            select(Alert)
            .join(Case, Case.id == Alert.case_id)
            .where(Alert.id == alert_id, case_scope(actor))
            .with_for_update(of=Alert, key_share=True)
        )
    ).first()
    if alert is None:
        raise not_found("alert")
    return alert


async def _name(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    return (await session.scalar(select(User.full_name).where(User.id == user_id))) or "someone"


async def _record(
    session: AsyncSession, actor: Actor, alert: Alert, action: str, now: datetime, **payload: object
) -> s.AlertOut:
    alert.updated_at = now
    await audit.record(session, actor, f"alert.{action}", case_id=alert.case_id, detail={"alert_id": str(alert.id)})
    await alert_event(session, alert, f"alert.{action}", actor.user_id, **payload)
    return alert_out(alert)


async def acknowledge(session: AsyncSession, actor: Actor, alert_id: uuid.UUID, now: datetime) -> s.AlertOut:
    """Take the alert: the climb stops. Of two at the same moment one wins; the other is told who."""
    alert = await _locked(session, actor, alert_id)
    if alert.status in TAKEN:
        if alert.acknowledged_by == actor.user_id:
            return alert_out(alert)  # a retry
        who = await _name(session, alert.acknowledged_by)
        raise Problem(
            409,
            "Already acknowledged",
            f"{who} has this alert.",
            rule="already_acknowledged",
            facts={"held_by": who, "held_by_id": str(alert.acknowledged_by)},
        )
    if alert.status == AlertStatus.RESOLVED.value:
        raise Problem(409, "Alert resolved", "The alert is resolved; reopen it first.", rule="alert_resolved")
    alert.status = AlertStatus.ACKNOWLEDGED.value
    alert.acknowledged_by = actor.user_id
    alert.acknowledged_at = now
    alert.first_acknowledged_at = alert.first_acknowledged_at or now
    called = await stop_calling(session, alert)
    await start_clock(session, alert, now)
    # Addressed to everyone called, so every phone still ringing for it stops.
    return await _record(session, actor, alert, "acknowledged", now, user_ids=called)


def _require_holder(alert: Alert, actor: Actor, coordinators_too: bool) -> None:
    if alert.acknowledged_by == actor.user_id:
        return
    if coordinators_too and actor.role == Role.COORDINATOR:
        return
    raise Problem(409, "Not yours", "Only the person who has acknowledged the alert may do this.", rule="not_holder")


async def progress(
    session: AsyncSession, actor: Actor, alert_id: uuid.UUID, step: AlertStatus, now: datetime
) -> s.AlertOut:
    """On the way, then at the bedside: the holder says where she is (a retry changes nothing)."""
    alert = await _locked(session, actor, alert_id)
    if alert.status == step.value and alert.acknowledged_by == actor.user_id:
        return alert_out(alert)
    allowed_from = {
        AlertStatus.ON_THE_WAY: {AlertStatus.ACKNOWLEDGED.value},
        AlertStatus.AT_BEDSIDE: {AlertStatus.ACKNOWLEDGED.value, AlertStatus.ON_THE_WAY.value},
    }[step]
    if alert.status not in allowed_from:
        raise Problem(
            409, "Not allowed now", f"An alert that is {alert.status} cannot become {step.value}.", rule="alert_step"
        )
    _require_holder(alert, actor, coordinators_too=False)
    alert.status = step.value
    await stop_clock(session, alert)
    if step is AlertStatus.ON_THE_WAY:
        alert.on_the_way_at = now
    else:
        alert.at_bedside_at = now
    return await _record(session, actor, alert, step.value, now)


async def hand_over(
    session: AsyncSession, actor: Actor, alert_id: uuid.UUID, data: s.HandOverIn, now: datetime
) -> s.AlertOut:
    """The holder (or the coordinator) gives the alert to a colleague of the municipality."""
    alert = await _locked(session, actor, alert_id)
    if alert.status not in TAKEN:
        raise Problem(409, "Not acknowledged", "Only an acknowledged alert can be handed over.", rule="alert_step")
    _require_holder(alert, actor, coordinators_too=True)
    to = (
        await session.execute(
            text(
                "SELECT u.id FROM users u JOIN organisations o ON o.id = u.organisation_id "
                "WHERE u.id = :id AND u.deleted_at IS NULL AND u.disabled_at IS NULL AND u.role = ANY(:roles) "
                "AND (o.id = :mid OR o.parent_id = :mid)"
            ),
            {"id": data.to_user_id, "roles": [r.value for r in HOLDER_ROLES], "mid": alert.municipality_id},
        )
    ).scalar()
    if to is None:
        raise Problem(
            422,
            "Unknown colleague",
            "No nurse, coordinator or key person of the municipality has this id.",
            field="to_user_id",
        )
    alert.acknowledged_by = to
    alert.acknowledged_at = now
    alert.status = AlertStatus.ACKNOWLEDGED.value
    await start_clock(session, alert, now)  # the colleague has the whole time again
    return await _record(session, actor, alert, "handed_over", now, user_ids=[str(to)])


async def resolve(
    session: AsyncSession, actor: Actor, alert_id: uuid.UUID, data: s.ResolveIn, now: datetime
) -> s.AlertOut:
    """Close the crisis with its outcome: by the holder, the coordinator, or the palliative unit's decision."""
    alert = await _locked(session, actor, alert_id)
    if alert.status == AlertStatus.RESOLVED.value:
        if alert.outcome == data.outcome.value and alert.resolved_by == actor.user_id:
            return alert_out(alert)
        raise Problem(409, "Alert resolved", "The alert is already resolved.", rule="alert_resolved")
    if actor.role != Role.PALLIATIVE_UNIT:
        _require_holder(alert, actor, coordinators_too=True)
    alert.status = AlertStatus.RESOLVED.value
    alert.resolved_at = now
    alert.resolved_by = actor.user_id
    alert.outcome = data.outcome.value
    if data.note:
        alert.note = data.note if not alert.note else f"{alert.note}\n{data.note}"[:4000]
    called = await stop_calling(session, alert)
    await stop_clock(session, alert)
    return await _record(session, actor, alert, "resolved", now, outcome=data.outcome.value, user_ids=called)


# The unit's decision and the outcome it gives the alert: advice or an outreach visit keep the person at home.
DECISION_OUTCOMES = {
    UnitDecision.ADVICE_BY_PHONE: Outcome.MANAGED_AT_HOME,
    UnitDecision.OUTREACH_VISIT: Outcome.MANAGED_AT_HOME,
    UnitDecision.PALLIATIVE_STAY: Outcome.PALLIATIVE_STAY,
    UnitDecision.HOSPITAL: Outcome.ADMITTED_TO_HOSPITAL,
}


async def unit_decision(
    session: AsyncSession, actor: Actor, alert_id: uuid.UUID, data: s.UnitDecisionIn, now: datetime
) -> s.AlertOut:
    """The palliative unit decided by phone: recorded, and the alert resolved with the outcome it gives."""
    alert = await _locked(session, actor, alert_id)
    if alert.unit_decision == data.decision.value and alert.resolved_by == actor.user_id:
        return alert_out(alert)  # a retry
    alert.unit_decision = data.decision.value
    outcome = s.ResolveIn(outcome=DECISION_OUTCOMES[data.decision], note=data.note)
    return await resolve(session, actor, alert_id, outcome, now)


async def reopen(session: AsyncSession, actor: Actor, alert_id: uuid.UUID, now: datetime) -> s.AlertOut:
    """The crisis came back: the alert opens again and climbs from the first tier."""
    alert = await _locked(session, actor, alert_id)
    if alert.status != AlertStatus.RESOLVED.value:
        raise Problem(409, "Not resolved", "Only a resolved alert can be reopened.", rule="alert_step")
    if actor.role != Role.COORDINATOR and alert.resolved_by != actor.user_id:
        raise Problem(409, "Not yours", "The coordinator or the one who resolved it may reopen it.", rule="not_holder")
    case = await get_case_for_change(session, actor, alert.case_id)
    if case.status not in LIVE_CASE:
        raise Problem(409, "Case not live", "The case is closed or its person has died.", rule="case_not_live")
    other = await session.scalar(
        select(Alert.id).where(open_for_reason(bindparam("case_id"))),
        {"case_id": alert.case_id, "reason": alert.reason},
    )
    if other is not None:
        raise Problem(
            409, "Another alert is open", "The case has an open alert for this reason.", rule="open_alert_exists"
        )
    alert.status = AlertStatus.OPEN.value
    alert.climb += 1
    alert.tier = -1
    alert.acknowledged_by = alert.acknowledged_at = alert.on_the_way_at = alert.at_bedside_at = None
    alert.resolved_at = alert.resolved_by = alert.outcome = None
    await stop_clock(session, alert)
    alert.next_escalation_at = now
    await _record(session, actor, alert, "reopened", now)
    await fire_next_tier(session, alert, now)
    return alert_out(alert)


async def escalate_now(session: AsyncSession, actor: Actor, alert_id: uuid.UUID, now: datetime) -> s.AlertOut:
    """The coordinator does not wait for the timeout: the next tier is called now."""
    alert = await _locked(session, actor, alert_id)
    if alert.status != AlertStatus.OPEN.value or alert.paging_stopped_reason:
        raise Problem(
            409, "Not climbing", "Only an open alert that is still paging can be escalated.", rule="alert_step"
        )
    if alert.tier + 1 >= len(alert.tiers):
        raise Problem(409, "Last tier", "The alert has reached its last tier.", rule="last_tier")
    await _record(session, actor, alert, "escalated_by_hand", now)
    await fire_next_tier(session, alert, now)
    return alert_out(alert)


async def confirm_receipt(
    session: AsyncSession, actor: Actor, notification_id: uuid.UUID, now: datetime
) -> s.ReceiptOut:
    """The phone says the push arrived; only the person it was sent to can say so (a retry changes nothing)."""
    row = (
        await session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.user_id == actor.user_id)
            .values(confirmed_at=func.coalesce(Notification.confirmed_at, now))
            .returning(Notification.confirmed_at, Notification.alert_id)
        )
    ).first()
    if row is None:
        raise not_found("notification")
    alert = await session.get_one(Alert, row.alert_id)
    await alert_event(session, alert, "alert.receipt", actor.user_id, user_id=str(actor.user_id))
    return s.ReceiptOut(notification_id=notification_id, confirmed_at=row.confirmed_at)


class Action(enum.StrEnum):
    """The changes that need no body: one endpoint on the board's API and one on the phone's."""

    ACKNOWLEDGE = "acknowledge"
    ON_THE_WAY = "on-the-way"
    AT_BEDSIDE = "at-bedside"
    REOPEN = "reopen"
    ESCALATE = "escalate"


async def act(session: AsyncSession, actor: Actor, alert_id: uuid.UUID, action: Action, now: datetime) -> s.AlertOut:
    if action is Action.ACKNOWLEDGE:
        return await acknowledge(session, actor, alert_id, now)
    if action is Action.ON_THE_WAY:
        return await progress(session, actor, alert_id, AlertStatus.ON_THE_WAY, now)
    if action is Action.AT_BEDSIDE:
        return await progress(session, actor, alert_id, AlertStatus.AT_BEDSIDE, now)
    if action is Action.REOPEN:
        return await reopen(session, actor, alert_id, now)
    if actor.role != Role.COORDINATOR:
        raise Problem(403, "Coordinators only", "Only the coordinator escalates by hand.", rule="role")
    return await escalate_now(session, actor, alert_id, now)
