"""Talking to a municipality's OpenID provider: its settings, its token endpoint, its ID tokens.

Group claims are read from `groups` (Entra ID's security groups, by object id) and `roles`
(Entra ID's app roles, by value), whichever the provider sends.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.errors import Problem
from backend.people.federation.discovery import Metadata, ProviderDirectory, ProviderUnavailable, Untrusted
from backend.people.federation.identity import FederatedIdentity
from backend.people.federation.models import OidcProvider
from backend.people.federation.sealed import unseal

log = logging.getLogger("lindra.federation")

OIDC = "oidc"


@dataclass(frozen=True)
class Provider:
    """A municipality's provider as Lindra talks to it."""

    municipality_id: uuid.UUID
    client_id: str
    client_secret: str
    scopes: str
    metadata: Metadata


def no_provider() -> Problem:
    return Problem(
        404,
        "Not found",
        "This municipality signs in with no identity provider.",
        field="municipality_id",
        rule="no_identity_provider",
    )


def unavailable() -> Problem:
    return Problem(
        503,
        "Identity provider unavailable",
        "The municipality's sign-in service did not answer. Try again in a moment.",
        headers={"Retry-After": "5"},
    )


async def provider_of(
    session: AsyncSession, settings: Settings, directory: ProviderDirectory, municipality_id: uuid.UUID
) -> Provider:
    row = await session.get(OidcProvider, municipality_id)
    secret = unseal(settings.secret_key, row.client_secret_sealed) if row is not None else None
    if row is None or secret is None:
        raise no_provider()
    try:
        metadata = await directory.metadata(row.issuer)
    except ProviderUnavailable as error:
        log.warning("identity provider unavailable: %s", error)
        raise unavailable() from None
    return Provider(municipality_id, row.client_id, secret, row.scopes, metadata)


class GrantRefused(Exception):
    """The provider's token endpoint said no (a used or expired code, a revoked refresh token)."""


async def token_request(directory: ProviderDirectory, provider: Provider, form: dict[str, str]) -> dict[str, Any]:
    """POST to the provider's token endpoint as this confidential client (client_secret_basic)."""
    try:
        answer = await directory.http.post(
            provider.metadata.token_endpoint,
            data=form,
            auth=(provider.client_id, provider.client_secret),
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as error:
        raise ProviderUnavailable(f"token endpoint: {type(error).__name__}") from None
    if answer.status_code in (400, 401):
        raise GrantRefused(_error_code(answer))
    if answer.status_code != 200:
        raise ProviderUnavailable(f"token endpoint answered {answer.status_code}")
    try:
        body = answer.json()
    except ValueError:
        raise ProviderUnavailable("token endpoint answered no JSON") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable("token endpoint answered no JSON object")
    return body


def _error_code(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("error", "refused"))[:64]
    except (ValueError, AttributeError):
        return "refused"


async def id_token_claims(
    directory: ProviderDirectory, provider: Provider, tokens: dict[str, Any], nonce: str | None
) -> dict[str, Any]:
    """The ID token's claims, every check passed (with `nonce`, it must carry exactly that one)."""
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise Untrusted("no ID token")
    claims = await directory.verified(provider.metadata, id_token, provider.client_id, require=("exp", "sub"))
    if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise Untrusted("nonce")
    return claims


def identity_from(municipality_id: uuid.UUID, claims: dict[str, Any]) -> FederatedIdentity:
    groups: list[str] = []
    for name in ("groups", "roles"):
        value = claims.get(name)
        if isinstance(value, list):
            groups += [str(item) for item in value]
    email = claims.get("email") or claims.get("preferred_username")
    return FederatedIdentity(
        municipality_id=municipality_id,
        provider=OIDC,
        subject=str(claims["sub"]),
        email=str(email) if email else None,
        display_name=str(claims["name"]) if claims.get("name") else None,
        groups=tuple(dict.fromkeys(groups)),
        assurance=str(claims["acr"]) if claims.get("acr") else None,
    )


def not_accepted(reason: str) -> Problem:
    """A provider's answer that failed a check: said in words that name the check, never the person."""
    log.warning("a sign-in answer was refused: %s", reason)
    return Problem(
        401,
        "Sign-in not accepted",
        f"The answer from the municipality's sign-in did not pass Lindra's checks ({reason}). Sign in again.",
        rule="oidc_" + reason.replace(" ", "_"),
        headers={"WWW-Authenticate": "Bearer"},
    )
