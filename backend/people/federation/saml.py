"""SAML 2.0 sign-in through KOMBIT's Context Handler (OIOSAML 3): from a posted response to a FederatedIdentity.

Lindra is the service provider; pysaml2 (with xmlsec1) checks what SAML itself says: the
assertion is signed by a key in the provider's metadata (RSA-SHA256 or stronger: a SHA-1
signature is refused before that), addressed to our entity id (audience), to our assertion
consumer URL (recipient and destination), within its time (NotBefore, NotOnOrAfter, 60 s of
clock skew), in answer to a request we made (InResponseTo). On top:
- **Replay**: each assertion (issuer and id, hashed) is remembered in PostgreSQL until it
  expires, in a transaction of its own so that a refusal after it cannot undo it; the second
  presentation is refused.
- **Assurance**: OIOSAML 3 states the NSIS level (`https://data.gov.dk/concept/core/nsis/loa`);
  health data needs *Substantial* (betydelig) or *High*. It is recorded on the identity; less, or
  none, is refused.
- **Privileges** (OIO basic privilege profile, the base64 XML in `Privileges_intermediate`): each
  PrivilegeGroup whose Scope is the municipality's CVR number gives its Privilege values (KOMBIT's
  job-function roles) as the identity's groups and its Constraint values (data restrictions:
  an organisation unit, a KLE number) as its districts. What Lindra lets her do is decided by the
  municipality's mapping, never here.
- **Certificate rollover**: the provider's metadata is fetched again when older than
  `metadata_max_age_minutes`, and at once (at most once a minute) when a signature does not
  verify, so a new signing certificate that the provider lists beside the old one, or alone
  after it, is followed without a restart. Both certificates listed are accepted meanwhile.

Nothing here logs who signed in: a refusal is logged with its rule and municipality only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.response import StatusError, UnsolicitedResponse
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.sigver import SignatureError, get_xmlsec_binary
from saml2.time_util import str_to_time
from saml2.validate import ResponseLifetimeExceed, ToEarly
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.errors import Problem
from backend.people.federation.identity import FederatedIdentity
from backend.people.models import SamlAssertionSeen

log = logging.getLogger("lindra.saml")
# pysaml2 logs whole requests and responses (names, e-mail) at DEBUG and INFO: never let them through.
logging.getLogger("saml2").setLevel(logging.ERROR)

LOA_ATTRIBUTE = "https://data.gov.dk/concept/core/nsis/loa"
ACCEPTED_LOA = frozenset({"Substantial", "High"})
PRIVILEGE_ATTRIBUTES = (
    "dk:gov:saml:attribute:Privileges_intermediate",  # KOMBIT's name
    "https://data.gov.dk/model/core/eid/privilegesIntermediate",  # OIOSAML 3's
)
EMAIL_ATTRIBUTE = "https://data.gov.dk/model/core/eid/email"
NAME_ATTRIBUTE = "https://data.gov.dk/model/core/eid/fullName"
CVR_SCOPE = "urn:dk:gov:saml:cvrNumberIdentifier:"
# OIOSAML 3 signs with RSA-SHA256 or stronger; SHA-1 is refused.
STRONG_SIGNATURES = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
_DSIG = "{http://www.w3.org/2000/09/xmldsig#}"
# How long a sign-in started here may take at the provider.
RELAY_STATE_MINUTES = 10
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


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


def _refused(rule: str, detail: str, municipality_id: uuid.UUID) -> Problem:
    log.warning("SAML sign-in refused (%s) for municipality %s", rule, municipality_id)
    return Problem(401, "Sign-in not accepted", detail, rule=rule)


def _parse(client: Saml2Client, saml_response: str, request_id: str | None) -> Any:
    outstanding = {request_id: "/"} if request_id else {}
    response = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding=outstanding)
    if response is not None and response.name_id is not None:
        client.users.remove_person(response.name_id)  # pysaml2 keeps whom it saw in memory: we keep nobody
    return response


async def _verified(provider: SamlProvider, saml_response: str, request_id: str | None) -> Any:
    """pysaml2's checks; a signature failure first fetches the metadata again (a rolled-over key)."""
    for attempt in (1, 2):
        client = await provider.client()
        try:
            response = await asyncio.to_thread(_parse, client, saml_response, request_id)
        except SignatureError as error:
            if attempt == 1 and not provider.recently_fetched():
                await provider.metadata(stale_after=0.0)
                continue
            raise _refused(
                "saml_signature", "The response's signature does not verify.", provider.municipality_id
            ) from error
        except (ToEarly, ResponseLifetimeExceed) as error:
            raise _refused("saml_expired", "The assertion is not valid now.", provider.municipality_id) from error
        except UnsolicitedResponse as error:
            raise _refused(
                "saml_unsolicited", "The response answers no sign-in started here.", provider.municipality_id
            ) from error
        except StatusError as error:
            raise _refused(
                "saml_status", "The identity provider did not sign you in.", provider.municipality_id
            ) from error
        except Exception as error:  # pysaml2 raises many types (and plain Exception) for a bad response
            raise _refused(
                _rule_of(error), "The response is not a valid sign-in for Lindra.", provider.municipality_id
            ) from error
        if response is None or response.assertion is None:  # pysaml2's answer for a wrong destination, shape or id
            raise _refused("saml_invalid", "The response is not a valid sign-in for Lindra.", provider.municipality_id)
        return response
    raise AssertionError("unreachable")


