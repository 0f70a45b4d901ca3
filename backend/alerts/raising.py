"""Raising an alert (a person's, a rule's, a job's batch) or joining the one open: the path that must be fast."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Executable, SQLColumnExpression, and_, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import schemas as s
from backend.alerts.calls import alert_event_row
from backend.alerts.engine import fire_next_tier
from backend.alerts.models import Alert, AlertRaise, AlertStatus, Reason, Severity, Source
from backend.alerts.policies import DEFAULT_POLICIES, Tiers, own_or_default, own_policy, tiers_for
from backend.alerts.reading import alert_out
from backend.alerts.targets import remember_shift_times
from backend.audit import service as audit
from backend.cases.access import role_scope, scope_value
from backend.cases.models import Case, Status
from backend.db import memo
from backend.errors import Problem, not_found
from backend.events import emit
from backend.people.actor import Actor
from backend.people.models import Role
from backend.roster.patterns import patterns_json, times_from_json

LIVE_CASE = frozenset({Status.REFERRED.value, Status.ACTIVE.value})
# A phone's clock may run a little fast; a raise from further in the future is refused.
MAX_CLOCK_SKEW = timedelta(minutes=5)


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


def open_for_reason(case_id: SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """The alert open for a case and reason: one rule for the locked read and the raise's question."""
    return and_(
        Alert.case_id == case_id, Alert.reason == bindparam("reason"), Alert.status != AlertStatus.RESOLVED.value
    )


_OPEN_FOR_REASON = select(Alert).where(open_for_reason(bindparam("case_id")))
_OPEN_FOR_REASON_LOCKED = _OPEN_FOR_REASON.with_for_update(key_share=True)
_OPEN_FOR_REASON_EXISTS = select(Alert.id).where(open_for_reason(Case.id)).exists()


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
