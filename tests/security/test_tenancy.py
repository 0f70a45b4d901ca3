"""An attacker in one municipality reaching into the next one, which shares its palliative unit.

`world` and `neighbour` are two municipalities served by one Afdeling for Lindring (neighbour.unit
is world.unit). Every test looks from one side of the border for something of the other side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.cases.models import Citizen
from backend.clock import Clock
from backend.config import Settings
from backend.people.models import Role
from tests.cases.helpers import Client, case_body, create_case, valid_cpr, write_headers
from tests.factories import Login, World, add_user
from tests.security.test_every_endpoint import guarded_routes
from tests.serving import serving

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def unit_admin(sessions: Sessions, settings: Settings, clock: Clock, world: World) -> Login:
    """The palliative unit's own administrator, as the operator creates her from the command line."""
    async with sessions() as session, session.begin():
        return await add_user(session, settings, clock, role=Role.ADMIN, organisation_id=world.unit_id)


def unit_login_body(organisation_id: uuid.UUID) -> dict[str, object]:
    return {
        "email": f"lindring-{uuid.uuid4().hex[:10]}@test.lindra.dk",
        "full_name": "Lone Lindring",
        "role": "palliative_unit",
        "organisation_id": str(organisation_id),
        "district_ids": [],
    }


async def _neighbours_referred_case(client: Client, neighbour: World, clock: Clock) -> str:
    """A case of the neighbour's, referred to the shared unit and read there."""
    case_id = str((await create_case(client, neighbour.coordinator, neighbour.district_a, clock.today()))["id"])
    referred = await client.post(f"/cases/{case_id}/unit-referral", headers=write_headers(neighbour.coordinator))
    assert referred.status_code == 200, referred.text
    assert (await client.get(f"/cases/{case_id}", headers=neighbour.unit.headers)).status_code == 200
    return case_id


async def test_a_municipal_admin_can_neither_mint_nor_see_nor_delete_a_palliative_unit_login(
    client: Client, world: World, neighbour: World, unit_admin: Login
) -> None:
    for provider in (world.unit_id, world.team_id):
        minted = await client.post("/admin/users", json=unit_login_body(provider), headers=write_headers(world.admin))
        assert minted.status_code == 422, minted.text
        assert minted.json()["field"] == "role"

    listed = {u["id"] for u in (await client.get("/admin/users", headers=world.admin.headers)).json()}
    assert str(world.unit.user_id) not in listed
    unit_user = f"/admin/users/{world.unit.user_id}"
    assert (await client.delete(unit_user, headers=write_headers(world.admin))).status_code == 404
    changed = await client.patch(unit_user, json={"full_name": "Ny"}, headers=write_headers(world.admin))
    assert changed.status_code == 404

    # The unit's own administrator manages the unit's logins, and only those.
    created = await client.post("/admin/users", json=unit_login_body(world.unit_id), headers=write_headers(unit_admin))
    assert created.status_code == 201, created.text
    hers = {u["id"] for u in (await client.get("/admin/users", headers=unit_admin.headers)).json()}
    assert hers == {str(world.unit.user_id), str(unit_admin.user_id), created.json()["id"]}
    nurse = await client.post(
        "/admin/users",
        json=unit_login_body(world.unit_id) | {"role": "nurse", "district_ids": [str(world.district_a)]},
        headers=write_headers(unit_admin),
    )
    assert nurse.status_code == 422
    neighbours_nurse = f"/admin/users/{neighbour.nurse_a.user_id}"
    assert (await client.delete(neighbours_nurse, headers=write_headers(unit_admin))).status_code == 404
    deleted = await client.delete(f"/admin/users/{created.json()['id']}", headers=write_headers(unit_admin))
    assert deleted.status_code == 200
    assert (await client.get("/cases", headers=unit_admin.headers)).status_code == 403


async def test_a_municipal_admins_audit_log_shows_nothing_of_the_neighbours_cases(
    client: Client, world: World, neighbour: World, unit_admin: Login, clock: Clock
) -> None:
    theirs = await _neighbours_referred_case(client, neighbour, clock)
    ours = str((await create_case(client, world.coordinator, world.district_a, clock.today()))["id"])
    await client.post(f"/cases/{ours}/unit-referral", headers=write_headers(world.coordinator))
    assert (await client.get(f"/cases/{ours}", headers=world.unit.headers)).status_code == 200

    unit_trail = await client.get(f"/audit/users/{world.unit.user_id}", headers=world.admin.headers)
    assert unit_trail.status_code == 404 and theirs not in unit_trail.text
    assert (await client.get(f"/audit/cases/{theirs}", headers=world.admin.headers)).status_code == 404
    own_trail = await client.get(f"/audit/users/{world.admin.user_id}", headers=world.admin.headers)
    assert own_trail.status_code == 200 and theirs not in own_trail.text
    # Who read our citizen's record is ours to know, the unit's staff included.
    page = (await client.get(f"/audit/cases/{ours}", headers=world.admin.headers)).json()
    assert (str(world.unit.user_id), "case.read") in {(e["user_id"], e["action"]) for e in page["items"]}

    # The unit's administrator follows her own staff across every municipality they serve.
    trail = await client.get(f"/audit/users/{world.unit.user_id}", headers=unit_admin.headers)
    assert trail.status_code == 200
    assert {theirs, ours} <= {e["case_id"] for e in trail.json()["items"]}
    assert (await client.get(f"/audit/users/{world.nurse_a.user_id}", headers=unit_admin.headers)).status_code == 404


