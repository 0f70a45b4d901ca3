"""OpenID Connect sign-in: Authorization Code with PKCE, for the board and for the phone.

1. `begin`: Lindra makes `state`, `nonce` and (for the board) the PKCE verifier, keeps their
   hashes and values in a sign-in attempt, and answers the provider's authorize URL. The attempt
   is bound to whoever began it: the board's browser by a cookie (only its hash is kept), the
   app by its device key (the app also keeps the PKCE verifier itself and sends only the challenge).
2. The provider sends the browser back with `code` and `state`: to Lindra (`board_callback`), or
   to the app, which hands them to Lindra (`app_token`). `exchange` finds the attempt by `state`,
   checks the binding, swaps the code at the provider with the verifier and client secret, and
   checks the ID token strictly (discovery's issuer and algorithms, the provider's key, audience,
   expiry, the attempt's nonce). An attempt answers once: a replayed code or state is refused.
3. The mapping decides who she is in Lindra (`mapping.sign_in_federated`); Lindra then signs the
   device in with its own tokens, as a password login does, and keeps the provider's session id
   (for its back-channel logout) and refresh token (for the check at every refresh).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.errors import Problem
from backend.people import schemas as ps
from backend.people.auth import sign_in
from backend.people.federation import schemas as s
from backend.people.federation.discovery import ProviderDirectory, ProviderUnavailable, Untrusted
from backend.people.federation.mapping import Refusal, admit
from backend.people.federation.models import FederatedDevice, OidcProvider, SignInAttempt
from backend.people.federation.provider import (
    GrantRefused,
    id_token_claims,
    identity_from,
    not_accepted,
    provider_of,
    token_request,
    unavailable,
)
from backend.people.federation.sealed import seal
from backend.people.models import Organisation, User
from backend.people.tokens import hash_token

# A sign-in attempt through SAML (backend.people.federation.saml_sign_in): its ACS checked the
# assertion and the mapping already; the app swaps the one-time code it was sent back with here.
SAML = "saml"
# Where the board's browser goes back to from the provider, to collect its tokens (`collect`).
BOARD_RETURN = "/board#federated"


def challenge_of(verifier: str) -> str:
    """RFC 7636 S256."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def board_redirect_uri(settings: Settings) -> str:
    return f"{settings.public_url}/auth/oidc/callback"


async def choices(session: AsyncSession, saml_municipalities: Collection[uuid.UUID]) -> list[s.ProviderChoice]:
    """The municipalities whose staff sign in with their own provider: its OpenID provider, else
    its SAML provider (the deployment's settings name those)."""
    rows = await session.execute(
        select(Organisation.id, Organisation.name, OidcProvider.municipality_id.label("oidc"))
        .outerjoin(OidcProvider, OidcProvider.municipality_id == Organisation.id)
        .where(or_(OidcProvider.municipality_id.is_not(None), Organisation.id.in_(list(saml_municipalities))))
        .order_by(Organisation.name)
    )
    return [
        s.ProviderChoice(municipality_id=row.id, name=row.name, protocol="oidc" if row.oidc else "saml") for row in rows
    ]


async def forget_old_attempts(session: AsyncSession, now: datetime) -> None:
    """Sign-ins never finished (or collected) a day ago are of no use to anyone."""
    await session.execute(delete(SignInAttempt).where(SignInAttempt.expires_at < now - timedelta(days=1)))


@dataclass(frozen=True)
class Started:
    answer: s.StartOut
    cookie: str | None  # the board's binding, to be set as a cookie


async def begin(
    session: AsyncSession, settings: Settings, directory: ProviderDirectory, now: datetime, data: s.StartIn
) -> Started:
    provider = await provider_of(session, settings, directory, data.municipality_id)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    if data.client is s.SignInClient.BOARD:
        cookie, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        binding, challenge, redirect_uri = cookie, challenge_of(verifier), board_redirect_uri(settings)
    else:
        if data.code_challenge is None:
            raise Problem(
                422, "PKCE challenge missing", "The app sends its S256 code challenge.", field="code_challenge"
            )
        cookie, verifier = None, None
        binding, challenge, redirect_uri = data.device_key, data.code_challenge, settings.oidc_app_redirect_uri
    session.add(
        SignInAttempt(
            state_hash=hash_token(state),
            municipality_id=data.municipality_id,
            client=data.client.value,
            binding_hash=hash_token(binding),
            nonce=nonce,
            code_challenge=challenge,
            code_verifier=verifier,
            expires_at=now + timedelta(minutes=settings.oidc_attempt_minutes),
        )
    )
    await forget_old_attempts(session, now)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": provider.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in provider.metadata.authorization_endpoint else "?"
    return Started(
        s.StartOut(authorize_url=provider.metadata.authorization_endpoint + separator + query, state=state), cookie
    )


def _wrong_state() -> Problem:
    return Problem(
        400,
        "Sign-in not recognised",
        "This answer belongs to no sign-in begun here, or was used already. Start the sign-in again.",
        field="state",
        rule="oidc_state",
    )


@dataclass(frozen=True)
class Signed:
    """Who the provider's answer signed in, and the provider's session to keep with her device."""

    user: User
    link_id: uuid.UUID
    session_id: str | None
    refresh_token_sealed: str | None


