"""User administration: an admin manages her municipality's people, and nothing else."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit.models import AuditEntry
from backend.people.models import User
from tests.factories import PASSWORD, World
from tests.mail import MailServer
from tests.people.helpers import Client, bearer, choose_password, fresh_email, login, login_ok, new_key, with_key

NEW_PASSWORD = "a long enough secret 42"


def nurse_body(world: World, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": fresh_email(),
        "full_name": "Karen Sygeplejerske",
        "role": "nurse",
        "organisation_id": str(world.district_a),
        "district_ids": [str(world.district_a)],
        "phone": "+45 12 34 56 78",
        "palliative_skilled": True,
    }
    body.update(changes)
    return body


async def _audit(sessions: async_sessionmaker[AsyncSession], subject: uuid.UUID | str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject_user_id == uuid.UUID(str(subject)))
            .order_by(AuditEntry.id)
        )
        return list(rows)


async def _users_with_email(sessions: async_sessionmaker[AsyncSession], email: str) -> int:
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(User).where(User.email == email))
        return int(count or 0)


# ---- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["nurse_a", "coordinator", "key_person", "unit"])
async def test_only_admins_reach_user_administration(client: Client, world: World, who: str) -> None:
    headers = world.users[who].headers

    listing = await client.get("/admin/users", headers=headers)
    create = await client.post("/admin/users", json=nurse_body(world), headers=with_key(headers))

    assert listing.status_code == create.status_code == 403
    assert listing.json()["title"] == "Forbidden"


async def test_admin_lists_her_municipality_only(client: Client, world: World, other_world: World) -> None:
    response = await client.get("/admin/users", headers=world.admin.headers)

    assert response.status_code == 200
    ids = {u["id"] for u in response.json()}
    mine = {world.users[k].user_id for k in ("nurse_a", "nurse_b", "coordinator", "key_person", "admin")}
    assert ids == {str(i) for i in mine}
    nurse = next(u for u in response.json() if u["id"] == str(world.nurse_a.user_id))
    assert nurse["district_ids"] == [str(world.district_a)]
    assert "password" not in response.text


# ---- create ----------------------------------------------------------------------------------


async def test_admin_creates_a_nurse_who_can_then_log_in(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession], mail_server: MailServer
) -> None:
    body = nurse_body(world)

    response = await client.post("/admin/users", json=body, headers=with_key(world.admin.headers))

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["role"] == "nurse"
    assert created["district_ids"] == [str(world.district_a)]
    assert created["palliative_skilled"] is True
    assert "password" not in created
    assert created["awaiting_code"] is True
    assert created["invitation"]["delivery"] == "email"
    # She, not the admin, chooses her password, with the code mailed to her alone.
    assert (await login(client, body["email"], NEW_PASSWORD)).status_code == 401
    chosen = await choose_password(client, mail_server.code_for(body["email"]), NEW_PASSWORD)
    assert chosen.status_code == 200, chosen.text
    logged_in = await login_ok(client, body["email"], NEW_PASSWORD)
    assert logged_in["user"]["id"] == created["id"]
    listing = await client.get("/admin/users", headers=world.admin.headers)
    assert created["id"] in {u["id"] for u in listing.json()}
    assert await _audit(sessions, created["id"]) == ["user.create"]


async def test_a_retried_create_answers_the_same_and_creates_one_user(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = nurse_body(world)
    headers = with_key(world.admin.headers, new_key())

    first = await client.post("/admin/users", json=body, headers=headers)
    again = await client.post("/admin/users", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert await _users_with_email(sessions, body["email"]) == 1

    other = await client.post("/admin/users", json=nurse_body(world), headers=headers)
    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"


async def test_palliative_unit_staff_are_not_a_municipal_admins_to_create(
    client: Client, world: World, other_world: World
) -> None:
    refused = [
        await client.post(
            "/admin/users",
            json=nurse_body(world, role="palliative_unit", organisation_id=str(organisation), district_ids=[]),
            headers=with_key(world.admin.headers),
        )
        for organisation in (world.unit_id, world.team_id, other_world.unit_id, world.municipality_id)
    ]
    assert [(r.status_code, r.json()["field"]) for r in refused] == [(422, "role")] * 4

    in_the_unit = await client.post(
        "/admin/users",
        json=nurse_body(world, organisation_id=str(world.unit_id)),
        headers=with_key(world.admin.headers),
    )
    assert (in_the_unit.status_code, in_the_unit.json()["field"]) == (422, "organisation_id")


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"password": NEW_PASSWORD}, 400, "password"),  # an admin no longer sets passwords
        ({"email": "not-an-address"}, 422, "email"),
        ({"full_name": "   "}, 422, "full_name"),
        ({"role": "surgeon"}, 400, "role"),
        ({"phone": "call me maybe"}, 400, "phone"),
        ({"district_ids": []}, 422, "district_ids"),
        ({"district_ids": [str(uuid.uuid4())]}, 422, "district_ids"),
        ({"organisation_id": str(uuid.uuid4())}, 422, "organisation_id"),
        ({"is_superuser": True}, 400, None),
    ],
)
async def test_bad_user_input_is_refused_naming_the_field(
    client: Client,
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    changes: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    body = nurse_body(world, **changes)

    response = await client.post("/admin/users", json=body, headers=with_key(world.admin.headers))

    assert response.status_code == status, response.text
    problem = response.json()
    if field is not None:
        assert problem["field"] == field
    else:
        assert "is_superuser" in problem["detail"]
    assert await _users_with_email(sessions, body["email"]) == 0


async def test_another_municipalitys_districts_and_organisations_are_refused(
    client: Client, world: World, other_world: World
) -> None:
    foreign_district = await client.post(
        "/admin/users",
        json=nurse_body(world, district_ids=[str(world.district_a), str(other_world.district_a)]),
        headers=with_key(world.admin.headers),
    )
    foreign_org = await client.post(
        "/admin/users",
        json=nurse_body(world, organisation_id=str(other_world.district_b), district_ids=[str(world.district_b)]),
        headers=with_key(world.admin.headers),
    )

    assert foreign_district.status_code == 422
    assert foreign_district.json()["field"] == "district_ids"
    assert foreign_org.status_code == 422
    assert foreign_org.json()["field"] == "organisation_id"


async def test_an_email_in_use_is_refused_whatever_its_case(client: Client, world: World) -> None:
    response = await client.post(
        "/admin/users",
        json=nurse_body(world, email=world.nurse_b.email.upper()),
        headers=with_key(world.admin.headers),
    )

    assert response.status_code == 409
    assert response.json()["field"] == "email"


# ---- change ----------------------------------------------------------------------------------


async def test_patch_changes_only_what_was_sent(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = nurse_body(world)
    created = (await client.post("/admin/users", json=body, headers=with_key(world.admin.headers))).json()

    renamed = await client.patch(
        f"/admin/users/{created['id']}", json={"full_name": "Karen Hansen"}, headers=with_key(world.admin.headers)
    )

    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {**created, "full_name": "Karen Hansen", "invitation": None}

    moved = await client.patch(
        f"/admin/users/{created['id']}",
        json={"district_ids": [str(world.district_b)], "phone": None, "palliative_skilled": False},
        headers=with_key(world.admin.headers),
    )
    assert moved.json()["district_ids"] == [str(world.district_b)]
    assert moved.json()["phone"] is None
    assert moved.json()["palliative_skilled"] is False
    assert await _audit(sessions, created["id"]) == ["user.create", "user.update", "user.update"]


async def test_a_password_reset_mails_her_a_code_and_only_that_code_sets_a_new_password(
    client: Client, world: World, mail_server: MailServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    refused = await client.patch(
        f"/admin/users/{world.key_person.user_id}",
        json={"password": NEW_PASSWORD},
        headers=with_key(world.admin.headers),
    )
    assert (refused.status_code, refused.json()["field"]) == (400, "password")

    reset = await client.post(
        f"/admin/users/{world.key_person.user_id}/password-reset", headers=with_key(world.admin.headers)
    )

    assert reset.status_code == 200, reset.text
    assert reset.json()["purpose"] == "reset"
    assert (await login(client, world.key_person.email, PASSWORD)).status_code == 401
    chosen = await choose_password(client, mail_server.code_for(world.key_person.email), NEW_PASSWORD)
    assert chosen.status_code == 200, chosen.text
    await login_ok(client, world.key_person.email, NEW_PASSWORD)
    assert await _audit(sessions, world.key_person.user_id) == ["user.password_reset"]


async def test_a_reset_for_someone_she_does_not_manage_is_not_found(
    client: Client, world: World, other_world: World
) -> None:
    response = await client.post(
        f"/admin/users/{other_world.nurse_a.user_id}/password-reset", headers=with_key(world.admin.headers)
    )
    assert response.status_code == 404


async def test_patch_keeps_the_rules(client: Client, world: World, other_world: World) -> None:
    headers = world.admin.headers
    nurse = world.nurse_a.user_id

    no_district = await client.patch(f"/admin/users/{nurse}", json={"district_ids": []}, headers=with_key(headers))
    wrong_role = await client.patch(
        f"/admin/users/{nurse}", json={"role": "palliative_unit"}, headers=with_key(headers)
    )
    own_role = await client.patch(
        f"/admin/users/{world.admin.user_id}", json={"role": "nurse"}, headers=with_key(headers)
    )
    null_name = await client.patch(f"/admin/users/{nurse}", json={"full_name": None}, headers=with_key(headers))
    foreign = await client.patch(
        f"/admin/users/{other_world.nurse_a.user_id}", json={"full_name": "X"}, headers=with_key(headers)
    )

    assert (no_district.status_code, no_district.json()["field"]) == (422, "district_ids")
    assert (wrong_role.status_code, wrong_role.json()["field"]) == (422, "role")
    assert (own_role.status_code, own_role.json()["field"]) == (409, "role")
    assert (null_name.status_code, null_name.json()["field"]) == (400, "full_name")
    assert foreign.status_code == 404
    me = await client.get("/me", headers=world.nurse_a.headers)
    assert me.json()["role"] == "nurse" and me.json()["district_ids"] == [str(world.district_a)]


async def test_a_coordinator_made_nurse_needs_a_district(client: Client, world: World) -> None:
    target = f"/admin/users/{world.coordinator.user_id}"
    refused = await client.patch(target, json={"role": "nurse"}, headers=with_key(world.admin.headers))
    accepted = await client.patch(
        target, json={"role": "nurse", "district_ids": [str(world.district_b)]}, headers=with_key(world.admin.headers)
    )

    assert (refused.status_code, refused.json()["field"]) == (422, "district_ids")
    assert accepted.status_code == 200
    # The role counts from the very next request: the same token now opens nurse routes only.
    assert (await client.get("/me", headers=world.coordinator.headers)).json()["role"] == "nurse"


# ---- delete and sign out ---------------------------------------------------------------------


async def test_a_deleted_user_is_locked_out_at_once(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    target = f"/admin/users/{world.nurse_a.user_id}"

    response = await client.delete(target, headers=with_key(world.admin.headers))

    assert response.status_code == 200, response.text
    assert response.json()["deleted_at"] is not None
    assert (await client.get("/me", headers=world.nurse_a.headers)).status_code == 401
    assert (await login(client, world.nurse_a.email)).status_code == 401
    listing = await client.get("/admin/users", headers=world.admin.headers)
    assert str(world.nurse_a.user_id) not in {u["id"] for u in listing.json()}
    assert (await client.delete(target, headers=with_key(world.admin.headers))).status_code == 404
    assert await _audit(sessions, world.nurse_a.user_id) == ["user.delete"]


async def test_admins_cannot_delete_themselves_or_other_municipalities_users(
    client: Client, world: World, other_world: World
) -> None:
    own = await client.delete(f"/admin/users/{world.admin.user_id}", headers=with_key(world.admin.headers))
    foreign = await client.delete(f"/admin/users/{other_world.nurse_b.user_id}", headers=with_key(world.admin.headers))

    assert own.status_code == 409
    assert foreign.status_code == 404
    assert (await client.get("/me", headers=other_world.nurse_b.headers)).status_code == 200


async def test_admin_signs_a_user_out_everywhere(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    second = await login_ok(client, world.nurse_b.email)

    response = await client.post(
        f"/admin/users/{world.nurse_b.user_id}/devices/revoke", headers=with_key(world.admin.headers)
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": str(world.nurse_b.user_id), "revoked": 2}
    assert (await client.get("/me", headers=world.nurse_b.headers)).status_code == 401
    assert (await client.get("/me", headers=bearer(second["access_token"]))).status_code == 401
    # She is signed out, not deleted: she can log in again.
    await login_ok(client, world.nurse_b.email)
    assert await _audit(sessions, world.nurse_b.user_id) == ["user.devices.revoke"]
