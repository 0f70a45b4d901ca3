"""Logging in, refreshing and signing out: passwords, the failed-login throttle and device sessions.

Two writes must outlive the refusal they cause: a failed login must count even though the answer
is a 401 or a 429, and a device whose already-rotated refresh token is replayed must stay signed
out even though the answer is a 401. The request's transaction rolls back whenever the handler
raises, so these two writes go through their own short transaction on the app's sessionmaker,
committed before we answer; the refusal is then raised like every other Problem. We chose this
over answering the error without raising because it keeps one error path for the whole app
(raise Problem -> problem JSON), and because the throttle row's lock is then held for a few
milliseconds only: never across the argon2 check, never across the slow-down sleep, so parallel
guesses at one e-mail cannot pile up holding pooled connections.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.errors import Problem
from backend.people import schemas as s
from backend.people.actor import Actor, unauthenticated
from backend.people.models import Device, LoginThrottle, Role, User
from backend.people.tokens import AccessClaims, hash_token, issue_access_token, new_refresh_token

log = logging.getLogger("lindra.auth")

_HASHER = PasswordHasher()
# The slow-down doubles per failure from `login_slow_after` on, starting here, up to the cap.
FIRST_DELAY_SECONDS = 0.25
MAX_DELAY_SECONDS = 2.0
# A refresh retried this soon after its swap is the phone asking again after a lost answer, not a thief.
REFRESH_RETRY_GRACE = timedelta(seconds=60)


# ---- passwords --------------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    """Argon2 takes tens of milliseconds of CPU: run it off the event loop so other requests go on."""
    return await asyncio.to_thread(_HASHER.hash, password)


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


async def _password_matches(password_hash: str | None, password: str) -> bool:
    """Check against the user's hash, or a dummy one when there is no user, so timing tells nothing."""
    stored = password_hash if password_hash is not None else await asyncio.to_thread(_dummy_hash)
    try:
        matches = await asyncio.to_thread(_HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(matches) and password_hash is not None


def normalised_email(email: str) -> str:
    """E-mail addresses are compared without case or surrounding spaces (the unique index is on lower())."""
    return email.strip().lower()


# ---- the failed-login throttle ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the throttle says about one login attempt before the password is checked."""

    prior_failures: int
    # Set when the e-mail was already locked: refuse without looking at the password.
    locked_until: datetime | None


def throttle_key(email: str) -> str:
    """The throttle is keyed by a hash, so its table lists no addresses; unknown e-mails count too."""
    return hashlib.sha256(normalised_email(email).encode()).hexdigest()


async def count_attempt(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, key: str, now: datetime
) -> Attempt:
    """Count this attempt as a failure up front, in its own committed transaction.

    Counting before the password check (a success deletes the row again) means parallel guesses
    each take their own number under the row lock: a burst of requests cannot all slip past the
    limit while the first ones are still being checked. The attempt that reaches the limit locks
    the e-mail at once; if its password was right, its success clears the lock again.
    """
    async with sessions.begin() as session:
        await session.execute(
            insert(LoginThrottle).values(email_key=key, failures=0, window_started_at=now).on_conflict_do_nothing()
        )
        row = (
            await session.scalars(select(LoginThrottle).where(LoginThrottle.email_key == key).with_for_update())
        ).one()
        if row.locked_until is not None and row.locked_until > now:
            return Attempt(row.failures, row.locked_until)
        window_over = row.window_started_at <= now - timedelta(minutes=settings.login_window_minutes)
        if window_over or row.locked_until is not None:
            # A new window, or a lock that has run out: start counting afresh.
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        prior = row.failures
        row.failures = prior + 1
        if row.failures >= settings.login_lock_after:
            row.locked_until = now + timedelta(minutes=settings.login_lock_minutes)
        return Attempt(prior, None)


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
        .returning(LoginThrottle.email_key)
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


def _locked(locked_until: datetime, now: datetime) -> Problem:
    seconds = max(1, math.ceil((locked_until - now).total_seconds()))
    minutes = math.ceil(seconds / 60)
    return Problem(
        429,
        "Too many failed logins",
        f"Logging in with this e-mail is paused for {minutes} minute(s) after repeated failures.",
        rule="login_locked",
        headers={"Retry-After": str(seconds)},
    )


def _bad_login() -> Problem:
    """One answer for an unknown e-mail, a wrong password and a deleted user."""
    return Problem(
        401,
        "Invalid e-mail or password",
        "Invalid e-mail or password",
        rule="credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )


# ---- sessions ---------------------------------------------------------------------------------


def _tokens(settings: Settings, now: datetime, user: User, device_id: uuid.UUID, refresh_token: str) -> s.TokenOut:
    access = issue_access_token(
        settings.secret_key, AccessClaims(user.id, device_id, user.role), now, settings.access_token_minutes
    )
    return s.TokenOut(
        access_token=access,
        expires_in=settings.access_token_minutes * 60,
        refresh_token=refresh_token,
        device_id=device_id,
        user=s.SessionUser(
            id=user.id,
            full_name=user.full_name,
            role=Role(user.role),
            organisation_id=user.organisation_id,
            language=user.language,
        ),
    )


async def release_push_token(session: AsyncSession, push_token: str, keep: uuid.UUID | None = None) -> None:
    """A push token belongs to one app install: take it off any other device row (another user who
    used the same shared phone, an older login), so nobody's notifications reach the wrong person."""
    query = update(Device).where(Device.push_token == push_token).values(push_token=None)
    if keep is not None:
        query = query.where(Device.id != keep)
    await session.execute(query)


async def login(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    data: s.LoginIn,
) -> s.TokenOut:
    """Check the password and sign in a new device; failures are counted, slowed and locked out."""
    key = throttle_key(data.email)
    attempt = await count_attempt(sessions, settings, key, now)
    if attempt.locked_until is not None:
        raise _locked(attempt.locked_until, now)
    delay = slow_down_seconds(attempt.prior_failures, settings.login_slow_after)
    if delay:
        await asyncio.sleep(delay)
    user = await session.scalar(
        select(User).where(func.lower(User.email) == normalised_email(data.email), User.deleted_at.is_(None))
    )
    matches = await _password_matches(user.password_hash if user else None, data.password)
    if user is None or not matches:
        raise _bad_login()

    await session.execute(delete(LoginThrottle).where(LoginThrottle.email_key == key))
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = await hash_password(data.password)
    if data.device.push_token is not None:
        await release_push_token(session, data.device.push_token)
    refresh_token = new_refresh_token()
    device = Device(
        user_id=user.id,
        platform=data.device.platform.value,
        app_version=data.device.app_version,
        push_token=data.device.push_token,
        refresh_token_hash=hash_token(refresh_token),
        refresh_expires_at=now + timedelta(days=settings.refresh_token_days),
        last_used_at=now,
    )
    session.add(device)
    await session.flush()
    return _tokens(settings, now, user, device.id, refresh_token)


def _refresh_refused() -> Problem:
    return unauthenticated("This refresh token is no longer valid; log in again.")


async def refresh(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    refresh_token: str,
) -> s.TokenOut:
    """Swap a refresh token for a new pair. Each refresh token works once; its lifetime starts afresh.

    A token that was already swapped coming back means two holders: the phone and a thief. We
    cannot tell which is which, so the device is signed out for both (in its own transaction, so
    the 401 does not undo it) and its owner logs in again. Except within `REFRESH_RETRY_GRACE` of
    the swap: that is the phone retrying after the answer was lost, and it is answered again.
    """
    presented = hash_token(refresh_token)
    device = await session.scalar(select(Device).where(Device.refresh_token_hash == presented).with_for_update())
    if device is None:
        device = await _retried(session, presented, now)
    if device is None:
        await _revoke_replayed(sessions, presented, now)
        raise _refresh_refused()
    if device.revoked_at is not None or device.refresh_expires_at <= now:
        raise _refresh_refused()
    user = await session.get(User, device.user_id)
    if user is None or user.deleted_at is not None:
        raise _refresh_refused()
    new_token = new_refresh_token()
    device.previous_refresh_hash = presented
    device.refresh_token_hash = hash_token(new_token)
    device.refresh_expires_at = now + timedelta(days=settings.refresh_token_days)
    device.last_used_at = now
    await session.flush()
    return _tokens(settings, now, user, device.id, new_token)


async def _retried(session: AsyncSession, presented: str, now: datetime) -> Device | None:
    """The device whose last swap this token made moments ago: the phone never got the answer (a weak
    signal) and asks again. It gets a new pair; the pair it never received stops working."""
    return await session.scalar(
        select(Device)
        .where(
            Device.previous_refresh_hash == presented,
            Device.last_used_at >= now - REFRESH_RETRY_GRACE,
            Device.revoked_at.is_(None),
        )
        .with_for_update()
    )


async def _revoke_replayed(sessions: async_sessionmaker[AsyncSession], presented: str, now: datetime) -> None:
    async with sessions.begin() as apart:
        revoked = await apart.scalars(
            update(Device)
            .where(Device.previous_refresh_hash == presented, Device.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="refresh_reuse", push_token=None)
            .returning(Device.id)
        )
        for device_id in revoked:
            log.warning("replayed refresh token: device %s signed out", device_id)


async def revoke_devices(
    session: AsyncSession,
    now: datetime,
    reason: str,
    *,
    user_id: uuid.UUID | None = None,
    device_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Sign devices out: their refresh tokens stop working, and their access tokens too at once,
    since every request checks its device. The push token goes as well: a lost phone gets nothing."""
    if user_id is None and device_id is None:
        raise ValueError("revoke_devices needs a user or a device")
    query = (
        update(Device)
        .where(Device.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason, push_token=None)
        .returning(Device.id)
    )
    if user_id is not None:
        query = query.where(Device.user_id == user_id)
    if device_id is not None:
        query = query.where(Device.id == device_id)
    return list(await session.scalars(query))


async def logout(session: AsyncSession, actor: Actor, now: datetime) -> None:
    """Sign out the device this request came from."""
    await revoke_devices(session, now, "logout", device_id=actor.device_id)
