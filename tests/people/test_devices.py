"""Signing out: logout, the lost phone, and push tokens. Access ends at once, not at expiry."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.people.models import Device
from tests.factories import World
from tests.people.helpers import Client, bearer, login_ok, new_key, with_key


async def test_logout_ends_access_at_once(client: Client, world: World) -> None:
    body = await login_ok(client, world.nurse_a.email)
    headers = bearer(body["access_token"])
    assert (await client.get("/me", headers=headers)).status_code == 200

    assert (await client.post("/auth/logout", headers=headers)).status_code == 204

    after = await client.get("/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["detail"] == "This device has been signed out."
    # The nurse's other devices are untouched.
    assert (await client.get("/me", headers=world.nurse_a.headers)).status_code == 200


async def test_logout_needs_a_login(client: Client) -> None:
    assert (await client.post("/auth/logout")).status_code == 401


async def test_the_lost_phone_is_signed_out_from_the_tablet(client: Client, world: World) -> None:
    phone = await login_ok(client, world.nurse_b.email, platform="android")
    tablet = await login_ok(client, world.nurse_b.email, platform="ios")
    tablet_headers = bearer(tablet["access_token"])

    listing = await client.get("/me/devices", headers=tablet_headers)
    assert listing.status_code == 200
    by_id = {d["id"]: d for d in listing.json()}
    assert {phone["device_id"], tablet["device_id"], str(world.nurse_b.device_id)} <= set(by_id)
    assert by_id[tablet["device_id"]]["current"] is True
    assert by_id[phone["device_id"]]["current"] is False
    assert "hash" not in listing.text and phone["refresh_token"] not in listing.text

    revoked = await client.post(f"/me/devices/{phone['device_id']}/revoke", headers=with_key(tablet_headers))

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_reason"] == "user_revoked"
    assert (await client.get("/me", headers=bearer(phone["access_token"]))).status_code == 401
    assert (await client.get("/me", headers=tablet_headers)).status_code == 200
    active = await client.get("/me/devices", headers=tablet_headers)
    assert phone["device_id"] not in {d["id"] for d in active.json()}
    everything = await client.get("/me/devices", params={"include_revoked": "true"}, headers=tablet_headers)
    assert phone["device_id"] in {d["id"] for d in everything.json()}


async def test_someone_elses_device_cannot_be_revoked(client: Client, world: World) -> None:
    response = await client.post(
        f"/me/devices/{world.nurse_b.device_id}/revoke", headers=with_key(world.nurse_a.headers)
    )

    assert response.status_code == 404
    assert (await client.get("/me", headers=world.nurse_b.headers)).status_code == 200


async def test_revoke_retried_with_the_same_key_gives_the_same_answer(client: Client, world: World) -> None:
    phone = await login_ok(client, world.coordinator.email)
    headers = with_key(world.coordinator.headers, new_key())
    first = await client.post(f"/me/devices/{phone['device_id']}/revoke", headers=headers)
    again = await client.post(f"/me/devices/{phone['device_id']}/revoke", headers=headers)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()


async def test_push_token_is_set_and_cleared(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    headers = world.key_person.headers
    set_ = await client.put(
        "/me/devices/current/push-token", json={"push_token": "fcm-token-abc"}, headers=with_key(headers)
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["has_push_token"] is True
    assert set_.json()["id"] == str(world.key_person.device_id)
    async with sessions() as session:
        device = await session.get_one(Device, world.key_person.device_id)
    assert device.push_token == "fcm-token-abc"

    cleared = await client.put("/me/devices/current/push-token", json={"push_token": None}, headers=with_key(headers))
    assert cleared.json()["has_push_token"] is False


async def test_changes_without_an_idempotency_key_are_refused(client: Client, world: World) -> None:
    response = await client.put(
        "/me/devices/current/push-token", json={"push_token": "fcm-token"}, headers=world.nurse_a.headers
    )

    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"
