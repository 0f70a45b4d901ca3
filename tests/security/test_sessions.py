"""Sessions after theft, passwords and lockout (issue 18, findings 4, 5, 9 and 10), as an attacker sees them."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.people.auth import REFRESH_RETRY_GRACE
from backend.people.models import Device
from tests.factories import PASSWORD, World
from tests.mail import MailServer
from tests.people.helpers import bearer, fresh_email, with_key
from tests.realtime.helpers import Live, close_code, next_frame, open_socket
from tests.serving import serving

Client = AsyncTestClient[Litestar]
PHONE = {"platform": "android", "app_version": "3.0.0"}
GOOD_PASSWORD = "blå kaffekande ved havet"


async def _login(client: Client, email: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password, "device": PHONE, **extra})


async def _refresh(client: Client, refresh_token: str, device_key: str | None = None) -> httpx.Response:
    body = {"refresh_token": refresh_token} | ({"device_key": device_key} if device_key else {})
    return await client.post("/auth/refresh", json=body)


async def _revoked_reason(sessions: async_sessionmaker[AsyncSession], device_id: str) -> str | None:
    async with sessions() as session:
        return (await session.get_one(Device, device_id)).revoked_reason


# ---- finding 4: refresh-token reuse ------------------------------------------------------------


async def test_a_refresh_token_two_rotations_old_signs_the_device_out(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = (await _login(client, world.nurse_a.email)).json()
    second = (await _refresh(client, first["refresh_token"])).json()
    third = (await _refresh(client, second["refresh_token"])).json()

    replay = await _refresh(client, first["refresh_token"])

    assert replay.status_code == 401
    assert "access_token" not in replay.text
    assert (await client.get("/me", headers=bearer(third["access_token"]))).status_code == 401
    assert (await _refresh(client, third["refresh_token"])).status_code == 401
    assert await _revoked_reason(sessions, first["device_id"]) == "refresh_reuse"


@pytest.mark.parametrize("app_has_a_device_key", [True, False], ids=["app_with_key", "app_from_before_keys"])
async def test_a_thiefs_reuse_within_the_grace_without_the_device_key_gets_no_pair_and_signs_the_device_out(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession], app_has_a_device_key: bool
) -> None:
    device_key = secrets.token_urlsafe(32) if app_has_a_device_key else None
    phone = (await _login(client, world.nurse_b.email, **({"device_key": device_key} if device_key else {}))).json()
    stolen = phone["refresh_token"]
    renewed = (await _refresh(client, stolen, device_key)).json()  # the phone's own refresh

    thief = await _refresh(client, stolen)  # seconds later, within the grace, without the phone's key

    assert thief.status_code == 401
    assert "access_token" not in thief.text
    # The phone is told at once: its session is over, so its owner logs in again.
    me = await client.get("/me", headers=bearer(renewed["access_token"]))
    assert me.status_code == 401
    assert me.json()["detail"] == "This device has been signed out."
    assert (await _refresh(client, renewed["refresh_token"], device_key)).status_code == 401
    assert await _revoked_reason(sessions, phone["device_id"]) == "refresh_reuse"


# ---- findings 5 and 10: a password set by an administrator -------------------------------------


async def test_after_an_admin_reset_old_tokens_are_refused_and_the_admin_learns_no_usable_secret(
    client: Client, world: World, mail_server: MailServer
) -> None:
    nurse = world.nurse_a
    before = (await _login(client, nurse.email)).json()

    reset = await client.post(f"/admin/users/{nurse.user_id}/password-reset", headers=with_key(world.admin.headers))

    assert reset.status_code == 200, reset.text
    assert reset.json()["delivery"] == "email"
    assert reset.json()["devices_revoked"] == 2
    code = mail_server.code_for(nurse.email)
    assert code not in reset.text and code.replace("-", "") not in reset.text
    for access in (before["access_token"], nurse.token):
        assert (await client.get("/me", headers=bearer(access))).status_code == 401
    assert (await _refresh(client, before["refresh_token"])).status_code == 401
    # Neither the old password nor anything the admin saw signs in as her.
    assert (await _login(client, nurse.email, PASSWORD)).status_code == 401
    chosen = await client.post(
        "/auth/password", json={"code": code.lower(), "new_password": GOOD_PASSWORD, "device": PHONE}
    )
    assert chosen.status_code == 200, chosen.text
    assert (await client.get("/me", headers=bearer(chosen.json()["access_token"]))).status_code == 200
    again = await client.post("/auth/password", json={"code": code, "new_password": GOOD_PASSWORD, "device": PHONE})
    assert again.status_code == 400
    assert again.json()["field"] == "code"


@pytest.mark.parametrize(
    ("weak", "rule"),
    [
        (" " * 12, "password_common"),
        ("a" * 12, "password_common"),
        ("lindra-demo-2026", "password_context"),
        ("Password1234", "password_common"),
        ("kort kode", "password_length"),
    ],
)
async def test_a_weak_password_is_refused_naming_the_field(
    client: Client, world: World, mail_server: MailServer, weak: str, rule: str
) -> None:
    email = fresh_email()
    invited = await client.post(
        "/admin/users",
        json={
            "email": email,
            "full_name": "Ny Kollega",
            "role": "coordinator",
            "organisation_id": str(world.municipality_id),
        },
        headers=with_key(world.admin.headers),
    )
    assert invited.status_code == 201, invited.text
    code = mail_server.code_for(email)

    refused = await client.post("/auth/password", json={"code": code, "new_password": weak, "device": PHONE})

    assert refused.status_code == 422, refused.text
    assert (refused.json()["field"], refused.json()["rule"]) == ("new_password", rule)
    assert refused.json()["detail"]
    # The code still works for a good password.
    chosen = await client.post("/auth/password", json={"code": code, "new_password": GOOD_PASSWORD, "device": PHONE})
    assert chosen.status_code == 200, chosen.text


# ---- finding 10: lockout by a stranger ----------------------------------------------------------


def _from(address: str) -> dict[str, str]:
    """What the proxy in front says about who asked (uvicorn believes it from the loopback proxy)."""
    return {"X-Forwarded-For": address}


async def test_a_strangers_failed_logins_do_not_stop_the_nurse_signing_in(
    live: Live, world: World, settings: Settings
) -> None:
    nurse = world.key_person.email
    async with httpx.AsyncClient(base_url=f"http://{live.host}:{live.port}") as http:
        guess = {"email": nurse, "password": "guessing away", "device": PHONE}
        stranger = [
            (await http.post("/auth/login", json=guess, headers=_from("203.0.113.9"))).status_code
            for _ in range(settings.login_lock_after + 1)
        ]
        at_home = await http.post(
            "/auth/login", json={"email": nurse, "password": PASSWORD, "device": PHONE}, headers=_from("198.51.100.7")
        )

    assert stranger[-1] == 429  # the stranger is locked out, from his address
    assert at_home.status_code == 200, at_home.text


# ---- finding 9: sockets --------------------------------------------------------------------------


@pytest.fixture
async def live(settings: Settings, clock: Clock) -> AsyncIterator[Live]:
    app = create_app(dataclasses.replace(settings, housekeeping=False), clock)
    async with serving(app) as (host, port):
        yield Live(app, host, port)


@pytest.mark.parametrize("stop", ["devices/revoke", "disable"])  # her phone signed out; she left
async def test_a_revoked_devices_socket_closes_within_a_second(live: Live, world: World, stop: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live.host}:{live.port}") as http:
        phone = await open_socket(live, world.nurse_a)
        colleague = await open_socket(live, world.nurse_b)

        started = time.monotonic()
        revoked = await http.post(f"/admin/users/{world.nurse_a.user_id}/{stop}", headers=with_key(world.admin.headers))
        assert revoked.status_code == 200, revoked.text
        code = await close_code(phone.ws, seconds=1.0)

    assert code == 4410
    assert phone.ws.close_reason == "This device has been signed out; log in again."
    assert time.monotonic() - started < 1.0
    await colleague.ws.send(json.dumps({"type": "ping"}))
    assert await next_frame(colleague.ws) == {"type": "pong"}


async def test_a_fourth_socket_on_one_login_closes_the_oldest(live: Live, world: World) -> None:
    sockets = [await open_socket(live, world.coordinator) for _ in range(3)]

    newest = await open_socket(live, world.coordinator)

    assert await close_code(sockets[0].ws, seconds=1.0) == 4409
    for still_open in [*sockets[1:], newest]:
        await still_open.ws.send(json.dumps({"type": "ping"}))
        assert await next_frame(still_open.ws) == {"type": "pong"}
    assert live.hub.client_count == 3


async def test_a_retry_within_the_grace_with_the_device_key_still_gets_a_pair(
    client: Client, world: World, restore_clock: Clock
) -> None:
    """The other side of the thief test: the phone whose answer was lost is not punished."""
    device_key = secrets.token_urlsafe(32)
    phone = (await _login(client, world.coordinator.email, device_key=device_key)).json()
    lost = await _refresh(client, phone["refresh_token"], device_key)
    assert lost.status_code == 200
    restore_clock.shift(REFRESH_RETRY_GRACE - timedelta(seconds=5))

    retried = await _refresh(client, phone["refresh_token"], device_key)

    assert retried.status_code == 200, retried.text
    assert (await _refresh(client, lost.json()["refresh_token"], device_key)).status_code == 401
