"""The auditor's questions: who read or changed this case, and what did this person do."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import create_case
from tests.factories import World, build_world

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def other(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> World:
    return await build_world(sessions, settings, clock)


async def test_the_admin_sees_who_read_and_changed_a_case_newest_first(
    client: Client, world: World, clock: Clock
) -> None:
    case_id = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]
    await client.get(f"/cases/{case_id}", headers=world.nurse_a.headers)
    await client.get(f"/cases/{case_id}", headers=world.key_person.headers)

    page = (await client.get(f"/audit/cases/{case_id}", headers=world.admin.headers)).json()
    assert [(e["user_id"], e["action"]) for e in page["items"]] == [
        (str(world.key_person.user_id), "case.read"),
        (str(world.nurse_a.user_id), "case.read"),
        (str(world.coordinator.user_id), "case.create"),
    ]
    assert all(e["user_name"] == "Test Person" and e["request_id"] for e in page["items"])
    assert page["next_before_id"] is None

    first = (await client.get(f"/audit/cases/{case_id}", params={"limit": 2}, headers=world.admin.headers)).json()
    rest = await client.get(
        f"/audit/cases/{case_id}",
        params={"limit": 2, "before_id": first["next_before_id"]},
        headers=world.admin.headers,
    )
    # The first look at the log is in the log now, newest.
    assert [e["action"] for e in first["items"] + rest.json()["items"]] == [
        "audit.read",
        "case.read",
        "case.read",
        "case.create",
    ]


async def test_reading_the_audit_log_is_itself_logged(client: Client, world: World, clock: Clock) -> None:
    case_id = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]
    await client.get(f"/audit/cases/{case_id}", headers=world.admin.headers)
    mine = (await client.get(f"/audit/users/{world.admin.user_id}", headers=world.admin.headers)).json()
    assert [(e["action"], e["case_id"]) for e in mine["items"]] == [("audit.read", case_id)]
    again = (await client.get(f"/audit/users/{world.admin.user_id}", headers=world.admin.headers)).json()
    newest = again["items"][0]
    assert (newest["action"], newest["subject_user_id"]) == ("audit.read", str(world.admin.user_id))


async def test_a_persons_actions_across_cases(client: Client, world: World, clock: Clock) -> None:
    first = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]
    second = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]
    await client.get(f"/cases/{first}", headers=world.nurse_a.headers)
    await client.get(f"/cases/{second}", headers=world.nurse_a.headers)
    page = (await client.get(f"/audit/users/{world.nurse_a.user_id}", headers=world.admin.headers)).json()
    assert [(e["action"], e["case_id"]) for e in page["items"]] == [("case.read", second), ("case.read", first)]

    # The unit serves other municipalities too: its staff's trail is its own administrator's to read.
    unit_staff = await client.get(f"/audit/users/{world.unit.user_id}", headers=world.admin.headers)
    assert unit_staff.status_code == 404


async def test_only_the_municipalitys_admin_reads_its_audit_log(
    client: Client, world: World, other: World, clock: Clock
) -> None:
    case_id = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]
    assert (await client.get(f"/audit/cases/{case_id}", headers=other.admin.headers)).status_code == 404
    assert (await client.get(f"/audit/users/{world.nurse_a.user_id}", headers=other.admin.headers)).status_code == 404
    for login in (world.coordinator, world.nurse_a, world.key_person, world.unit):
        assert (await client.get(f"/audit/cases/{case_id}", headers=login.headers)).status_code == 403


async def test_no_endpoint_changes_or_deletes_audit_rows(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    audit_methods = {method for path, item in paths.items() if path.startswith("/audit") for method in item}
    assert audit_methods == {"get"}
