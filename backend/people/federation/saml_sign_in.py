"""Signing in through a municipality's SAML provider, behind the same mapping, the same collection
of the board's tokens and the same app hand-over as OpenID Connect (backend.people.federation.oidc).

1. `begin`: a sign-in attempt found by the AuthnRequest's id. The board's browser is bound to it by
   the sign-in cookie (set at /login): the Context Handler's answer comes back as a cross-site
   POST, which carries no SameSite=Lax cookie, so the ACS cannot see the browser. The app's is
   bound by its device key and PKCE challenge, as for OpenID Connect.
2. `answer` (at the ACS, after `saml.accept_assertion` verified the assertion): the attempt its
   request id names, unanswered and in time, takes whom the mapping admits (`mapping.admit`: the
   job-function roles as groups, the data restrictions as districts, the NSIS level recorded on
   the link), or the refusal, with nothing made.
3. The board's browser goes to /board#federated, where the board collects its device-bound tokens
   with the cookie (`oidc.collect`), once. The app's system browser goes to the app's redirect URI
   with a one-time code and the state; the app swaps them with its verifier and device key at
   `POST /auth/oidc/token` (`oidc.exchange`), once.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.people.federation.identity import FederatedIdentity
from backend.people.federation.mapping import Refusal, admit
from backend.people.federation.models import SignInAttempt
from backend.people.federation.oidc import BOARD_RETURN, SAML, forget_old_attempts
from backend.people.federation.saml_provider import RELAY_STATE_MINUTES
from backend.people.federation.schemas import SignInClient
from backend.people.tokens import hash_token


async def begin(
    session: AsyncSession,
    municipality_id: uuid.UUID,
    authn_request_id: str,
    now: datetime,
    *,
    client: SignInClient,
    binding: str,
    code_challenge: str = "",
) -> None:
    """Remember a sign-in under its AuthnRequest id, bound to the browser's cookie or the app's device key."""
    session.add(
        SignInAttempt(
            state_hash=hash_token(authn_request_id),
            municipality_id=municipality_id,
            client=client.value,
            protocol=SAML,
            binding_hash=hash_token(binding),
            nonce="",  # SAML has none: the assertion must answer this request id (InResponseTo)
            code_challenge=code_challenge,
            expires_at=now + timedelta(minutes=RELAY_STATE_MINUTES),
        )
    )
    await forget_old_attempts(session, now)


async def answer(
    session: AsyncSession,
    settings: Settings,
    identity: FederatedIdentity,
    authn_request_id: str,
    now: datetime,
    request_id: str,
) -> Refusal | str:
    """Where the browser goes on to (the board, or the app with a one-time code), whom the verified
    assertion signed in kept on the attempt; or why she has no access ("failed": no sign-in begun
    here waits for this answer)."""
    attempt = await session.scalar(
        select(SignInAttempt).where(SignInAttempt.state_hash == hash_token(authn_request_id)).with_for_update()
    )
    if (
        attempt is None
        or attempt.protocol != SAML
        or attempt.used_at is not None
        or attempt.user_id is not None
        or attempt.expires_at <= now
        or attempt.municipality_id != identity.municipality_id
    ):
        return Refusal("failed")
    found = await admit(session, identity, now=now, request_id=request_id)
    if isinstance(found, Refusal):
        attempt.used_at = now
        return found
    user, link = found
    attempt.user_id, attempt.link_id = user.id, link.id
    if attempt.client == SignInClient.BOARD.value:
        attempt.used_at = now  # collected by the cookie (`oidc.collect`), never swapped
        return BOARD_RETURN
    code = secrets.token_urlsafe(32)
    attempt.code_hash = hash_token(code)
    separator = "&" if "?" in settings.oidc_app_redirect_uri else "?"
    return settings.oidc_app_redirect_uri + separator + urlencode({"code": code, "state": authn_request_id})
