"""Guessing passwords: answers slow down, then the e-mail is locked from that address, known or not,
for a while; from elsewhere, and from her own signed-in phone, its owner still gets in."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.people.models import LoginThrottle
from backend.people.throttle import (
    FIRST_DELAY_SECONDS,
    count_attempt,
    purge_throttles,
    slow_down_seconds,
    throttle_keys,
)
from tests.factories import PASSWORD, World
from tests.people.helpers import Client, fresh_email, login, login_ok
from tests.serving import serving

WRONG = "definitely not it"


async def _timed_failure(client: Client, email: str) -> float:
    started = time.perf_counter()
    response = await login(client, email, WRONG)
    assert response.status_code == 401
    return time.perf_counter() - started


async def test_answers_slow_down_after_repeated_failures(client: Client, settings: Settings) -> None:
    email = fresh_email()
    for _ in range(settings.login_slow_after):
        await _timed_failure(client, email)

    slowed = await _timed_failure(client, email)
    slower = await _timed_failure(client, email)

    assert slowed >= FIRST_DELAY_SECONDS
    assert slower >= 2 * FIRST_DELAY_SECONDS


def test_slow_down_doubles_and_is_capped() -> None:
    assert slow_down_seconds(2, 3) == 0
    assert [slow_down_seconds(n, 3) for n in (3, 4, 5)] == [0.25, 0.5, 1.0]
    assert slow_down_seconds(50, 3) == 2.0


async def test_lockout_refuses_even_the_right_password(
    strict_client: Client, strict_settings: Settings, world: World
) -> None:
    for _ in range(strict_settings.login_lock_after):
        assert (await login(strict_client, world.nurse_a.email, WRONG)).status_code == 401

    locked = await login(strict_client, world.nurse_a.email)

    assert locked.status_code == 429
    assert locked.json()["title"] == "Too many failed logins"
    assert "access_token" not in locked.text
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= strict_settings.login_lock_minutes * 60
    # Another person's e-mail is not affected.
    await login_ok(strict_client, world.nurse_b.email)


def _from(address: str) -> dict[str, str]:
    """What the trusted proxy in front of `strict_client` says about who asked."""
    return {"X-Forwarded-For": address}


async def test_the_lock_holds_only_for_the_address_that_failed(
    strict_settings: Settings, clock: Clock, world: World
) -> None:
    """Through a real server: uvicorn takes the address from X-Forwarded-For of the loopback proxy."""
    body = {"email": world.nurse_a.email, "password": WRONG, "device": {"platform": "ios", "app_version": "1"}}
    right = {**body, "password": PASSWORD}
    app = create_app(dataclasses.replace(strict_settings, housekeeping=False), clock)
    async with serving(app) as (host, port), httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
        for _ in range(strict_settings.login_lock_after):
            await http.post("/auth/login", json=body, headers=_from("203.0.113.5"))

        assert (await http.post("/auth/login", json=right, headers=_from("203.0.113.5"))).status_code == 429
        assert (await http.post("/auth/login", json=right, headers=_from("198.51.100.20"))).status_code == 200


async def test_an_address_made_up_by_the_client_is_not_believed(
    client: Client, settings: Settings, world: World
) -> None:
    """X-Forwarded-For from a client that is not a trusted proxy is ignored: a new one per guess gains nothing."""
    body = {"email": world.coordinator.email, "password": WRONG, "device": {"platform": "ios", "app_version": "1"}}
    started = time.perf_counter()
    for n in range(settings.login_slow_after + 1):
        await client.post("/auth/login", json=body, headers=_from(f"192.0.2.{n}"))
    assert time.perf_counter() - started >= FIRST_DELAY_SECONDS


async def test_her_own_signed_in_phone_is_never_locked_out(
    strict_client: Client, strict_settings: Settings, world: World
) -> None:
    device_key = secrets.token_urlsafe(32)
    device = {"platform": "android", "app_version": "3.0.0"}
    mine = {"email": world.key_person.email, "password": PASSWORD, "device": device, "device_key": device_key}
    assert (await strict_client.post("/auth/login", json=mine)).status_code == 200
    for _ in range(strict_settings.login_lock_after):
        await login(strict_client, world.key_person.email, WRONG)
    assert (await login(strict_client, world.key_person.email)).status_code == 429

    again = await strict_client.post("/auth/login", json=mine)

    assert again.status_code == 200, again.text


async def test_failures_from_many_addresses_slow_the_email_down_but_never_lock_it(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> None:
    email_slow_after = 3
    wide = dataclasses.replace(settings, login_email_slow_after=email_slow_after)
    email = fresh_email()

    attempts = [
        await count_attempt(sessions, wide, throttle_keys(email, f"192.0.2.{n}"), clock.now(), own_device=False)
        for n in range(email_slow_after + 3)
    ]

    assert all(attempt.locked_until is None for attempt in attempts)
    assert [attempt.delay_seconds for attempt in attempts] == [0, 0, 0, 0.25, 0.5, 1.0]


async def test_unknown_email_is_locked_out_just_the_same(strict_client: Client, strict_settings: Settings) -> None:
    email = fresh_email()
    for _ in range(strict_settings.login_lock_after):
        assert (await login(strict_client, email, WRONG)).status_code == 401

    locked = await login(strict_client, email, WRONG)

    assert locked.status_code == 429
    assert "retry-after" in locked.headers


async def test_lock_lifts_when_its_time_is_up(
    strict_client: Client, strict_settings: Settings, world: World, restore_clock: Clock
) -> None:
    for _ in range(strict_settings.login_lock_after):
        await login(strict_client, world.coordinator.email, WRONG)
    assert (await login(strict_client, world.coordinator.email)).status_code == 429

    restore_clock.shift(timedelta(minutes=strict_settings.login_lock_minutes - 1))
    assert (await login(strict_client, world.coordinator.email)).status_code == 429

    restore_clock.shift(timedelta(minutes=2))
    body = await login_ok(strict_client, world.coordinator.email)
    assert body["user"]["id"] == str(world.coordinator.user_id)


async def test_a_successful_login_resets_the_count(
    strict_client: Client, strict_settings: Settings, world: World
) -> None:
    almost = strict_settings.login_lock_after - 1
    for _ in range(almost):
        await login(strict_client, world.key_person.email, WRONG)
    await login_ok(strict_client, world.key_person.email)

    for _ in range(almost):
        assert (await login(strict_client, world.key_person.email, WRONG)).status_code == 401
    await login_ok(strict_client, world.key_person.email)


async def test_failures_spread_beyond_the_window_do_not_lock(
    strict_client: Client, strict_settings: Settings, world: World, restore_clock: Clock
) -> None:
    almost = strict_settings.login_lock_after - 1
    for _ in range(almost):
        await login(strict_client, world.unit.email, WRONG)
    restore_clock.shift(timedelta(minutes=strict_settings.login_window_minutes + 1))
    for _ in range(almost):
        assert (await login(strict_client, world.unit.email, WRONG)).status_code == 401

    await login_ok(strict_client, world.unit.email)


async def test_a_burst_of_parallel_guesses_cannot_pass_the_limit(
    strict_client: Client, strict_settings: Settings
) -> None:
    """Each attempt takes its number under the throttle row's lock, so a burst is counted exactly."""
    email = fresh_email()

    answers = await asyncio.gather(*(login(strict_client, email, WRONG) for _ in range(8)))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * strict_settings.login_lock_after + [429] * (8 - strict_settings.login_lock_after)


async def test_old_counts_are_purged_but_live_locks_are_kept(
    strict_client: Client,
    strict_settings: Settings,
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    restore_clock: Clock,
) -> None:
    stale, locked = fresh_email(), world.admin.email
    await login(strict_client, stale, WRONG)
    restore_clock.shift(timedelta(minutes=10))
    for _ in range(strict_settings.login_lock_after):
        await login(strict_client, locked, WRONG)
    # The stale count's window is over; the lock (taken ten minutes later) still runs.
    later = restore_clock.now() + timedelta(minutes=strict_settings.login_window_minutes - 9)

    async with sessions.begin() as session:
        assert await purge_throttles(session, strict_settings, later) >= 1
        assert await session.get(LoginThrottle, throttle_keys(stale, "testclient").pair) is None
        assert await session.get(LoginThrottle, throttle_keys(locked, "testclient").pair) is not None

    assert (await login(strict_client, locked)).status_code == 429
