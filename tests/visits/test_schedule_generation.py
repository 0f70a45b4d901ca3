"""The two jobs on several instances at once: generation makes no duplicates, the sweep no double misses."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from backend.clock import Clock
from backend.config import Settings
from backend.people.actor import Actor
from backend.people.models import Role
from backend.scheduler import JOBS, Job
from backend.visits.jobs import generate_visits, mark_missed_visits
from backend.visits.models import CaseFlag, Event, Visit, VisitPlanSlot
from backend.visits.plan_schemas import VisitPlanIn, VisitPlanSet
from backend.visits.plans import generate
from backend.visits.plans import set_plan as set_plan_service
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import World
from tests.visits.test_schedule_plans import active_case, set_plan, slot, utc, visits_of

PLAN = [
    slot("day", "08:00", "09:00", "mouth care"),
    slot("day", "11:00", "12:00"),
    slot("day", "14:00", "14:45", "check the syringe driver"),
    slot("evening", "17:00", "17:30"),
    slot("evening", "21:00", "22:00", "mouth care"),
    slot("night", "03:00", "04:00", "turn"),
]
# Wednesday 15 January 2031, 13:00 in Copenhagen (CET): the day shift is running.
NOW = utc("2031-01-15T12:00")
# Today 14:00 (08:00 and 11:00 are over), tomorrow 3, the day after 3 (its shift starts inside the
# 48 hours), two evenings and two nights: 13 visits per case.
PER_CASE = 1 + 3 + 3 + 2 + 2 + 2


async def planned_cases(client: Client, world: World, clock: Clock, sessions: Sessions, n: int) -> list[str]:
    """`n` active cases with the plan above, made (as far as generation can tell) long before NOW."""
    ids = [await active_case(client, world, clock) for _ in range(n)]
    for case_id in ids:
        await set_plan(client, world, case_id, *PLAN)
    async with sessions.begin() as session:
        await session.execute(
            update(VisitPlanSlot)
            .where(VisitPlanSlot.case_id.in_([uuid.UUID(i) for i in ids]))
            .values(valid_from=utc("2030-01-01T00:00"))
        )
    return ids


async def run(sessions: Sessions, job: Job, settings: Settings, now: datetime) -> int:
    async with sessions.begin() as session:
        count: int = await job(session, settings, now)
        return count


def around(visits: list[Visit], start: datetime, hours: int = 60) -> list[Visit]:
    return [v for v in visits if start - timedelta(hours=12) <= v.window_start < start + timedelta(hours=hours)]


async def test_two_instances_generating_at_once_make_each_visit_once(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings
) -> None:
    cases = await planned_cases(client, world, clock, sessions, 3)

    first, second = await asyncio.gather(
        run(sessions, generate_visits, settings, NOW), run(sessions, generate_visits, settings, NOW)
    )

    assert first + second >= 3 * PER_CASE  # between them they made everyone's, ours included
    for case_id in cases:
        visits = around(await visits_of(sessions, case_id), NOW)
        assert len(visits) == PER_CASE
        assert len({(v.slot_id, v.window_start) for v in visits}) == PER_CASE
        assert min(v.window_start for v in visits) == utc("2031-01-15T13:00")  # 14:00 CET, the first still ahead
    assert await run(sessions, generate_visits, settings, NOW) == 0


async def test_two_instances_sweeping_at_once_mark_each_miss_once_and_flag_the_case_once(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings
) -> None:
    cases = await planned_cases(client, world, clock, sessions, 2)
    await run(sessions, generate_visits, settings, NOW)
    mine = [v for case_id in cases for v in around(await visits_of(sessions, case_id), NOW)]
    around_now = {c: around(await visits_of(sessions, c), clock.now()) for c in cases}  # made when the plan was set
    # One visit was made in time: checked in, it is under way and never missed.
    kept = mine[0]
    async with sessions.begin() as session:
        await session.execute(
            update(Visit).where(Visit.id == kept.id).values(status="under_way", checked_in_at=kept.window_start)
        )

    later = NOW + timedelta(days=4)
    for _ in range(20):  # other tests' overdue visits share the database: sweep until all are done
        done = await asyncio.gather(
            run(sessions, mark_missed_visits, settings, later), run(sessions, mark_missed_visits, settings, later)
        )
        if not any(done):
            break

    ids = [v.id for v in mine]
    async with sessions() as session:
        statuses = dict((await session.execute(select(Visit.id, Visit.status).where(Visit.id.in_(ids)))).all())
        events = list(
            (
                await session.execute(
                    select(Event.visit_id, func.count()).where(Event.visit_id.in_(ids)).group_by(Event.visit_id)
                )
            ).all()
        )
        flags = list(
            await session.scalars(
                select(CaseFlag).where(
                    CaseFlag.case_id.in_([uuid.UUID(c) for c in cases]), CaseFlag.resolved_at.is_(None)
                )
            )
        )
    assert statuses[kept.id] == "under_way"
    assert {statuses[i] for i in ids if i != kept.id} == {"missed"}
    assert dict(events) == {i: 1 for i in ids if i != kept.id}  # one visit.missed event per miss
    # One open flag per case, every miss of the case joined to it (the plan's first days' visits too).
    missed_per_case = {uuid.UUID(c): sum(v.status == "missed" for v in await visits_of(sessions, c)) for c in cases}
    assert sorted((f.case_id, f.kind, f.detail["count"]) for f in flags) == sorted(
        (c, "visit_missed", n) for c, n in missed_per_case.items()
    )
    assert sorted(missed_per_case.values()) == sorted(
        sum(v.id != kept.id and str(v.case_id) == c for v in mine) + len(around_now[c]) for c in cases
    )
    assert [len(f.detail["visit_ids"]) for f in flags] == [min(f.detail["count"], 20) for f in flags], flags[0].detail


async def test_visits_of_a_case_admitted_to_hospital_are_cancelled_not_missed_and_none_generated(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings
) -> None:
    (case_id,) = await planned_cases(client, world, clock, sessions, 1)
    await run(sessions, generate_visits, settings, NOW)
    admitted = await client.post(
        f"/cases/{case_id}/status", json={"status": "admitted"}, headers=write_headers(world.coordinator)
    )
    assert admitted.status_code == 200

    await run(sessions, mark_missed_visits, settings, NOW + timedelta(hours=6))
    await run(sessions, generate_visits, settings, NOW + timedelta(days=1))

    visits = around(await visits_of(sessions, case_id), NOW, hours=96)
    assert len(visits) == PER_CASE  # nothing new while in hospital
    over = [v for v in visits if v.window_end + timedelta(minutes=30) < NOW + timedelta(hours=6)]
    assert over and {v.status for v in over} == {"cancelled"}
    assert all(v.missed_at is None for v in visits)
    async with sessions() as session:
        flags = await session.scalar(select(func.count()).where(CaseFlag.case_id == uuid.UUID(case_id)))
    assert flags == 0


async def test_a_plan_change_waits_for_a_generation_in_progress_and_cancels_what_it_wrote(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    (case_id,) = await planned_cases(client, world, clock, sessions, 1)
    coordinator = Actor(
        user_id=world.coordinator.user_id,
        device_id=world.coordinator.device_id,
        role=Role.COORDINATOR,
        organisation_id=world.municipality_id,
        municipality_id=world.municipality_id,
        district_ids=(),
        served_municipality_ids=(),
        request_id="test",
    )

    async def change_plan() -> VisitPlanSet:
        async with sessions.begin() as session:
            return await set_plan_service(session, coordinator, uuid.UUID(case_id), VisitPlanIn(slots=[]), clock.now())

    async with sessions.begin() as session:
        created = await generate(session, NOW, [uuid.UUID(case_id)])
        assert created == PER_CASE
        # The plan is emptied while this generation is still open: the change must wait for it...
        change = asyncio.create_task(change_plan())
        await asyncio.sleep(0.5)
        assert not change.done()
    # ... and then cancel what it wrote, rather than leave visits of a plan that has ended.
    result = await asyncio.wait_for(change, 10)
    assert result.slots == []
    written = around(await visits_of(sessions, case_id), NOW)
    assert len(written) == PER_CASE
    assert {v.status for v in written} == {"cancelled"}


def test_both_jobs_are_scheduled() -> None:
    assert (generate_visits, 300) in JOBS
    assert (mark_missed_visits, 60) in JOBS
