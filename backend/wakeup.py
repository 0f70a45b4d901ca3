"""A background loop woken by NOTIFY: the push sender, the SMS sender and the inbox all are one.

The notification is only a nudge, sent by the transaction that made work due; the work itself
claims what is due from the database. So a notification lost while the listening connection is
re-opened (a restart of PostgreSQL, say) costs at most `every` seconds, and several processes
woken at once share the work through their claims.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

log = logging.getLogger("lindra.wakeup")


class WokenLoop:
    """Runs `work()` when a transaction NOTIFYs `channel`, and every `every` seconds regardless."""

    channel: str
    name: str
    every: float = 1.0

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    async def work(self) -> None:
        """Claim and do what is due; raising is logged (by type only) and retried on the next wake."""
        raise NotImplementedError

    async def release(self) -> None:
        """Let go of what the loop holds (deliveries under way, a gateway), once it has stopped."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run `work()` again at once (e.g. room came free for what waited for it)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.release()
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()

    async def _listen(self) -> None:
        """(Re)open the LISTEN connection; without it the poll every `every` seconds still does the work."""
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self.database_url)
            await self._listener.add_listener(self.channel, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError):
            self._listener = None

    async def _run(self) -> None:
        while True:
            await self._listen()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.every)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.work()
            except Exception as exc:  # the database restarting, say: the next wake goes on
                log.error("%s: %s", self.name, type(exc).__name__)