async def test_registering_a_cpr_with_a_case_next_door_answers_as_for_a_fresh_cpr_and_changes_nothing_there(
    client: Client, world: World, neighbour: World, sessions: Sessions, clock: Clock
) -> None:
    open_there, closed_there = valid_cpr(), valid_cpr()
    await create_case(client, neighbour.coordinator, neighbour.district_a, clock.today(), cpr=open_there, name="Nabo")
    closed = await create_case(
        client, neighbour.coordinator, neighbour.district_a, clock.today(), cpr=closed_there, name="Nabo"
    )
    shut = await client.post(
        f"/cases/{closed['id']}/status", json={"status": "closed"}, headers=write_headers(neighbour.coordinator)
    )
    assert shut.status_code == 200

    answers = [
        await client.post(
            "/cases",
            json=case_body(world.district_a, clock.today(), cpr=cpr, name="Vores"),
            headers=write_headers(world.coordinator),
        )
        for cpr in (valid_cpr(), open_there, closed_there)
    ]
    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    assert len({frozenset(a.json()) for a in answers}) == 1

    async with sessions() as session:
        found = (await session.execute(select(Citizen.cpr, Citizen.municipality_id, Citizen.name))).all()
    for cpr in (open_there, closed_there):
        assert {(m, name) for c, m, name in found if c == cpr} == {
            (neighbour.municipality_id, "Nabo"),
            (world.municipality_id, "Vores"),
        }


async def test_eight_simultaneous_registrations_of_one_new_cpr_give_one_case_and_no_server_error(
    world: World, settings: Settings, clock: Clock
) -> None:
    body = case_body(world.district_a, clock.today())
    app = create_app(dataclasses.replace(settings, housekeeping=False), clock)
    async with serving(app) as (host, port), httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
        answers = await asyncio.gather(
            *(http.post("/cases", json=body, headers=write_headers(world.coordinator)) for _ in range(8))
        )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7, [a.text for a in answers]
    refusals = {(a.json()["field"], a.json()["rule"]) for a in answers if a.status_code == 409}
    assert refusals == {("cpr", "one_open_case")}


@pytest.mark.parametrize(
    "cpr",
    [
        "０１０１５０１２３４",  # full-width
        "٠١٠١٥٠١٢٣٤",  # Arabic-Indic
        "⁰¹⁰¹⁵⁰¹²³⁴",  # superscripts
        "010150-１２３４",  # mixed
        "010150.1234",  # a dot: a date typed in the wrong field more likely than a CPR
        "0101501234x",
    ],
)
async def test_a_cpr_of_anything_but_ascii_digits_is_refused_naming_the_field(
    client: Client, world: World, clock: Clock, cpr: str
) -> None:
    answer = await client.post(
        "/cases", json=case_body(world.district_a, clock.today(), cpr=cpr), headers=write_headers(world.coordinator)
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "cpr"


async def test_the_separators_people_type_in_a_cpr_are_trimmed(client: Client, world: World, clock: Clock) -> None:
    digits = valid_cpr()
    first = await create_case(client, world.coordinator, world.district_a, clock.today(), cpr=digits)
    assert first["cpr_masked"] == f"{digits[:6]}-XXXX"
    for typed in (
        f" {digits[:6]}-{digits[6:]} ",
        f"{digits[:6]} {digits[6:]}",
        f"{digits[:2]} {digits[2:4]} {digits[4:]}",
    ):
        again = await client.post(
            "/cases",
            json=case_body(world.district_a, clock.today(), cpr=typed),
            headers=write_headers(world.coordinator),
        )
        assert (again.status_code, again.json()["rule"]) == (409, "one_open_case"), typed


async def test_a_providers_admin_reads_no_health_record_and_breaks_no_route(
    app: Litestar, client: Client, world: World, unit_admin: Login
) -> None:
    answers = {
        path: (await client.get(path, headers=unit_admin.headers)).status_code
        for method, path, roles in guarded_routes(app)
        if method == "GET" and Role.ADMIN in roles
    }
    assert answers and all(status < 500 for status in answers.values()), answers
    for health_records in ("/cases", "/visits"):
        assert (await client.get(health_records, headers=unit_admin.headers)).status_code == 403
