"""Raising an alert and taking it through its life: acknowledged, on the way, at the bedside, resolved.

One transaction per use case: the alert's row (locked), its event row and its audit row commit
together. Whatever stops the climb (an acknowledgement, a resolution, the person's death)
also cancels the pushes not yet sent and stops calling people again, in the same transaction.
"""

from __future__ import annotations

import enum
import functools
import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Executable, SQLColumnExpression, and_, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import schemas as s
from backend.alerts.calls import alert_event, alert_event_row
from backend.alerts.engine import fire_next_tier, stop_calling
from backend.alerts.models import (
    Alert,
    AlertRaise,
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
from backend.alerts.policies import DEFAULT_POLICIES, Tiers, own_or_default, own_policy, tiers_for
from backend.alerts.progress import start_clock, stop_clock
from backend.alerts.sms.models import SmsKind, SmsMessage
from backend.alerts.targets import remember_shift_times
from backend.audit import service as audit
from backend.cases.access import case_scope, role_scope, scope_value
from backend.cases.models import Case, Status
from backend.cases.service import get_case_for_change
from backend.db import memo
from backend.errors import Problem, not_found
from backend.events import emit
from backend.people.actor import Actor
from backend.people.models import Role, User
from backend.roster.patterns import patterns_json, times_from_json

LIVE_CASE = frozenset({Status.REFERRED.value, Status.ACTIVE.value})
TAKEN = frozenset({AlertStatus.ACKNOWLEDGED.value, AlertStatus.ON_THE_WAY.value, AlertStatus.AT_BEDSIDE.value})
# A phone's clock may run a little fast; a raise from further in the future is refused.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Who may take over an acknowledged alert.
HOLDER_ROLES = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON})


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


# ---- raising ----------------------------------------------------------------------------------


async def raise_alert(
    session: AsyncSession, actor: Actor, data: s.AlertRaiseIn, source: Source, now: datetime
) -> s.AlertOut:
    """A person raises an alert: a new one, or it joins the one already open for the case and reason."""
    context = (
        await session.execute(
            _raise_context(actor.role, data.severity),
            {
                "case_id": data.case_id,
                "reason": data.reason.value,
                "raised_by": actor.user_id,
                "client_id": data.client_id,
                "scope": scope_value(actor),
            },
        )
    ).first()
    if context is None or context.earlier:  # a retry (or a case out of reach, unless it is a retry)
        earlier = await _earlier_raise(session, actor.user_id, data.client_id)
        if earlier is not None:
            return alert_out(earlier[0], joined=earlier[1])
        raise not_found("case")
    raised_at = data.raised_at or now
    if raised_at > now + MAX_CLOCK_SKEW:
        raise Problem(422, "Raised in the future", "`raised_at` is later than the server's clock.", field="raised_at")
    case: Case = context.Case
    remember_shift_times(session, case.municipality_id, times_from_json(context.shift_patterns))
    alert, joined = await raise_on_case(
        session,
        case,
        reason=data.reason,
        severity=data.severity,
        source=source,
        source_detail=data.source_detail,
        note=data.note,
        client_id=data.client_id,
        raised_by=actor.user_id,
        raised_at=raised_at,
        now=now,
        policy=own_or_default(data.severity, context.policy_tiers, context.policy_version),
        may_be_open=context.open_alert,
    )
    detail = {"alert_id": str(alert.id), "reason": alert.reason, "joined": joined}
    await audit.record(session, actor, "alert.raise", case_id=case.id, detail=detail)
    return alert_out(alert, joined=joined)


def _raise_named(by_person: bool) -> ColumnElement[bool]:
    """A raise by its raiser (a rule's have none) and client id, as their unique index finds it
    (`IS NOT DISTINCT FROM` would read every raise ever made)."""
    who = AlertRaise.raised_by == bindparam("raised_by") if by_person else AlertRaise.raised_by.is_(None)
    return and_(who, AlertRaise.client_id == bindparam("client_id"))


# Built once: raises ask them all the time (a retry, an open alert to join).
_EARLIER_RAISE = {
    by_person: select(Alert, AlertRaise.received_at > Alert.received_at)
    .join(AlertRaise, AlertRaise.alert_id == Alert.id)
    .where(_raise_named(by_person))
    for by_person in (True, False)
}
_RETRIED = select(AlertRaise.alert_id).where(_raise_named(by_person=True)).exists()


