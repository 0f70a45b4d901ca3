"""Housekeeping: stored answers to retried writes are forgotten after the retention; the app runs the jobs."""

from __future__ import annotations

import uuid
from datetime import timedelta

from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.idempotency import IdempotencyKey, purge_keys
from backend.scheduler import run_job
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
    assert jobs == {"purge_throttles", "purge_keys", "generate_visits", "mark_missed_visits", "sweep", "watchdog"}
    every = {job.id: job.trigger.interval.total_seconds() for job in app.state.scheduler.get_jobs()}
    assert every["sweep"] <= 1  # a tier is due to the second: it fires within a second of its deadline, or less
