"""Assigning, handing back, cancelling and making ad-hoc or acute visits: the rules, the errors and
what the board and the event stream show afterwards."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from backend.clock import Clock
from backend.config import Settings
from backend.people.models import Role, User
from backend.visits.models import Event
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import World, add_user
from tests.visits.coordination_helpers import (
    add_visit,
    audit_actions,
    local,
    make_case,
    visit_events,
    visit_row,
    world_at,
)

WEDNESDAY = date(2026, 11, 18)
NOW = local(WEDNESDAY, 20)


async def _board(client: Client, world: World) -> dict[uuid.UUID, dict[str, Any]]:
    response = await client.get("/visits", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    return {uuid.UUID(v["id"]): v for v in response.json()["visits"]}


async def _second_nurse(sessions: Sessions, settings: Settings, clock: Clock, world: World) -> uuid.UUID:
    async with sessions() as session, session.begin():
        login = await add_user(
            session,
            settings,
            clock,
            role=Role.NURSE,
            organisation_id=world.district_a,
            districts=(world.district_a,),
            name="Anden Sygeplejerske",
        )
    world.users["nurse_a2"] = login
    return login.user_id


async def test_the_coordinator_assigns_and_reassigns_a_planned_visit(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    other_nurse = await _second_nurse(sessions, settings, restore_clock, world)
    case_id = await make_case(client, world, restore_clock)
    visit = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY, 21))

    first = await client.post(
        f"/visits/{visit}/assign",
        json={"user_id": str(world.nurse_a.user_id)},
        headers=write_headers(world.coordinator),
    )
    assert first.status_code == 200, first.text
    assert first.json()["assignee"] == {"id": str(world.nurse_a.user_id), "name": "Test Person"}
    again = await client.post(
        f"/visits/{visit}/assign", json={"user_id": str(other_nurse)}, headers=write_headers(world.coordinator)
    )
    assert again.status_code == 200, again.text

    shown = (await _board(client, world))[visit]
    assert shown["assignee"] == {"id": str(other_nurse), "name": "Anden Sygeplejerske"}
    assert await visit_events(sessions, visit) == [
        ("visit.assigned", {"user_id": str(world.nurse_a.user_id), "previous_user_id": None}),
        ("visit.assigned", {"user_id": str(other_nurse), "previous_user_id": str(world.nurse_a.user_id)}),
    ]
    # The board read after the changes is a read of the case too.
    assert await audit_actions(sessions, case_id) == ["case.create", "visit.assign", "visit.assign", "visit.board"]


async def test_assigning_to_anyone_but_a_live_nurse_of_the_district_is_refused_naming_user_id(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    gone = await _second_nurse(sessions, settings, restore_clock, world)
    async with sessions() as session, session.begin():
        (await session.get_one(User, gone)).deleted_at = restore_clock.now()
    case_id = await make_case(client, world, restore_clock)
    visit = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY, 21))

    for user_id in (world.nurse_b.user_id, world.coordinator.user_id, gone, uuid.uuid4()):
        response = await client.post(
            f"/visits/{visit}/assign", json={"user_id": str(user_id)}, headers=write_headers(world.coordinator)
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "user_id"
    missing = await client.post(f"/visits/{visit}/assign", json={}, headers=write_headers(world.coordinator))
    assert missing.status_code == 400 and missing.json()["field"] == "user_id"
    assert (await visit_row(sessions, visit)).assigned_to is None
    assert await visit_events(sessions, visit) == []


async def test_a_visit_under_way_or_over_is_not_reassigned(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    nurse = world.nurse_a.user_id
    under_way = await add_visit(
        sessions,
        case_id,
        world.district_a,
        local(WEDNESDAY, 19, 30),
        status="under_way",
        assigned_to=nurse,
        checked_in_at=local(WEDNESDAY, 19, 40),
    )
    done = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY, 16), status="done", assigned_to=nurse)
    other_nurse = await _second_nurse(sessions, settings, restore_clock, world)

    for visit, rule in ((under_way, "visit_under_way"), (done, "visit_not_planned")):
        response = await client.post(
            f"/visits/{visit}/assign", json={"user_id": str(other_nurse)}, headers=write_headers(world.coordinator)
        )
        assert response.status_code == 409, response.text
        assert response.json()["rule"] == rule
        assert (await visit_row(sessions, visit)).assigned_to == nurse


async def test_a_retried_assignment_answers_the_same_and_changes_nothing_more(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    visit = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY, 21))
    headers = write_headers(world.coordinator, key=f"assign-{uuid.uuid4()}")
    body = {"user_id": str(world.nurse_a.user_id)}

    first = await client.post(f"/visits/{visit}/assign", json=body, headers=headers)
    retry = await client.post(f"/visits/{visit}/assign", json=body, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert len(await visit_events(sessions, visit)) == 1
    # The retry changed nothing; it showed the answer again, which is a read.
    assert await audit_actions(sessions, case_id) == ["case.create", "visit.assign", "idempotent.replay"]

    other = await client.post(f"/visits/{visit}/assign", json={"user_id": str(world.nurse_b.user_id)}, headers=headers)
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    no_key = await client.post(f"/visits/{visit}/assign", json=body, headers=world.coordinator.headers)
    assert no_key.status_code == 400 and no_key.json()["field"] == "Idempotency-Key"


async def test_the_nurse_hands_back_her_own_planned_visit_with_a_reason(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    colleague = await _second_nurse(sessions, settings, restore_clock, world)
    case_id = await make_case(client, world, restore_clock)
    mine = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY, 21), assigned_to=world.nurse_a.user_id)
    theirs = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY, 22), assigned_to=colleague)

    response = await client.post(
        f"/visits/{mine}/hand-back", json={"reason": "Akut besøg trækker ud"}, headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 200, response.text
    assert response.json()["assignee"] is None
    shown = (await _board(client, world))[mine]
    assert shown["assignee"] is None and shown["handed_back_reason"] == "Akut besøg trækker ud"
    assert shown["state"] == "planned"
    # The event names who, not why: free text stays out of the event stream.
    assert await visit_events(sessions, mine) == [("visit.handed_back", {"user_id": str(world.nurse_a.user_id)})]

    not_hers = await client.post(
        f"/visits/{theirs}/hand-back", json={"reason": "Vil ikke"}, headers=write_headers(world.nurse_a)
    )
    assert not_hers.status_code == 403 and not_hers.json()["rule"] == "not_assigned"
    again = await client.post(
        f"/visits/{mine}/hand-back", json={"reason": "Igen"}, headers=write_headers(world.nurse_a)
    )
    assert again.status_code == 403  # no longer hers
    blank = await client.post(
        f"/visits/{theirs}/hand-back", json={"reason": "   "}, headers=write_headers(world.nurse_a2)
    )
    assert blank.status_code == 422 and blank.json()["field"] == "reason"
    empty = await client.post(f"/visits/{theirs}/hand-back", json={}, headers=write_headers(world.nurse_a2))
    assert empty.status_code == 400 and empty.json()["field"] == "reason"
    coordinator = await client.post(
        f"/visits/{theirs}/hand-back", json={"reason": "x"}, headers=write_headers(world.coordinator)
    )
    assert coordinator.status_code == 403
    assert (await visit_row(sessions, theirs)).assigned_to == colleague


async def test_a_visit_under_way_cannot_be_handed_back(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    visit = await add_visit(
        sessions,
        case_id,
        world.district_a,
        local(WEDNESDAY, 19, 30),
        status="under_way",
        assigned_to=world.nurse_a.user_id,
    )
    response = await client.post(
        f"/visits/{visit}/hand-back", json={"reason": "Skal videre"}, headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 409 and response.json()["rule"] == "visit_under_way"
    assert (await visit_row(sessions, visit)).assigned_to == world.nurse_a.user_id


async def test_the_coordinator_cancels_a_planned_visit_with_a_reason_code(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    visit = await add_visit(
        sessions, case_id, world.district_a, local(WEDNESDAY, 21), assigned_to=world.nurse_a.user_id
    )
    started = await add_visit(
        sessions,
        case_id,
        world.district_a,
        local(WEDNESDAY, 19, 30),
        status="under_way",
        assigned_to=world.nurse_a.user_id,
    )

    response = await client.post(
        f"/visits/{visit}/cancel", json={"reason": "admitted"}, headers=write_headers(world.coordinator)
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == response.json()["state"] == "cancelled"
    board = await _board(client, world)
    assert board[visit]["state"] == "cancelled"
    assert await visit_events(sessions, visit) == [("visit.cancelled", {"reason": "admitted"})]

    twice = await client.post(
        f"/visits/{visit}/cancel", json={"reason": "admitted"}, headers=write_headers(world.coordinator)
    )
    assert twice.status_code == 409 and twice.json()["rule"] == "visit_not_planned"
    under_way = await client.post(
        f"/visits/{started}/cancel", json={"reason": "duplicate"}, headers=write_headers(world.coordinator)
    )
    assert under_way.status_code == 409 and under_way.json()["rule"] == "visit_under_way"
    bad = await client.post(
        f"/visits/{started}/cancel", json={"reason": "bored"}, headers=write_headers(world.coordinator)
    )
    assert bad.status_code == 400 and bad.json()["field"] == "reason"
    for login in (world.key_person, world.nurse_a):
        refused = await client.post(
            f"/visits/{started}/cancel", json={"reason": "duplicate"}, headers=write_headers(login)
        )
        assert refused.status_code == 403, login.role
    assert (await visit_row(sessions, started)).status == "under_way"


def _window(start: datetime, minutes: int = 60, **body: Any) -> dict[str, Any]:
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(minutes=minutes)).isoformat(),
        **body,
    }


async def test_an_ad_hoc_visit_lands_in_the_shift_its_window_starts_in(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    nurse = str(world.nurse_a.user_id)

    async def create(login_name: str, start: datetime, **body: Any) -> dict[str, Any]:
        response = await client.post(
            f"/cases/{case_id}/visits",
            json=_window(start, kind="ad_hoc", reason="Pårørende ringede", **body),
            headers=write_headers(world.users[login_name]),
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    evening = await create("coordinator", local(WEDNESDAY, 21, 30), assigned_to=nurse)
    assert (evening["kind"], evening["status"], evening["shift_date"], evening["shift_kind"]) == (
        "ad_hoc",
        "planned",
        "2026-11-18",
        "evening",
    )
    assert evening["assignee"]["id"] == nurse and evening["reason"] == "Pårørende ringede"
    after_midnight = await create("key_person", local(WEDNESDAY + timedelta(days=1), 1))
    assert (after_midnight["shift_date"], after_midnight["shift_kind"]) == ("2026-11-18", "night")
    assert after_midnight["assignee"] is None

    board = await _board(client, world)
    assert board[uuid.UUID(evening["id"])]["assignee"]["id"] == nurse
    assert await visit_events(sessions, uuid.UUID(evening["id"])) == [
        ("visit.created", {"visit_kind": "ad_hoc", "user_id": nurse})
    ]
    assert (await audit_actions(sessions, case_id)).count("visit.create") == 2


async def test_a_nurse_makes_an_acute_visit_for_herself_only(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    alert = str(uuid.uuid4())
    url = f"/cases/{case_id}/visits"

    acute = await client.post(
        url, json=_window(NOW, kind="acute", reason="Uro", alert_id=alert), headers=write_headers(world.nurse_a)
    )
    assert acute.status_code == 201, acute.text
    assert acute.json()["assignee"]["id"] == str(world.nurse_a.user_id)
    assert acute.json()["kind"] == "acute" and acute.json()["alert_id"] == alert

    ad_hoc = await client.post(
        url, json=_window(NOW, kind="ad_hoc", reason="Uro"), headers=write_headers(world.nurse_a)
    )
    assert ad_hoc.status_code == 403 and ad_hoc.json()["field"] == "kind"
    for_other = await client.post(
        url,
        json=_window(NOW, kind="acute", reason="Uro", assigned_to=str(world.nurse_b.user_id)),
        headers=write_headers(world.nurse_a),
    )
    assert for_other.status_code == 403 and for_other.json()["field"] == "assigned_to"
    other_district = await client.post(
        url, json=_window(NOW, kind="acute", reason="Uro"), headers=write_headers(world.nurse_b)
    )
    assert other_district.status_code == 404
    unit = await client.post(url, json=_window(NOW, kind="acute", reason="Uro"), headers=write_headers(world.unit))
    assert unit.status_code == 403
    assert len(await _board(client, world)) == 1


async def test_bad_visit_requests_are_refused_naming_the_field_and_write_nothing(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    url = f"/cases/{case_id}/visits"
    good = _window(local(WEDNESDAY, 21), kind="ad_hoc", reason="Ekstra besøg")
    cases: list[tuple[dict[str, Any], int, str]] = [
        (good | {"window_end": good["window_start"]}, 422, "window_end"),
        (_window(local(WEDNESDAY, 21), minutes=13 * 60, kind="ad_hoc", reason="x"), 422, "window_end"),
        (_window(NOW - timedelta(days=2), kind="ad_hoc", reason="x"), 422, "window_start"),
        (_window(NOW + timedelta(days=40), kind="ad_hoc", reason="x"), 422, "window_start"),
        (good | {"window_start": "2026-11-18T21:00:00"}, 400, "window_start"),
        (good | {"alert_id": str(uuid.uuid4())}, 422, "alert_id"),
        (good | {"kind": "planned"}, 422, "kind"),
        (good | {"kind": "urgent"}, 400, "kind"),
        (good | {"reason": "  "}, 422, "reason"),
        (good | {"assigned_to": str(world.nurse_b.user_id)}, 422, "assigned_to"),
        (good | {"colour": "red"}, 400, "colour"),
    ]
    for body, status, field in cases:
        response = await client.post(url, json=body, headers=write_headers(world.coordinator))
        assert response.status_code == status, (field, response.text)
        assert response.json()["field"] == field, response.text
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Event).where(Event.case_id == case_id)) == 0
    assert await _board(client, world) == {}


async def test_no_visit_is_made_on_a_case_that_has_ended(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock, phase="terminal")
    death = {"died_at": (NOW - timedelta(hours=1)).isoformat(), "place": "home", "gp_informed": True}
    assert (
        await client.post(f"/cases/{case_id}/death", json=death, headers=write_headers(world.nurse_a))
    ).status_code == 201
    response = await client.post(
        f"/cases/{case_id}/visits",
        json=_window(local(WEDNESDAY, 21), kind="ad_hoc", reason="Efterladte"),
        headers=write_headers(world.coordinator),
    )
    assert response.status_code == 422 and response.json()["rule"] == "case_ended"
