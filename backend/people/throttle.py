"""The failed-login throttle: it slows a guesser and never lets a stranger lock a nurse out.

NIST SP 800-63B (5.2.2) asks for a limit on failed attempts that does not become a denial of
service against the account's owner. The rule:

- Every attempt is counted up front under two keys, both hashed (the table holds no addresses,
  e-mail or IP): the e-mail with the client's address, and the e-mail alone. Unknown e-mails
  count the same, so the throttle tells nobody which e-mails exist. A success clears both.
- **E-mail and address**: from `login_slow_after` failures within `login_window_minutes` every
  answer waits (0.25 s, doubling, at most 2 s); at `login_lock_after` the e-mail is locked *from
  that address* for `login_lock_minutes` (429 with Retry-After). A stranger failing on the
  nurse's guessable e-mail locks out only himself: she logs in from her own network.
- **E-mail alone**: from `login_email_slow_after` failures from all addresses together, every
  answer for the e-mail waits the same way, and nothing is ever locked. Many addresses guessing
  at one e-mail are slowed; the nurse waits two seconds at worst.
- **Her second factor**: a TOTP or recovery code (admins and coordinators, backend.people.second_factor)
  is counted under both keys like a password, since the password alone never clears them, and under
  a third, her account's from anywhere, which locks its codes at `login_lock_after` failures: six
  codes per window, not six per address, are all a thief who has her password can try.
- **Her own device**: a login that brings the `device_key` of a device still signed in as this
  user (a phone that holds a valid refresh token of hers) is never locked and not slowed by the
  e-mail-wide count.
- The client's address is the connection's peer as the server has it. uvicorn (`lindra serve`)
  replaces it with the `X-Forwarded-For` address only when the peer is a proxy it is told to
  trust: `FORWARDED_ALLOW_IPS` (default 127.0.0.1, a proxy on the same host; set it to the
  proxy's address when the proxy runs elsewhere, as in infra/compose.yaml). Anyone else's
  header is ignored, so a client cannot make up an address per guess.

The count is written in its own short transaction, committed before the password is checked
(see backend.people.auth): the 401 or 429 that follows must not undo it.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar.connection import ASGIConnection
from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.errors import Problem
from backend.people.models import LoginThrottle

# The slow-down doubles per failure from its threshold on, starting here, up to the cap.
FIRST_DELAY_SECONDS = 0.25
MAX_DELAY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    """Where one attempt is counted: the e-mail from this address, and the e-mail from anywhere."""

    pair: str
    email: str


def normalised_email(email: str) -> str:
    """E-mail addresses are compared without case or surrounding spaces (the unique index is on lower())."""
    return email.strip().lower()


def _hashed(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def throttle_keys(email: str, address: str) -> ThrottleKeys:
    """The attempt's keys, hashed so that the table lists neither e-mails nor addresses."""
    normalised = normalised_email(email)
    return ThrottleKeys(pair=_hashed("pair", normalised, address), email=_hashed("email", normalised))


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The address the request came from, as the server has it (see the module docstring)."""
    return connection.client.host if connection.client else ""


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the throttle says about one login attempt before the password is checked."""

    delay_seconds: float
    # Set when the e-mail is locked from this address: refuse without looking at the password.
    locked_until: datetime | None


async def _count(
    session: AsyncSession, settings: Settings, key: str, now: datetime, lockable: bool
) -> tuple[int, datetime | None]:
    """Count one failure under `key` (row-locked): the failures before it, or the lock in force
    (then nothing is counted: a locked attempt checks no password)."""
    await session.execute(
        insert(LoginThrottle).values(key=key, failures=0, window_started_at=now).on_conflict_do_nothing()
    )
    row = (await session.scalars(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())).one()
    if row.locked_until is not None and row.locked_until > now:
        return row.failures, row.locked_until
    window_over = row.window_started_at <= now - timedelta(minutes=settings.login_window_minutes)
    if window_over or row.locked_until is not None:
        # A new window, or a lock that has run out: start counting afresh.
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    prior = row.failures
    row.failures = prior + 1
    if lockable and row.failures >= settings.login_lock_after:
        # The attempt that reaches the limit locks at once; if its password was right, its success
        # clears the lock again.
        row.locked_until = now + timedelta(minutes=settings.login_lock_minutes)
    return prior, None


async def count_attempt(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, keys: ThrottleKeys, now: datetime, own_device: bool
) -> Attempt:
    """Count this attempt as a failure up front, in its own committed transaction.

    Counting before the password check (a success deletes the rows again) means parallel guesses
    each take their own number under the row lock: a burst cannot slip past the limit while the
    first ones are still being checked. The pair's row is always locked before the e-mail's, so
    two attempts never wait on each other crosswise.
    """
    async with sessions.begin() as session:
        pair_prior, locked = await _count(session, settings, keys.pair, now, lockable=not own_device)
        if locked is not None and not own_device:
            return Attempt(0.0, locked)
        email_prior, _ = await _count(session, settings, keys.email, now, lockable=False)
    delay = slow_down_seconds(pair_prior, settings.login_slow_after)
    if not own_device:
        delay = max(delay, slow_down_seconds(email_prior, settings.login_email_slow_after))
    return Attempt(delay, None)


def factor_key(user_id: uuid.UUID) -> str:
    """Where a user's second-factor codes are counted, from every address together."""
    return _hashed("factor", str(user_id))


async def count_factor_attempt(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, user_id: uuid.UUID, now: datetime
) -> datetime | None:
    """Count one second-factor code up front, in its own committed transaction; the lock in force, if any."""
    async with sessions.begin() as session:
        _, locked = await _count(session, settings, factor_key(user_id), now, lockable=True)
    return locked


async def forget_failures(session: AsyncSession, keys: ThrottleKeys, *more: str) -> None:
    """A success: this e-mail's counts start afresh, from this address and from everywhere (and
    `more` keys, such as her second factor's)."""
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_([keys.pair, keys.email, *more])))


async def purge_throttles(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Forget counts whose window and lock are over: guessed e-mails would otherwise pile up rows.

    Meant for a periodic job; a row it removes would have been started afresh by the next attempt anyway.
    """
    window_start = now - timedelta(minutes=settings.login_window_minutes)
    purged = await session.scalars(
        delete(LoginThrottle)
        .where(
            LoginThrottle.window_started_at <= window_start,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
        .returning(LoginThrottle.key)
    )
    return len(list(purged))


def slow_down_seconds(prior_failures: int, slow_after: int) -> float:
    """How long to wait before answering: nothing at first, then doubling, capped at two seconds.

    The wait comes before the answer whatever it is, so a guesser cannot cut a slow failure short
    and infer the result from a fast success.
    """
    if prior_failures < slow_after:
        return 0.0
    return min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** min(prior_failures - slow_after, 8))


def locked_problem(locked_until: datetime, now: datetime) -> Problem:
    """The 429 for an e-mail locked from this address, with when to try again."""
    seconds = max(1, math.ceil((locked_until - now).total_seconds()))
    minutes = math.ceil(seconds / 60)
    return Problem(
        429,
        "Too many failed logins",
        f"Logging in with this e-mail from this address is paused for {minutes} minute(s) after repeated failures.",
        rule="login_locked",
        headers={"Retry-After": str(seconds)},
    )
