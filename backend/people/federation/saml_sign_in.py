"""The board signs in through a municipality's SAML provider, behind the same mapping and the same
collection of tokens as the OpenID Connect board sign-in (backend.people.federation.oidc).

1. `begin` (at /auth/saml/<municipality>/login): a sign-in attempt found by the AuthnRequest's
   id, bound to the browser by the sign-in cookie. The Context Handler's answer comes back as a
   cross-site POST, which carries no SameSite=Lax cookie, so the ACS cannot see the browser.
2. `answer` (at the ACS, after `saml.accept_assertion` verified the assertion): the attempt its
   request id names, unused and in time, takes whom the mapping admits (`mapping.admit`: the
   job-function roles as groups, the data restrictions as districts, the NSIS level recorded on
   the link), or the refusal, with nothing made.
3. The browser is sent to /board#federated; the board collects its device-bound tokens with the
   cookie (`oidc.collect`), once.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.people.federation.identity import FederatedIdentity
from backend.people.federation.mapping import Refusal, admit
from backend.people.federation.models import SignInAttempt
from backend.people.federation.oidc import forget_old_attempts
from backend.people.federation.saml_provider import RELAY_STATE_MINUTES
from backend.people.federation.schemas import SignInClient
from backend.people.tokens import hash_token


async def begin(session: AsyncSession, municipality_id: uuid.UUID, authn_request_id: str, now: datetime) -> str:
    """Remember the board's sign-in under its AuthnRequest id; the cookie that binds it to the browser."""
    cookie = secrets.token_urlsafe(32)
    session.add(
        SignInAttempt(
            state_hash=hash_token(authn_request_id),
            municipality_id=municipality_id,
            client=SignInClient.BOARD.value,
            binding_hash=hash_token(cookie),
            # SAML has no nonce and no PKCE: the assertion must answer this request id (InResponseTo).
            nonce="",
            code_challenge="",
            expires_at=now + timedelta(minutes=RELAY_STATE_MINUTES),
        )
    )
    await forget_old_attempts(session, now)
    return cookie


async def answer(
    session: AsyncSession, identity: FederatedIdentity, authn_request_id: str, now: datetime, request_id: str
) -> Refusal | None:
    """Whom the verified assertion signs in, kept on the attempt until the board collects her
    tokens; or why she has no access ("failed": no sign-in of this browser waits for the answer)."""
    attempt = await session.scalar(
        select(SignInAttempt).where(SignInAttempt.state_hash == hash_token(authn_request_id)).with_for_update()
    )
    if (
        attempt is None
        or attempt.used_at is not None
        or attempt.expires_at <= now
        or attempt.municipality_id != identity.municipality_id
    ):
        return Refusal("failed")
    attempt.used_at = now
    found = await admit(session, identity, now=now, request_id=request_id)
    if isinstance(found, Refusal):
        return found
    user, link = found
    attempt.user_id, attempt.link_id = user.id, link.id
    return None
