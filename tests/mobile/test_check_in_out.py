"""Check-in and check-out: server and device time, the rules a nurse runs into, and their events."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from backend.clock import Clock
from backend.visits.models import CaseFlag
from tests.cases.helpers import Client, Sessions, add_record, write_headers
from tests.factories import World
from tests.mobile.helpers import add_visit, at, check_in, events, new_case, phone_post, visit_row


async def _open_flags(sessions: Sessions, case_id: str) -> list[CaseFlag]:
    async with sessions() as session:
        query = select(CaseFlag).where(CaseFlag.case_id == uuid.UUID(case_id), CaseFlag.resolved_at.is_(None))
        return list((await session.scalars(query)).all())


async def test_check_in_and_out_record_server_and_device_time_and_tell_the_board(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock, phase="late")
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    body = {"device_time": at(clock, -1), "position": {"lat": 55.69, "lon": 12.55, "accuracy_m": 12.5}}
    headers = write_headers(world.nurse_a, "check-in-key-1")

    response = await client.post(f"/mobile/v1/visits/{visit_id}/check-in", json=body, headers=headers)
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["status"] == "under_way"
    assert state["checked_in_at"] is not None and state["checked_in_device_at"] is not None
    # The phone retries (no answer reached it): the same answer, nothing recorded twice.
    retry = await client.post(f"/mobile/v1/visits/{visit_id}/check-in", json=body, headers=headers)
    assert retry.status_code == 200 and retry.json() == state
    assert len(await events(sessions, case_id, "visit.checked_in")) == 1

    visit = await visit_row(sessions, visit_id)
    assert visit.status == "under_way"
    assert visit.check_in_position == {"lat": 55.69, "lon": 12.55, "accuracy_m": 12.5}
    assert abs((visit.checked_in_device_at - clock.now()) + timedelta(minutes=1)) < timedelta(seconds=30)

    out = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/check-out", {"device_time": at(clock)})
    assert out.status_code == 200, out.text
    assert out.json()["status"] == "done"
    assert out.json()["checked_out_device_at"] is not None
    checked_out = await events(sessions, case_id, "visit.checked_out")
    assert [(e.visit_id, e.actor_id) for e in checked_out] == [(uuid.UUID(visit_id), world.nurse_a.user_id)]
    assert await _open_flags(sessions, case_id) == []  # not terminal: no medicine flag


async def test_check_out_before_check_in_is_refused_and_the_visit_stays_planned(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/check-out", {"device_time": at(clock)})
    assert response.status_code == 422
    assert response.json()["rule"] == "not_checked_in"
    assert (await visit_row(sessions, visit_id)).status == "planned"
    assert await events(sessions, case_id, "visit.checked_out") == []


async def test_a_check_out_timed_before_its_check_in_is_refused(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    await check_in(client, world.nurse_a, clock, visit_id)
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/check-out", {"device_time": at(clock, -30)})
    assert response.status_code == 422
    assert response.json()["field"] == "device_time"
    assert response.json()["rule"] == "before_check_in"
    assert (await visit_row(sessions, visit_id)).status == "under_way"


async def test_a_device_time_far_in_the_future_is_refused_naming_the_field(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/check-in", {"device_time": at(clock, 15)})
    assert response.status_code == 422
    assert response.json()["field"] == "device_time"
    assert response.json()["rule"] == "in_future"
    assert (await visit_row(sessions, visit_id)).status == "planned"
    # A phone a few minutes ahead is fine.
    assert (await check_in(client, world.nurse_a, clock, visit_id, minutes=4))["status"] == "under_way"


async def test_bad_check_in_input_is_refused_naming_the_field(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    path = f"/visits/{visit_id}/check-in"
    naive = clock.now().replace(tzinfo=None).isoformat()
    for body, field in [
        ({"device_time": naive}, "device_time"),
        ({}, "device_time"),
        ({"device_time": at(clock), "position": {"lat": 95, "lon": 12}}, "position.lat"),
        ({"device_time": at(clock), "colour": "red"}, "colour"),
    ]:
        response = await phone_post(client, world.nurse_a, path, body)
        assert response.status_code == 400, body
        assert response.json()["field"] == field
    assert (await visit_row(sessions, visit_id)).status == "planned"


async def test_a_colleagues_or_cancelled_visit_cannot_be_checked_in(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    theirs = await add_visit(sessions, clock, case_id, world.district_a, world.coordinator.user_id)
    nobodys = await add_visit(sessions, clock, case_id, world.district_a, None)
    cancelled = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id, status="cancelled")
    for visit_id, rule in [(theirs, "assigned_to_other"), (nobodys, "not_assigned"), (cancelled, "visit_cancelled")]:
        response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/check-in", {"device_time": at(clock)})
        assert response.status_code == 409, rule
        assert response.json()["rule"] == rule
    assert (await visit_row(sessions, theirs)).status == "planned"


async def test_checking_in_twice_is_refused_but_a_missed_visit_can_still_be_checked_in(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id, status="missed")
    assert (await check_in(client, world.nurse_a, clock, visit_id))["status"] == "under_way"
    again = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/check-in", {"device_time": at(clock)})
    assert again.status_code == 409
    assert again.json()["rule"] == "already_checked_in"
    assert [e.payload for e in await events(sessions, case_id, "visit.checked_in")] == [{"from": "missed"}]


async def test_leaving_a_terminal_case_without_its_medicine_flags_it_once(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock, phase="terminal")
    await add_record(
        client,
        world,
        case_id,
        "medicine",
        {
            "indication": "pain",
            "drug": "Morfin",
            "strength": "10 mg/ml",
            "quantity": "5",
            "expires_on": (clock.today() + timedelta(days=60)).isoformat(),
        },
    )
    for _ in range(2):
        visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
        await check_in(client, world.nurse_a, clock, visit_id)
        out = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/check-out", {"device_time": at(clock)})
        assert out.status_code == 200, out.text
    flags = await _open_flags(sessions, case_id)
    assert [(f.kind, f.detail["items"]) for f in flags] == [
        ("medicine_missing_terminal", ["breathlessness", "nausea", "restlessness", "death_rattle"])
    ]
    # Joined, not repeated: one flag and one event for the coordinator.
    assert len(await events(sessions, case_id, "case.flagged")) == 1
