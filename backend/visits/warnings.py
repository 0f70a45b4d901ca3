"""Early warnings on a case, raised from what is recorded at the bedside.

A warning is an open `CaseFlag` for the coordinator: at most one open flag of a kind per case (a
partial unique index), so a second occurrence joins the open flag instead of adding another.
A new flag is announced with a `case.flagged` event in the same transaction. Flags name items
and indications only, never clinical text. The alerts issue will raise alerts from these flags.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases import page
from backend.cases import schemas as s
from backend.cases.models import Case, Medicine, Phase, Status
from backend.clock import COPENHAGEN
from backend.events import emit
from backend.people.actor import Actor
from backend.visits.models import CaseFlag, SymptomAssessment

SEVERE = 7  # ESAS-r: 7 or more is a severe symptom
RISE = 3  # a rise of 3 or more on an item since the previous assessment
# The thresholds are ESAS-r's (0-10, higher is worse); other instruments' scales differ.
WARNING_INSTRUMENTS = frozenset({"ESAS-r"})

SEVERE_SCORE = "severe_score"
RISING_SCORE = "rising_score"
MEDICINE_MISSING_TERMINAL = "medicine_missing_terminal"


async def raise_flag(
    session: AsyncSession,
    actor: Actor,
    case: Case,
    kind: str,
    detail: dict[str, Any],
    now: datetime,
    visit_id: uuid.UUID | None = None,
) -> bool:
    """Open a flag of `kind` on the case unless one is open already; True when a new one was raised."""
    raised = await session.execute(
        insert(CaseFlag)
        .values(id=uuid.uuid4(), case_id=case.id, kind=kind, detail=detail, raised_at=now)
        .on_conflict_do_nothing(index_elements=["case_id", "kind"], index_where=text("resolved_at IS NULL"))
        .returning(CaseFlag.id)
    )
    flag_id = raised.scalar_one_or_none()
    if flag_id is None:
        return False
    await emit(
        session,
        "case.flagged",
        case.municipality_id,
        district_id=case.district_id,
        case_id=case.id,
        visit_id=visit_id,
        actor_id=actor.user_id,
        payload={"flag_id": str(flag_id), "kind": kind},
    )
    return True


async def check_scores(
    session: AsyncSession, actor: Actor, case: Case, assessment: SymptomAssessment, now: datetime
) -> list[str]:
    """Flag a severe score or a steep rise; the kinds of flag these scores raised or joined.

    The previous assessment is the case's latest one on the same instrument recorded before this
    one (by the phone's clock), so scores synced late are compared with what came before them.
    """
    if assessment.instrument not in WARNING_INSTRUMENTS:
        return []
    flags: list[str] = []
    severe = sorted(item for item, score in assessment.scores.items() if score >= SEVERE)
    if severe:
        detail = {"items": severe, "assessment_id": str(assessment.id)}
        await raise_flag(session, actor, case, SEVERE_SCORE, detail, now, assessment.visit_id)
        flags.append(SEVERE_SCORE)
    previous = await session.scalar(
        select(SymptomAssessment.scores)
        .where(
            SymptomAssessment.case_id == case.id,
            SymptomAssessment.instrument == assessment.instrument,
            SymptomAssessment.recorded_at < assessment.recorded_at,
            SymptomAssessment.id != assessment.id,
        )
        .order_by(SymptomAssessment.recorded_at.desc(), SymptomAssessment.id.desc())
        .limit(1)
    )
    if previous:
        rising = sorted(
            item
            for item, score in assessment.scores.items()
            if item in previous and score - int(previous[item]) >= RISE
        )
        if rising:
            detail = {"items": rising, "assessment_id": str(assessment.id)}
            await raise_flag(session, actor, case, RISING_SCORE, detail, now, assessment.visit_id)
            flags.append(RISING_SCORE)
    return flags


async def check_terminal_medicine(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, now: datetime, visit_id: uuid.UUID | None = None
) -> bool:
    """Flag a terminal-phase case whose anticipatory medicine is missing or expired; True when flagged.

    A night crisis can be handled at home only if the medicine is in the house. Called after
    medicine is given and at check-out; the case page's own rule decides what counts as missing.
    """
    case = await session.get_one(Case, case_id)
    if case.phase != Phase.TERMINAL or case.status in (Status.DECEASED, Status.CLOSED):
        return False
    rows = await session.scalars(select(Medicine).where(Medicine.case_id == case_id, Medicine.removed_at.is_(None)))
    items = [msgspec.convert(row, s.MedicineOut, from_attributes=True) for row in rows]
    status = page.medicine_status(items, now.astimezone(COPENHAGEN).date())
    if not status.missing:
        return False
    expired = sorted({item.indication.value for item in items if item.state == "expired"})
    detail = {"items": [indication.value for indication in status.missing], "expired": expired}
    await raise_flag(session, actor, case, MEDICINE_MISSING_TERMINAL, detail, now, visit_id)
    return True
