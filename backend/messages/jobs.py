"""The worker's part of the inbox: process received messages as soon as one is kept (LISTEN), and
every second regardless; send again the letters whose acknowledgement is overdue; then post what
the outbox holds (acknowledgements and letters)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.messages.correspondence import RESEND_AFTER, resend_due
from backend.messages.outbox import send_due
from backend.messages.service import INBOX_CHANNEL, process_waiting
from backend.wakeup import WokenLoop

SWEEP_SECONDS = 1.0
POST_TIMEOUT_SECONDS = 10.0


class InboxWorker(WokenLoop):
    """Processes the inbox and sends the acknowledgements' outbox, in the system row scope."""

    channel = INBOX_CHANNEL
    name = "inbox worker"
    every = SWEEP_SECONDS

    def __init__(
        self,
        database_url: str,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        resend_after: timedelta = RESEND_AFTER,
    ) -> None:
        super().__init__(database_url)
        self.sessions = sessions
        self.clock = clock
        self.resend_after = resend_after
        self._http = httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS, follow_redirects=False)

    async def release(self) -> None:
        await self._http.aclose()

    async def work(self) -> None:
        await process_waiting(self.sessions, self.clock.now())
        await resend_due(self.sessions, self.clock.now(), self.resend_after)
        await send_due(self.sessions, self._http, self.clock.now())
