"""Logging in, refreshing and signing out: device sessions, their refresh-token families and proofs.

A password signs in only where the person's organisation allows Lindra passwords, and an
administrator's or coordinator's only with her authenticator app's code (backend.people.second_factor).

A device is one login of one phone or browser. Its refresh token rotates at every refresh; every
token it ever had is remembered, hashed, as its family (`rotated_refresh_tokens`). A phone sends
a `device_key` too: a random secret it makes once, keeps beside its refresh token and sends at
login and with every refresh; the server keeps only its hash. It proves that a refresh comes
from the phone and not from someone who has only copied a refresh token.

The rules of a refresh (`refresh`):
- The current token (with the device's key, when the device has one) gets a new pair.
- The token swapped last, within `REFRESH_RETRY_GRACE` of its swap, with the device's key: the
  phone retrying after its answer was lost. It gets a new pair; the pair it never received is
  added to the family and stops working.
- Anything else of the family (an older token; the last one after the grace; the last one or the
  current one without the key) means two holders of the session: the device is signed out at once,
  whoever asked, and its owner is told to log in again (401 on her next request, her sockets
  closed with 4410). We cannot tell the thief from the phone, so both lose the session.
- A phone whose app sends no key (versions in the field before keys) refreshes with its current
  token as before. A retry of such a phone within the grace is refused and signs the device out:
  without a key a retry and a thief look the same, and the cost of a wrong answer is one login
  for the nurse against a kept session to health records for a thief. Lost answers are rare; the
  app then shows the login screen. Such a device adopts the key its app sends on a later refresh.

Writes that must outlive the refusal they cause (the failed-login count, a device signed out for
a reused token) go through their own short transaction, committed before we answer; the refusal
is then raised like every other Problem, so the request's rollback cannot undo them.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit.service import record
from backend.config import Settings
from backend.errors import Problem
from backend.people import schemas as s
from backend.people import second_factor
from backend.people.actor import Actor, unauthenticated
from backend.people.federation.discovery import ProviderDirectory
from backend.people.federation.mapping import provider_actor
from backend.people.federation.models import FederatedDevice, FederatedLink
from backend.people.federation.refresh_check import check_at_provider
from backend.people.models import Device, Role, RotatedRefreshToken, User
from backend.people.passwords import check_new_password, hash_password, needs_rehash, password_matches
from backend.people.throttle import (
    ThrottleKeys,
    count_attempt,
    factor_key,
    forget_failures,
    locked_problem,
    normalised_email,
    throttle_keys,
)
from backend.people.tokens import AccessClaims, hash_token, issue_access_token, new_refresh_token

__all__ = ["normalised_email"]

log = logging.getLogger("lindra.auth")

# A refresh retried this soon after its swap may be the phone asking again after a lost answer.
REFRESH_RETRY_GRACE = timedelta(seconds=60)


def _bad_login() -> Problem:
    """One answer for an unknown e-mail, a wrong password, a deleted user and one with no password yet."""
    return Problem(
        401,
        "Invalid e-mail or password",
        "Invalid e-mail or password",
        rule="credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )


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


async def sign_in(
    session: AsyncSession, settings: Settings, now: datetime, user: User, device: s.DeviceIn, device_key: str | None
) -> s.TokenOut:
    """Start a new device session for a user whose identity was just proven (password or code)."""
    if device.push_token is not None:
        await release_push_token(session, device.push_token)
    refresh_token = new_refresh_token()
    row = Device(
        user_id=user.id,
        platform=device.platform.value,
        app_version=device.app_version,
        push_token=device.push_token,
        refresh_token_hash=hash_token(refresh_token),
        device_key_hash=hash_token(device_key) if device_key else None,
        refresh_expires_at=now + timedelta(days=settings.refresh_token_days),
        last_used_at=now,
    )
    session.add(row)
    await session.flush()
    return _tokens(settings, now, user, row.id, refresh_token)


async def set_own_password(session: AsyncSession, now: datetime, user: User, new_password: str) -> None:
    """The user chose a password (checked first): it replaces the old one, and every session of hers
    ends, since whoever knew the old password may hold one."""
    check_new_password(new_password, user.email, user.full_name, "new_password")
    user.password_hash = await hash_password(new_password)
    user.password_change_required = False
    await revoke_devices(session, now, "password_changed", user_id=user.id)


async def _own_device(session: AsyncSession, email: str, device_key: str | None, now: datetime) -> bool:
    """Whether the login comes from a device still signed in as this e-mail's user (its key matches)."""
    if device_key is None:
        return False
    found = await session.scalar(
        select(Device.id)
        .join(User, User.id == Device.user_id)
        .where(
            func.lower(User.email) == normalised_email(email),
            User.deleted_at.is_(None),
            Device.device_key_hash == hash_token(device_key),
            Device.revoked_at.is_(None),
            Device.refresh_expires_at > now,
        )
        .limit(1)
    )
    return found is not None


