"""What a hospital notice does to the course of a case: admitted, on leave, home again, died.

A notice changes the case in the transaction that applies it to the stay, so a message is either
wholly applied (stay, case, visits, alerts, board events, audit) or not at all. The stay's own
record (`backend.messages.stays`) is the truth about the hospital; the case follows it through the
course of a case (`backend.course`), in event time, as the notice's system actor (audited under
the delivering client, the role `hospital_notice` and the message id):

- admitted (STIN, STAA): `course.admit` (visits ahead cancelled, alerts stop paging); an alert
  resolved at home in the 24 hours before is marked in the ledger as followed by this admission;
  the board gets a `case.hospital_admitted` event (department and since), not an escalation.
- on leave (STOR) and back (SLOR): `course.start_leave` / `course.end_leave`; visits stay off
  (MedCom's guideline: the hospital keeps the responsibility) unless the municipality's setting
  `visit_on_leave` says it visits on leave.
- home (SLHJ): `course.home_again` (active, the admission's visits planned again), and a flag asks
  the coordinator for a homecoming visit within 24 hours (`homecoming_visit_due`).
- died (MORS): `course.died` in hospital at the encounter's end; pages and visits stop.
- the hospital asks for an admission report (XDIS16): a flag for the key person and coordinator
  (`admission_report_requested`); the report itself is the care record's to send.
- void (every admission cancelled, AN_STIN or AN_STAA): the ledger mark goes, and the case is
  home again as if never admitted; a death cancelled (AN_MORS) is cleared only if it is the one
  the notice registered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts.models import Alert
from backend.alerts.reading import AT_HOME as AT_HOME_OUTCOMES
from backend.cases.models import Case, Place
from backend.course import service as course
from backend.course.death import death_cancelled, died
from backend.course.service import Source
from backend.events import emit
from backend.messages.models import InboxMessage, MessageSettings, StayStatus
from backend.messages.stays import StayChange, StayView
from backend.people.actor import SystemActor, SystemRole
from backend.visits.warnings import raise_flag

# An admission this soon after an alert was resolved at home is marked on that alert in the ledger.
FOLLOWED_WITHIN = timedelta(hours=24)
# Home from hospital: a visit within a day, asked for by a flag the coordinator sees.
HOMECOMING_WITHIN = timedelta(hours=24)
HOMECOMING_FLAG = "homecoming_visit_due"
REPORT_FLAG = "admission_report_requested"
NOTICE = Source.HOSPITAL_NOTICE


def notice_actor(message: InboxMessage) -> SystemActor:
    """The hospital notice as the one who changes the case: its client, its role, its message."""
    return SystemActor(client_id=message.client_id, role=SystemRole.HOSPITAL_NOTICE, request_id=str(message.id))


async def follow_stay(session: AsyncSession, message: InboxMessage, change: StayChange, now: datetime) -> None:
    """Make the case follow what the notice did to the stay (nothing when the stay did not change)."""
    if change.case_id is None or not change.changed:
        return
    who, case_id, stay = notice_actor(message), change.case_id, change.current
    was = change.previous.status if change.previous else None
    if was == StayStatus.DIED and stay.status != StayStatus.DIED:
        died_at = change.previous.died_at or change.previous.since if change.previous else None
        if died_at is not None:
            await death_cancelled(session, who, case_id, Place.HOSPITAL, died_at, now)
    if was == stay.status:  # a correction: other times or department, the same course
        case = await session.get_one(Case, case_id)
        await _event(session, case, "case.hospital_stay_changed", stay, message)
        return
    if stay.status == StayStatus.ADMITTED and was != StayStatus.ON_LEAVE:
        step = await course.admit(session, who, case_id, stay.since or now, stay.department, NOTICE, now)
        await _mark_followed(session, step.case, stay)
        await _event(session, step.case, "case.hospital_admitted", stay, message)
    elif stay.status == StayStatus.ADMITTED and was == StayStatus.ON_LEAVE:
        step = await course.end_leave(session, who, case_id, stay.leave_ended_at or now, NOTICE, now)
        await _event(session, step.case, "case.hospital_stay_changed", stay, message)
    elif stay.status == StayStatus.ON_LEAVE:
        settings = await session.get(MessageSettings, message.municipality_id)
        visits = bool(settings and settings.visit_on_leave)
        since = stay.leave_started_at or now
        step = await course.start_leave(session, who, case_id, since, NOTICE, now, resume_visits=visits)
        await _event(session, step.case, "case.hospital_leave", stay, message)
    elif stay.status == StayStatus.HOME:
        step = await course.home_again(session, who, case_id, stay.discharged_at or now, NOTICE, now)
        due = (stay.discharged_at or now) + HOMECOMING_WITHIN
        await raise_flag(session, who, step.case, HOMECOMING_FLAG, {"due_by": due.isoformat()}, now)
        await _event(session, step.case, "case.homecoming_due", stay, message)
    elif stay.status == StayStatus.DIED:
        step = await died(session, who, case_id, Place.HOSPITAL, stay.died_at or stay.since or now, NOTICE, now)
        await _event(session, step.case, "case.died_in_hospital", stay, message)
    else:  # void: every admission of the stay was cancelled
        step = await course.home_again(session, who, case_id, now, NOTICE, now)
        await _forget_admission(session, step.case, change.previous)
        await _event(session, step.case, "case.hospital_stay_cancelled", stay, message)
    if change.report_of_admission_requested and was is None:
        # The hospital asks for an admission report (XDIS16): normally the care record's to send,
        # shown to the key person and coordinator as a flag on the case.
        await raise_flag(session, who, step.case, REPORT_FLAG, {"message_id": str(message.id)}, now)


async def _mark_followed(session: AsyncSession, case: Case, stay: StayView) -> None:
    """Alerts resolved at home in the day before this admission: followed by it, in the ledger."""
    if stay.admitted_at is None:
        return
    await session.execute(
        update(Alert)
        .where(
            Alert.case_id == case.id,
            Alert.outcome.in_(AT_HOME_OUTCOMES),
            Alert.resolved_at.between(stay.admitted_at - FOLLOWED_WITHIN, stay.admitted_at),
            Alert.followed_by_admission_at.is_(None),
        )
        .values(followed_by_admission_at=stay.admitted_at)
    )


async def _forget_admission(session: AsyncSession, case: Case, stay: StayView | None) -> None:
    """A cancelled admission no longer follows any alert resolved at home."""
    if stay is not None and stay.admitted_at is not None:
        await session.execute(
            update(Alert)
            .where(Alert.case_id == case.id, Alert.followed_by_admission_at == stay.admitted_at)
            .values(followed_by_admission_at=None)
        )


async def _event(session: AsyncSession, case: Case, kind: str, stay: StayView, message: InboxMessage) -> None:
    """A board event about the stay: ids, codes and times only (the department is a ward's name)."""
    payload: dict[str, Any] = {
        "stay": stay.status.value,
        "since": stay.since.isoformat() if stay.since else None,
        "department": stay.department,
        "source": NOTICE.value,
        "message_id": str(message.id),
    }
    await emit(session, kind, case.municipality_id, district_id=case.district_id, case_id=case.id, payload=payload)
