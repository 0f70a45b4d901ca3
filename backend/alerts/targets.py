"""Whom a tier calls: each target rule turned into people at the moment the tier fires.

The roster decides for the shift-bound rules (the on-call nurses of the case's district, the
coordinator on duty); the case decides for its key person and its regional palliative team; the
organisations serving the municipality decide for the palliative unit. `coverage` asks the same
questions for every shift of the next hours, so a gap is found before an alert falls into it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import schemas as s
from backend.alerts.models import Severity, TargetRule
from backend.alerts.policies import tiers_for
from backend.alerts.readiness import READY_BEFORE, readiness
from backend.audit import service as audit
from backend.db import memo
from backend.people.actor import Actor
from backend.people.models import USER_ACTIVE, Organisation, OrganisationKind, OrganisationServes, User
from backend.roster.models import Duty
from backend.roster.patterns import municipality_of, shift_times
from backend.roster.service import districts_of, on_duty, roster_rows
from backend.roster.shifts import ShiftTimes, shift_at, shifts_between

UNIT_RULES = frozenset({TargetRule.PALLIATIVE_UNIT, TargetRule.PALLIATIVE_TEAM})


@dataclass(frozen=True, slots=True)
class AlertPlace:
    """What the rules need to know about the alert's case."""

    municipality_id: uuid.UUID
    district_id: uuid.UUID
    key_person_id: uuid.UUID | None
    palliative_team_id: uuid.UUID | None


async def _members(session: AsyncSession, organisation_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if not organisation_ids:
        return []
    rows = await session.scalars(
        select(User.id).where(User.organisation_id.in_(organisation_ids), USER_ACTIVE).order_by(User.full_name, User.id)
    )
    return list(rows.all())


async def _providers(session: AsyncSession, municipality_id: uuid.UUID, kind: OrganisationKind) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(OrganisationServes.provider_id)
        .join(Organisation, Organisation.id == OrganisationServes.provider_id)
        .where(OrganisationServes.municipality_id == municipality_id, Organisation.kind == kind.value)
    )
    return list(rows.all())


async def _live(session: AsyncSession, user_id: uuid.UUID | None) -> list[uuid.UUID]:
    if user_id is None:
        return []
    found = await session.scalar(select(User.id).where(User.id == user_id, USER_ACTIVE))
    return [found] if found else []


def _shift_times_known(session: AsyncSession) -> dict[uuid.UUID, ShiftTimes]:
    known: dict[uuid.UUID, ShiftTimes] = memo(session).setdefault("shift_times", {})
    return known


def remember_shift_times(session: AsyncSession, municipality_id: uuid.UUID, times: ShiftTimes) -> None:
    """Shift times the caller read along with something else: `find` will not ask for them again."""
    _shift_times_known(session)[municipality_id] = times


async def find(session: AsyncSession, rule: TargetRule, place: AlertPlace, at: datetime) -> list[uuid.UUID]:
    """The people a rule names at an instant (possibly nobody).

    Remembered for the transaction per rule, place and shift: a job raising alerts on hundreds of
    cases after an outage asks the roster once per district, not once per alert.
    """
    times = _shift_times_known(session)
    if place.municipality_id not in times:
        times[place.municipality_id] = await shift_times(session, place.municipality_id)
    running = shift_at(at, times[place.municipality_id])
    known: dict[Any, list[uuid.UUID]] = memo(session).setdefault("targets", {})
    key = (rule, _asks(rule, place), running.day, running.kind)
    if key not in known:
        known[key] = await _find(session, rule, place, at, times[place.municipality_id])
    return known[key]


def _asks(rule: TargetRule, place: AlertPlace) -> tuple[uuid.UUID | None, ...]:
    """What of the place a rule's answer depends on (so cases of one district share one answer)."""
    if rule is TargetRule.ON_CALL_NURSES:
        return (place.municipality_id, place.district_id)
    if rule is TargetRule.KEY_PERSON:
        return (place.municipality_id, place.key_person_id)
    if rule is TargetRule.PALLIATIVE_TEAM:
        return (place.municipality_id, place.palliative_team_id)
    return (place.municipality_id,)


async def _find(
    session: AsyncSession, rule: TargetRule, place: AlertPlace, at: datetime, times: ShiftTimes
) -> list[uuid.UUID]:
    mid = place.municipality_id
    if rule is TargetRule.ON_CALL_NURSES:
        return await on_duty(session, mid, at, Duty.ON_CALL_NURSE, place.district_id, times)
    if rule is TargetRule.COORDINATOR:
        return await on_duty(session, mid, at, Duty.COORDINATOR, times=times)
    if rule is TargetRule.KEY_PERSON:
        # The case's own key person; without one (or gone), the key person on call.
        return await _live(session, place.key_person_id) or await on_duty(
            session, mid, at, Duty.KEY_PERSON, times=times
        )
    if rule is TargetRule.PALLIATIVE_TEAM:
        teams = [place.palliative_team_id] if place.palliative_team_id else []
        return await _members(session, teams or await _providers(session, mid, OrganisationKind.PALLIATIVE_TEAM))
    return await _members(session, await _providers(session, mid, OrganisationKind.PALLIATIVE_UNIT))


def _found(rule: TargetRule, district: uuid.UUID, on_shift: list[Any], *, team: bool, unit: bool) -> bool:
    """Whether a rule would find somebody on a shift (given its roster rows) for a district's case."""
    if rule is TargetRule.ON_CALL_NURSES:
        return any(e.duty == Duty.ON_CALL_NURSE and e.district_id == district for e in on_shift)
    if rule is TargetRule.COORDINATOR:
        return any(e.duty == Duty.COORDINATOR for e in on_shift)
    if rule is TargetRule.KEY_PERSON:
        return any(e.duty == Duty.KEY_PERSON for e in on_shift)
    return team if rule is TargetRule.PALLIATIVE_TEAM else unit


