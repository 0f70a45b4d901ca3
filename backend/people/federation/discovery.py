"""What an OpenID provider publishes about itself (discovery) and the keys it signs with (JWKS), kept.

Keys rotate: a token signed with a key id (`kid`) we do not know sends us to fetch the provider's
keys again, at most once per `refetch_seconds` per provider, so a stream of made-up key ids
cannot turn Lindra into a flood of requests at the provider. No restart is ever needed.

A token is verified only with an asymmetric algorithm the provider says it uses: never `none`,
never an HMAC keyed with something an attacker may know.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


class ProviderUnavailable(Exception):
    """The provider did not answer as a provider should (down, or not what it claims to be)."""


class Untrusted(Exception):
    """A token the provider did not sign as it says it signs, or whose claims do not hold; the
    message names the check (never the person)."""


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: frozenset[str]
    end_session_endpoint: str | None = None


@dataclass
class _Keys:
    by_kid: dict[str, jwt.PyJWK] = field(default_factory=dict)
    unnamed: list[jwt.PyJWK] = field(default_factory=list)
    fetched_at: float = 0.0


class ProviderDirectory:
    """Discovery and keys of every provider Lindra signs in with, per process."""

    def __init__(self, http: httpx.AsyncClient, refetch_seconds: float, metadata_seconds: float = 3600.0) -> None:
        self.http = http
        self.refetch_seconds = refetch_seconds
        self.metadata_seconds = metadata_seconds
        self.key_fetches = 0  # how often keys were fetched: what the rate limit holds down
        self._metadata: dict[str, tuple[float, Metadata]] = {}
        self._keys: dict[str, _Keys] = {}
        self._fetching = asyncio.Lock()  # concurrent unknown key ids wait for one fetch, not one each

    async def _json(self, url: str) -> dict[str, Any]:
        try:
            answer = await self.http.get(url, headers={"Accept": "application/json"})
            answer.raise_for_status()
            found = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ProviderUnavailable(f"{url} did not answer: {type(error).__name__}") from None
        if not isinstance(found, dict):
            raise ProviderUnavailable(f"{url} answered no JSON object")
        return found

    async def metadata(self, issuer: str) -> Metadata:
        kept = self._metadata.get(issuer)
        if kept is not None and time.monotonic() - kept[0] < self.metadata_seconds:
            return kept[1]
        found = await self._json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if found.get("issuer") != issuer:
            raise ProviderUnavailable("the discovery document names another issuer")
        try:
            metadata = Metadata(
                issuer=issuer,
                authorization_endpoint=str(found["authorization_endpoint"]),
                token_endpoint=str(found["token_endpoint"]),
                jwks_uri=str(found["jwks_uri"]),
                algorithms=frozenset(found.get("id_token_signing_alg_values_supported", ["RS256"])) & ASYMMETRIC,
                end_session_endpoint=found.get("end_session_endpoint"),
            )
        except KeyError as missing:
            raise ProviderUnavailable(f"the discovery document lacks {missing}") from None
        self._metadata[issuer] = (time.monotonic(), metadata)
        return metadata

    async def _fetch_keys(self, metadata: Metadata) -> _Keys:
        found = await self._json(metadata.jwks_uri)
        self.key_fetches += 1
        keys = _Keys(fetched_at=time.monotonic())
        for jwk in found.get("keys", []):
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(jwk)
            except jwt.PyJWTError:
                continue  # a key type this library cannot use signs nothing we accept
            if "kid" in jwk:
                keys.by_kid[str(jwk["kid"])] = key
            else:
                keys.unnamed.append(key)
        self._keys[metadata.issuer] = keys
        return keys

    async def key(self, metadata: Metadata, kid: str | None) -> jwt.PyJWK:
        """The provider's key with this id; fetched again if unknown and the last fetch is old enough."""
        keys = self._keys.get(metadata.issuer)
        found = None if keys is None else self._pick(keys, kid)
        if found is None:
            async with self._fetching:
                keys = self._keys.get(metadata.issuer)  # another request may have fetched meanwhile
                if keys is None or time.monotonic() - keys.fetched_at >= self.refetch_seconds:
                    keys = await self._fetch_keys(metadata)
                found = self._pick(keys, kid)
        if found is None:
            raise Untrusted("unknown signing key")
        return found

    @staticmethod
    def _pick(keys: _Keys, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return keys.by_kid.get(kid)
        every = [*keys.by_kid.values(), *keys.unnamed]
        return every[0] if len(every) == 1 else None

    async def verified(
        self, metadata: Metadata, token: str, audience: str, *, require: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The claims of a token signed by the provider for `audience`: signature with a key it
        publishes and an algorithm it states, issuer, audience, expiry (a minute's leeway). Time is
        the wall clock's: the provider stamps its tokens by the real time, not by the service's
        clock that tests move."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Untrusted("not a signed token") from None
        algorithm = header.get("alg")
        if algorithm not in metadata.algorithms:
            raise Untrusted("algorithm not allowed")
        key = await self.key(metadata, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=metadata.issuer,
                leeway=60,
                options={"require": ["iss", "aud", "iat", *require]},
            )
        except jwt.ExpiredSignatureError:
            raise Untrusted("expired") from None
        except jwt.InvalidAudienceError:
            raise Untrusted("audience") from None
        except jwt.InvalidIssuerError:
            raise Untrusted("issuer") from None
        except jwt.InvalidSignatureError:
            raise Untrusted("signature") from None
        except jwt.PyJWTError:
            raise Untrusted("claims") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != audience:
            raise Untrusted("audience")
        return claims
