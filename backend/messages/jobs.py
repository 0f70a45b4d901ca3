"""The worker's part of the inbox: process received messages as soon as one is kept (LISTEN), and
every second regardless; then post the acknowledgements that are due."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.messages.outbox import send_due
from backend.messages.service import INBOX_CHANNEL, process_waiting

log = logging.getLogger("lindra.messages")

SWEEP_SECONDS = 1.0
POST_TIMEOUT_SECONDS = 10.0


class InboxWorker:
    """Processes the inbox and sends the acknowledgements' outbox, in the system row scope."""

    def __init__(self, database_url: str, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.database_url = database_url
        self.sessions = sessions
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._http = httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS, follow_redirects=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbox-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        await self._http.aclose()

    async def _listen(self) -> None:
        """(Re)open the LISTEN connection; without it the sweep every second still does the work."""
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self.database_url)
            await self._listener.add_listener(INBOX_CHANNEL, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError):
            self._listener = None

    async def _run(self) -> None:
        while True:
            await self._listen()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=SWEEP_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await process_waiting(self.sessions, self.clock.now())
                await send_due(self.sessions, self._http, self.clock.now())
            except Exception as error:  # the database restarting, say: the next sweep goes on
                log.error("inbox worker: %s", type(error).__name__)
