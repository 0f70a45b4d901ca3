"""A municipality-sized run: 500 active cases with six visits a day each.

Prints the times (run with -s to see them); the bounds are loose, to catch a slide into
row-by-row work, not to benchmark the machine.
"""

from __future__ import annotations

import time as timer
import uuid
from datetime import date, time

from sqlalchemy import func, insert, select, update

from backend.cases.models import Case, Citizen
from backend.config import Settings
from backend.visits.jobs import MISSED_BATCH, generate_visits, mark_missed_visits
from backend.visits.models import Visit, VisitPlanSlot
from tests.cases.helpers import Sessions
from tests.factories import World
from tests.visits.test_schedule_plans import utc

CASES = 500
SLOTS = [
    ("day", time(8), time(9)),
    ("day", time(12), time(13)),
    ("evening", time(17), time(18)),
    ("evening", time(21), time(22)),
    ("night", time(23, 30), time(0, 30)),
    ("night", time(3), time(4)),
]
# Wednesday 5 February 2031, 06:30 in Copenhagen: the night's windows are over, and six whole
# shifts lie in the 48 hours ahead (the day after tomorrow's day shift starts just outside).
NOW = utc("2031-02-05T05:30")
PER_CASE = 12


async def make_cases(sessions: Sessions, world: World) -> list[uuid.UUID]:
    citizens = [uuid.uuid4() for _ in range(CASES)]
    cases = [uuid.uuid4() for _ in range(CASES)]
    async with sessions.begin() as session:
        await session.execute(
            insert(Citizen),
            [
                {
                    "id": c,
                    "municipality_id": world.municipality_id,
                    "cpr": f"{uuid.uuid4().int % 10**10:010d}",
                    "name": "Borger",
                    "address": "Vej 1",
                }
                for c in citizens
            ],
        )
        await session.execute(
            insert(Case),
            [
                {
                    "id": case_id,
                    "citizen_id": citizen_id,
                    "municipality_id": world.municipality_id,
                    "district_id": world.district_a if n % 2 else world.district_b,
                    "diagnosis": "Kræft",
                    "phase": "terminal",
                    "status": "active",
                    "referral_received_on": date(2030, 12, 1),
                    "referral_source": "hospital_ref01",
                    "first_contact_due": date(2030, 12, 8),
                    "assessment_due": date(2030, 12, 15),
                }
                for n, (case_id, citizen_id) in enumerate(zip(cases, citizens, strict=True))
            ],
        )
        await session.execute(
            insert(VisitPlanSlot),
            [
                {
                    "id": uuid.uuid4(),
                    "case_id": case_id,
                    "shift_kind": kind,
                    "window_start": start,
                    "window_end": end,
                    "tasks": ["mouth care", "check the syringe driver"],
                    "valid_from": utc("2031-01-01T00:00"),
                    "created_by": world.coordinator.user_id,
                }
                for case_id in cases
                for kind, start, end in SLOTS
            ],
        )
    return cases


async def test_500_cases_generate_and_sweep_set_wise(sessions: Sessions, settings: Settings, world: World) -> None:
    cases = await make_cases(sessions, world)
    try:
        started = timer.perf_counter()
        async with sessions.begin() as session:
            created = await generate_visits(session, settings, NOW)
        first_run = timer.perf_counter() - started

        started = timer.perf_counter()
        async with sessions.begin() as session:
            again = await generate_visits(session, settings, NOW)
        steady_run = timer.perf_counter() - started

        async with sessions() as session:
            mine = await session.scalar(select(func.count()).where(Visit.case_id.in_(cases)))
        assert mine == CASES * PER_CASE
        assert created >= CASES * PER_CASE and again == 0

        started = timer.perf_counter()
        async with sessions.begin() as session:
            marked = await mark_missed_visits(session, settings, utc("2031-02-10T00:00"))
        sweep_run = timer.perf_counter() - started
        assert marked == MISSED_BATCH

        print(
            f"\n{CASES} cases, {mine} visits: first generation {first_run * 1000:.0f} ms, "
            f"steady-state run {steady_run * 1000:.0f} ms, missed sweep of {marked} visits {sweep_run * 1000:.0f} ms"
        )
        assert first_run < 10 and steady_run < 5 and sweep_run < 10
    finally:
        async with sessions.begin() as session:  # keep later tests' job runs small
            await session.execute(update(Case).where(Case.id.in_(cases)).values(status="closed"))
