"""What a hospital notice does to the course of a case: admitted, on leave, home again, died.

A notice changes the case in the transaction that applies it to the stay, so a message is either
wholly applied (stay, case, visits, alerts, board events, audit) or not at all. The stay's own
record (`backend.messages.stays`) is the truth about the hospital; this module makes the case
follow it, in event time:

- admitted (STIN, STAA): an active or referred case becomes admitted; the visits ahead are
  cancelled with the reason `admitted`; open alerts stop paging (`admitted`); an alert resolved
  at home in the 24 hours before is marked in the ledger as followed by this admission; the board
  gets a `case.hospital_admitted` event (department and since), not an escalation.
- on leave (STOR, SLOR): shown (`case.hospital_leave`); visits do not restart (MedCom's guideline:
  treatment responsibility stays with the hospital).
- home (SLHJ): an admitted case is active again, the visits the admission cancelled are planned
  again, and the board is asked for a homecoming visit within 24 hours (`case.homecoming_due`).
- died (MORS): the death is registered with place hospital at the encounter's end; every page and
  visit stops, as a death at home does; the bereavement writes stay open, as after any death.
- void (every admission cancelled, AN_STIN or AN_STAA) or a death cancelled (AN_MORS): exactly
  what the stay did is undone: an admitted case is active again with its visits, a death the
  notice registered is cleared.

Each change is audited as the hospital notice's doing: the delivering system client is the
`user_id`, the role `hospital_notice`, the message id the request id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts.engine import stop_paging_for_case
from backend.alerts.models import Alert
from backend.alerts.service import AT_HOME as AT_HOME_OUTCOMES
from backend.audit.models import AuditEntry
from backend.cases.models import Case, Place, Status
from backend.events import emit
from backend.messages.models import InboxMessage, StayStatus
from backend.messages.stays import StayChange, StayView
from backend.visits.away import cancel_future_visits, plan_again_after_admission
from backend.visits.schemas import CancelReason

ROLE = "hospital_notice"
# A case the hospital may admit: at home, or referred and not yet seen.
AT_HOME = frozenset({Status.ACTIVE, Status.REFERRED})
# An admission this soon after an alert was resolved at home is marked on that alert in the ledger.
FOLLOWED_WITHIN = timedelta(hours=24)


async def follow_stay(session: AsyncSession, message: InboxMessage, change: StayChange, now: datetime) -> None:
    """Make the case follow what the notice did to the stay (nothing when the stay did not change)."""
    if change.case_id is None or not change.changed:
        return
    case = (
        await session.scalars(select(Case).where(Case.id == change.case_id).with_for_update(key_share=True))
    ).first()
    if case is None:
        return
    was = change.previous.status if change.previous else None
    now_status = change.current.status
    if was == StayStatus.DIED and now_status != StayStatus.DIED:
        await _undo_death(session, message, case, change.previous, now)
    if now_status == StayStatus.ADMITTED and was in (None, StayStatus.VOID, StayStatus.HOME):
        await _admitted(session, message, case, change.current, now)
    elif now_status == StayStatus.ON_LEAVE:
        await _event(session, case, "case.hospital_leave", change.current, message)
    elif now_status == StayStatus.HOME:
        await _home(session, message, case, change.current, now)
    elif now_status == StayStatus.DIED and was != StayStatus.DIED:
        await _died(session, message, case, change.current, now)
    elif now_status == StayStatus.VOID:
        await _forget_admission(session, case, change.previous)
        await _home(session, message, case, change.current, now, homecoming=False)
    else:  # a correction: the same status, other times or department
        await _event(session, case, "case.hospital_stay_changed", change.current, message)
    if change.report_of_admission_requested and was is None:
        await _event(session, case, "case.admission_report_requested", change.current, message)


async def _admitted(session: AsyncSession, message: InboxMessage, case: Case, stay: StayView, now: datetime) -> None:
    current = Status(case.status)
    if current in AT_HOME:
        case.status, case.updated_at = Status.ADMITTED, now
        await _audit(session, message, case, "case.status", {"from": current.value, "to": Status.ADMITTED.value})
        await cancel_future_visits(session, case.id, CancelReason.ADMITTED, now)
    await stop_paging_for_case(session, case.id, "admitted", now)
    if stay.admitted_at is not None:
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
    await _event(session, case, "case.hospital_admitted", stay, message)


async def _forget_admission(session: AsyncSession, case: Case, stay: StayView | None) -> None:
    """A cancelled admission no longer follows any alert resolved at home."""
    if stay is not None and stay.admitted_at is not None:
        await session.execute(
            update(Alert)
            .where(Alert.case_id == case.id, Alert.followed_by_admission_at == stay.admitted_at)
            .values(followed_by_admission_at=None)
        )


async def _home(
    session: AsyncSession, message: InboxMessage, case: Case, stay: StayView, now: datetime, homecoming: bool = True
) -> None:
    if Status(case.status) == Status.ADMITTED:
        case.status, case.updated_at = Status.ACTIVE, now
        await _audit(session, message, case, "case.status", {"from": Status.ADMITTED.value, "to": Status.ACTIVE.value})
        await plan_again_after_admission(session, case.id, now)
    kind = "case.homecoming_due" if homecoming else "case.hospital_stay_cancelled"
    await _event(session, case, kind, stay, message)


async def _died(session: AsyncSession, message: InboxMessage, case: Case, stay: StayView, now: datetime) -> None:
    if case.died_at is None and Status(case.status) not in (Status.DECEASED, Status.CLOSED):
        previous = Status(case.status)
        case.died_at, case.death_place = stay.died_at or stay.since, Place.HOSPITAL
        case.status, case.updated_at = Status.DECEASED, now
        await _audit(session, message, case, "case.death.register", {"from": previous.value, "place": "hospital"})
        await stop_paging_for_case(session, case.id, "person_died", now)
        await cancel_future_visits(session, case.id, CancelReason.DECEASED, now)
    await _event(session, case, "case.died_in_hospital", stay, message)


async def _undo_death(
    session: AsyncSession, message: InboxMessage, case: Case, stay: StayView | None, now: datetime
) -> None:
    """AN_MORS: clear the death only if it is the one the notice registered (place and time)."""
    if stay is None or case.death_place != Place.HOSPITAL or case.died_at != (stay.died_at or stay.since):
        return
    case.died_at, case.death_place, case.status, case.updated_at = None, None, Status.ADMITTED, now
    await _audit(session, message, case, "case.death.cancel", {"to": Status.ADMITTED.value})


async def _event(session: AsyncSession, case: Case, kind: str, stay: StayView, message: InboxMessage) -> None:
    """A board event about the stay: ids, codes and times only (the department is an organisation's name)."""
    payload: dict[str, Any] = {
        "stay": stay.status.value,
        "since": stay.since.isoformat() if stay.since else None,
        "department": stay.department,
        "source": ROLE,
        "message_id": str(message.id),
    }
    await emit(session, kind, case.municipality_id, district_id=case.district_id, case_id=case.id, payload=payload)


async def _audit(session: AsyncSession, message: InboxMessage, case: Case, action: str, detail: dict[str, Any]) -> None:
    await session.execute(
        insert(AuditEntry).values(
            user_id=message.client_id,
            role=ROLE,
            action=action,
            case_id=case.id,
            request_id=str(message.id),
            detail=detail | {"event_code": message.event_code},
        )
    )
