"""The second factor of admins and coordinators with a Lindra password, and passwords switched off."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.people.federation.sealed import unseal
from backend.people.models import PasswordSignIn, RecoveryCode, User
from tests.factories import PASSWORD, World, build_world
from tests.mail import MailServer
from tests.people.helpers import Client, bearer, choose_password, login, with_key

DEVICE = {"platform": "web", "app_version": "board"}
NEW_PASSWORD = "nattevagt med varm te"


@pytest.fixture
async def guarded(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> World:
    """A municipality whose admins and coordinators need a code beside their password."""
    return await build_world(sessions, settings, clock, password_sign_in=PasswordSignIn.SECOND_FACTOR)


async def _login(client: Client, email: str, otp: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"email": email, "password": PASSWORD, "device": DEVICE}
    if otp is not None:
        body["otp"] = otp
    return await client.post("/auth/login", json=body)


async def _enrol(client: Client, email: str, clock: Clock) -> tuple[pyotp.TOTP, list[str]]:
    """Set up the authenticator app as the board does: the secret, then the app's first code."""
    started = await client.post("/auth/second-factor/enrol", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    totp = pyotp.TOTP(started.json()["secret"])
    confirmed = await client.post(
        "/auth/second-factor/confirm",
        json={"email": email, "password": PASSWORD, "otp": totp.at(clock.now()), "device": DEVICE},
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp, confirmed.json()["recovery_codes"]


async def test_a_coordinator_sets_up_her_app_and_is_signed_in_with_recovery_codes_shown_once(
    client: Client, guarded: World, clock: Clock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    email = guarded.coordinator.email
    refused = await _login(client, email)
    assert refused.status_code == 403, refused.text
    assert refused.json()["rule"] == "second_factor_enrolment_required"

    started = await client.post("/auth/second-factor/enrol", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    uri = urlparse(started.json()["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert parse_qs(uri.query)["secret"] == [started.json()["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["Lindra"]
    totp = pyotp.TOTP(started.json()["secret"])

    wrong = await client.post(
        "/auth/second-factor/confirm",
        json={"email": email, "password": PASSWORD, "otp": "000000", "device": DEVICE},
    )
    assert wrong.status_code == 401 and wrong.json()["field"] == "otp"
    confirmed = await client.post(
        "/auth/second-factor/confirm",
        json={"email": email, "password": PASSWORD, "otp": totp.at(clock.now()), "device": DEVICE},
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(set(codes)) == 10
    me = await client.get("/me", headers=bearer(confirmed.json()["session"]["access_token"]))
    assert me.status_code == 200 and me.json()["role"] == "coordinator"

    async with sessions() as session:
        query = select(RecoveryCode.code_hash).where(RecoveryCode.user_id == me.json()["id"])
        stored = list(await session.scalars(query))
    assert len(stored) == 10 and not set(codes) & set(stored)  # kept hashed only
    again = await client.post("/auth/second-factor/enrol", json={"email": email, "password": PASSWORD})
    assert again.status_code == 409, "a confirmed app must not be replaced by whoever knows the password"


async def test_sign_in_asks_for_the_code_after_the_password_and_takes_the_right_one(
    client: Client, guarded: World, clock: Clock
) -> None:
    totp, _ = await _enrol(client, guarded.admin.email, clock)
    clock.shift(timedelta(seconds=30))  # the next code of her app

    asked = await _login(client, guarded.admin.email)
    assert asked.status_code == 401
    assert (asked.json()["rule"], asked.json()["field"]) == ("second_factor_required", "otp")
    wrong_password = await client.post(
        "/auth/login",
        json={"email": guarded.admin.email, "password": "not it at all", "device": DEVICE, "otp": totp.at(clock.now())},
    )
    assert wrong_password.status_code == 401 and wrong_password.json()["title"] == "Invalid e-mail or password"
    signed_in = await _login(client, guarded.admin.email, totp.at(clock.now()))
    assert signed_in.status_code == 200, signed_in.text
    listed = await client.get("/admin/users", headers=bearer(signed_in.json()["access_token"]))
    assert listed.status_code == 200


async def test_a_wrong_code_is_refused(client: Client, guarded: World, clock: Clock) -> None:
    totp, _ = await _enrol(client, guarded.coordinator.email, clock)
    clock.shift(timedelta(seconds=30))
    right = totp.at(clock.now())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    refused = await _login(client, guarded.coordinator.email, wrong)
    assert refused.status_code == 401, refused.text
    assert (refused.json()["rule"], refused.json()["field"]) == ("second_factor_invalid", "otp")
    assert "access_token" not in refused.text
    old = await _login(client, guarded.coordinator.email, totp.at(clock.now() - timedelta(minutes=5)))
    assert old.status_code == 401, "a code from minutes ago is no code"


async def test_a_code_is_refused_the_second_time_within_its_step(client: Client, guarded: World, clock: Clock) -> None:
    totp, _ = await _enrol(client, guarded.coordinator.email, clock)
    confirmed_with = totp.at(clock.now())
    replay_of_enrolment = await _login(client, guarded.coordinator.email, confirmed_with)
    assert replay_of_enrolment.status_code == 401, "the code that confirmed the app was used already"

    clock.shift(timedelta(seconds=30))
    code = totp.at(clock.now())
    assert (await _login(client, guarded.coordinator.email, code)).status_code == 200
    replayed = await _login(client, guarded.coordinator.email, code)
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["rule"] == "second_factor_invalid"
    clock.shift(timedelta(seconds=30))
    assert (await _login(client, guarded.coordinator.email, totp.at(clock.now()))).status_code == 200


async def test_a_recovery_code_signs_in_once_and_then_no_more(client: Client, guarded: World, clock: Clock) -> None:
    _, codes = await _enrol(client, guarded.admin.email, clock)
    typed = codes[3].lower().replace("-", " ")  # as a person types it from paper

    first = await _login(client, guarded.admin.email, typed)
    assert first.status_code == 200, first.text
    second = await _login(client, guarded.admin.email, codes[3])
    assert second.status_code == 401, second.text
    assert second.json()["rule"] == "second_factor_invalid"
    assert (await _login(client, guarded.admin.email, codes[4])).status_code == 200


async def test_wrong_codes_lock_the_codes_like_wrong_passwords(
    strict_client: Client, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> None:
    guarded = await build_world(sessions, settings, clock, password_sign_in=PasswordSignIn.SECOND_FACTOR)
    totp, _ = await _enrol(strict_client, guarded.coordinator.email, clock)
    clock.shift(timedelta(seconds=30))
    for guess in ("111111", "222222", "333333"):
        assert (await _login(strict_client, guarded.coordinator.email, guess)).status_code == 401
    locked = await _login(strict_client, guarded.coordinator.email, totp.at(clock.now()))
    assert locked.status_code == 429, locked.text
    assert "Retry-After" in locked.headers


async def test_nurses_and_key_persons_sign_in_with_the_password_alone(client: Client, guarded: World) -> None:
    for person in (guarded.nurse_a, guarded.key_person):
        assert (await _login(client, person.email)).status_code == 200
        enrol = await client.post("/auth/second-factor/enrol", json={"email": person.email, "password": PASSWORD})
        assert (enrol.status_code, enrol.json()["rule"]) == (422, "second_factor_not_needed")


async def test_passwords_switched_off_are_refused_with_the_way_to_the_identity_provider(
    client: Client, guarded: World, clock: Clock
) -> None:
    totp, _ = await _enrol(client, guarded.admin.email, clock)
    switched = await client.put(
        "/admin/sign-in", json={"password_sign_in": "off"}, headers=with_key(guarded.admin.headers)
    )
    assert switched.status_code == 200, switched.text
    assert switched.json() | {"devices_signed_out": 0} == {
        "organisation_id": str(guarded.municipality_id),
        "password_sign_in": "off",
        "devices_signed_out": 0,
    }
    assert switched.json()["devices_signed_out"] >= 4  # every password session of her people ...
    for person in (guarded.nurse_a, guarded.nurse_b, guarded.coordinator, guarded.key_person):
        assert (await client.get("/me", headers=person.headers)).status_code == 401
    assert (await client.get("/me", headers=guarded.admin.headers)).status_code == 200  # ... but hers

    for person in (guarded.nurse_a, guarded.coordinator):
        refused = await _login(client, person.email)
        assert refused.status_code == 403, refused.text
        assert refused.json()["rule"] == "password_sign_in_off"
        assert "identity provider" in refused.json()["detail"]
    clock.shift(timedelta(seconds=30))
    assert (await _login(client, guarded.admin.email, totp.at(clock.now()))).status_code == 403
    enrol = await client.post(
        "/auth/second-factor/enrol", json={"email": guarded.coordinator.email, "password": PASSWORD}
    )
    assert enrol.status_code == 403
    wrong = await login(client, guarded.nurse_a.email, "not the password at all")
    assert wrong.status_code == 401, "a wrong password still says nothing about the organisation"

    demo_only = await client.put(
        "/admin/sign-in", json={"password_sign_in": "password_alone"}, headers=with_key(guarded.admin.headers)
    )
    assert demo_only.status_code == 400 and demo_only.json()["field"] == "password_sign_in"
    back = await client.put(
        "/admin/sign-in", json={"password_sign_in": "second_factor"}, headers=with_key(guarded.admin.headers)
    )
    assert back.status_code == 200
    assert (await _login(client, guarded.nurse_a.email)).status_code == 200


async def test_a_reset_clears_the_app_and_the_chosen_password_stands_until_a_new_app_is_set_up(
    client: Client, guarded: World, clock: Clock, mail_server: MailServer
) -> None:
    _, codes = await _enrol(client, guarded.coordinator.email, clock)
    reset = await client.post(
        f"/admin/users/{guarded.coordinator.user_id}/password-reset", headers=with_key(guarded.admin.headers)
    )
    assert reset.status_code == 200, reset.text

    chosen = await choose_password(client, mail_server.code_for(guarded.coordinator.email), NEW_PASSWORD)
    assert chosen.status_code == 403, chosen.text
    assert chosen.json()["rule"] == "second_factor_enrolment_required"
    assert "access_token" not in chosen.text
    old_recovery = await client.post(
        "/auth/login",
        json={"email": guarded.coordinator.email, "password": NEW_PASSWORD, "device": DEVICE, "otp": codes[0]},
    )
    assert old_recovery.status_code == 403, "the lost phone's recovery codes went with it"
    started = await client.post(
        "/auth/second-factor/enrol", json={"email": guarded.coordinator.email, "password": NEW_PASSWORD}
    )
    assert started.status_code == 200, started.text


async def test_the_secret_is_sealed_at_rest_and_a_changed_service_key_leaves_only_the_recovery_codes(
    client: Client, guarded: World, clock: Clock, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    totp, codes = await _enrol(client, guarded.coordinator.email, clock)

    async with sessions() as session:
        stored = await session.scalar(select(User.totp_secret).where(User.id == guarded.coordinator.user_id))
    assert stored is not None and totp.secret not in stored  # a copy of the database makes no codes
    assert unseal(settings.secret_key, stored) == totp.secret
    rotated = dataclasses.replace(settings, secret_key="another-secret-key-" + "y" * 32)
    async with AsyncTestClient(app=create_app(rotated, clock=clock)) as after_rotation:
        app_code = await _login(after_rotation, guarded.coordinator.email, totp.at(clock.now() + timedelta(seconds=30)))
        assert app_code.status_code == 401 and app_code.json()["rule"] == "second_factor_invalid"
        recovered = await _login(after_rotation, guarded.coordinator.email, codes[0])
        assert recovered.status_code == 200, recovered.text
