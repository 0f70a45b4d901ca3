"""Access tokens expire; refresh tokens rotate, and a replayed one signs the device out."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.people.auth import REFRESH_RETRY_GRACE
from backend.people.models import Device, Role, User
from backend.people.tokens import AccessClaims, issue_access_token
from tests.factories import PASSWORD, World
from tests.people.helpers import Client, bearer, login_ok


async def _refresh(client: Client, refresh_token: str, device_key: str | None = None) -> tuple[int, dict[str, Any]]:
    body = {"refresh_token": refresh_token} | ({"device_key": device_key} if device_key else {})
    response = await client.post("/auth/refresh", json=body)
    return response.status_code, response.json()


async def _login_with_key(client: Client, email: str) -> tuple[dict[str, Any], str]:
    device_key = secrets.token_urlsafe(32)
    device = {"platform": "ios", "app_version": "3.0.0"}
    response = await client.post(
        "/auth/login", json={"email": email, "password": PASSWORD, "device": device, "device_key": device_key}
    )
    assert response.status_code == 200, response.text
    return response.json(), device_key


async def test_an_access_token_older_than_its_lifetime_is_refused(
    client: Client, world: World, settings: Settings, clock: Clock
) -> None:
    login = world.nurse_a
    issued_long_ago = issue_access_token(
        settings.secret_key,
        AccessClaims(login.user_id, login.device_id, Role.NURSE.value),
        clock.now() - timedelta(minutes=settings.access_token_minutes + 1),
        settings.access_token_minutes,
    )

    response = await client.get("/me", headers=bearer(issued_long_ago))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/me", headers=login.headers)).status_code == 200


async def test_moving_the_clock_past_the_lifetime_ends_the_access_token(
    client: Client, world: World, settings: Settings, restore_clock: Clock
) -> None:
    body = await login_ok(client, world.nurse_a.email)
    headers = bearer(body["access_token"])
    restore_clock.shift(timedelta(minutes=settings.access_token_minutes - 1))
    assert (await client.get("/me", headers=headers)).status_code == 200

    restore_clock.shift(timedelta(minutes=2))

    expired = await client.get("/me", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["detail"] == "The access token is invalid or has expired."
    # The refresh token still gets the phone a new access token without asking for the password.
    status, renewed = await _refresh(client, body["refresh_token"])
    assert status == 200, renewed


async def test_a_token_issued_after_the_clock_moved_on_works(
    client: Client, world: World, restore_clock: Clock
) -> None:
    restore_clock.shift(timedelta(hours=1))
    body = await login_ok(client, world.nurse_a.email)
    assert (await client.get("/me", headers=bearer(body["access_token"]))).status_code == 200


async def test_refresh_rotates_the_tokens(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await login_ok(client, world.nurse_b.email)

    status, second = await _refresh(client, first["refresh_token"])

    assert status == 200, second
    assert second["device_id"] == first["device_id"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"] == first["user"]
    assert (await client.get("/me", headers=bearer(str(second["access_token"])))).status_code == 200
    async with sessions() as session:
        device = await session.get_one(Device, first["device_id"])
    assert device.previous_refresh_hash == hashlib.sha256(first["refresh_token"].encode()).hexdigest()
    assert device.last_used_at is not None
    # The new refresh token works in its turn.
    status, third = await _refresh(client, str(second["refresh_token"]))
    assert status == 200, third


async def test_a_refresh_retried_after_a_lost_answer_gets_a_new_pair_and_the_lost_pair_stops_working(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first, device_key = await _login_with_key(client, world.nurse_a.email)
    status, lost = await _refresh(client, first["refresh_token"], device_key)  # the answer never reaches the phone
    assert status == 200

    status, retried = await _refresh(client, first["refresh_token"], device_key)

    assert status == 200, retried
    assert retried["refresh_token"] != lost["refresh_token"]
    assert (await client.get("/me", headers=bearer(str(retried["access_token"])))).status_code == 200
    assert (await _refresh(client, str(retried["refresh_token"]), device_key))[0] == 200
    async with sessions() as session:
        device = await session.get_one(Device, first["device_id"])
    assert device.revoked_at is None


async def test_a_replayed_refresh_token_signs_the_device_out(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession], restore_clock: Clock
) -> None:
    stolen = await login_ok(client, world.coordinator.email)
    status, rotated = await _refresh(client, stolen["refresh_token"])
    assert status == 200
    restore_clock.shift(REFRESH_RETRY_GRACE + timedelta(seconds=1))  # no longer a retry of a lost answer

    status, replay = await _refresh(client, stolen["refresh_token"])

    assert status == 401
    assert "access_token" not in replay
    # Both holders are out at once: the access token of the newest pair and its refresh token too.
    assert (await client.get("/me", headers=bearer(str(rotated["access_token"])))).status_code == 401
    assert (await _refresh(client, str(rotated["refresh_token"])))[0] == 401
    async with sessions() as session:
        device = await session.get_one(Device, stolen["device_id"])
    assert device.revoked_at is not None
    assert device.revoked_reason == "refresh_reuse"


async def test_a_retry_without_a_device_key_signs_the_device_out_even_within_the_grace(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An app that sends no key cannot tell its retry from a thief's: the device is signed out."""
    first = await login_ok(client, world.nurse_b.email)
    status, rotated = await _refresh(client, first["refresh_token"])
    assert status == 200

    assert (await _refresh(client, first["refresh_token"]))[0] == 401

    assert (await _refresh(client, str(rotated["refresh_token"])))[0] == 401
    async with sessions() as session:
        assert (await session.get_one(Device, first["device_id"])).revoked_reason == "refresh_reuse"


async def test_the_current_refresh_token_without_its_device_key_signs_the_device_out(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    phone, device_key = await _login_with_key(client, world.key_person.email)

    copied = await _refresh(client, phone["refresh_token"])

    assert copied[0] == 401
    assert (await _refresh(client, phone["refresh_token"], device_key))[0] == 401
    async with sessions() as session:
        assert (await session.get_one(Device, phone["device_id"])).revoked_reason == "refresh_reuse"


async def test_an_app_without_a_key_adopts_the_one_it_sends_later(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await login_ok(client, world.coordinator.email)  # an app from before device keys
    device_key = secrets.token_urlsafe(32)
    status, updated = await _refresh(client, first["refresh_token"], device_key)  # after an app update
    assert status == 200

    assert (await _refresh(client, str(updated["refresh_token"])))[0] == 401  # now the key is required


async def test_an_expired_refresh_token_is_refused(
    client: Client, world: World, settings: Settings, restore_clock: Clock
) -> None:
    body = await login_ok(client, world.key_person.email)
    restore_clock.shift(timedelta(days=settings.refresh_token_days, minutes=1))

    status, problem = await _refresh(client, body["refresh_token"])

    assert status == 401
    assert problem["title"] == "Not authenticated"


async def test_refresh_after_logout_or_deletion_is_refused(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    logged_out = await login_ok(client, world.nurse_a.email)
    assert (await client.post("/auth/logout", headers=bearer(logged_out["access_token"]))).status_code == 204
    assert (await _refresh(client, logged_out["refresh_token"]))[0] == 401

    deleted = await login_ok(client, world.unit.email)
    async with sessions.begin() as session:
        await session.execute(update(User).where(User.id == world.unit.user_id).values(deleted_at=clock.now()))
    assert (await _refresh(client, deleted["refresh_token"]))[0] == 401


async def test_a_made_up_refresh_token_is_refused(client: Client) -> None:
    status, problem = await _refresh(client, "not-a-token-we-ever-issued")
    assert status == 401
    assert problem["status"] == 401
