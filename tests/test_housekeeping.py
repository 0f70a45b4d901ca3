"""Housekeeping: stored answers to retried writes are forgotten after the retention; the app runs the jobs."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.idempotency import IdempotencyKey, purge_keys
from backend.scheduler import Scheduler, run_job
from tests.factories import World


async def test_old_stored_answers_are_forgotten_and_recent_ones_kept(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock, world: World
) -> None:
    now = clock.now()
    old, recent = f"old-{uuid.uuid4()}", f"recent-{uuid.uuid4()}"
    async with sessions.begin() as session:
        session.add_all(
            [
                IdempotencyKey(
                    user_id=world.nurse_a.user_id,
                    key=old,
                    fingerprint="x",
                    response={"name": "Karen"},
                    created_at=now - timedelta(hours=settings.idempotency_retention_hours + 1),
                ),
                IdempotencyKey(
                    user_id=world.nurse_a.user_id,
                    key=recent,
                    fingerprint="x",
                    response={"name": "Karen"},
                    created_at=now - timedelta(hours=1),
                ),
            ]
        )
    await run_job(purge_keys, sessions, settings, clock)
    async with sessions() as session:
        left = set(
            await session.scalars(select(IdempotencyKey.key).where(IdempotencyKey.user_id == world.nurse_a.user_id))
        )
    assert left == {recent}


def test_the_app_schedules_its_housekeeping(app: Litestar, client: object) -> None:
    jobs = {job.id for job in app.state.scheduler.get_jobs()}
    assert jobs == {
        "purge_throttles",
        "purge_keys",
        "purge_codes",
        "purge_rotated_tokens",
        "generate_visits",
        "mark_missed_visits",
        "sweep",
        "watchdog",
        "run_exports",
        "purge_exports",
    }
    every = {job.id: job.trigger.interval.total_seconds() for job in app.state.scheduler.get_jobs()}
    assert every["sweep"] <= 1  # a tier is due to the second: it fires within a second of its deadline, or less


async def test_a_job_running_when_the_scheduler_stops_finishes_its_transaction(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Clock,
    world: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A process stopping mid-sweep used to cancel the sweep inside its transaction: rolled back, and
    # logged as a failure. The stop now waits for it.
    key = f"stop-{uuid.uuid4()}"
    started = asyncio.Event()

    async def slow_job(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> int:
        async with sessions.begin() as session:
            session.add(IdempotencyKey(user_id=world.nurse_a.user_id, key=key, fingerprint="x"))
            await session.flush()
            started.set()
            await asyncio.sleep(0.5)
        return 1

    scheduler = Scheduler(sessions, settings, clock)
    scheduler.every(3600, slow_job, "slow_job")
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    with caplog.at_level(logging.INFO, logger="lindra.jobs"):
        await scheduler.stop()
    async with sessions() as session:
        assert await session.get(IdempotencyKey, (world.nurse_a.user_id, key)) is not None
    assert [r.getMessage() for r in caplog.records] == ["slow_job: 1 rows"]
