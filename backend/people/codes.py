"""One-time codes with which a user chooses her own password: an invitation, or a reset.

An administrator never sets nor learns a password. Creating a user, or resetting one's password,
mails the user a code; only its hash is stored. It works once, for `password_code_hours` (24 h),
and only the newest code of a user works. Redeeming it (`POST /auth/password`, public) sets the
password she chose (checked by backend.people.passwords) and signs her in on that device.

Codes are 16 characters of a 32-letter alphabet (80 bits, typed in four groups): guessing one
among all users' open codes within its day is out of reach, so redeeming is not throttled.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit.service import record
from backend.config import Settings
from backend.errors import Problem
from backend.people import schemas as s
from backend.people import second_factor, service
from backend.people.actor import Actor
from backend.people.administered import administered, managed_user
from backend.people.auth import revoke_devices, set_own_password, sign_in
from backend.people.mailer import send_mail
from backend.people.models import CodePurpose, PasswordCode, User
from backend.people.tokens import hash_token, new_typed_code, normalised_typed_code

# Used and expired codes are kept this long (for the support question "did she use it?"), then purged.
KEEP_DAYS = 30

_SUBJECT = {
    CodePurpose.INVITE: "Lindra: vælg din adgangskode",
    CodePurpose.RESET: "Lindra: din adgangskode er nulstillet",
}
_WHY = {
    CodePurpose.INVITE: "Du er oprettet som bruger af Lindra.",
    CodePurpose.RESET: "Din adgangskode til Lindra er nulstillet, og du er logget ud på alle enheder.",
}


def _body(purpose: CodePurpose, code: str, expires_at: datetime) -> str:
    return (
        f"{_WHY[purpose]}\n\n"
        f"Din engangskode: {code}\n\n"
        f"Åbn Lindra, vælg 'Jeg har en kode', og vælg din egen adgangskode. Koden virker én gang og udløber "
        f"{expires_at:%Y-%m-%d %H:%M} UTC.\n"
        "Har du ikke bedt om den, så sig det til din leder.\n\n"
        f"(English: your one-time code to choose your own Lindra password is {code}; it works once, "
        f"until {expires_at:%Y-%m-%d %H:%M} UTC.)\n"
    )


async def send_code(
    session: AsyncSession, settings: Settings, now: datetime, user: User, purpose: CodePurpose, devices_revoked: int
) -> s.CodeSent:
    """Make a code for `user` (her older open codes stop working) and mail it to her alone.

    Called inside the use case's transaction, last: a mail server that fails rolls the whole change back.
    """
    await session.execute(
        update(PasswordCode).where(PasswordCode.user_id == user.id, PasswordCode.used_at.is_(None)).values(used_at=now)
    )
    code = new_typed_code()
    expires_at = now + timedelta(hours=settings.password_code_hours)
    session.add(
        PasswordCode(
            user_id=user.id, code_hash=hash_token(code), purpose=purpose.value, created_at=now, expires_at=expires_at
        )
    )
    await session.flush()
    delivery = await send_mail(settings, user.email, _SUBJECT[purpose], _body(purpose, code, expires_at), now)
    return s.CodeSent(
        user_id=user.id, purpose=purpose, delivery=delivery, expires_at=expires_at, devices_revoked=devices_revoked
    )


async def invite(
    session: AsyncSession, actor: Actor, settings: Settings, now: datetime, data: s.UserCreate
) -> s.UserOut:
    """Create a user with no password, and mail her a code to choose one."""
    created = await service.create_user(session, actor, now, data)
    user = await session.get_one(User, created.id)
    sent = await send_code(session, settings, now, user, CodePurpose.INVITE, devices_revoked=0)
    return msgspec.structs.replace(created, invitation=sent)


async def reset(
    session: AsyncSession, actor: Actor, settings: Settings, now: datetime, user_id: uuid.UUID
) -> s.CodeSent:
    """An administrator resets a user's password: the old one stops working, every session of hers
    ends at once (sockets too), and she alone is mailed a code to choose a new one."""
    user = await managed_user(session, administered(actor), user_id)
    revoked = await revoke_devices(session, now, "password_reset", user_id=user.id)
    user.password_hash = None
    user.password_change_required = False
    factor_cleared = await second_factor.clear(session, user)
    await record(
        session,
        actor,
        "user.password_reset",
        subject_user_id=user.id,
        detail={"devices_revoked": len(revoked), "second_factor_cleared": factor_cleared},
    )
    return await send_code(session, settings, now, user, CodePurpose.RESET, devices_revoked=len(revoked))


def _code_refused() -> Problem:
    return Problem(
        400,
        "Code not valid",
        "This code is unknown, already used or expired. Ask your administrator to send a new one.",
        field="code",
        rule="code_invalid",
    )


async def redeem(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    data: s.PasswordSetIn,
) -> s.TokenOut:
    """Choose one's own password with a mailed code, and sign in. A refused password keeps the code.

    An admin or coordinator signs in only with her second factor too: one who has none yet keeps the
    password she chose and is told to set up her authenticator app (backend.people.enrolment)."""
    row = await session.scalar(
        select(PasswordCode)
        .where(
            PasswordCode.code_hash == hash_token(normalised_typed_code(data.code)),
            PasswordCode.used_at.is_(None),
            PasswordCode.expires_at > now,
        )
        .with_for_update()
    )
    user = await session.get(User, row.user_id, with_for_update=True) if row is not None else None
    if row is None or user is None or user.deleted_at is not None or user.disabled_at is not None:
        raise _code_refused()
    rule = await second_factor.password_sign_in(session, user)
    second_factor.refuse_if_off(rule)
    await set_own_password(session, now, user, data.new_password)
    row.used_at = now
    if second_factor.required(user, rule):
        if user.totp_confirmed_at is None:
            await session.commit()  # the password she chose stands; her app comes next
            raise second_factor.enrolment_required()
        await second_factor.verify(session, sessions, settings, now, user, data.otp)
    return await sign_in(session, settings, now, user, data.device, data.device_key)


async def purge_codes(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Forget codes used or expired more than `KEEP_DAYS` ago (a periodic job)."""
    before = now - timedelta(days=KEEP_DAYS)
    purged = await session.scalars(
        delete(PasswordCode)
        .where(or_(PasswordCode.used_at < before, PasswordCode.expires_at < before))
        .returning(PasswordCode.id)
    )
    return len(list(purged))
