"""What a signed-in person sees about herself and the organisations she works with."""

from __future__ import annotations

from tests.factories import World
from tests.people.helpers import Client


async def test_me_shows_role_organisation_and_districts(client: Client, world: World) -> None:
    response = await client.get("/me", headers=world.nurse_a.headers)

    assert response.status_code == 200
    me = response.json()
    assert me["email"] == world.nurse_a.email
    assert me["role"] == "nurse"
    assert me["organisation"]["id"] == str(world.district_a)
    assert me["organisation"]["kind"] == "district"
    assert me["municipality_id"] == str(world.municipality_id)
    assert me["district_ids"] == [str(world.district_a)]
    assert "password" not in response.text and "hash" not in response.text


async def test_me_without_a_token_asks_for_one(client: Client) -> None:
    response = await client.get("/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_token_in_the_url_is_refused(client: Client, world: World) -> None:
    response = await client.get("/me", params={"access_token": world.nurse_a.token})
    assert response.status_code == 400


async def test_organisations_are_the_municipality_its_districts_and_its_palliative_teams(
    client: Client, world: World, other_world: World
) -> None:
    response = await client.get("/organisations", headers=world.coordinator.headers)

    assert response.status_code == 200
    kinds = {o["id"]: o["kind"] for o in response.json()}
    assert kinds == {
        str(world.municipality_id): "municipality",
        str(world.district_a): "district",
        str(world.district_b): "district",
        str(world.unit_id): "palliative_unit",
        str(world.team_id): "palliative_team",
    }
    assert response.json()[0]["kind"] == "municipality"
    assert str(other_world.municipality_id) not in kinds


async def test_the_palliative_unit_sees_the_municipalities_it_serves(
    client: Client, world: World, other_world: World
) -> None:
    response = await client.get("/organisations", headers=world.unit.headers)

    ids = {o["id"] for o in response.json()}
    assert {str(world.unit_id), str(world.municipality_id), str(world.district_a)} <= ids
    assert str(other_world.district_a) not in ids
