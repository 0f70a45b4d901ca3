"""Reading alerts (the list, one alert and whom it called, the ledger) and `alert_out`, the answer every step gives."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import schemas as s
from backend.alerts.models import (
    Alert,
    AlertStatus,
    AlertTarget,
    AlertTier,
    Notification,
    Outcome,
    Reason,
    Severity,
    Source,
    TargetRule,
    UnitDecision,
)
from backend.alerts.sms.models import SmsKind, SmsMessage
from backend.audit import service as audit
from backend.cases.access import case_scope
from backend.cases.models import Case
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.models import Role


def alert_out(alert: Alert, joined: bool = False) -> s.AlertOut:
    return s.AlertOut(
        id=alert.id,
        case_id=alert.case_id,
        municipality_id=alert.municipality_id,
        district_id=alert.district_id,
        reason=Reason(alert.reason),
        severity=Severity(alert.severity),
        status=AlertStatus(alert.status),
        source=Source(alert.source),
        source_detail=alert.source_detail,
        note=alert.note,
        raised_by=alert.raised_by,
        raised_at=alert.raised_at,
        received_at=alert.received_at,
        arrival_delay_seconds=max(0.0, (alert.received_at - alert.raised_at).total_seconds()),
        tier=alert.tier,
        tier_count=len(alert.tiers),
        next_escalation_at=alert.next_escalation_at,
        paging_stopped_reason=alert.paging_stopped_reason,
        joined_count=alert.joined_count,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        on_the_way_at=alert.on_the_way_at,
        at_bedside_at=alert.at_bedside_at,
        progress_due_at=alert.progress_due_at,
        recalled_at=alert.recalled_at,
        resolved_at=alert.resolved_at,
        resolved_by=alert.resolved_by,
        outcome=Outcome(alert.outcome) if alert.outcome else None,
        unit_decision=UnitDecision(alert.unit_decision) if alert.unit_decision else None,
        joined=joined,
    )


async def list_alerts(session: AsyncSession, actor: Actor, include_resolved_hours: int) -> s.AlertListOut:
    """Open alerts the actor may see (the palliative unit: those that called it), plus recently resolved."""
    since = func.now() - timedelta(hours=include_resolved_hours)
    query = (
        select(Alert)
        .join(Case, Case.id == Alert.case_id)
        .where(case_scope(actor), (Alert.status != AlertStatus.RESOLVED.value) | (Alert.resolved_at >= since))
        .order_by(Alert.status == AlertStatus.RESOLVED.value, Alert.received_at.desc())
        .limit(500)
    )
    if actor.role == Role.PALLIATIVE_UNIT:
        query = query.where(Alert.unit_notified_at.is_not(None))
    alerts = (await session.scalars(query)).all()
    await audit.record_case_reads(session, actor, "alert.list", list(dict.fromkeys(a.case_id for a in alerts)))
    return s.AlertListOut(alerts=[alert_out(a) for a in alerts])


async def get_alert(session: AsyncSession, actor: Actor, alert_id: uuid.UUID) -> s.AlertDetailOut:
    alert = (
        await session.scalars(
            select(Alert).join(Case, Case.id == Alert.case_id).where(Alert.id == alert_id, case_scope(actor))
        )
    ).first()
    if alert is None:
        raise not_found("alert")
    tiers = (
        await session.scalars(
            select(AlertTier)
            .where(AlertTier.alert_id == alert.id, AlertTier.climb == alert.climb)
            .order_by(AlertTier.tier)
        )
    ).all()
    pushes = (
        select(
            Notification.user_id,
            func.count().label("pushes"),
            func.count(Notification.confirmed_at).label("confirmed"),
        )
        .where(Notification.alert_id == alert.id, Notification.climb == alert.climb, Notification.channel == "push")
        .group_by(Notification.user_id)
    )
    by_user = {row.user_id: row for row in await session.execute(pushes)}
    texts = select(SmsMessage.user_id, SmsMessage.sent_at).where(
        SmsMessage.alert_id == alert.id,
        SmsMessage.climb == alert.climb,
        SmsMessage.kind == SmsKind.ALERT.value,
        SmsMessage.sent_at.is_not(None),
    )
    texted = {row.user_id: row.sent_at for row in await session.execute(texts)}
    targets = (
        await session.scalars(
            select(AlertTarget)
            .where(AlertTarget.alert_id == alert.id, AlertTarget.climb == alert.climb)
            .order_by(AlertTarget.tier, AlertTarget.notified_at)
        )
    ).all()
    await audit.record(session, actor, "alert.read", case_id=alert.case_id, detail={"alert_id": str(alert.id)})
    return s.AlertDetailOut(
        alert=alert_out(alert),
        tiers=[
            s.TierFired(
                tier=t.tier,
                due_at=t.due_at,
                fired_at=t.fired_at,
                targets=[TargetRule(r) for r in t.rules],
                target_ids=[uuid.UUID(u) for u in t.target_ids],
                empty_reason=t.empty_reason,
            )
            for t in tiers
        ],
        targets=[
            s.TargetOut(
                user_id=t.user_id,
                tier=t.tier,
                rule=TargetRule(t.rule),
                notified_at=t.notified_at,
                last_notified_at=t.last_notified_at,
                times_notified=t.times_notified,
                confirmed=bool(by_user.get(t.user_id) and by_user[t.user_id].confirmed),
                has_phone=t.user_id in by_user,
                sms_sent_at=texted.get(t.user_id),
            )
            for t in targets
        ],
    )


AT_HOME = (Outcome.MANAGED_AT_HOME.value, Outcome.DIED_AT_HOME.value, Outcome.FALSE_ALARM.value)
ADMITTED = (Outcome.PALLIATIVE_STAY.value, Outcome.ADMITTED_TO_HOSPITAL.value)


async def ledger(session: AsyncSession, actor: Actor, starts: datetime, ends: datetime) -> s.LedgerOut:
    """Per alert received in the period (`from` and `to` both included, as every period of the API):
    time to acknowledge and to the bedside, outcome; per case, admissions avoided."""
    if ends < starts or ends - starts > timedelta(days=366):
        raise Problem(422, "Invalid period", "`to` must not be before `from`, at most a year later.", field="to")
    alerts = (
        await session.scalars(
            select(Alert)
            .join(Case, Case.id == Alert.case_id)
            .where(case_scope(actor), Alert.received_at >= starts, Alert.received_at <= ends)
            .order_by(Alert.received_at)
        )
    ).all()

    def seconds(at: datetime | None, alert: Alert) -> float | None:
        return (at - alert.received_at).total_seconds() if at else None

    cases: dict[uuid.UUID, s.LedgerCase] = {}
    for alert in alerts:
        item = cases.setdefault(
            alert.case_id, s.LedgerCase(case_id=alert.case_id, alerts=0, resolved_at_home=0, admissions=0)
        )
        item.alerts += 1
        item.resolved_at_home += alert.outcome in AT_HOME
        item.admissions += alert.outcome in ADMITTED
        item.followed_by_admission += alert.followed_by_admission_at is not None
    await audit.record_case_reads(session, actor, "alert.ledger", list(cases))
    return s.LedgerOut(
        starts=starts,
        ends=ends,
        alerts=[
            s.LedgerAlert(
                alert_id=a.id,
                case_id=a.case_id,
                district_id=a.district_id,
                reason=Reason(a.reason),
                severity=Severity(a.severity),
                raised_at=a.raised_at,
                seconds_to_acknowledge=seconds(a.first_acknowledged_at, a),
                seconds_to_bedside=seconds(a.at_bedside_at, a),
                outcome=Outcome(a.outcome) if a.outcome else None,
                followed_by_admission_at=a.followed_by_admission_at,
            )
            for a in alerts
        ],
        cases=list(cases.values()),
    )
