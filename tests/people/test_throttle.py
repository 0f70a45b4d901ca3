"""Guessing passwords: answers slow down, then the e-mail is locked, known or not, for a while."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.people.auth import FIRST_DELAY_SECONDS, purge_throttles, slow_down_seconds, throttle_key
from backend.people.models import LoginThrottle
from tests.factories import World
from tests.people.helpers import Client, fresh_email, login, login_ok

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
        assert await session.get(LoginThrottle, throttle_key(stale)) is None
        assert await session.get(LoginThrottle, throttle_key(locked)) is not None

    assert (await login(strict_client, locked)).status_code == 429
