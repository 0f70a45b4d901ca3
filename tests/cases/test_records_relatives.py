"""Relatives, children among them: support for children, one primary contact, removal."""

from __future__ import annotations

from typing import Any

from backend.cases.models import Relative
from backend.clock import Clock
from tests.cases.helpers import (
    Client,
    Sessions,
    add_record,
    audit_details,
    case_page,
    case_rows,
    terminal_case,
    write_headers,
)
from tests.factories import World


def _relative(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Mette Hansen",
        "relation": "datter",
        "phone": "+45 22 33 44 55",
        "primary_contact": False,
        "lives_with_citizen": False,
        "consent_to_information": True,
    }
    return body | overrides


async def test_a_child_without_support_is_flagged_until_support_is_offered(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    child = await add_record(
        client,
        world,
        case_id,
        "relatives",
        _relative(name="Emil", relation="barnebarn", phone=None, birth_year=clock.today().year - 10),
    )
    assert child["is_child"] is True and child["age"] == 10
    assert child["needs_support_offer"] is True

    page = await case_page(client, world, case_id)
    assert "child_without_support" in page["flags"]
    assert [r["name"] for r in page["relatives"] if r["needs_support_offer"]] == ["Emil"]

    patched = await client.patch(
        f"/cases/{case_id}/relatives/{child['id']}",
        json={"support_offered": True, "talks_with_child": "Skolens AKT-lærer"},
        headers=write_headers(world.nurse_a),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["needs_support_offer"] is False
    assert patched.json()["name"] == "Emil"  # fields not sent are left alone

    page = await case_page(client, world, case_id)
    assert "child_without_support" not in page["flags"]
    assert page["relatives"][0]["talks_with_child"] == "Skolens AKT-lærer"

    details = await audit_details(sessions, case_id, "case.relative.update")
    assert details == [{"relative_id": child["id"], "fields": ["support_offered", "talks_with_child"]}]


async def test_an_adult_relative_is_not_a_child(client: Client, world: World, clock: Clock) -> None:
    case_id = await terminal_case(client, world, clock)
    adult = await add_record(client, world, case_id, "relatives", _relative(birth_year=clock.today().year - 40))
    assert adult["is_child"] is False and adult["needs_support_offer"] is False
    page = await case_page(client, world, case_id)
    assert "child_without_support" not in page["flags"]


async def test_there_is_at_most_one_primary_contact(client: Client, world: World, clock: Clock) -> None:
    case_id = await terminal_case(client, world, clock)
    wife = await add_record(
        client, world, case_id, "relatives", _relative(name="Inge", relation="ægtefælle", primary_contact=True)
    )
    son = await add_record(
        client, world, case_id, "relatives", _relative(name="Peter", relation="søn", primary_contact=True)
    )

    page = await case_page(client, world, case_id)
    assert {r["name"]: r["primary_contact"] for r in page["relatives"]} == {"Inge": False, "Peter": True}

    patched = await client.patch(
        f"/cases/{case_id}/relatives/{wife['id']}", json={"primary_contact": True}, headers=write_headers(world.nurse_a)
    )
    assert patched.status_code == 200, patched.text
    page = await case_page(client, world, case_id)
    assert {r["name"]: r["primary_contact"] for r in page["relatives"]} == {"Inge": True, "Peter": False}
    assert son["id"] != wife["id"]


async def test_a_removed_relative_leaves_the_page_but_stays_on_record(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    relative = await add_record(client, world, case_id, "relatives", _relative())
    removed = await client.post(
        f"/cases/{case_id}/relatives/{relative['id']}/remove", headers=write_headers(world.nurse_a)
    )
    assert removed.status_code == 200, removed.text

    page = await case_page(client, world, case_id)
    assert page["relatives"] == []
    [row] = await case_rows(sessions, Relative, case_id, Relative.created_at)
    assert row.removed_at is not None

    again = await client.post(
        f"/cases/{case_id}/relatives/{relative['id']}/remove", headers=write_headers(world.nurse_a)
    )
    assert again.status_code == 409
    patched = await client.patch(
        f"/cases/{case_id}/relatives/{relative['id']}", json={"phone": None}, headers=write_headers(world.nurse_a)
    )
    assert patched.status_code == 404


async def test_a_childs_support_can_be_recorded_after_the_death(client: Client, world: World, clock: Clock) -> None:
    case_id = await terminal_case(client, world, clock)
    child = await add_record(
        client, world, case_id, "relatives", _relative(name="Sofie", birth_year=clock.today().year - 7)
    )
    died = await client.post(
        f"/cases/{case_id}/death",
        json={"died_at": clock.now().isoformat(), "place": "home", "gp_informed": True},
        headers=write_headers(world.nurse_a),
    )
    assert died.status_code == 201, died.text
    patched = await client.patch(
        f"/cases/{case_id}/relatives/{child['id']}",
        json={"support_offered": True},
        headers=write_headers(world.nurse_a),
    )
    assert patched.status_code == 200, patched.text
    page = await case_page(client, world, case_id)
    assert page["relatives"][0]["support_offered"] is True


async def test_bad_relative_input_is_refused_naming_the_field_and_nothing_is_written(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    bad_inputs = [
        (_relative(birth_year=1899), 422, "birth_year"),
        (_relative(birth_year=clock.today().year + 1), 422, "birth_year"),
        (_relative(relation="r" * 61), 400, "relation"),
        (_relative(phone="call me"), 400, "phone"),
        (_relative(primary_contact="yes"), 400, "primary_contact"),
        (_relative(cpr="0101501234"), 400, "cpr"),
        ({k: v for k, v in _relative().items() if k != "consent_to_information"}, 400, "consent_to_information"),
        (_relative(name="   "), 422, "name"),
    ]
    for body, status, field in bad_inputs:
        response = await client.post(f"/cases/{case_id}/relatives", json=body, headers=write_headers(world.nurse_a))
        assert response.status_code == status, (field, response.text)
        assert response.json()["field"] == field, response.text
    assert await case_rows(sessions, Relative, case_id, Relative.created_at) == []

    relative = await add_record(client, world, case_id, "relatives", _relative())
    bad_patches: list[tuple[dict[str, Any], int, str]] = [
        ({}, 422, "$"),
        ({"name": None}, 400, "name"),
        ({"birth_year": 3000}, 422, "birth_year"),
        ({"nickname": "Mette"}, 400, "nickname"),
    ]
    for patch_body, status, field in bad_patches:
        response = await client.patch(
            f"/cases/{case_id}/relatives/{relative['id']}", json=patch_body, headers=write_headers(world.nurse_a)
        )
        assert response.status_code == status, (patch_body, response.text)
        assert response.json()["field"] == field, response.text
    [row] = await case_rows(sessions, Relative, case_id, Relative.created_at)
    assert (row.name, row.birth_year) == ("Mette Hansen", None)
