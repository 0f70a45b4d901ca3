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
# A job that commits as it goes (the escalation sweep: a batch of due alerts per transaction).
SessionsJob = Callable[[async_sessionmaker[AsyncSession], Settings, Clock], Awaitable[int]]

# (job, how often it runs in seconds)
JOBS: list[tuple[Job, float]] = [
    (purge_throttles, 600),
    (purge_keys, 3600),
    (generate_visits, 300),
    (mark_missed_visits, 60),
]
SESSIONS_JOBS: list[tuple[SessionsJob, float]] = [
    # Due tiers, calling again, unconfirmed pushes. Four times a second rather than once: a tier
    # fires within a quarter second of its deadline, and a busy night's tiers leave in small
    # batches instead of one burst a second that every request then queues behind.
    (sweep, 0.25),
    (watchdog, 5),
]


async def run_job(job: Job, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
    """One run in its own transaction; a failure is logged (its type only) and retried next time."""
    await run_sessions_job(_in_one_transaction(job), sessions, settings, clock, job.__name__)


def _in_one_transaction(job: Job) -> SessionsJob:
    async def run(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> int:
        async with sessions.begin() as session:
            return await job(session, settings, clock.now())

    return run


async def run_sessions_job(
    job: SessionsJob, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock, name: str
) -> None:
    try:
        count = await job(sessions, settings, clock)
        if count:
            log.info("%s: %d rows", name, count)
    except Exception as exc:
        log.error("%s failed: %s", name, type(exc).__name__)


def start_scheduler(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> AsyncIOScheduler:
    # Jobs log what they did themselves. APScheduler's line per run (four a second) is noise, and so
    # is its warning that a sweep still running skipped the next second's: the running one goes on.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = AsyncIOScheduler(timezone="UTC")
    every: list[tuple[SessionsJob, str, float]] = [(_in_one_transaction(job), job.__name__, n) for job, n in JOBS]
    every += [(job, job.__name__, n) for job, n in SESSIONS_JOBS]
    for job, name, seconds in every:
        scheduler.add_job(
            run_sessions_job,
            "interval",
            seconds=seconds,
            args=[job, sessions, settings, clock, name],
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # late is better than never: run it when the loop gets to it
            next_run_time=datetime.now(UTC),  # and once at start: catch up on whatever was due while down
        )
    scheduler.start()
    return scheduler
