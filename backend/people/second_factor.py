"""Who may sign in with a local password, and the second factor that admins and coordinators add to it.

A municipality (or a palliative unit or team) decides whether its people may sign in with a
Lindra password at all (`PasswordSignIn`, set by its administrator with `PUT /admin/sign-in`); a
district follows its municipality. Switched off, a password is refused with a problem that says
to sign in through the municipality's identity provider.

Where passwords are allowed, an administrator's or a coordinator's password alone is not enough:
one opens every user of the municipality, the other every case. They add a TOTP code (RFC 6238:
six digits, 30-second steps, SHA-1, as every authenticator app makes them):
- Enrolment (`backend.people.enrolment`): with her e-mail and password she gets a new secret,
  shown once as an otpauth URI; it is in force only when a first code from her app confirms it,
  which also gives her ten recovery codes, shown once and stored hashed.
- Sign-in: the login's `otp` carries the code. The current step and one on either side are
  accepted (a phone's clock drifts), but never a step at or before the last one used: a code
  overheard, or sent twice, within its 30 seconds does not sign in a second time.
- A recovery code stands in for the code, once.
- Every code is counted by the login throttle like a password, and her account's codes lock
  after `login_lock_after` failures from anywhere (backend.people.throttle).
- An administrator's password reset clears the second factor too (the lost phone): she enrols again.
- The secret is sealed at rest with the service's key, as a provider's client secret is: a copy of
  the database alone makes no codes. A seal the key no longer opens (LINDRA_SECRET_KEY changed)
  counts as a lost phone: recovery codes (hashed, not sealed) still sign in; a reset enrols again.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.errors import Problem
from backend.people.federation.sealed import seal, unseal
from backend.people.models import Organisation, OrganisationKind, PasswordSignIn, RecoveryCode, Role, User
from backend.people.throttle import count_factor_attempt, locked_problem
from backend.people.tokens import hash_token, new_typed_code, normalised_typed_code

NEEDS_SECOND_FACTOR = frozenset({Role.ADMIN, Role.COORDINATOR})
ISSUER = "Lindra"
STEP_SECONDS = 30
# Steps accepted on either side of the server's: a phone's clock may be this many steps off.
DRIFT_STEPS = 1
RECOVERY_CODES = 10


async def password_sign_in(session: AsyncSession, user: User) -> PasswordSignIn:
    """The rule for this user's passwords: her organisation's, or her district's municipality's."""
    organisation = await session.get_one(Organisation, user.organisation_id)
    if organisation.kind == OrganisationKind.DISTRICT and organisation.parent_id is not None:
        organisation = await session.get_one(Organisation, organisation.parent_id)
    return PasswordSignIn(organisation.password_sign_in)


def refuse_if_off(rule: PasswordSignIn) -> None:
    """Her organisation signs in only through its identity provider."""
    if rule == PasswordSignIn.OFF:
        raise Problem(
            403,
            "Sign in with your municipality's login",
            "Your organisation has switched off Lindra passwords. Sign in with your municipality's "
            "login (the identity provider) instead.",
            rule="password_sign_in_off",
        )


def required(user: User, rule: PasswordSignIn) -> bool:
    """Whether this password sign-in needs a second factor."""
    return rule == PasswordSignIn.SECOND_FACTOR and Role(user.role) in NEEDS_SECOND_FACTOR


def enrolment_required() -> Problem:
    return Problem(
        403,
        "Set up your authenticator app",
        "Administrators and coordinators sign in with a code from an authenticator app too. Set it up "
        "first: POST /auth/second-factor/enrol with your e-mail and password.",
        field="otp",
        rule="second_factor_enrolment_required",
    )


def _code_problem(title: str, detail: str, rule: str) -> Problem:
    return Problem(401, title, detail, field="otp", rule=rule, headers={"WWW-Authenticate": "Bearer"})


def current_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The step whose code this is, near `now` and after `last_step`; None when there is none."""
    typed = "".join(ch for ch in code if ch.isdigit())
    if len(typed) != 6:
        return None
    totp = pyotp.TOTP(secret)
    here = current_step(now)
    for step in range(here - DRIFT_STEPS, here + DRIFT_STEPS + 1):
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.generate_otp(step), typed):
            return step
    return None


async def _take_step(session: AsyncSession, user: User, step: int) -> bool:
    """Record `step` as used, unless it (or a later one) was used already: two requests with one
    code race here, and one wins."""
    taken = await session.scalar(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .returning(User.id)
    )
    return taken is not None


async def _use_recovery_code(session: AsyncSession, user: User, code: str, now: datetime) -> bool:
    used = await session.scalar(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == hash_token(normalised_typed_code(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(RecoveryCode.code_hash)
    )
    return used is not None


async def verify(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    user: User,
    code: str | None,
) -> None:
    """Pass, or refuse this sign-in: no factor set up yet, no code sent, a code locked, wrong or used."""
    if user.totp_secret is None or user.totp_confirmed_at is None:
        raise enrolment_required()
    if code is None:
        raise _code_problem(
            "Code from your authenticator app needed",
            "Send the six-digit code from your authenticator app (or a recovery code) in otp.",
            "second_factor_required",
        )
    locked_until = await count_factor_attempt(sessions, settings, user.id, now)
    if locked_until is not None:
        raise locked_problem(locked_until, now)
    secret = unseal(settings.secret_key, user.totp_secret)
    step = matching_step(secret, code, now, user.totp_last_step) if secret is not None else None
    if step is not None and await _take_step(session, user, step):
        return
    if step is None and await _use_recovery_code(session, user, code, now):
        return
    raise _code_problem(
        "Code not accepted",
        "This code is wrong, or was used already. Wait for the next code from your app and try again.",
        "second_factor_invalid",
    )


def start_enrolment(settings: Settings, user: User) -> tuple[str, str]:
    """A new secret for the user (replacing one never confirmed): the secret, and its otpauth URI."""
    if user.totp_confirmed_at is not None:
        raise Problem(
            409,
            "Authenticator app already set up",
            "Your authenticator app is set up already. Sign in with its code, or a recovery code; if both "
            "are lost, ask your administrator to reset your password.",
            rule="second_factor_enrolled",
        )
    secret = pyotp.random_base32()
    user.totp_secret = seal(settings.secret_key, secret)
    user.totp_last_step = None
    return secret, pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


async def confirm_enrolment(
    session: AsyncSession, settings: Settings, now: datetime, user: User, code: str
) -> list[str]:
    """The first code from her app puts the secret in force; new recovery codes, returned this once."""
    secret = unseal(settings.secret_key, user.totp_secret)
    step = matching_step(secret, code, now, None) if secret is not None else None
    if user.totp_confirmed_at is not None or step is None:
        raise _code_problem(
            "Code not accepted",
            "This is not the code your app shows for the secret you were just given. Start again if unsure.",
            "second_factor_invalid",
        )
    user.totp_confirmed_at = now
    user.totp_last_step = step
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [new_typed_code() for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(code_hash=hash_token(code), user_id=user.id) for code in codes)
    await session.flush()
    return codes


async def clear(session: AsyncSession, user: User) -> bool:
    """Forget her second factor (a password reset): whether she had one."""
    had = user.totp_secret is not None
    user.totp_secret = user.totp_confirmed_at = user.totp_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    return had
