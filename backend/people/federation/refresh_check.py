"""At each refresh of a device signed in through the provider: is she still active there?

Lindra swaps the device's refresh token at the provider. The provider refuses it for a person it
disabled or signed out (a leaver): the refresh is refused and the device signed out. The new ID
token goes through the mapping again, so a changed group takes effect now. A provider that does
not answer at all (down, unreachable) does not sign the night shift out: the refresh goes on
and the check is made at the next one; a clear "no" always ends the session.

SAML (KOMBIT's Context Handler) has neither a back channel nor a refresh at the provider: a device
signed in through it is refused once `saml_session_hours` have passed since the provider last
vouched for her (her latest SAML sign-in), so a leaver is out within that time at most.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.errors import Problem
from backend.people.federation.discovery import ProviderDirectory, ProviderUnavailable, Untrusted
from backend.people.federation.mapping import Refusal, apply_grant, granted
from backend.people.federation.models import FederatedDevice, FederatedLink
from backend.people.federation.provider import (
    GrantRefused,
    id_token_claims,
    identity_from,
    provider_of,
    token_request,
)
from backend.people.federation.sealed import seal, unseal
from backend.people.models import User

log = logging.getLogger("lindra.federation")


async def check_at_provider(
    session: AsyncSession,
    settings: Settings,
    directory: ProviderDirectory,
    federated: FederatedDevice,
    user: User,
    now: datetime,
    request_id: str,
) -> Refusal | None:
    """None if she may go on (her role and districts brought up to date); else why not."""
    link = await session.get_one(FederatedLink, federated.link_id)
    if link.provider == "saml":
        vouched = link.last_sign_in_at
        fresh = vouched is not None and now < vouched + timedelta(hours=settings.saml_session_hours)
        return None if fresh else Refusal("expired")
    refresh_token = unseal(settings.secret_key, federated.refresh_token_sealed)
    if refresh_token is None:
        return Refusal("disabled")  # nothing to ask the provider with: sign in again
    try:
        provider = await provider_of(session, settings, directory, link.municipality_id)
        tokens = await token_request(
            directory, provider, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        claims = await id_token_claims(directory, provider, tokens, nonce=None) if "id_token" in tokens else None
    except Problem as problem:  # no provider any more, or it is down
        return None if problem.status == 503 else Refusal("disabled")
    except GrantRefused:
        return Refusal("disabled")
    except Untrusted as error:
        log.warning("a refreshed ID token was refused: %s", error)
        return Refusal("disabled")
    except ProviderUnavailable as error:
        log.warning("identity provider unavailable at refresh; checked at the next one: %s", error)
        return None
    if isinstance(tokens.get("refresh_token"), str):
        federated.refresh_token_sealed = seal(settings.secret_key, tokens["refresh_token"])
    if claims is None:
        return None
    if str(claims["sub"]) != link.subject:
        return Refusal("disabled")
    identity = identity_from(link.municipality_id, claims)
    grant = await granted(session, identity)
    if isinstance(grant, Refusal):
        return grant
    await apply_grant(session, user, grant, identity, request_id)
    return None
