"""APScheduler wiring only: it is the clock that wakes the periodic jobs; the jobs live with their domain.

Every job takes a session, the settings and the time, and must be safe to run on several
instances at once (the database decides what is due; a second run finds nothing left to do).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts.engine import sweep, watchdog
from backend.clock import Clock
from backend.config import Settings
from backend.exports.bulk import purge_exports, run_exports
from backend.idempotency import purge_keys
from backend.people.auth import purge_rotated_tokens
from backend.people.codes import purge_codes
from backend.people.throttle import purge_throttles
from backend.visits.jobs import generate_visits, mark_missed_visits

log = logging.getLogger("lindra.jobs")

# How long a stop waits for the jobs running (a sweep's batch takes milliseconds).
JOB_STOP_SECONDS = 5.0

Job = Callable[[AsyncSession, Settings, datetime], Awaitable[int]]
# A job that commits as it goes (the escalation sweep: a batch of due alerts per transaction).
SessionsJob = Callable[[async_sessionmaker[AsyncSession], Settings, Clock], Awaitable[int]]

# (job, how often it runs in seconds)
JOBS: list[tuple[Job, float]] = [
    (purge_throttles, 600),
    (purge_rotated_tokens, 3600),
    (purge_codes, 3600),
    (purge_keys, 3600),
    (purge_exports, 3600),
    (generate_visits, 300),
    (mark_missed_visits, 60),
]
SESSIONS_JOBS: list[tuple[SessionsJob, float]] = [
    # Due tiers, calling again, unconfirmed pushes. Four times a second rather than once: a tier
    # fires within a quarter second of its deadline, and a busy night's tiers leave in small
    # batches instead of one burst a second that every request then queues behind.
    (sweep, 0.25),
    (watchdog, 5),
    # The national data set's exports: a waiting one starts within two seconds; it writes a
    # resource type per transaction, so a long one holds no lock a sweep would wait on.
    (run_exports, 2),
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


class Scheduler(AsyncIOScheduler):
    """APScheduler's asyncio scheduler with a stop that waits for the jobs running: a sweep in the
    middle of its transaction commits or rolls back on its own instead of being cancelled mid-way
    when the process stops (and logged as a failure)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
        super().__init__(timezone="UTC")
        self._given = (sessions, settings, clock)
        self._running: set[asyncio.Task[Any]] = set()

    def every(self, seconds: float, job: SessionsJob, name: str) -> None:
        """Run `job` every `seconds`, one run at a time, and once at the start: catch up on whatever
        was due while down. A run the loop gets to late still runs: late is better than never."""
        self.add_job(
            self._run,
            "interval",
            seconds=seconds,
            args=[job, name],
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )

    async def _run(self, job: SessionsJob, name: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await run_sessions_job(job, *self._given, name)
        finally:
            self._running.discard(task)

    async def stop(self) -> None:
        """No job starts any more; those running get `JOB_STOP_SECONDS` to finish before the
        shutdown (which cancels whatever still runs)."""
        self.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=JOB_STOP_SECONDS)
        self.shutdown(wait=False)


def start_scheduler(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> Scheduler:
    # Jobs log what they did themselves. APScheduler's line per run (four a second) is noise, and so
    # is its warning that a sweep still running skipped the next second's: the running one goes on.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = Scheduler(sessions, settings, clock)
    for job, seconds in JOBS:
        scheduler.every(seconds, _in_one_transaction(job), job.__name__)
    for sessions_job, seconds in SESSIONS_JOBS:
        scheduler.every(seconds, sessions_job, sessions_job.__name__)
    scheduler.start()
    return scheduler
