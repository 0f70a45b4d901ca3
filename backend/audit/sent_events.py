"""The access log for live events: who was sent which case's events over a socket.

An event names its case (and what happened to it), so sending it is a read of that case. The hub
fans out each batch of events without waiting on anything; here each client's share of a batch
becomes one row per case, kept in memory and written by a task of its own in one INSERT per
round, so a slow database never holds up the fan-out. What could not be written yet is kept and
written with the next round (up to `MAX_PENDING` rows, then the oldest are dropped, loudly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

import asyncpg

from backend.db import json_text
from backend.people.actor import Actor

log = logging.getLogger("lindra.audit")

ACTION = "case.events.sent"
MAX_PENDING = 200_000
RETRY_SECONDS = 1.0

_INSERT = """
    INSERT INTO audit_log (user_id, role, action, case_id, request_id, detail)
    SELECT r.user_id, r.role, $1, r.case_id, r.request_id, r.detail::jsonb
    FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[])
         AS r(user_id, role, case_id, request_id, detail)
"""


class CaseEvent(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def case_id(self) -> uuid.UUID | None: ...


class SentEventsAudit:
    """Rows for the events sent to sockets, written in the background (`start`, `stop`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending: list[tuple[uuid.UUID, str, uuid.UUID, str, str]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever())

    async def stop(self) -> None:
        """Stop the writer and write what is left (a stopping instance loses no row it can write)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self.flush()

    def sent(self, actor: Actor, events: Iterable[CaseEvent]) -> None:
        """`actor`'s socket was sent `events` (one batch): one row per case they name, written soon."""
        by_case: dict[uuid.UUID, list[int]] = {}
        for event in events:
            if event.case_id is not None:
                by_case.setdefault(event.case_id, []).append(event.id)
        for case_id, event_ids in by_case.items():
            detail = json_text({"event_ids": event_ids})
            self._pending.append((actor.user_id, actor.role.value, case_id, actor.request_id, detail))
        if by_case:
            self._wake.set()

    async def flush(self) -> None:
        """Write every pending row in one statement; on failure they stay pending."""
        rows, self._pending = self._pending, []
        if not rows:
            return
        columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
        try:
            async with self._pool.acquire() as connection:
                await connection.execute(_INSERT, ACTION, *columns)
        except BaseException:
            self._pending[:0] = rows
            if len(self._pending) > MAX_PENDING:
                dropped = len(self._pending) - MAX_PENDING
                del self._pending[:dropped]
                log.error("dropped %d audit rows of sent events: the database has not taken them", dropped)
            raise

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("writing audit rows of sent events failed, retrying: %s", type(exc).__name__)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
