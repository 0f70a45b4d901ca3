"""The coordinator's board of a shift: every visit across the districts with its state, counted."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from backend.clock import Clock
from backend.config import Settings
from backend.roster.models import ShiftPattern
from backend.visits.models import Visit
from tests.cases.helpers import Client, Sessions
from tests.visits.coordination_helpers import add_rows, add_visit, local, make_case, move_to, world_at

WEDNESDAY = date(2026, 11, 18)
EVENING_NOW = local(WEDNESDAY, 21, 30)


async def test_the_evening_board_shows_every_visit_of_the_shift_with_its_state_and_counts(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, EVENING_NOW)
    other = await world_at(sessions, settings, restore_clock, EVENING_NOW)
    case_a = await make_case(client, world, restore_clock, "a")
    case_b = await make_case(client, world, restore_clock, "b")
    foreign_case = await make_case(client, other, restore_clock, "a")
    nurse_a, nurse_b = world.nurse_a.user_id, world.nurse_b.user_id
    a, b = world.district_a, world.district_b

    done = await add_visit(
        sessions,
        case_a,
        a,
        local(WEDNESDAY, 15, 30),
        status="done",
        assigned_to=nurse_a,
        checked_in_at=local(WEDNESDAY, 15, 35),
        checked_out_at=local(WEDNESDAY, 16, 10),
    )
    missed = await add_visit(
        sessions,
        case_b,
        b,
        local(WEDNESDAY, 16),
        status="missed",
        assigned_to=nurse_b,
        missed_at=local(WEDNESDAY, 17, 30),
    )
    cancelled = await add_visit(sessions, case_a, a, local(WEDNESDAY, 18), status="cancelled")
    overdue = await add_visit(sessions, case_a, a, local(WEDNESDAY, 19), assigned_to=nurse_a)
    under_way = await add_visit(
        sessions,
        case_b,
        b,
        local(WEDNESDAY, 20, 30),
        status="under_way",
        assigned_to=nurse_b,
        checked_in_at=local(WEDNESDAY, 21, 25),
    )
    planned = await add_visit(sessions, case_b, b, local(WEDNESDAY, 22), minutes=45, tasks=["Tjek pumpen"])
    await add_visit(sessions, case_a, a, local(WEDNESDAY, 23, 30), assigned_to=nurse_a)  # the night's
    await add_visit(sessions, case_a, a, local(WEDNESDAY, 10), status="done")  # the day's
    await add_visit(sessions, foreign_case, other.district_a, local(WEDNESDAY, 20))  # another municipality's

    response = await client.get("/visits", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    board = response.json()
    assert board["shift"] == {
        "day": "2026-11-18",
        "kind": "evening",
        "starts": "2026-11-18T14:00:00Z",
        "ends": "2026-11-18T22:00:00Z",
    }
    assert board["counts"] == {
        "planned": 1,
        "overdue": 1,
        "under_way": 1,
        "done": 1,
        "missed": 1,
        "cancelled": 1,
        "total": 6,
    }
    visits = board["visits"]
    assert [v["id"] for v in visits] == [str(v) for v in (done, missed, cancelled, overdue, under_way, planned)]
    assert [v["state"] for v in visits] == ["done", "missed", "cancelled", "overdue", "under_way", "planned"]
    assert visits[3]["status"] == "planned"  # overdue is the board's word; the sweep has not marked it missed

    first = visits[0]
    assert first["case_id"] == str(case_a) and first["district_id"] == str(a)
    assert first["assignee"] == {"id": str(nurse_a), "name": "Test Person"}
    assert first["window_start"] == "2026-11-18T14:30:00Z" and first["window_end"] == "2026-11-18T15:30:00Z"
    assert first["checked_in_at"] == "2026-11-18T14:35:00Z" and first["checked_out_at"] == "2026-11-18T15:10:00Z"
    assert visits[1]["missed_at"] == "2026-11-18T16:30:00Z"
    assert visits[4]["checked_in_at"] == "2026-11-18T20:25:00Z" and visits[4]["checked_out_at"] is None
    assert visits[5]["assignee"] is None and visits[5]["tasks"] == ["Tjek pumpen"]

    only_b = (await client.get(f"/visits?district_id={b}", headers=world.key_person.headers)).json()
    assert [v["id"] for v in only_b["visits"]] == [str(missed), str(under_way), str(planned)]
    assert only_b["district_id"] == str(b)
    assert only_b["counts"]["total"] == 3 and only_b["counts"]["overdue"] == 0

    theirs = (await client.get("/visits", headers=other.coordinator.headers)).json()
    assert theirs["counts"]["total"] == 1 and theirs["visits"][0]["case_id"] == str(foreign_case)


async def test_a_planned_visit_is_overdue_after_its_window_until_the_sweep_marks_it_missed(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, local(WEDNESDAY, 19, 30))
    case_id = await make_case(client, world, restore_clock)
    visit = await add_visit(
        sessions, case_id, world.district_a, local(WEDNESDAY, 19), assigned_to=world.nurse_a.user_id
    )

    async def state() -> tuple[str, dict[str, int]]:
        board = (await client.get("/visits", headers=world.coordinator.headers)).json()
        return board["visits"][0]["state"], board["counts"]

    assert (await state())[0] == "planned"  # inside its window: not yet late
    move_to(restore_clock, local(WEDNESDAY, 20, 5), settings, world)
    current, counts = await state()
    assert current == "overdue" and counts["overdue"] == 1 and counts["planned"] == 0 and counts["missed"] == 0

    async with sessions() as session, session.begin():  # what the missed-visit sweep does after the grace
        row = await session.get_one(Visit, visit)
        row.status, row.missed_at = "missed", local(WEDNESDAY, 20, 30)
    move_to(restore_clock, local(WEDNESDAY, 20, 35), settings, world)
    current, counts = await state()
    assert current == "missed" and counts["missed"] == 1 and counts["overdue"] == 0


async def test_the_shift_can_be_chosen_next_tonight_or_by_date_and_kind(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, EVENING_NOW)
    case_id = await make_case(client, world, restore_clock)
    night = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY + timedelta(days=1), 2))
    morning = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY, 8))

    async def board(query: str) -> dict[str, Any]:
        response = await client.get(f"/visits{query}", headers=world.coordinator.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    for query in ("?shift=next", "?shift=tonight", "/tonight"):
        chosen = await board(query)
        assert chosen["shift"]["kind"] == "night" and chosen["shift"]["day"] == "2026-11-18", query
        assert [v["id"] for v in chosen["visits"]] == [str(night)], query
    day = await board("?shift=2026-11-18/day")
    assert day["shift"]["starts"] == "2026-11-18T06:00:00Z"
    assert [v["id"] for v in day["visits"]] == [str(morning)]

    move_to(restore_clock, local(WEDNESDAY + timedelta(days=1), 3), settings, world)  # in the small hours
    assert [v["id"] for v in (await board("/tonight"))["visits"]] == [str(night)]  # tonight is still this night


async def test_the_night_of_the_autumn_change_is_nine_hours_and_keeps_its_visits(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    saturday = date(2026, 10, 24)
    world = await world_at(sessions, settings, restore_clock, local(saturday, 22))
    case_id = await make_case(client, world, restore_clock)
    # 02:30 on the Sunday happens twice; 00:30 UTC is its first (summer time) occurrence, 01:30 UTC its second.
    first = await add_visit(sessions, case_id, world.district_a, datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    second = await add_visit(sessions, case_id, world.district_a, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    last = await add_visit(sessions, case_id, world.district_a, datetime(2026, 10, 25, 5, 15, tzinfo=UTC), minutes=30)

    board = (await client.get("/visits?shift=tonight", headers=world.coordinator.headers)).json()
    assert board["shift"]["starts"] == "2026-10-24T21:00:00Z" and board["shift"]["ends"] == "2026-10-25T06:00:00Z"
    assert [v["id"] for v in board["visits"]] == [str(first), str(second), str(last)]


async def test_the_municipalitys_own_shift_times_decide_the_current_shift(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, local(WEDNESDAY, 22, 45))
    await add_rows(
        sessions,
        *(
            ShiftPattern(municipality_id=world.municipality_id, kind=kind, starts_at=start, ends_at=end)
            for kind, start, end in (
                ("day", time(6, 30), time(14, 30)),
                ("evening", time(14, 30), time(22, 30)),
                ("night", time(22, 30), time(6, 30)),
            )
        ),
    )
    case_id = await make_case(client, world, restore_clock)
    visit = Visit(
        case_id=case_id,
        district_id=world.district_a,
        kind="planned",
        status="planned",
        shift_date=WEDNESDAY,
        shift_kind="night",
        window_start=local(WEDNESDAY, 22, 40),
        window_end=local(WEDNESDAY, 23, 40),
        tasks=[],
    )
    await add_rows(sessions, visit)
    for _ in range(2):  # the second read uses the times the first one learnt
        board = (await client.get("/visits", headers=world.coordinator.headers)).json()
        assert board["shift"] == {
            "day": "2026-11-18",
            "kind": "night",
            "starts": "2026-11-18T21:30:00Z",
            "ends": "2026-11-19T05:30:00Z",
        }
        assert [v["id"] for v in board["visits"]] == [str(visit.id)]


async def test_bad_board_requests_are_refused_naming_the_parameter(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, EVENING_NOW)
    other = await world_at(sessions, settings, restore_clock, EVENING_NOW)
    headers = world.coordinator.headers
    for query in ("?shift=yesterday", "?shift=2026-11-18/afternoon", "?shift=2026-02-30/day"):
        response = await client.get(f"/visits{query}", headers=headers)
        assert response.status_code == 400, query
        assert response.json()["field"] == "shift", query
    foreign = await client.get(f"/visits?district_id={other.district_a}", headers=headers)
    assert foreign.status_code == 422 and foreign.json()["field"] == "district_id"
    for login in (world.nurse_a, world.unit, world.admin):
        assert (await client.get("/visits", headers=login.headers)).status_code == 403, login.role
        assert (await client.get("/visits/tonight", headers=login.headers)).status_code == 403, login.role