async def checked_password(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    email: str,
    password: str,
    device_key: str | None,
    address: str,
) -> tuple[User, ThrottleKeys, bool]:
    """The user whose e-mail and password these are, after the throttle (see throttle), and whether
    she needs a second factor too; her organisation may have switched passwords off. The failures
    stay counted until the caller forgets them."""
    keys = throttle_keys(email, address)
    attempt = await count_attempt(sessions, settings, keys, now, await _own_device(session, email, device_key, now))
    if attempt.locked_until is not None:
        raise locked_problem(attempt.locked_until, now)
    if attempt.delay_seconds:
        await asyncio.sleep(attempt.delay_seconds)
    user = await session.scalar(
        select(User).where(
            func.lower(User.email) == normalised_email(email),
            User.deleted_at.is_(None),
            User.disabled_at.is_(None),
        )
    )
    if user is None or not await password_matches(user.password_hash, password):
        raise _bad_login()
    rule = await second_factor.password_sign_in(session, user)
    second_factor.refuse_if_off(rule)
    return user, keys, second_factor.required(user, rule)


async def login(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    data: s.LoginIn,
    address: str,
) -> s.TokenOut:
    """Check the password (and an admin's or coordinator's code) and sign in a new device; failures
    are counted and slowed (see throttle).

    A user whose password was not chosen by herself must send `new_password` too; anyone may, to
    change her password (every other session of hers then ends).
    """
    user, keys, needs_code = await checked_password(
        session, sessions, settings, now, data.email, data.password, data.device_key, address
    )
    if needs_code:
        await second_factor.verify(session, sessions, settings, now, user, data.otp)
    async with sessions.begin() as apart:  # proven: even a refused new password is no guess
        await forget_failures(apart, keys, factor_key(user.id))
    if data.new_password is not None:
        await set_own_password(session, now, user, data.new_password)
    elif user.password_change_required:
        raise Problem(
            403,
            "Choose a new password",
            "Your password was set by someone else. Log in again with a new password of your own in new_password.",
            field="new_password",
            rule="password_change_required",
        )
    elif user.password_hash is not None and needs_rehash(user.password_hash):
        user.password_hash = await hash_password(data.password)
    return await sign_in(session, settings, now, user, data.device, data.device_key)


def _refresh_refused() -> Problem:
    return unauthenticated("This refresh token is no longer valid; log in again.")


def _proven(device: Device, device_key: str | None) -> bool:
    """Whether the request carries this device's key (a device without one has nothing to prove)."""
    if device.device_key_hash is None:
        return True
    return device_key is not None and hmac.compare_digest(device.device_key_hash, hash_token(device_key))


