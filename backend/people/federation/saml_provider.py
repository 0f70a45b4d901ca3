"""A municipality's SAML identity provider as Lindra knows it: its settings, its metadata (read
again when old, or at once when a signature fails: a rolled-over certificate), the AuthnRequest
that starts a sign-in and the RelayState that ties the answer to it.

The settings come from the JSON file named by `LINDRA_SAML_PROVIDERS` (`infra/saml.example.json`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.sigver import get_xmlsec_binary

from backend.errors import Problem

log = logging.getLogger("lindra.saml")
# pysaml2 logs whole requests and responses (names, e-mail) at DEBUG and INFO: never let them through.
logging.getLogger("saml2").setLevel(logging.ERROR)

# How long a sign-in started here may take at the provider.
RELAY_STATE_MINUTES = 10


@dataclass
class SamlProvider:
    """One municipality's Context Handler, as the deployment's settings file describes it."""

    municipality_id: uuid.UUID
    sp_entity_id: str  # the entity id of Lindra registered for this municipality
    acs_url: str  # https://<host>/auth/saml/<municipality id>/acs
    sp_cert_file: str  # Lindra's signing certificate (OCES3 system certificate) and key, PEM
    sp_key_file: str
    idp_metadata_url: str = ""  # where the provider publishes its metadata; or
    idp_metadata_file: str = ""  # a copy of it on disk
    cvr: str = ""  # the municipality's CVR number: only privilege groups scoped to it count
    metadata_max_age_minutes: int = 60
    # A signature that fails makes us fetch the metadata again, but not sooner than this after the last fetch.
    refetch_after_failure_seconds: float = 60.0
    _metadata: str = field(default="", repr=False)
    _fetched_at: float = field(default=0.0, repr=False)
    _client: Saml2Client | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def metadata(self, *, stale_after: float | None = None) -> str:
        """The provider's metadata, fetched again when older than `stale_after` seconds."""
        max_age = self.metadata_max_age_minutes * 60.0 if stale_after is None else stale_after
        async with self._lock:
            if not self._metadata or time.monotonic() - self._fetched_at >= max_age:
                try:
                    fetched = await _read_metadata(self)
                except (httpx.HTTPError, OSError) as error:
                    log.warning("SAML metadata of municipality %s could not be read: %s", self.municipality_id, error)
                    self._fetched_at = time.monotonic()  # try again after the usual wait, not at every request
                    if self._metadata:
                        return self._metadata  # the last metadata read stays in force meanwhile
                    raise Problem(
                        503, "Identity provider unreachable", "Try again in a minute.", rule="saml_metadata"
                    ) from error
                self._metadata = fetched
                self._fetched_at = time.monotonic()
                self._client = None
            return self._metadata

    async def client(self) -> Saml2Client:
        """pysaml2's service provider over the current metadata."""
        metadata = await self.metadata()
        if self._client is None:
            self._client = Saml2Client(config=_sp_config(self, metadata))
        return self._client

    def recently_fetched(self) -> bool:
        return time.monotonic() - self._fetched_at < self.refetch_after_failure_seconds


async def _read_metadata(provider: SamlProvider) -> str:
    if provider.idp_metadata_file:
        return await asyncio.to_thread(Path(provider.idp_metadata_file).read_text)
    async with httpx.AsyncClient(timeout=10.0) as http:
        answer = await http.get(provider.idp_metadata_url)
        answer.raise_for_status()
        return answer.text


def _sp_config(provider: SamlProvider, idp_metadata: str | None) -> SPConfig:
    settings: dict[str, Any] = {
        "entityid": provider.sp_entity_id,
        "xmlsec_binary": get_xmlsec_binary(),
        "key_file": provider.sp_key_file,
        "cert_file": provider.sp_cert_file,
        # OIOSAML 3 encrypts assertions to the service provider's certificate.
        "encryption_keypairs": [{"key_file": provider.sp_key_file, "cert_file": provider.sp_cert_file}],
        "accepted_time_diff": 60,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(provider.acs_url, BINDING_HTTP_POST)]},
                "authn_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
                "name_id_format": NAMEID_FORMAT_PERSISTENT,
            }
        },
    }
    if idp_metadata is not None:
        settings["metadata"] = {"inline": [idp_metadata]}
    config = SPConfig()
    config.load(settings)
    return config


def sp_metadata(provider: SamlProvider) -> str:
    """Lindra's metadata for this municipality, to register the it-system with the provider."""
    metadata = create_metadata_string(None, config=_sp_config(provider, None), valid=24 * 7)
    return metadata.decode() if isinstance(metadata, bytes) else str(metadata)


def new_request_id() -> str:
    """An AuthnRequest id (an XML NCName: it starts with a letter)."""
    return f"id-{uuid.uuid4().hex}"


async def authn_request(provider: SamlProvider, request_id: str, relay_state: str) -> str:
    """The provider's sign-in URL carrying our signed AuthnRequest `request_id` (HTTP-Redirect binding)."""
    client = await provider.client()
    idp = next(iter(client.metadata.identity_providers()))
    _, info = await asyncio.to_thread(
        client.prepare_for_authenticate,
        entityid=idp,
        relay_state=relay_state,
        binding=BINDING_HTTP_REDIRECT,
        message_id=request_id,
        sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    )
    return str(dict(info["headers"])["Location"])


def load_providers(path: str) -> dict[uuid.UUID, SamlProvider]:
    """The settings file (`LINDRA_SAML_PROVIDERS`): `{"providers": [{"municipality_id": ..., ...}]}`."""
    if not path:
        return {}
    entries = json.loads(Path(path).read_text())["providers"]
    providers = {}
    for entry in entries:
        provider = SamlProvider(**{**entry, "municipality_id": uuid.UUID(entry["municipality_id"])})
        if not (provider.idp_metadata_url or provider.idp_metadata_file):
            raise ValueError(f"SAML provider of {provider.municipality_id}: idp_metadata_url or _file is needed")
        providers[provider.municipality_id] = provider
    return providers


def relay_state(secret: str, municipality_id: uuid.UUID, request_id: str, now: datetime) -> str:
    """The RelayState that comes back with the response: which request it answers, signed and timed,
    so a response answers only a sign-in this service started, and recently."""
    expires = int((now + timedelta(minutes=RELAY_STATE_MINUTES)).timestamp())
    return f"{request_id}.{expires}.{_relay_signature(secret, municipality_id, request_id, expires)}"


def request_of(secret: str, municipality_id: uuid.UUID, state: str, now: datetime) -> str | None:
    """The AuthnRequest id a RelayState names, if it is ours, for this municipality, and in time."""
    request_id, _, rest = state.partition(".")
    expires, _, signature = rest.partition(".")
    if not expires.isdigit() or int(expires) < now.timestamp():
        return None
    expected = _relay_signature(secret, municipality_id, request_id, int(expires))
    return request_id if hmac.compare_digest(expected, signature) else None


def _relay_signature(secret: str, municipality_id: uuid.UUID, request_id: str, expires: int) -> str:
    """HMAC-SHA256 cut to 128 bits, base64url: the whole RelayState stays within the 80 bytes the
    SAML bindings allow (an identity provider may refuse a longer one)."""
    message = f"saml-relay\x00{municipality_id}\x00{request_id}\x00{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