async def coverage(session: AsyncSession, actor: Actor, now: datetime, hours: int) -> s.AlertCoverageOut:
    """For each shift and district of the next hours: every tier whose rules would find nobody.

    The case-bound rules are asked as for a case without its own key person or team, i.e. what
    the roster and the serving organisations provide.
    """
    mid = municipality_of(actor)
    end = now + timedelta(hours=hours)
    shifts = list(shifts_between(now, end, await shift_times(session, mid)))
    districts = await districts_of(session, mid)
    entries = await roster_rows(session, mid, shifts[0].day, shifts[-1].day)
    unit = bool(await _members(session, await _providers(session, mid, OrganisationKind.PALLIATIVE_UNIT)))
    team = bool(await _members(session, await _providers(session, mid, OrganisationKind.PALLIATIVE_TEAM)))
    policies = {severity: (await tiers_for(session, mid, severity))[0] for severity in Severity}
    on_call = [
        (e.user_id, running.starts)
        for running in shifts
        for e in entries
        if e.shift_date == running.day and e.shift_kind == running.kind.value and e.duty in ON_CALL
    ]
    ready = await readiness(session, list(dict.fromkeys(on_call)), now)

    out: list[s.ShiftAlertCoverage] = []
    for running in shifts:
        on_shift = [e for e in entries if e.shift_date == running.day and e.shift_kind == running.kind.value]

        gaps: list[s.CoverageTierGap] = []
        for severity, tiers in policies.items():
            for index, tier in enumerate(tiers):
                rules = [TargetRule(t) for t in tier["targets"]]
                # A tier with only municipality-wide rules has one answer for every district.
                per_district = TargetRule.ON_CALL_NURSES in rules
                for district in districts if per_district else [next(iter(districts), None)]:
                    missing = [
                        rule
                        for rule in rules
                        if district is None or not _found(rule, district, on_shift, team=team, unit=unit)
                    ]
                    if missing:
                        gaps.append(
                            s.CoverageTierGap(
                                severity=severity,
                                tier=index,
                                targets=rules,
                                district_id=district if per_district else None,
                                missing=missing,
                                escalates_at_once=len(missing) == len(rules),
                            )
                        )
        unskilled = [
            district
            for district in districts
            if not any(
                e.duty == Duty.ON_CALL_NURSE and e.district_id == district and e.palliative_skilled for e in on_shift
            )
        ]
        people = [_person(e, ready[(e.user_id, running.starts)]) for e in on_shift if e.duty in ON_CALL]
        checkable = running.starts - READY_BEFORE <= now
        out.append(
            s.ShiftAlertCoverage(
                shift_date=running.day.isoformat(),
                shift_kind=running.kind.value,
                starts=running.starts,
                ends=running.ends,
                gaps=gaps,
                districts_without_skilled_on_call=unskilled,
                people=people,
                readiness_gaps=_readiness_gaps(policies, districts, people) if checkable else [],
            )
        )
    await audit.record(session, actor, "alert_coverage.read", detail={"hours": hours})
    return s.AlertCoverageOut(
        starts=now,
        ends=end,
        gap_count=sum(len(item.gaps) + len(item.districts_without_skilled_on_call) for item in out),
        shifts=out,
        readiness_gap_count=sum(len(item.readiness_gaps) for item in out),
    )


# The duties a tier's rules call from the roster (the case's own key person and the palliative
# organisations are not rostered: their phones are not asked about here).
ON_CALL = {Duty.ON_CALL_NURSE.value, Duty.COORDINATOR.value, Duty.KEY_PERSON.value}
_RULE_DUTY = {
    TargetRule.ON_CALL_NURSES: Duty.ON_CALL_NURSE.value,
    TargetRule.COORDINATOR: Duty.COORDINATOR.value,
    TargetRule.KEY_PERSON: Duty.KEY_PERSON.value,
}


def _person(entry: Any, checked: Any) -> s.OnCallReadiness:
    return s.OnCallReadiness(
        user_id=entry.user_id,
        full_name=entry.full_name,
        duty=entry.duty,
        district_id=entry.district_id,
        push_confirmed_at=checked.push_confirmed_at,
        sms_delivered_at=checked.sms_delivered_at,
        no_push_token=not checked.has_token,
        no_number=not checked.has_number,
        ready=bool(checked.push_confirmed_at or checked.sms_delivered_at),
    )


def _readiness_gaps(
    policies: dict[Severity, Any], districts: dict[uuid.UUID, str], people: list[s.OnCallReadiness]
) -> list[s.ReadinessGap]:
    """Each tier (per district, for on-call nurses) whose rostered people are all without a working check."""
    gaps: list[s.ReadinessGap] = []
    for severity, tiers in policies.items():
        for index, tier in enumerate(tiers):
            duties = {_RULE_DUTY[r] for r in map(TargetRule, tier["targets"]) if r in _RULE_DUTY}
            per_district = Duty.ON_CALL_NURSE.value in duties
            for district in districts if per_district else [None]:
                called = [
                    p
                    for p in people
                    if p.duty in duties and (p.duty != Duty.ON_CALL_NURSE.value or p.district_id == district)
                ]
                if called and not any(p.ready for p in called):
                    unready = [p.user_id for p in called]
                    gaps.append(
                        s.ReadinessGap(severity=severity, tier=index, district_id=district, unready_user_ids=unready)
                    )
    return gaps
