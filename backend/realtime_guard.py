"""Which event sockets may stay open: a signed-out device's close at once; a device holds a few at most.

- **Signed out**: every instance's hub LISTENs on `lindra_actors`, where triggers (migration
  20261123_0007) announce every device signed out and every user deleted, whoever wrote it. On
  such a notice the hub asks once, for the devices of all its sockets together, which are still
  signed in, and closes the others with 4410 ("signed out: log in again"). One query per burst of
  notices, however many sockets; a socket so closed no longer waits for its periodic re-check
  (up to a minute). After the listening connection was lost, the same check runs on reconnect,
  since notices sent meanwhile were missed.
- **Bounded**: one device (one login) holds at most `SOCKETS_PER_DEVICE` open sockets on an
  instance; a new one beyond that closes the *oldest* with 4409. The oldest, not the new one,
  because a phone that lost its network reconnects before the server can know the old socket is
  dead (a half-open TCP connection lingers for minutes): refusing the new one would leave the
  phone deaf exactly then. Whoever holds the same access token can push a socket out, but he
  holds the session already; the answer to that is signing the device out. An app must not
  reconnect by itself on 4409 (two windows would take turns forever): it says the board is open
  in another window. The bound is per instance, so behind N instances a device has 3N at most.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Protocol

import asyncpg

log = logging.getLogger("lindra.realtime")

SIGNED_OUT = 4410
REPLACED = 4409
SOCKETS_PER_DEVICE = 3
SIGNED_OUT_REASON = "This device has been signed out; log in again."
REPLACED_REASON = "Too many open connections for this login; a newer one took this one's place."
RETRY_SECONDS = 0.5

_STILL_SIGNED_IN = """
    SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id
    WHERE d.id = ANY($1::uuid[]) AND d.revoked_at IS NULL AND u.deleted_at IS NULL
    """


class Guarded(Protocol):
    """What the guard needs of a hub's client."""

    @property
    def device_id(self) -> uuid.UUID: ...

    @property
    def opened(self) -> float: ...

    @property
    def is_closed(self) -> bool: ...

    def close(self, code: int, reason: str) -> None: ...


class SocketGuard:
    """Closes the sockets of signed-out devices, and the oldest of a device holding too many."""

    def __init__(self, pool: asyncpg.Pool, per_device: int = SOCKETS_PER_DEVICE) -> None:
        self.pool = pool
        self.per_device = per_device
        self._due = asyncio.Event()

    def changed(self, *_notification: object) -> None:
        """A device or user may have been signed out (also the LISTEN callback)."""
        self._due.set()

    def admit(self, new: Guarded, clients: Iterable[Guarded]) -> None:
        """Make room for `new`: close the oldest open sockets of its device beyond the bound."""
        same = sorted((c for c in clients if c.device_id == new.device_id and not c.is_closed), key=lambda c: c.opened)
        for oldest in same[: max(0, len(same) - self.per_device + 1)]:
            oldest.close(REPLACED, REPLACED_REASON)

    async def run(self, clients: Callable[[], Iterable[Guarded]]) -> None:
        """Each time a change is announced, close the sockets whose device is no longer signed in."""
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await self._close_signed_out(tuple(clients()))
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("checking sockets for signed-out devices failed, retrying: %s", exc)
                await asyncio.sleep(RETRY_SECONDS)
                self._due.set()

    async def _close_signed_out(self, clients: tuple[Guarded, ...]) -> None:
        devices = list({client.device_id for client in clients if not client.is_closed})
        if not devices:
            return
        async with self.pool.acquire() as connection:
            signed_in = {row[0] for row in await connection.fetch(_STILL_SIGNED_IN, devices)}
        for client in clients:
            if client.device_id not in signed_in:
                client.close(SIGNED_OUT, SIGNED_OUT_REASON)
