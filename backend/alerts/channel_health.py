"""Whether the push and SMS gateways answer, as a row per channel that every instance's watcher reads.

The senders record what their batches met (`record`), and the watcher's probe of the SMS gateway
does too. A process writes when what it saw changes, and at least every `REWRITE_SECONDS` while it
keeps seeing the same, so a batch's results cost no statement on most batches. The times are the
database's wall clock, as the watcher judges them (`backend.alerts.watch`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Channel = Literal["push", "sms"]
REWRITE_SECONDS = 10.0

_RECORD = text(
    """
    INSERT INTO gateway_health AS g (channel, failing_since, last_ok_at)
    VALUES (:channel, CASE WHEN :ok THEN NULL ELSE clock_timestamp() END, CASE WHEN :ok THEN clock_timestamp() END)
    ON CONFLICT (channel) DO UPDATE
    SET failing_since = CASE WHEN :ok THEN NULL ELSE coalesce(g.failing_since, clock_timestamp()) END,
        last_ok_at = CASE WHEN :ok THEN clock_timestamp() ELSE g.last_ok_at END
    """
)

# What this process last wrote per database (its sessions) and channel, and when (monotonic seconds).
_written: dict[tuple[int, str], tuple[bool, float]] = {}


async def record(sessions: async_sessionmaker[AsyncSession], channel: Channel, ok: bool | None) -> None:
    """Note that the gateway answered (`ok`) or did not; None (nothing it could answer for) notes nothing."""
    if ok is None:
        return
    key = (id(sessions), channel)
    last = _written.get(key)
    if last is not None and last[0] == ok and time.monotonic() - last[1] < REWRITE_SECONDS:
        return
    async with sessions.begin() as session:
        await session.execute(_RECORD, {"channel": channel, "ok": ok})
    _written[key] = (ok, time.monotonic())


def push_answered(outcomes: Iterable[str]) -> bool | None:
    """Whether a batch shows FCM answering: a push it took says yes; only passing failures or refusals
    say no; dead tokens alone (the phones' fault, not FCM's) say nothing."""
    seen = set(outcomes)
    if "sent" in seen:
        return True
    return False if seen & {"retry", "failed"} else None


def sms_answered(outcomes: Iterable[str]) -> bool | None:
    """Whether the SMS gateway answered a batch: it took or refused an SMS (yes), or only timed out or
    failed to connect (no)."""
    seen = set(outcomes)
    if seen & {"sent", "failed"}:
        return True
    return False if seen else None
