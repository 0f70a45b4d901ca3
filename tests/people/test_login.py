"""Logging in: tokens that open the app, one answer for every kind of wrong, and the device row."""

from __future__ import annotations

import hashlib

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.people.models import Device, LoginThrottle, User
from backend.people.throttle import throttle_keys
from tests.factories import World
from tests.people.helpers import Client, bearer, fresh_email, login, login_ok


async def test_login_gives_tokens_that_open_the_app(
    client: Client, world: World, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    response = await login(client, world.nurse_a.email, platform="ios")

    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["cache-control"]
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_minutes * 60
    assert body["user"] == {
        "id": str(world.nurse_a.user_id),
        "full_name": "Test Person",
        "role": "nurse",
        "organisation_id": str(world.district_a),
        "language": "da",
    }
    me = await client.get("/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(world.nurse_a.user_id)

    async with sessions() as session:
        device = await session.get_one(Device, body["device_id"])
    assert device.platform == "ios"
    assert device.user_id == world.nurse_a.user_id
    # Only the hash is kept: a copy of the database gives no working refresh token.
    assert device.refresh_token_hash == hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    assert body["refresh_token"] not in device.refresh_token_hash


async def test_email_is_matched_without_case_or_spaces(client: Client, world: World) -> None:
    body = await login_ok(client, f"  {world.coordinator.email.upper()} ")
    assert body["user"]["role"] == "coordinator"


async def test_wrong_password_and_unknown_email_get_the_same_answer(client: Client, world: World) -> None:
    wrong_password = await login(client, world.nurse_b.email, "not the password at all")
    unknown_email = await login(client, fresh_email(), "not the password at all")

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json()["title"] == "Invalid e-mail or password"
    assert "access_token" not in wrong_password.text


async def test_deleted_user_cannot_log_in_even_with_the_right_password(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    async with sessions.begin() as session:
        await session.execute(update(User).where(User.id == world.key_person.user_id).values(deleted_at=clock.now()))

    deleted = await login(client, world.key_person.email)
    unknown = await login(client, fresh_email())

    assert deleted.status_code == 401
    assert deleted.json() == unknown.json()


async def test_a_failed_login_is_counted_even_though_it_answers_401(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    key = throttle_keys(world.unit.email, "testclient").pair  # the test client's address

    assert (await login(client, world.unit.email, "wrong password")).status_code == 401
    async with sessions() as session:
        throttle = await session.get(LoginThrottle, key)
    assert throttle is not None and throttle.failures == 1

    await login_ok(client, world.unit.email)
    async with sessions() as session:
        assert await session.get(LoginThrottle, key) is None


async def test_bad_login_body_names_the_field(client: Client, world: World) -> None:
    response = await client.post(
        "/auth/login",
        json={"email": world.nurse_a.email, "password": "x", "device": {"platform": "symbian", "app_version": "1"}},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "device.platform"

    unknown_field = await client.post(
        "/auth/login",
        json={
            "email": world.nurse_a.email,
            "password": "x",
            "device": {"platform": "web", "app_version": "1"},
            "remember_me": True,
        },
    )
    assert unknown_field.status_code == 400
    assert "remember_me" in unknown_field.json()["detail"]


async def test_a_push_token_moves_with_the_shared_phone(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Nurse B picks up the phone nurse A used: A's alerts must not reach it any more."""
    token = f"fcm-{world.district_a}"
    first = await login_ok(client, world.nurse_a.email, push_token=token)
    second = await login_ok(client, world.nurse_b.email, push_token=token)

    async with sessions() as session:
        holders = list(await session.scalars(select(Device.id).where(Device.push_token == token)))
    assert [str(h) for h in holders] == [second["device_id"]]
    devices = await client.get("/me/devices", headers=bearer(first["access_token"]))
    mine = next(d for d in devices.json() if d["id"] == first["device_id"])
    assert mine["has_push_token"] is False
