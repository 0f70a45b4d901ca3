"""Escalation policies: per municipality and severity, the ordered tiers an alert climbs.

A municipality without a policy of its own gets the built-in one below. An alert copies the
policy's tiers when it is raised, so editing a policy never changes an alert already climbing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Label, SQLColumnExpression, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import schemas as s
from backend.alerts.models import EscalationPolicy, Severity, TargetRule
from backend.alerts.sms.outbox import DEFAULT_SMS_AFTER_SECONDS
from backend.audit import service as audit
from backend.db import memo
from backend.events import emit
from backend.people.actor import Actor
from backend.roster.patterns import municipality_of

Tiers = list[dict[str, Any]]


def _tier(
    targets: list[TargetRule],
    ack_timeout_seconds: int,
    renotify_seconds: int,
    sms_after_seconds: int = DEFAULT_SMS_AFTER_SECONDS,
) -> dict[str, Any]:
    return {
        "targets": [t.value for t in targets],
        "ack_timeout_seconds": ack_timeout_seconds,
        "renotify_seconds": renotify_seconds,
        "sms_after_seconds": sms_after_seconds,
    }


# On-call nurse → coordinator on duty and key person → the palliative unit and the regional team.
DEFAULT_POLICIES: dict[Severity, Tiers] = {
    severity: [
        _tier([TargetRule.ON_CALL_NURSES], first, renotify),
        _tier([TargetRule.COORDINATOR, TargetRule.KEY_PERSON], second, renotify),
        _tier([TargetRule.PALLIATIVE_UNIT, TargetRule.PALLIATIVE_TEAM], third, renotify),
    ]
    for severity, first, second, third, renotify in (
        (Severity.CRITICAL, 300, 300, 600, 120),
        (Severity.HIGH, 600, 600, 900, 180),
        (Severity.NORMAL, 900, 900, 1800, 300),
    )
}


# How long an acknowledged alert may go without progress before its holder is called again.
DEFAULT_PROGRESS_MINUTES = {Severity.CRITICAL: 10, Severity.HIGH: 15, Severity.NORMAL: 30}


async def progress_minutes(session: AsyncSession, municipality_id: uuid.UUID, severity: Severity) -> int:
    """The municipality's `progress_within_minutes` for the severity, or the built-in default.

    Read when an alert is acknowledged (the moment its clock starts), not frozen at the raise."""
    own = await session.scalar(
        select(EscalationPolicy.progress_within_minutes).where(
            EscalationPolicy.municipality_id == municipality_id, EscalationPolicy.severity == severity.value
        )
    )
    return own or DEFAULT_PROGRESS_MINUTES[severity]


async def tiers_for(session: AsyncSession, municipality_id: uuid.UUID, severity: Severity) -> tuple[Tiers, int | None]:
    """The tiers an alert of this severity starts with, and the policy's version (None: built-in).

    Remembered for the transaction, like the targets: a policy changes in a transaction of its own.
    """
    known: dict[Any, tuple[Tiers, int | None]] = memo(session).setdefault("policies", {})
    if (municipality_id, severity) not in known:
        known[(municipality_id, severity)] = await _tiers_for(session, municipality_id, severity)
    return known[(municipality_id, severity)]


_POLICY = select(EscalationPolicy.tiers, EscalationPolicy.version).where(
    EscalationPolicy.municipality_id == bindparam("municipality_id"), EscalationPolicy.severity == bindparam("severity")
)


async def _tiers_for(session: AsyncSession, municipality_id: uuid.UUID, severity: Severity) -> tuple[Tiers, int | None]:
    row = (await session.execute(_POLICY, {"municipality_id": municipality_id, "severity": severity.value})).first()
    return own_or_default(severity, row.tiers if row else None, row.version if row else None)


def own_or_default(severity: Severity, tiers: Tiers | None, version: int | None) -> tuple[Tiers, int | None]:
    """The municipality's own tiers (as read), or the built-in ones with no version."""
    return (list(tiers), version) if tiers is not None else (DEFAULT_POLICIES[severity], None)


def own_policy(municipality_id: SQLColumnExpression[uuid.UUID], severity: Severity) -> tuple[Label[Any], ...]:
    """A municipality's own tiers and version for a severity, as two columns (`policy_tiers`,
    `policy_version`) of a statement that reads them along with other things (NULL without a policy
    of its own)."""
    own = select(EscalationPolicy).where(
        EscalationPolicy.municipality_id == municipality_id, EscalationPolicy.severity == severity.value
    )
    return (
        own.with_only_columns(EscalationPolicy.tiers).scalar_subquery().label("policy_tiers"),
        own.with_only_columns(EscalationPolicy.version).scalar_subquery().label("policy_version"),
    )


def _out(severity: Severity, tiers: Tiers, policy: EscalationPolicy | None) -> s.PolicyOut:
    return s.PolicyOut(
        severity=severity,
        is_default=policy is None,
        version=policy.version if policy else 0,
        updated_at=policy.updated_at if policy else None,
        progress_within_minutes=(policy and policy.progress_within_minutes) or DEFAULT_PROGRESS_MINUTES[severity],
        tiers=[
            s.TierOut(
                targets=[TargetRule(t) for t in tier["targets"]],
                ack_timeout_seconds=tier["ack_timeout_seconds"],
                renotify_seconds=tier["renotify_seconds"],
                sms_after_seconds=tier.get("sms_after_seconds", DEFAULT_SMS_AFTER_SECONDS),
            )
            for tier in tiers
        ],
    )


async def get_policies(session: AsyncSession, actor: Actor) -> s.PoliciesOut:
    mid = municipality_of(actor)
    rows = (await session.scalars(select(EscalationPolicy).where(EscalationPolicy.municipality_id == mid))).all()
    own = {Severity(row.severity): row for row in rows}
    return s.PoliciesOut(
        municipality_id=mid,
        policies=[
            _out(severity, own[severity].tiers if severity in own else DEFAULT_POLICIES[severity], own.get(severity))
            for severity in Severity
        ],
    )


async def set_policy(session: AsyncSession, actor: Actor, severity: Severity, data: s.PolicyIn) -> s.PolicyOut:
    """Replace one severity's tiers; alerts already raised keep the tiers they started with."""
    mid = municipality_of(actor)
    tiers = [_tier(t.targets, t.ack_timeout_seconds, t.renotify_seconds, t.sms_after_seconds) for t in data.tiers]
    statement = pg_insert(EscalationPolicy).values(
        id=uuid.uuid4(),
        municipality_id=mid,
        severity=severity.value,
        tiers=tiers,
        progress_within_minutes=data.progress_within_minutes,
        version=1,
        updated_by=actor.user_id,
    )
    saved = (
        await session.scalars(
            statement.on_conflict_do_update(
                constraint="uq_escalation_policies_municipality_severity",
                set_={
                    "tiers": statement.excluded.tiers,
                    "progress_within_minutes": statement.excluded.progress_within_minutes,
                    "version": EscalationPolicy.version + 1,
                    "updated_by": actor.user_id,
                    "updated_at": statement.excluded.updated_at,
                },
            )
            .returning(EscalationPolicy)
            .execution_options(populate_existing=True)
        )
    ).one()
    detail = {
        "severity": severity.value,
        "version": saved.version,
        "tiers": len(tiers),
        "progress_within_minutes": data.progress_within_minutes,
    }
    await audit.record(session, actor, "policy.set", detail=detail)
    await emit(session, "policy.changed", mid, actor_id=actor.user_id, payload=detail)
    return _out(severity, tiers, saved)