async def exchange(
    session: AsyncSession,
    settings: Settings,
    directory: ProviderDirectory,
    now: datetime,
    *,
    state: str,
    code: str,
    binding: str,
    code_verifier: str | None,
    request_id: str,
) -> tuple[SignInAttempt, Signed | Refusal]:
    """Check the provider's answer against the attempt and the ID token; map the person."""
    attempt = await session.scalar(
        select(SignInAttempt).where(SignInAttempt.state_hash == hash_token(state)).with_for_update()
    )
    if (
        attempt is None
        or attempt.used_at is not None
        or attempt.expires_at <= now
        or not hmac.compare_digest(attempt.binding_hash, hash_token(binding))
    ):
        raise _wrong_state()
    attempt.used_at = now
    verifier = attempt.code_verifier or code_verifier or ""
    if not hmac.compare_digest(challenge_of(verifier), attempt.code_challenge):
        raise Problem(
            400, "Wrong PKCE verifier", "The code verifier does not match the challenge.", field="code_verifier"
        )
    if attempt.protocol == SAML:
        return attempt, await _saml_signed(session, attempt, code)
    provider = await provider_of(session, settings, directory, attempt.municipality_id)
    redirect_uri = (
        board_redirect_uri(settings) if attempt.client == s.SignInClient.BOARD else settings.oidc_app_redirect_uri
    )
    try:
        tokens = await token_request(
            directory,
            provider,
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier},
        )
        claims = await id_token_claims(directory, provider, tokens, attempt.nonce)
    except GrantRefused:
        raise not_accepted("code refused by the provider") from None
    except Untrusted as error:
        raise not_accepted(str(error)) from None
    except ProviderUnavailable:
        raise unavailable() from None
    found = await admit(session, identity_from(attempt.municipality_id, claims), now=now, request_id=request_id)
    if isinstance(found, Refusal):
        return attempt, found
    user, link = found
    refresh_token = tokens.get("refresh_token")
    return attempt, Signed(
        user=user,
        link_id=link.id,
        session_id=_text(claims.get("sid")),
        refresh_token_sealed=seal(settings.secret_key, refresh_token) if isinstance(refresh_token, str) else None,
    )


async def _saml_signed(session: AsyncSession, attempt: SignInAttempt, code: str) -> Signed:
    """Whom the SAML ACS admitted, for the one-time code it sent the app back with."""
    if (
        attempt.user_id is None
        or attempt.link_id is None
        or attempt.code_hash is None
        or not hmac.compare_digest(attempt.code_hash, hash_token(code))
    ):
        raise _wrong_state()
    return Signed(await session.get_one(User, attempt.user_id), attempt.link_id, None, None)


def _text(value: Any) -> str | None:
    return str(value)[:255] if value else None


async def _device_for(
    session: AsyncSession, settings: Settings, now: datetime, signed: Signed, device: ps.DeviceIn, device_key: str
) -> ps.TokenOut:
    tokens = await sign_in(session, settings, now, signed.user, device, device_key)
    session.add(
        FederatedDevice(
            device_id=tokens.device_id,
            link_id=signed.link_id,
            session_id=signed.session_id,
            refresh_token_sealed=signed.refresh_token_sealed,
        )
    )
    await session.flush()
    return tokens


async def app_token(
    session: AsyncSession,
    settings: Settings,
    directory: ProviderDirectory,
    now: datetime,
    data: s.AppTokenIn,
    request_id: str,
) -> ps.TokenOut:
    """The phone hands over the provider's answer: Lindra's tokens for this device, or a 403 that
    says why she has no access (and nothing was made)."""
    _, found = await exchange(
        session,
        settings,
        directory,
        now,
        state=data.state,
        code=data.code,
        binding=data.device_key,
        code_verifier=data.code_verifier,
        request_id=request_id,
    )
    if isinstance(found, Refusal):
        raise found.problem()
    return await _device_for(session, settings, now, found, data.device, data.device_key)


async def board_callback(
    session: AsyncSession,
    settings: Settings,
    directory: ProviderDirectory,
    now: datetime,
    *,
    state: str,
    code: str,
    cookie: str,
    request_id: str,
) -> Refusal | None:
    """The browser is back from the provider: remember whom the attempt signed in until the
    board collects its tokens (`collect`); or why she has no access."""
    attempt, found = await exchange(
        session,
        settings,
        directory,
        now,
        state=state,
        code=code,
        binding=cookie,
        code_verifier=None,
        request_id=request_id,
    )
    if isinstance(found, Refusal):
        return found
    attempt.user_id = found.user.id
    attempt.link_id = found.link_id
    attempt.session_id = found.session_id
    attempt.refresh_token_sealed = found.refresh_token_sealed
    return None


async def collect(
    session: AsyncSession, settings: Settings, now: datetime, cookie: str, data: s.CollectIn
) -> ps.TokenOut:
    """The board's tokens for the sign-in its cookie names, once."""
    attempt = await session.scalar(
        select(SignInAttempt)
        .where(
            SignInAttempt.binding_hash == hash_token(cookie),
            SignInAttempt.client == s.SignInClient.BOARD.value,
            SignInAttempt.user_id.is_not(None),
            SignInAttempt.expires_at > now,
        )
        .with_for_update()
    )
    if attempt is None or attempt.user_id is None or attempt.link_id is None:
        raise Problem(401, "No sign-in to collect", "Sign in again.", rule="oidc_state")
    user = await session.get_one(User, attempt.user_id)
    signed = Signed(user, attempt.link_id, attempt.session_id, attempt.refresh_token_sealed)
    await session.delete(attempt)
    return await _device_for(session, settings, now, signed, data.device, data.device_key)
