"""Daylight-saving nights: the 7-hour night of March and the 9-hour night of October.

Night windows 23:30-00:30, 01:30-02:30 and 02:00-03:00 (Copenhagen time) are generated for the
night starting on the last Saturday of March 2027 and of October 2027, at exact UTC instants;
the missed sweep then marks each visit exactly when its window end plus the grace has passed:
no false miss in the long night, none skipped in the short one.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from backend.clock import Clock
from backend.config import Settings
from backend.roster.models import ShiftKind
from backend.roster.shifts import shift
from backend.visits.jobs import generate_visits, mark_missed_visits
from backend.visits.models import Event, Visit, VisitPlanSlot
from tests.cases.helpers import Client, Sessions
from tests.factories import World
from tests.visits.test_schedule_plans import active_case, set_plan, slot, utc, visits_of

NIGHT_PLAN = [
    slot("night", "23:30", "00:30", "mouth care"),
    slot("night", "01:30", "02:30", "check the syringe driver"),
    slot("night", "02:00", "03:00", "turn"),
]

NIGHTS = {
    # The night from Saturday 27 March 2027: at 02:00 the clocks jump to 03:00 (CET -> CEST).
    "spring": (
        date(2027, 3, 27),
        7,
        {
            "mouth care": ("2027-03-27T22:30", "2027-03-27T23:30"),  # 23:30-00:30 CET
            "check the syringe driver": ("2027-03-28T00:30", "2027-03-28T01:30"),  # 01:30 CET - 03:30 CEST
            "turn": ("2027-03-28T01:00", "2027-03-28T02:00"),  # 02:00 does not exist: 03:00-04:00 CEST
        },
    ),
    # The night from Saturday 30 October 2027: at 03:00 the clocks go back to 02:00 (CEST -> CET).
    "autumn": (
        date(2027, 10, 30),
        9,
        {
            "mouth care": ("2027-10-30T21:30", "2027-10-30T22:30"),  # 23:30-00:30 CEST
            "check the syringe driver": ("2027-10-30T23:30", "2027-10-31T00:30"),  # 01:30-02:30 CEST
            "turn": ("2027-10-31T00:00", "2027-10-31T02:00"),  # 02:00 CEST to 03:00 CET: two real hours
        },
    ),
}


async def sweep(sessions: Sessions, settings: Settings, now: datetime) -> None:
    """Run the missed sweep at `now` until it finds nothing more (the shared database holds other tests' visits)."""
    for _ in range(50):
        async with sessions.begin() as session:
            if not await mark_missed_visits(session, settings, now):
                return
    raise AssertionError("the sweep never finished")


@pytest.mark.parametrize("season", ["spring", "autumn"])
async def test_a_daylight_saving_night_gets_exact_windows_and_exact_misses(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings, season: str
) -> None:
    night, hours, expected = NIGHTS[season]
    assert shift(night, ShiftKind.NIGHT).hours == hours
    case_id = await active_case(client, world, clock)
    await set_plan(client, world, case_id, *NIGHT_PLAN)
    async with sessions.begin() as session:  # the plan was made well before that night
        await session.execute(
            update(VisitPlanSlot)
            .where(VisitPlanSlot.case_id == uuid.UUID(case_id))
            .values(valid_from=utc("2027-01-01T00:00"))
        )

    evening_before = shift(night, ShiftKind.NIGHT).starts - timedelta(hours=2)
    async with sessions.begin() as session:
        await generate_visits(session, settings, evening_before)
    async with sessions.begin() as session:  # a second run finds nothing to add
        await generate_visits(session, settings, evening_before)

    visits = await visits_of(sessions, case_id)
    that_night = [v for v in visits if v.shift_date == night]
    assert len(that_night) == 3
    windows = {v.tasks[0]: (v.window_start, v.window_end) for v in that_night}
    assert windows == {task: (utc(start), utc(end)) for task, (start, end) in expected.items()}
    assert all(v.shift_kind == "night" and v.status == "planned" for v in that_night)
    # Two nights lie in the 48 hours ahead, three visits each: none twice, none missing.
    ahead = [v for v in visits if evening_before <= v.window_start < evening_before + timedelta(hours=48)]
    assert len(ahead) == 6
    assert len({(v.slot_id, v.window_start) for v in ahead}) == 6

    grace = timedelta(minutes=settings.visit_grace_minutes)
    second = timedelta(seconds=1)
    by_end = sorted(that_night, key=lambda v: v.window_end)
    for n, visit in enumerate(by_end):
        due = visit.window_end + grace
        await sweep(sessions, settings, due - second)
        status = {v.id: v.status for v in await visits_of(sessions, case_id)}
        assert [status[v.id] for v in by_end] == ["missed"] * n + ["planned"] * (3 - n), (season, visit.tasks)
        await sweep(sessions, settings, due + second)
        status = {v.id: v.status for v in await visits_of(sessions, case_id)}
        assert [status[v.id] for v in by_end] == ["missed"] * (n + 1) + ["planned"] * (2 - n), (season, visit.tasks)

    async with sessions() as session:
        missed_at = {
            v.id: v.missed_at for v in await session.scalars(select(Visit).where(Visit.id.in_([v.id for v in by_end])))
        }
        events = list(
            await session.scalars(
                select(Event).where(Event.kind == "visit.missed", Event.visit_id.in_([v.id for v in by_end]))
            )
        )
    assert missed_at == {v.id: v.window_end + grace + second for v in by_end}
    assert sorted(e.payload["window_end"] for e in events) == sorted(v.window_end.isoformat() for v in by_end)


async def test_the_long_night_does_not_miss_a_visit_by_the_summer_clock(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings
) -> None:
    """02:00-03:00 on the October night ends at 03:00 CET (02:00 UTC), not at 03:00 CEST (01:00 UTC)."""
    case_id = await active_case(client, world, clock)
    await set_plan(client, world, case_id, slot("night", "02:00", "03:00", "turn"))
    async with sessions.begin() as session:
        await session.execute(
            update(VisitPlanSlot)
            .where(VisitPlanSlot.case_id == uuid.UUID(case_id))
            .values(valid_from=utc("2027-01-01T00:00"))
        )
        await generate_visits(session, settings, utc("2027-10-30T19:00"))
    await sweep(sessions, settings, utc("2027-10-31T01:45"))  # 02:45 CET the second time round
    (visit,) = [v for v in await visits_of(sessions, case_id) if v.shift_date == date(2027, 10, 30)]
    assert visit.status == "planned"
