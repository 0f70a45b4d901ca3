"""A nurse reads and writes only her own districts' visits; other roles do not use the phone's API."""

from __future__ import annotations

from typing import Any

from backend.clock import Clock
from backend.visits.models import MedicineGiven, SymptomAssessment, VisitNote
from tests.cases.helpers import Client, Sessions, case_page, count_rows
from tests.factories import World
from tests.mobile.helpers import add_visit, at, check_in, my_shift, new_case, phone_post, visit_row


async def test_a_nurse_cannot_read_or_write_another_districts_visits(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    await check_in(client, world.nurse_a, clock, visit_id, minutes=-10)
    given = await phone_post(
        client,
        world.nurse_a,
        f"/visits/{visit_id}/medicine-given",
        {
            "drug": "Morfin",
            "dose": 5,
            "unit": "mg",
            "route": "subcutaneous",
            "given_at": at(clock, -5),
            "reason": "Smerter",
        },
    )
    assert given.status_code == 201, given.text

    writes: list[tuple[str, dict[str, Any]]] = [
        (f"/visits/{visit_id}/check-in", {"device_time": at(clock)}),
        (f"/visits/{visit_id}/check-out", {"device_time": at(clock)}),
        (f"/visits/{visit_id}/scores", {"instrument": "ESAS-r", "scores": {"pain": 2}, "recorded_at": at(clock)}),
        (
            f"/visits/{visit_id}/medicine-given",
            {"drug": "Morfin", "dose": 5, "unit": "mg", "route": "oral", "given_at": at(clock), "reason": "Smerter"},
        ),
        (f"/visits/{visit_id}/notes", {"text": "Ikke mit distrikt"}),
        (f"/visits/{visit_id}/death", {"died_at": at(clock, -1), "gp_informed": False}),
        (f"/medicine-given/{given.json()['id']}/effect", {"effect": "God"}),
    ]
    for path, body in writes:
        response = await phone_post(client, world.nurse_b, path, body)
        assert response.status_code == 404, (path, response.text)
        assert "Karen" not in response.text

    assert (await my_shift(client, world.nurse_b))["visits"] == []
    assert (await visit_row(sessions, visit_id)).status == "under_way"
    assert await count_rows(sessions, SymptomAssessment, case_id) == 0
    assert await count_rows(sessions, VisitNote, case_id) == 0
    assert await count_rows(sessions, MedicineGiven, case_id) == 1
    assert (await case_page(client, world, case_id))["status"] == "referred"


async def test_roles_without_visits_are_refused_the_phones_writes(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    for login in (world.admin, world.unit):
        response = await phone_post(client, login, f"/visits/{visit_id}/check-in", {"device_time": at(clock)})
        assert response.status_code == 403
        sync = await client.post("/mobile/v1/sync", json={"operations": []}, headers=login.headers)
        assert sync.status_code == 403
    # A coordinator of the municipality sees the visit, but it is nurse A's to work.
    response = await phone_post(client, world.coordinator, f"/visits/{visit_id}/check-in", {"device_time": at(clock)})
    assert response.status_code == 409 and response.json()["rule"] == "assigned_to_other"
    assert (await visit_row(sessions, visit_id)).status == "planned"
