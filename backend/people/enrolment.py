"""Setting up the authenticator app, and an organisation's rule for passwords (see backend.people.second_factor).

Enrolment proves the person with her password (throttled like a login): someone who knows her
password could enrol before she does, which is why the secret works only once its first code
confirms it, and a confirmed one is never replaced this way.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit.service import record
from backend.config import Settings
from backend.errors import Problem
from backend.people import schemas as s
from backend.people import second_factor
from backend.people.actor import Actor
from backend.people.administered import administered
from backend.people.auth import checked_password, revoke_password_devices, sign_in
from backend.people.models import Organisation, PasswordSignIn
from backend.people.throttle import factor_key, forget_failures


async def enrol(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    data: s.SecondFactorEnrolIn,
    address: str,
) -> s.SecondFactorEnrolment:
    """A new secret for her authenticator app, shown this once (one never confirmed is replaced)."""
    user, keys, needs_code = await checked_password(
        session, sessions, settings, now, data.email, data.password, None, address
    )
    async with sessions.begin() as apart:
        await forget_failures(apart, keys)
    if not needs_code:
        raise Problem(
            422,
            "No authenticator app needed",
            "Only administrators and coordinators signing in with a Lindra password use an authenticator app.",
            rule="second_factor_not_needed",
        )
    secret, uri = second_factor.start_enrolment(settings, user)
    await session.flush()
    return s.SecondFactorEnrolment(otpauth_uri=uri, secret=secret)


async def confirm(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    data: s.SecondFactorConfirmIn,
    address: str,
) -> s.SecondFactorConfirmed:
    """The app's first code puts the secret in force: recovery codes, shown once, and a signed-in
    device (unless her password must still be changed: then she logs in with it and a code)."""
    user, keys, _ = await checked_password(
        session, sessions, settings, now, data.email, data.password, data.device_key, address
    )
    codes = await second_factor.confirm_enrolment(session, settings, now, user, data.otp)
    async with sessions.begin() as apart:
        await forget_failures(apart, keys, factor_key(user.id))
    if user.password_change_required:
        return s.SecondFactorConfirmed(recovery_codes=codes, session=None)
    tokens = await sign_in(session, settings, now, user, data.device, data.device_key)
    return s.SecondFactorConfirmed(recovery_codes=codes, session=tokens)


async def _own_organisation(session: AsyncSession, actor: Actor) -> Organisation:
    """The organisation whose rule an administrator sets: her municipality, or her unit or team."""
    reach = administered(actor)
    return await session.get_one(Organisation, reach.municipality_id or reach.organisation_id, with_for_update=True)


def _settings_out(organisation: Organisation, devices_signed_out: int = 0) -> s.SignInSettings:
    return s.SignInSettings(
        organisation_id=organisation.id,
        password_sign_in=PasswordSignIn(organisation.password_sign_in),
        devices_signed_out=devices_signed_out,
    )


async def sign_in_settings(session: AsyncSession, actor: Actor) -> s.SignInSettings:
    """Whether her organisation's people may sign in with a Lindra password."""
    return _settings_out(await _own_organisation(session, actor))


async def set_sign_in_settings(
    session: AsyncSession, actor: Actor, now: datetime, data: s.SignInSettingsIn
) -> s.SignInSettings:
    """Allow passwords (with a code for admins and coordinators), or switch them off: her people then
    sign in only through the identity provider, and every device they signed in with a password is
    signed out at once (its sockets close), but the one she is using to make the change."""
    organisation = await _own_organisation(session, actor)
    before = organisation.password_sign_in
    organisation.password_sign_in = PasswordSignIn(data.password_sign_in).value
    signed_out: list[uuid.UUID] = []
    if organisation.password_sign_in == PasswordSignIn.OFF and before != PasswordSignIn.OFF:
        signed_out = await revoke_password_devices(session, now, administered(actor).user_ids(), actor.device_id)
    await record(
        session,
        actor,
        "organisation.password_sign_in",
        detail={
            "organisation_id": str(organisation.id),
            "from": before,
            "to": organisation.password_sign_in,
            "devices_signed_out": len(signed_out),
        },
    )
    await session.flush()
    return _settings_out(organisation, len(signed_out))