def _weakly_signed(saml_response: str) -> bool:
    """Whether a signature in the response uses an algorithm OIOSAML 3 does not allow (SHA-1).
    A response that does not even parse is left to pysaml2 to refuse."""
    try:
        root = etree.fromstring(base64.b64decode(saml_response, validate=True), _SAFE_XML)
    except (binascii.Error, ValueError, etree.XMLSyntaxError):
        return False
    methods = [*root.iter(f"{_DSIG}SignatureMethod"), *root.iter(f"{_DSIG}DigestMethod")]
    return any(method.get("Algorithm") not in STRONG_SIGNATURES for method in methods)


def _rule_of(error: Exception) -> str:
    """pysaml2 says 'not for me' in words only: tell an audience or recipient mismatch apart."""
    words = str(error).lower()
    if "audience" in words or "not for me" in words:
        return "saml_audience"
    if "recipient" in words or "destination" in words:
        return "saml_recipient"
    return "saml_invalid"


def _attributes(assertion: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute:
            found.setdefault(attribute.name, []).extend(
                (value.text or "").strip() for value in attribute.attribute_value
            )
    return found


def privileges(encoded: str, cvr: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The job-function roles and data restrictions of a basic privilege list scoped to `cvr` (any, if empty)."""
    try:
        root = etree.fromstring(base64.b64decode(encoded, validate=True), _SAFE_XML)
    except (binascii.Error, ValueError, etree.XMLSyntaxError):
        return (), ()
    roles: list[str] = []
    restrictions: list[str] = []
    for group in root.iter("{*}PrivilegeGroup"):
        if cvr and group.get("Scope") != CVR_SCOPE + cvr:
            continue
        roles += [(p.text or "").strip() for p in group.iter("{*}Privilege")]
        restrictions += [(c.text or "").strip() for c in group.iter("{*}Constraint")]
    return tuple(dict.fromkeys(r for r in roles if r)), tuple(dict.fromkeys(r for r in restrictions if r))


def _expiry(assertion: Any, now: datetime) -> datetime:
    """When the assertion stops being valid: the latest NotOnOrAfter it states."""
    stated = []
    if assertion.conditions is not None and assertion.conditions.not_on_or_after:
        stated.append(assertion.conditions.not_on_or_after)
    for confirmation in assertion.subject.subject_confirmation if assertion.subject else []:
        data = confirmation.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            stated.append(data.not_on_or_after)
    times = [datetime.fromtimestamp(calendar.timegm(str_to_time(s)), UTC) for s in stated]
    return max([*times, now])


async def _remember(sessions: async_sessionmaker[AsyncSession], assertion: Any, now: datetime) -> bool:
    """Remember the assertion until it expires: False when it was seen before (a replay)."""
    issuer = assertion.issuer.text if assertion.issuer is not None else ""
    key = hashlib.sha256(json.dumps([issuer, assertion.id]).encode()).hexdigest()
    async with sessions.begin() as session:
        await session.execute(delete(SamlAssertionSeen).where(SamlAssertionSeen.expires_at < now))
        fresh = await session.scalar(
            insert(SamlAssertionSeen)
            .values(key=key, expires_at=_expiry(assertion, now))
            .on_conflict_do_nothing()
            .returning(SamlAssertionSeen.key)
        )
    return fresh is not None


async def accept_assertion(
    sessions: async_sessionmaker[AsyncSession],
    provider: SamlProvider,
    saml_response: str,
    request_id: str | None,
    now: datetime,
) -> FederatedIdentity:
    """Who the municipality's Context Handler says signed in, from the base64 `SAMLResponse` posted
    back for the AuthnRequest `request_id`; a Problem (401, its own rule) for anything else."""
    if _weakly_signed(saml_response):
        raise _refused(
            "saml_signature", "The response is signed with SHA-1; OIOSAML 3 asks for SHA-256.", provider.municipality_id
        )
    response = await _verified(provider, saml_response, request_id)
    assertion = response.assertion
    attributes = _attributes(assertion)
    assurance = next(iter(attributes.get(LOA_ATTRIBUTE, [])), None)
    if assurance not in ACCEPTED_LOA:
        raise _refused(
            "saml_assurance",
            "Lindra holds health data: sign in at NSIS level Substantial (betydelig) or higher.",
            provider.municipality_id,
        )
    subject = response.get_subject()
    if subject is None or not (subject.text or "").strip():
        raise _refused("saml_invalid", "The assertion names nobody.", provider.municipality_id)
    if not await _remember(sessions, assertion, now):
        raise _refused("saml_replay", "This assertion was used already.", provider.municipality_id)
    encoded = next((v for name in PRIVILEGE_ATTRIBUTES for v in attributes.get(name, [])), "")
    groups, districts = privileges(encoded, provider.cvr) if encoded else ((), ())
    return FederatedIdentity(
        municipality_id=provider.municipality_id,
        provider="saml",
        subject=subject.text.strip(),
        email=next(iter(attributes.get(EMAIL_ATTRIBUTE, [])), None),
        display_name=next(iter(attributes.get(NAME_ATTRIBUTE, [])), None),
        groups=groups,
        districts=districts,
        assurance=assurance,
    )


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
    message = f"saml-relay\x00{municipality_id}\x00{request_id}\x00{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
