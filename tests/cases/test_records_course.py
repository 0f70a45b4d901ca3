"""The care team, the referral's deadlines and the action plan, as the case page shows them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from backend.cases.models import ActionPlan
from backend.clock import Clock
from backend.config import Settings
from backend.people.models import User
from tests.cases.helpers import (
    Client,
    Sessions,
    audit_details,
    case_page,
    case_row,
    count_rows,
    terminal_case,
    write_headers,
)
from tests.factories import World, build_world

# ---- care team ---------------------------------------------------------------------------------


async def test_the_care_team_is_shown_with_names_and_a_put_replaces_it(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    body = {
        "contact_person_id": str(world.nurse_a.user_id),
        "key_person_id": str(world.key_person.user_id),
        "gp_name": "Læge Jensen",
        "gp_phone": "+45 33 11 22 33",
        "hospital_department": "Onkologisk afdeling, Rigshospitalet",
        "palliative_team_id": str(world.team_id),
    }
    response = await client.put(f"/cases/{case_id}/care-team", json=body, headers=write_headers(world.coordinator))
    assert response.status_code == 200, response.text
    assert response.json()["contact_person"] == {"id": str(world.nurse_a.user_id), "name": "Test Person"}

    team = (await case_page(client, world, case_id))["care_team"]
    assert team["contact_person"]["id"] == str(world.nurse_a.user_id)
    assert team["key_person"]["id"] == str(world.key_person.user_id)
    assert team["palliative_team"]["id"] == str(world.team_id)
    assert team["palliative_team"]["name"].startswith("Palliativt team")
    assert team["gp_name"] == "Læge Jensen"

    replaced = await client.put(
        f"/cases/{case_id}/care-team",
        json={"contact_person_id": str(world.coordinator.user_id)},
        headers=write_headers(world.coordinator),
    )
    assert replaced.status_code == 200, replaced.text
    team = (await case_page(client, world, case_id))["care_team"]
    assert team["contact_person"]["id"] == str(world.coordinator.user_id)
    assert (team["key_person"], team["gp_name"], team["palliative_team"]) == (None, None, None)

    assert await audit_details(sessions, case_id, "case.care_team.set") == [
        {
            "fields": [
                "contact_person_id",
                "gp_name",
                "gp_phone",
                "hospital_department",
                "key_person_id",
                "palliative_team_id",
            ]
        },
        {
            "fields": [
                "contact_person_id",
                "gp_name",
                "gp_phone",
                "hospital_department",
                "key_person_id",
                "palliative_team_id",
            ]
        },
    ]


async def test_care_team_members_must_belong_to_the_case_and_the_error_names_the_field(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings
) -> None:
    case_id = await terminal_case(client, world, clock)
    other = await build_world(sessions, settings, clock)
    async with sessions() as session, session.begin():
        await session.execute(update(User).where(User.id == world.nurse_b.user_id).values(deleted_at=clock.now()))

    bad_inputs = [
        ({"contact_person_id": str(other.nurse_a.user_id)}, "contact_person_id"),  # another municipality
        ({"contact_person_id": str(world.nurse_b.user_id)}, "contact_person_id"),  # deleted
        ({"contact_person_id": str(world.admin.user_id)}, "contact_person_id"),  # no care giver
        ({"contact_person_id": str(world.unit.user_id)}, "contact_person_id"),  # the unit is not the municipality
        ({"contact_person_id": str(uuid.uuid4())}, "contact_person_id"),
        ({"key_person_id": str(world.coordinator.user_id)}, "key_person_id"),  # not a key person
        ({"key_person_id": str(other.key_person.user_id)}, "key_person_id"),
        ({"palliative_team_id": str(world.unit_id)}, "palliative_team_id"),  # a unit, not a team
        ({"palliative_team_id": str(other.team_id)}, "palliative_team_id"),  # does not serve this municipality
    ]
    for body, field in bad_inputs:
        response = await client.put(f"/cases/{case_id}/care-team", json=body, headers=write_headers(world.coordinator))
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field
    bad_phone = await client.put(
        f"/cases/{case_id}/care-team", json={"gp_phone": "ring til lægen"}, headers=write_headers(world.coordinator)
    )
    assert bad_phone.status_code == 400
    assert bad_phone.json()["field"] == "gp_phone"

    case = await case_row(sessions, case_id)
    assert (case.contact_person_id, case.key_person_id, case.palliative_team_id) == (None, None, None)
    assert await audit_details(sessions, case_id, "case.care_team.set") == []


# ---- referral deadlines ------------------------------------------------------------------------


async def test_meeting_the_deadlines_shows_them_met_on_the_page(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock, days_ago=3)
    today = clock.today()
    response = await client.patch(
        f"/cases/{case_id}/referral", json={"first_contact_on": today.isoformat()}, headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_contact"]["state"] == "met"
    assert response.json()["needs_assessment"]["met_on"] is None

    response = await client.patch(
        f"/cases/{case_id}/referral", json={"assessment_on": today.isoformat()}, headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 200, response.text
    page = await case_page(client, world, case_id)
    assert page["referral"]["first_contact"] == {
        "due": page["referral"]["first_contact"]["due"],
        "met_on": today.isoformat(),
        "state": "met",
    }
    assert page["referral"]["needs_assessment"]["state"] == "met"
    assert not [f for f in page["flags"] if f.startswith(("first_contact", "assessment"))]
    assert await audit_details(sessions, case_id, "case.referral.update") == [
        {"fields": ["first_contact_on"]},
        {"fields": ["assessment_on"]},
    ]


async def test_an_overdue_first_contact_recorded_late_is_met_late_and_no_longer_flagged(
    client: Client, world: World, clock: Clock
) -> None:
    case_id = await terminal_case(client, world, clock, days_ago=20)
    assert "first_contact_overdue" in (await case_page(client, world, case_id))["flags"]
    response = await client.patch(
        f"/cases/{case_id}/referral",
        json={"first_contact_on": clock.today().isoformat()},
        headers=write_headers(world.nurse_a),
    )
    assert response.status_code == 200, response.text
    page = await case_page(client, world, case_id)
    assert page["referral"]["first_contact"]["state"] == "met_late"
    assert "first_contact_overdue" not in page["flags"]
    assert "assessment_overdue" in page["flags"]


async def test_impossible_deadline_dates_are_refused_naming_the_field(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock, days_ago=5)
    today = clock.today()
    bad_inputs = [
        ({"first_contact_on": (today + timedelta(days=1)).isoformat()}, "first_contact_on"),
        ({"first_contact_on": (today - timedelta(days=6)).isoformat()}, "first_contact_on"),
        ({"assessment_on": today.isoformat()}, "assessment_on"),  # no first contact yet
        (
            {"first_contact_on": today.isoformat(), "assessment_on": (today - timedelta(days=1)).isoformat()},
            "assessment_on",
        ),
        ({}, "$"),
    ]
    for body, field in bad_inputs:
        response = await client.patch(f"/cases/{case_id}/referral", json=body, headers=write_headers(world.nurse_a))
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field
    bad_date = await client.patch(
        f"/cases/{case_id}/referral", json={"first_contact_on": "i går"}, headers=write_headers(world.nurse_a)
    )
    assert bad_date.status_code == 400
    assert bad_date.json()["field"] == "first_contact_on"
    case = await case_row(sessions, case_id)
    assert (case.first_contact_on, case.assessment_on) == (None, None)


# ---- action plan -------------------------------------------------------------------------------


def _plan(clock: Clock, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "needs": "Smerter om natten; ægtefælle udmattet",
        "purpose": "Ro og lindring i eget hjem",
        "place": "Eget hjem",
        "responsibilities": [
            {"part": "Smertebehandling", "responsible": "Egen læge"},
            {"part": "Nattevagt", "responsible": "Hjemmesygeplejen"},
        ],
        "evaluate_on": (clock.today() + timedelta(days=14)).isoformat(),
        "evaluated_by": "Kontaktperson",
    }
    return body | overrides


async def test_each_plan_is_a_new_version_and_the_history_is_kept(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    first = await client.put(f"/cases/{case_id}/action-plan", json=_plan(clock), headers=write_headers(world.nurse_a))
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    second = await client.put(
        f"/cases/{case_id}/action-plan",
        json=_plan(clock, purpose="Lindring, også af åndenød", other_departments="Palliativt team"),
        headers=write_headers(world.key_person),
    )
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 2

    plan = (await case_page(client, world, case_id))["action_plan"]
    assert plan["version"] == 2
    assert plan["purpose"] == "Lindring, også af åndenød"
    assert plan["responsibilities"][1] == {"part": "Nattevagt", "responsible": "Hjemmesygeplejen"}
    assert plan["created_by"] == str(world.key_person.user_id)

    versions = await client.get(f"/cases/{case_id}/action-plan/versions", headers=world.nurse_a.headers)
    assert versions.status_code == 200, versions.text
    assert [(v["version"], v["purpose"]) for v in versions.json()] == [
        (2, "Lindring, også af åndenød"),
        (1, "Ro og lindring i eget hjem"),
    ]
    assert len(await audit_details(sessions, case_id, "case.action_plan.create")) == 2
    assert len(await audit_details(sessions, case_id, "case.action_plan.read")) == 1


async def test_a_bad_plan_is_refused_naming_the_field_and_no_version_is_written(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    many = [{"part": f"Del {i}", "responsible": "Hjemmesygeplejen"} for i in range(21)]
    bad_inputs = [
        (_plan(clock, responsibilities=[]), 400, "responsibilities"),
        (_plan(clock, responsibilities=many), 400, "responsibilities"),
        (
            _plan(clock, responsibilities=[{"part": "Smerter", "responsible": "r" * 201}]),
            400,
            "responsibilities[0].responsible",
        ),
        (_plan(clock, responsibilities=[{"part": "Smerter"}]), 400, "responsibilities[0]"),
        (
            _plan(clock, responsibilities=[{"part": "Smerter", "responsible": "x", "when": "nu"}]),
            400,
            "responsibilities[0]",
        ),
        (
            _plan(clock, responsibilities=[{"part": "x", "responsible": "y"}, {"part": " ", "responsible": "y"}]),
            422,
            "responsibilities[1].part",
        ),
        (_plan(clock, evaluate_on=(clock.today() - timedelta(days=1)).isoformat()), 422, "evaluate_on"),
        (_plan(clock, place="p" * 301), 400, "place"),
        (_plan(clock, version=7), 400, "version"),
    ]
    for body, status, field in bad_inputs:
        response = await client.put(f"/cases/{case_id}/action-plan", json=body, headers=write_headers(world.nurse_a))
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field, response.text
    count = await count_rows(sessions, ActionPlan, case_id)
    assert count == 0
    assert (await case_page(client, world, case_id))["action_plan"] is None
