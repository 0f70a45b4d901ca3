"""The care of a case: its care team, the referral's deadlines and the action plan.

Same rules as `backend.cases.records`: the case is locked and marked changed, one audit row names
ids and fields only, and a refused write leaves nothing. None of these is written after death.
(Admission, leave, home again, death and closing are the course of the case: `backend.course`.)
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.cases import record_schemas as r
from backend.cases import schemas as s
from backend.cases.access import CARE_GIVERS, case_scope
from backend.cases.models import ActionPlan, Case
from backend.cases.records import changes_sent, check_text, not_in_future, open_case
from backend.cases.rules import deadline_state
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.models import Organisation, OrganisationServes, Role, User

# ---- care team ---------------------------------------------------------------------------------


async def _staff_name(
    session: AsyncSession, user_id: uuid.UUID, municipality_id: uuid.UUID, roles: frozenset[Role], field: str
) -> str:
    """The name of an active user in the municipality or one of its districts, with one of `roles`."""
    name = await session.scalar(
        select(User.full_name)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(
            User.id == user_id,
            User.deleted_at.is_(None),
            User.role.in_([role.value for role in roles]),
            or_(Organisation.id == municipality_id, Organisation.parent_id == municipality_id),
        )
    )
    if name is None:
        wanted = " or ".join(sorted(role.value for role in roles))
        raise Problem(
            422,
            "Unknown person",
            f"Choose an active {wanted} of the case's municipality.",
            field=field,
        )
    return name


async def _team_name(session: AsyncSession, team_id: uuid.UUID, municipality_id: uuid.UUID) -> str:
    name = await session.scalar(
        select(Organisation.name)
        .join(OrganisationServes, OrganisationServes.provider_id == Organisation.id)
        .where(
            Organisation.id == team_id,
            Organisation.kind == "palliative_team",
            OrganisationServes.municipality_id == municipality_id,
        )
    )
    if name is None:
        raise Problem(
            422,
            "Unknown palliative team",
            "Choose a regional palliative team that serves the case's municipality.",
            field="palliative_team_id",
        )
    return name


async def set_care_team(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: r.CareTeamIn, now: datetime
) -> s.CareTeam:
    """Replace the care team as a whole; the audit row names the fields that changed."""
    case = await open_case(session, actor, case_id, now)
    check_text(data)
    contact: s.PersonRef | None = None
    key: s.PersonRef | None = None
    team: s.PersonRef | None = None
    if data.contact_person_id is not None:
        name = await _staff_name(
            session, data.contact_person_id, case.municipality_id, CARE_GIVERS, "contact_person_id"
        )
        contact = s.PersonRef(id=data.contact_person_id, name=name)
    if data.key_person_id is not None:
        name = await _staff_name(
            session, data.key_person_id, case.municipality_id, frozenset({Role.KEY_PERSON}), "key_person_id"
        )
        key = s.PersonRef(id=data.key_person_id, name=name)
    if data.palliative_team_id is not None:
        name = await _team_name(session, data.palliative_team_id, case.municipality_id)
        team = s.PersonRef(id=data.palliative_team_id, name=name)
    values = msgspec.structs.asdict(data)
    changed = sorted(k for k, v in values.items() if getattr(case, k) != v)
    for field, value in values.items():
        setattr(case, field, value)
    await audit.record(session, actor, "case.care_team.set", case_id=case.id, detail={"fields": changed})
    return s.CareTeam(
        contact_person=contact,
        key_person=key,
        gp_name=data.gp_name,
        gp_phone=data.gp_phone,
        hospital_department=data.hospital_department,
        palliative_team=team,
        gp_sor=data.gp_sor,
        gp_ean=data.gp_ean,
        hospital_department_sor=data.hospital_department_sor,
        hospital_department_ean=data.hospital_department_ean,
    )


# ---- referral deadlines ------------------------------------------------------------------------


def referral_out(case: Case, today: date) -> s.ReferralOut:
    def deadline(due: date, met_on: date | None) -> s.Deadline:
        return s.Deadline(due=due, met_on=met_on, state=deadline_state(due, met_on, today))

    return s.ReferralOut(
        received_on=case.referral_received_on,
        source=s.ReferralSource(case.referral_source),
        first_contact=deadline(case.first_contact_due, case.first_contact_on),
        needs_assessment=deadline(case.assessment_due, case.assessment_on),
    )


async def update_referral(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: r.ReferralUpdate, now: datetime, today: date
) -> s.ReferralOut:
    """Record the days first contact and the needs assessment happened (null clears a mistake)."""
    case = await open_case(session, actor, case_id, now)
    changes = changes_sent(data)
    for field, day in changes.items():
        if day is None:
            continue
        not_in_future(day, today, field)
        if day < case.referral_received_on:
            raise Problem(
                422,
                "Before the referral",
                "This date is before the referral was received.",
                field=field,
                rule="before_referral",
            )
    first = changes.get("first_contact_on", case.first_contact_on)
    assessed = changes.get("assessment_on", case.assessment_on)
    if assessed is not None and (first is None or assessed < first):
        raise Problem(
            422,
            "Assessment before first contact",
            "The needs assessment cannot come before the first contact; record the first contact too.",
            field="assessment_on" if "assessment_on" in changes else "first_contact_on",
            rule="assessment_before_first_contact",
        )
    for name, value in changes.items():
        setattr(case, name, value)
    await audit.record(session, actor, "case.referral.update", case_id=case.id, detail={"fields": sorted(changes)})
    return referral_out(case, today)


# ---- action plan -------------------------------------------------------------------------------


async def put_action_plan(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: r.ActionPlanIn, now: datetime, today: date
) -> s.ActionPlanOut:
    """A new version every time; earlier versions stay (the case lock keeps versions in order)."""
    case = await open_case(session, actor, case_id, now)
    check_text(data)
    if data.evaluate_on < today:
        raise Problem(422, "Date in the past", "The plan's evaluation cannot be in the past.", field="evaluate_on")
    latest = await session.scalar(select(func.max(ActionPlan.version)).where(ActionPlan.case_id == case.id))
    plan = ActionPlan(
        case_id=case.id,
        version=(latest or 0) + 1,
        needs=data.needs,
        purpose=data.purpose,
        place=data.place,
        responsibilities=msgspec.to_builtins(data.responsibilities),
        other_departments=data.other_departments,
        evaluate_on=data.evaluate_on,
        evaluated_by=data.evaluated_by,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(plan)
    await session.flush()
    await audit.record(
        session,
        actor,
        "case.action_plan.create",
        case_id=case.id,
        detail={"action_plan_id": str(plan.id), "version": plan.version},
    )
    return msgspec.convert(plan, s.ActionPlanOut, from_attributes=True)


async def action_plan_versions(session: AsyncSession, actor: Actor, case_id: uuid.UUID) -> list[s.ActionPlanOut]:
    """Every version of the plan, newest first; an audited read."""
    if await session.scalar(select(Case.id).where(Case.id == case_id, case_scope(actor))) is None:
        raise not_found("case")
    plans = await session.scalars(
        select(ActionPlan).where(ActionPlan.case_id == case_id).order_by(ActionPlan.version.desc())
    )
    await audit.record(session, actor, "case.action_plan.read", case_id=case_id)
    return [msgspec.convert(plan, s.ActionPlanOut, from_attributes=True) for plan in plans]
