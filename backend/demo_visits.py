"""The demo's round-the-clock care: visit plans for the cases at home, a roster for the next days,
and the next 48 hours of visits shared out among each district's nurses, so `lindra serve` shows a
nurse a real shift."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import demo_data as d
from backend.cases.models import Case
from backend.clock import COPENHAGEN
from backend.people.models import Role, User
from backend.roster.models import Duty, RosterEntry, ShiftKind
from backend.roster.shifts import shift_at
from backend.visits.models import Visit, VisitPlanSlot
from backend.visits.plans import generate

# (shift, window start, window end, standing tasks); terminal cases also get the night visit.
SLOTS = (
    (ShiftKind.DAY, time(9), time(10), ["Tilsyn og samtale", "Medicin dosering"]),
    (ShiftKind.EVENING, time(19), time(20), ["Smertevurdering (ESAS-r)", "Mundpleje"]),
)
NIGHT_SLOT = (ShiftKind.NIGHT, time(2), time(3), ["Lejring", "Tjek af smertepumpe"])
ROSTER_DAYS = 3


async def add_demo_visits(session: AsyncSession, users: dict[str, User], now: datetime) -> None:
    cases = (await session.scalars(select(Case).where(Case.status == "active"))).all()
    author = users["koordinator1"].id
    for case in cases:
        slots = (*SLOTS, NIGHT_SLOT) if case.phase == "terminal" else SLOTS
        for kind, start, end, tasks in slots:
            session.add(
                VisitPlanSlot(
                    case_id=case.id,
                    shift_kind=kind.value,
                    window_start=start,
                    window_end=end,
                    tasks=tasks,
                    valid_from=now - timedelta(days=1),
                    created_by=author,
                )
            )
    await session.flush()
    # From the start of the running shift, so its earlier windows exist too (and may be missed).
    await generate(session, shift_at(now).starts)
    for municipality in d.MUNICIPALITIES:
        await _roster(session, users, municipality, now)
    nurses = {
        district: [u for u in users.values() if u.role == Role.NURSE and u.organisation_id == district]
        for municipality in d.MUNICIPALITIES
        for district, _ in municipality.districts
    }
    turns = {district: itertools.cycle(staff) for district, staff in nurses.items()}
    # Only the demo's own: a database may hold other municipalities' visits too.
    demo_visits = select(Visit).where(Visit.district_id.in_(list(nurses)))
    visits = (await session.scalars(demo_visits.order_by(Visit.window_start, Visit.id))).all()
    for visit in visits:
        visit.assigned_to = next(turns[visit.district_id]).id


async def _roster(session: AsyncSession, users: dict[str, User], municipality: d.Municipality, now: datetime) -> None:
    """Each district's nurses on every shift (one skilled in palliation on call), a coordinator and a key person."""
    today = now.astimezone(COPENHAGEN).date()
    day_coordinator, night_coordinator = municipality.coordinators
    nurses = {
        district: [u for u in users.values() if u.role == Role.NURSE and u.organisation_id == district]
        for district, _ in municipality.districts
    }
    for offset, kind in itertools.product(range(-1, ROSTER_DAYS), ShiftKind):
        day = today + timedelta(days=offset)
        duties: list[tuple[User, Duty, uuid.UUID | None]] = [
            (users[day_coordinator if kind != ShiftKind.NIGHT else night_coordinator], Duty.COORDINATOR, None),
            (users[municipality.key_persons[0]], Duty.KEY_PERSON, None),
        ]
        for district, staff in nurses.items():
            duties += [(nurse, Duty.NURSE, district) for nurse in staff]
            on_call = next((n for n in staff if n.palliative_skilled), staff[0])
            duties.append((on_call, Duty.ON_CALL_NURSE, district))
        session.add_all(
            RosterEntry(
                municipality_id=municipality.id,
                shift_date=day,
                shift_kind=kind.value,
                user_id=user.id,
                duty=duty.value,
                district_id=district_id,
            )
            for user, duty, district_id in duties
        )