def _open_for_reason(case_id: SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """The alert open for a case and reason: one rule for the locked read and the raise's question."""
    return and_(
        Alert.case_id == case_id, Alert.reason == bindparam("reason"), Alert.status != AlertStatus.RESOLVED.value
    )


_OPEN_FOR_REASON = select(Alert).where(_open_for_reason(bindparam("case_id")))
_OPEN_FOR_REASON_LOCKED = _OPEN_FOR_REASON.with_for_update(key_share=True)
_OPEN_FOR_REASON_EXISTS = select(Alert.id).where(_open_for_reason(Case.id)).exists()


@functools.cache
def _raise_context(role: Role, severity: Severity) -> Executable:
    """What a person's raise asks before it writes, in one statement: the case, locked, if the actor
    may see it; whether the client id reached an alert before (a retry); whether an alert is open for
    the reason (to join); the municipality's policy for the severity and its shift times (whom the
    first tier calls). Each round trip is a wait for PostgreSQL, and a raise is what must be fast;
    built once per role and severity (building it anew cost some 0.2 ms of every raise)."""
    return (
        select(
            Case,
            _RETRIED.label("earlier"),
            _OPEN_FOR_REASON_EXISTS.label("open_alert"),
            *own_policy(Case.municipality_id, severity),
            patterns_json(Case.municipality_id).label("shift_patterns"),
        )
        .where(Case.id == bindparam("case_id"), role_scope(role))
        .with_for_update(of=Case, key_share=True)
    )


async def _earlier_raise(
    session: AsyncSession, raised_by: uuid.UUID | None, client_id: uuid.UUID
) -> tuple[Alert, bool] | None:
    """The alert a retried raise already reached, and whether that raise had joined it."""
    query = _EARLIER_RAISE[raised_by is not None]
    row = (await session.execute(query, {"raised_by": raised_by, "client_id": client_id})).first()
    return (row[0], bool(row[1])) if row else None


async def raise_on_case(
    session: AsyncSession,
    case: Case,
    *,
    reason: Reason,
    severity: Severity,
    source: Source,
    source_detail: str | None,
    note: str | None,
    client_id: uuid.UUID,
    raised_by: uuid.UUID | None,
    raised_at: datetime,
    now: datetime,
    policy: tuple[Tiers, int | None] | None = None,
    may_be_open: bool = True,
) -> tuple[Alert, bool]:
    """Raise on a case whose row the caller holds locked (so two raises on one case queue up).

    Returns the alert and whether this raise joined one already open. A caller that has read the
    policy already passes it, and `may_be_open=False` when it saw no alert open for the reason (none
    can open meanwhile: raising takes the case's lock).
    """
    if case.status not in LIVE_CASE:
        raise Problem(
            409, "Case not live", "The case is closed or its person has died.", field="case_id", rule="case_not_live"
        )
    alert = None
    if may_be_open:
        alert = (await session.scalars(_OPEN_FOR_REASON_LOCKED, {"case_id": case.id, "reason": reason.value})).first()
    joined = alert is not None
    if alert is None:
        tiers, version = policy or await tiers_for(session, case.municipality_id, severity)
        alert = Alert(
            id=uuid.uuid4(),
            municipality_id=case.municipality_id,
            district_id=case.district_id,
            case_id=case.id,
            reason=reason.value,
            severity=severity.value,
            note=note,
            source=source.value,
            source_detail=source_detail,
            raised_by=raised_by,
            raised_at=raised_at,
            received_at=now,
            status=AlertStatus.OPEN.value,
            tiers=tiers,
            policy_version=version,
            tier=-1,
            climb=0,
            joined_count=0,
            next_escalation_at=now,
            updated_at=now,
        )
        session.add(alert)  # written with its first tier (`write_tiers`), not before
    else:
        alert.joined_count += 1
        alert.updated_at = now
    session.add(
        AlertRaise(
            alert_id=alert.id,
            client_id=client_id,
            raised_by=raised_by,
            source=source.value,
            source_detail=source_detail,
            severity=severity.value,
            note=note,
            raised_at=raised_at,
            received_at=now,
        )
    )
    delay_ms = round(max(0.0, (now - raised_at).total_seconds()) * 1000)
    kind = "alert.joined" if joined else "alert.raised"
    event = alert_event_row(alert, kind, raised_by, source=source.value, arrival_delay_ms=delay_ms)
    if joined:
        await emit(session, **event)
    else:
        await fire_next_tier(session, alert, now, (case.key_person_id, case.palliative_team_id), [event])
    return alert, joined


# Which alert reason a severe or rising ESAS-r item calls for.
ITEM_REASONS = {"pain": Reason.PAIN, "shortness_of_breath": Reason.BREATHLESSNESS, "nausea": Reason.NAUSEA}
_RULE_IDS = uuid.UUID("6f1d2c1e-3b7a-4c55-9a3e-7d0c4b1f2a90")


def _rule_client_id(rule: str, trigger_id: uuid.UUID) -> uuid.UUID:
    """A rule's raise is named by what set it off, so the same trigger twice is one raise."""
    return uuid.uuid5(_RULE_IDS, f"{rule}:{trigger_id}")


async def raise_by_rule(
    session: AsyncSession,
    case: Case,
    *,
    reason: Reason,
    severity: Severity,
    rule: str,
    trigger_id: uuid.UUID,
    now: datetime,
) -> Alert | None:
    """Lindra raises an alert itself (a severe score, a missed visit, missing medicine).

    The caller holds the case's row locked. While an alert for the reason is open, the rule adds
    nothing (the people it called already know; the flag counts the repeats). `trigger_id` names
    what set the rule off, so the same trigger seen twice is one raise. Nothing for a case that is
    no longer live.
    """
    if case.status not in LIVE_CASE:
        return None
    # Known open in this transaction: a sync batch of fifty severe scores asks once.
    known: set[tuple[uuid.UUID, str]] = memo(session).setdefault("open_alerts", set())
    if (case.id, reason.value) in known:
        return None
    open_alert = await session.scalar(_OPEN_FOR_REASON, {"case_id": case.id, "reason": reason.value})
    known.add((case.id, reason.value))
    if open_alert is not None:
        return open_alert
    client_id = _rule_client_id(rule, trigger_id)
    earlier = await _earlier_raise(session, None, client_id)
    if earlier is not None:
        return earlier[0]
    alert, _ = await raise_on_case(
        session,
        case,
        reason=reason,
        severity=severity,
        source=Source.RULE,
        source_detail=rule,
        note=None,
        client_id=client_id,
        raised_by=None,
        raised_at=now,
        now=now,
    )
    return alert


_RAISE_MANY = text(
    """
    WITH wanted AS (
        SELECT DISTINCT ON (t.case_id) t.case_id, t.client_id
        FROM unnest(CAST(:cases AS uuid[]), CAST(:client_ids AS uuid[])) AS t(case_id, client_id)
        ORDER BY t.case_id, t.client_id
    ), new AS (
        INSERT INTO alerts (id, municipality_id, district_id, case_id, reason, severity, source, source_detail,
                            raised_at, received_at, status, tiers, policy_version, tier, climb, joined_count,
                            next_escalation_at, updated_at)
        SELECT gen_random_uuid(), c.municipality_id, c.district_id, c.id, :reason, :severity, 'rule', :rule,
               :now, :now, 'open', COALESCE(p.tiers, CAST(:default_tiers AS jsonb)), p.version, -1, 0, 0, :now, :now
        FROM wanted w
        JOIN cases c ON c.id = w.case_id AND c.status = ANY(:live)
        LEFT JOIN escalation_policies p ON p.municipality_id = c.municipality_id AND p.severity = :severity
        ORDER BY c.id
        ON CONFLICT (case_id, reason) WHERE status <> 'resolved' DO NOTHING
        RETURNING id, case_id, municipality_id, district_id
    ), raised AS (
        INSERT INTO alert_raises (id, alert_id, client_id, raised_by, source, source_detail, severity, raised_at,
                                  received_at)
        SELECT gen_random_uuid(), new.id, w.client_id, NULL, 'rule', :rule, :severity, :now, :now
        FROM new JOIN wanted w ON w.case_id = new.case_id
    ), announced AS (
        INSERT INTO events (kind, municipality_id, district_id, case_id, alert_id, payload)
        SELECT 'alert.raised', new.municipality_id, new.district_id, new.case_id, new.id,
               jsonb_build_object('status', 'open', 'tier', -1, 'severity', :severity, 'reason', :reason,
                                  'unit', false, 'source', 'rule', 'arrival_delay_ms', 0)
        FROM new
        RETURNING id
    )
    SELECT pg_notify('lindra_events', id::text) FROM announced ORDER BY id
    """
)


async def raise_many_by_rule(
    session: AsyncSession,
    triggers: list[tuple[uuid.UUID, uuid.UUID]],
    *,
    reason: Reason,
    severity: Severity,
    rule: str,
    now: datetime,
) -> None:
    """The set-wise `raise_by_rule` for a job: one alert per live case of (case, trigger) that has none open.

    The first tier is left to the sweep (due at once): a sweep after an outage may find hundreds
    of missed visits, and each alert is called within a second without the job waiting on them.
    """
    if not triggers:
        return
    await session.execute(
        _RAISE_MANY,
        {
            "cases": [case_id for case_id, _ in triggers],
            "client_ids": [_rule_client_id(rule, trigger) for _, trigger in triggers],
            "reason": reason.value,
            "severity": severity.value,
            "rule": rule,
            "now": now,
            "default_tiers": json.dumps(DEFAULT_POLICIES[severity]),
            "live": sorted(LIVE_CASE),
        },
    )


def score_reason(items: list[str]) -> Reason:
    """The reason for an alert on these ESAS-r items: the first one with a reason of its own, else other."""
    return next((ITEM_REASONS[item] for item in items if item in ITEM_REASONS), Reason.OTHER)


# ---- the lifecycle ----------------------------------------------------------------------------


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
        select(Alert.id).where(
            Alert.case_id == alert.case_id, Alert.reason == alert.reason, Alert.status != AlertStatus.RESOLVED.value
        )
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


# ---- reading ----------------------------------------------------------------------------------


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
