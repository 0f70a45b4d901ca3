"""APScheduler wiring only: it is the clock that wakes the periodic jobs; the jobs live with their domain.

Every job takes a session, the settings and the time, and must be safe to run on several
instances at once (the database decides what is due; a second run finds nothing left to do).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts.engine import sweep, watchdog
from backend.clock import Clock
from backend.config import Settings
from backend.idempotency import purge_keys
from backend.people.auth import purge_throttles
from backend.visits.jobs import generate_visits, mark_missed_visits

log = logging.getLogger("lindra.jobs")

Job = Callable[[AsyncSession, Settings, datetime], Awaitable[int]]

# (job, how often it runs in seconds)
JOBS: list[tuple[Job, int]] = [
    (purge_throttles, 600),
    (purge_keys, 3600),
    (generate_visits, 300),
    (mark_missed_visits, 60),
    (sweep, 1),  # due tiers, calling again, unconfirmed pushes
    (watchdog, 5),
]


async def run_job(job: Job, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
    """One run in its own transaction; a failure is logged (its type only) and retried next time."""
    try:
        async with sessions.begin() as session:
            count = await job(session, settings, clock.now())
        if count:
            log.info("%s: %d rows", job.__name__, count)
    except Exception as exc:
        log.error("%s failed: %s", job.__name__, type(exc).__name__)


def start_scheduler(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> AsyncIOScheduler:
    # Jobs log what they did themselves; APScheduler's line per run (every second) is noise.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(timezone="UTC")
    for job, seconds in JOBS:
        scheduler.add_job(
            run_job,
            "interval",
            seconds=seconds,
            args=[job, sessions, settings, clock],
            id=job.__name__,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # late is better than never: run it when the loop gets to it
            next_run_time=datetime.now(UTC),  # and once at start: catch up on whatever was due while down
        )
    scheduler.start()
    return scheduler
