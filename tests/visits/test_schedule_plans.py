"""Visit plans: who may set them, what a bad plan is told, and a change reaching future visits only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.visits.models import Visit, VisitPlanSlot
from tests.cases.helpers import Client, Sessions, audit_details, create_case, write_headers
from tests.factories import World, build_world

# ---- helpers shared by the schedule tests ------------------------------------------------------


def slot(kind: str, start: str, end: str, *tasks: str) -> dict[str, Any]:
    return {"shift_kind": kind, "window_start": start, "window_end": end, "tasks": list(tasks)}


async def active_case(client: Client, world: World, clock: Clock, district: uuid.UUID | None = None) -> str:
    """A case made active by the coordinator, as it is once the first visit has been agreed."""
    created = await create_case(client, world.coordinator, district or world.district_a, clock.today())
    moved = await client.post(
        f"/cases/{created['id']}/status", json={"status": "active"}, headers=write_headers(world.coordinator)
    )
    assert moved.status_code == 200, moved.text
    return str(created["id"])


async def put_plan(client: Client, world: World, case_id: str, *slots: dict[str, Any], key: str | None = None) -> Any:
    return await client.put(
        f"/cases/{case_id}/visit-plan", json={"slots": list(slots)}, headers=write_headers(world.coordinator, key)
    )


async def set_plan(client: Client, world: World, case_id: str, *slots: dict[str, Any]) -> dict[str, Any]:
    response = await put_plan(client, world, case_id, *slots)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def visits_of(sessions: Sessions, case_id: str | uuid.UUID) -> list[Visit]:
    """Every visit row of the case, cancelled ones too, in window order."""
    async with sessions() as session:
        query = select(Visit).where(Visit.case_id == uuid.UUID(str(case_id))).order_by(Visit.window_start, Visit.id)
        return list((await session.scalars(query)).all())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---- access -----------------------------------------------------------------------------------


@pytest.fixture
async def other(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> World:
    return await build_world(sessions, settings, clock)


async def test_only_coordinators_and_key_persons_set_plans_and_only_those_who_see_the_case_read_them(
    client: Client, world: World, other: World, clock: Clock
) -> None:
    case_id = await active_case(client, world, clock)
    body = {"slots": [slot("day", "09:00", "10:00", "mouth care")]}
    for who, expected in [("nurse_a", 403), ("unit", 403), ("admin", 403)]:
        response = await client.put(
            f"/cases/{case_id}/visit-plan", json=body, headers=write_headers(getattr(world, who))
        )
        assert response.status_code == expected, who
    refused = await client.put(f"/cases/{case_id}/visit-plan", json=body, headers=write_headers(other.coordinator))
    assert refused.status_code == 404
    assert (await client.get(f"/cases/{case_id}/visit-plan", headers=other.coordinator.headers)).status_code == 404

    by_key_person = await client.put(f"/cases/{case_id}/visit-plan", json=body, headers=write_headers(world.key_person))
    assert by_key_person.status_code == 200, by_key_person.text
    for who, expected in [("nurse_a", 200), ("nurse_b", 404), ("coordinator", 200), ("unit", 404)]:
        response = await client.get(f"/cases/{case_id}/visit-plan", headers=getattr(world, who).headers)
        assert response.status_code == expected, who
    seen = await client.get(f"/cases/{case_id}/visit-plan", headers=world.nurse_a.headers)
    assert [(s["shift_kind"], s["window_start"], s["tasks"]) for s in seen.json()["slots"]] == [
        ("day", "09:00", ["mouth care"])
    ]


async def test_reading_a_plan_is_in_the_audit_log(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await active_case(client, world, clock)
    await client.get(f"/cases/{case_id}/visit-plan", headers=world.nurse_a.headers)
    assert len(await audit_details(sessions, case_id, "case.visit_plan.read")) == 1


# ---- bad plans --------------------------------------------------------------------------------

BAD_PLANS = [
    # (slots, status, field, rule)
    ([slot("night", "22:00", "23:30")], 422, "slots[0].window_start", "window_in_shift"),
    ([slot("day", "09:00", "10:00"), slot("day", "14:00", "15:30")], 422, "slots[1].window_end", "window_in_shift"),
    ([slot("day", "10:00", "09:00")], 422, "slots[0].window_end", "window_in_shift"),
    ([slot("night", "06:30", "07:30")], 422, "slots[0].window_end", "window_in_shift"),
    ([slot("day", f"{7 + n:02d}:00", f"{7 + n:02d}:30") for n in range(7)], 422, "slots", "max_slots_per_shift"),
    ([slot("day", "9:00", "10:00")], 400, "slots[0].window_start", None),
    ([slot("day", "09:00", "10:00", "x" * 201)], 400, "slots[0].tasks[0]", None),
    ([slot("day", "09:00", "10:00", "   ")], 422, "slots[0].tasks[0]", None),
    ([slot("day", "09:00", "10:00", *["turn"] * 21)], 400, "slots[0].tasks", None),
    ([{**slot("day", "09:00", "10:00"), "nurse": "Karen"}], 400, "slots[0]", None),  # detail names `nurse`
    ([slot("lunch", "09:00", "10:00")], 400, "slots[0].shift_kind", None),
]


@pytest.mark.parametrize(("slots", "status", "field", "rule"), BAD_PLANS)
async def test_a_bad_plan_is_refused_naming_the_field_and_changes_nothing(
    client: Client,
    world: World,
    clock: Clock,
    sessions: Sessions,
    slots: list[dict[str, Any]],
    status: int,
    field: str,
    rule: str | None,
) -> None:
    case_id = await active_case(client, world, clock)
    await set_plan(client, world, case_id, slot("evening", "18:00", "19:00", "check the syringe driver"))
    before = [(v.id, v.status) for v in await visits_of(sessions, case_id)]

    response = await put_plan(client, world, case_id, *slots)

    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["field"] == field, problem
    if rule:
        assert problem["rule"] == rule
    plan = await client.get(f"/cases/{case_id}/visit-plan", headers=world.coordinator.headers)
    assert [s["window_start"] for s in plan.json()["slots"]] == ["18:00"]
    assert [(v.id, v.status) for v in await visits_of(sessions, case_id)] == before


async def test_a_closed_case_gets_no_plan(client: Client, world: World, clock: Clock) -> None:
    case_id = await active_case(client, world, clock)
    closed = await client.post(
        f"/cases/{case_id}/status", json={"status": "closed"}, headers=write_headers(world.coordinator)
    )
    assert closed.status_code == 200
    response = await put_plan(client, world, case_id, slot("day", "09:00", "10:00"))
    assert response.status_code == 422
    assert response.json()["rule"] == "case_ended"


# ---- a change reaches future visits only ------------------------------------------------------


async def test_setting_a_plan_creates_the_next_48_hours_of_visits_at_once(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await active_case(client, world, clock)
    before = clock.now()
    result = await set_plan(
        client,
        world,
        case_id,
        slot("day", "08:00", "09:00", "mouth care"),
        slot("evening", "18:00", "19:00", "check the syringe driver"),
        slot("night", "23:30", "00:30"),
    )
    visits = await visits_of(sessions, case_id)
    assert result["visits_created"] == len(visits)
    per_slot: dict[uuid.UUID | None, int] = {}
    for visit in visits:
        per_slot[visit.slot_id] = per_slot.get(visit.slot_id, 0) + 1
        assert visit.status == "planned" and visit.kind == "planned" and visit.assigned_to is None
        assert visit.district_id == world.district_a
        assert before < visit.window_start < before + timedelta(hours=48 + 9)
    assert len(per_slot) == 3
    assert all(2 <= count <= 3 for count in per_slot.values()), per_slot
    syringe = [v for v in visits if v.shift_kind == "evening"]
    assert all(v.tasks == ["check the syringe driver"] for v in syringe)


async def _set_visit(sessions: Sessions, visit_id: uuid.UUID, **values: Any) -> None:
    async with sessions.begin() as session:
        await session.execute(update(Visit).where(Visit.id == visit_id).values(**values))


async def test_changing_the_plan_changes_future_visits_only(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await active_case(client, world, clock)
    first = await set_plan(
        client,
        world,
        case_id,
        slot("day", "08:00", "09:00", "mouth care"),
        slot("evening", "18:00", "19:00", "check the syringe driver"),
        slot("night", "02:00", "03:00"),
    )
    slot_of = {s["shift_kind"]: uuid.UUID(s["id"]) for s in first["slots"]}
    visits = await visits_of(sessions, case_id)
    day = [v for v in visits if v.slot_id == slot_of["day"]]
    evening = [v for v in visits if v.slot_id == slot_of["evening"]]
    night = [v for v in visits if v.slot_id == slot_of["night"]]
    now = clock.now()
    # What has happened meanwhile: one evening visit done, one night visit under way, nurses assigned.
    await _set_visit(sessions, evening[0].id, status="done", checked_in_at=now, checked_out_at=now)
    await _set_visit(sessions, evening[1].id, assigned_to=world.nurse_a.user_id)
    await _set_visit(sessions, night[0].id, status="under_way", checked_in_at=now)
    await _set_visit(sessions, day[0].id, assigned_to=world.nurse_a.user_id)

    key = str(uuid.uuid4())
    plan = [
        slot("day", "08:00", "09:00", "mouth care"),  # unchanged: kept, with its visits
        slot("day", "12:00", "13:00", "pain score"),  # new
        slot("evening", "18:00", "19:00", "check the syringe driver", "mouth care"),  # tasks changed
    ]  # and no night visits any more
    response = await put_plan(client, world, case_id, *plan, key=key)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["slots_kept"] == 1
    assert [(s["shift_kind"], s["window_start"]) for s in result["slots"]] == [
        ("day", "08:00"),
        ("day", "12:00"),
        ("evening", "18:00"),
    ]
    assert result["slots"][0]["id"] == str(slot_of["day"])

    after = {v.id: v for v in await visits_of(sessions, case_id)}
    # The kept slot's visits are untouched, the nurse still on hers.
    assert all(after[v.id].status == "planned" for v in day)
    assert after[day[0].id].assigned_to == world.nurse_a.user_id
    # What happened stays; what had not started is cancelled.
    assert after[evening[0].id].status == "done"
    assert after[night[0].id].status == "under_way"
    assert {after[v.id].status for v in evening[1:]} == {"cancelled"}
    assert {after[v.id].status for v in night[1:]} == {"cancelled"}
    assert result["visits_cancelled"] == len(evening) - 1 + len(night) - 1
    # The new evening visits carry the new tasks, and the assigned nurse moved to the same window.
    new_evening = [
        v
        for v in after.values()
        if v.shift_kind == "evening" and v.slot_id != slot_of["evening"] and v.status == "planned"
    ]
    # The visit done early stands for its window: no second visit then.
    assert evening[0].window_start not in {v.window_start for v in new_evening}
    assert len(new_evening) == len(evening) - 1
    assert all(v.tasks == ["check the syringe driver", "mouth care"] for v in new_evening)
    moved = [v for v in new_evening if v.window_start == evening[1].window_start]
    assert len(moved) == 1 and moved[0].assigned_to == world.nurse_a.user_id
    new_day = [v for v in after.values() if v.tasks == ["pain score"]]
    assert new_day and all(v.status == "planned" and v.window_start > now for v in new_day)
    assert result["visits_created"] == len(new_evening) + len(new_day)
    async with sessions() as session:
        night_slot = await session.get_one(VisitPlanSlot, slot_of["night"])
    assert night_slot.valid_until is not None

    # The same request again (a retry) answers the same and changes nothing.
    again = await put_plan(client, world, case_id, *plan, key=key)
    assert again.json() == result
    assert len(await visits_of(sessions, case_id)) == len(after)
    assert len(await audit_details(sessions, case_id, "case.visit_plan.set")) == 2


async def test_an_empty_plan_stops_future_visits(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await active_case(client, world, clock)
    await set_plan(client, world, case_id, slot("evening", "16:00", "17:00"), slot("night", "03:00", "04:00"))
    result = await set_plan(client, world, case_id)
    assert result["slots"] == [] and result["visits_created"] == 0
    assert {v.status for v in await visits_of(sessions, case_id)} == {"cancelled"}