async def refresh(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    directory: ProviderDirectory,
    now: datetime,
    data: s.RefreshIn,
) -> s.TokenOut:
    """Swap a refresh token for a new pair, by the rules in this module's docstring; a device
    signed in through a municipality's provider must still be active there
    (backend.people.federation.refresh_check), or it is signed out."""
    presented = hash_token(data.refresh_token)
    device = await session.scalar(select(Device).where(Device.refresh_token_hash == presented).with_for_update())
    if device is None:
        device = await _retried(session, presented, now)
        if device is None or device.device_key_hash is None or not _proven(device, data.device_key):
            await session.rollback()  # our row locks go, or signing the device out apart would wait on them
            await _revoke_family(sessions, presented, now)
            raise _refresh_refused()
    if device.revoked_at is not None or device.refresh_expires_at <= now:
        raise _refresh_refused()
    if not _proven(device, data.device_key):
        device_id = device.id
        await session.rollback()
        await _revoke_apart(sessions, device_id, now)
        raise _refresh_refused()
    user = await session.get(User, device.user_id)
    if user is None or user.deleted_at is not None or user.disabled_at is not None:
        raise _refresh_refused()
    federated = await session.get(FederatedDevice, device.id)
    if federated is not None:
        refusal = await check_at_provider(session, settings, directory, federated, user, now, device.id.hex)
        if refusal is not None:
            device_id, link = device.id, await session.get_one(FederatedLink, federated.link_id)
            municipality_id, user_id = link.municipality_id, user.id
            await session.rollback()
            async with sessions.begin() as apart:
                for gone in await revoke_devices(apart, now, "provider_refused", device_id=device_id):
                    await record(
                        apart,
                        provider_actor(municipality_id, device_id.hex),
                        "user.devices.revoke",
                        subject_user_id=user_id,
                        detail={"device_id": str(gone), "reason": "provider_refused"},
                    )
            raise unauthenticated(refusal.problem().detail)
    if device.device_key_hash is None and data.device_key is not None:
        device.device_key_hash = hash_token(data.device_key)  # an app updated since its login
    session.add(RotatedRefreshToken(token_hash=device.refresh_token_hash, device_id=device.id, rotated_at=now))
    new_token = new_refresh_token()
    device.previous_refresh_hash = presented
    device.refresh_token_hash = hash_token(new_token)
    device.refresh_expires_at = now + timedelta(days=settings.refresh_token_days)
    device.last_used_at = now
    await session.flush()
    return _tokens(settings, now, user, device.id, new_token)


async def _retried(session: AsyncSession, presented: str, now: datetime) -> Device | None:
    """The live device whose last swap this token made moments ago: the phone asking again, if it
    proves to be the phone."""
    return await session.scalar(
        select(Device)
        .where(
            Device.previous_refresh_hash == presented,
            Device.last_used_at >= now - REFRESH_RETRY_GRACE,
            Device.revoked_at.is_(None),
        )
        .with_for_update()
    )


async def _revoke_family(sessions: async_sessionmaker[AsyncSession], presented: str, now: datetime) -> None:
    """A swapped token came back: sign out the device whose family it is (a made-up token has none)."""
    async with sessions() as session:
        device_id = await session.scalar(
            select(RotatedRefreshToken.device_id).where(RotatedRefreshToken.token_hash == presented)
        )
    if device_id is not None:
        await _revoke_apart(sessions, device_id, now)


async def _revoke_apart(sessions: async_sessionmaker[AsyncSession], device_id: uuid.UUID, now: datetime) -> None:
    """Sign a device out for a reused token in a transaction of its own: the 401 must not undo it."""
    async with sessions.begin() as apart:
        for revoked in await revoke_devices(apart, now, "refresh_reuse", device_id=device_id):
            log.warning("a refresh token was reused: device %s signed out", revoked)


async def revoke_devices(
    session: AsyncSession,
    now: datetime,
    reason: str,
    *,
    user_id: uuid.UUID | None = None,
    device_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Sign devices out: their refresh tokens stop working, and their access tokens too at once,
    since every request checks its device; every instance closes their sockets (the change is
    announced on `lindra_actors`). The push token goes as well: a lost phone gets nothing."""
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


async def revoke_password_devices(
    session: AsyncSession, now: datetime, user_ids: Select[uuid.UUID], keep: uuid.UUID
) -> list[uuid.UUID]:
    """Sign out every device of these users that signed in with a Lindra password (no provider's
    session beside it), but `keep`: the one the administrator switching passwords off is using."""
    query = (
        update(Device)
        .where(
            Device.revoked_at.is_(None),
            Device.id != keep,
            Device.user_id.in_(user_ids),
            ~select(FederatedDevice.device_id).where(FederatedDevice.device_id == Device.id).exists(),
        )
        .values(revoked_at=now, revoked_reason="password_sign_in_off", push_token=None)
        .returning(Device.id)
    )
    return list(await session.scalars(query))


async def logout(session: AsyncSession, actor: Actor, now: datetime) -> None:
    """Sign out the device this request came from."""
    await revoke_devices(session, now, "logout", device_id=actor.device_id)


async def purge_rotated_tokens(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Forget swapped tokens older than a refresh token lives: such a token is expired anyway.

    A phone refreshing every ten minutes swaps thousands a month; a periodic job keeps the table small.
    """
    purged = await session.scalars(
        delete(RotatedRefreshToken)
        .where(RotatedRefreshToken.rotated_at < now - timedelta(days=settings.refresh_token_days))
        .returning(RotatedRefreshToken.token_hash)
    )
    return len(list(purged))
