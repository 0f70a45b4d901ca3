"""SAML 2.0 sign-in through KOMBIT's Context Handler (OIOSAML 3): from a posted response to a FederatedIdentity.

Lindra is the service provider; pysaml2 (with xmlsec1) checks what SAML itself says: the
assertion (encrypted to our certificate, as OIOSAML 3 sends it, or not) is signed by a key in
the provider's metadata (RSA-SHA256 or stronger: a SHA-1 signature is refused), addressed to
our entity id (audience), to our assertion consumer URL (recipient and destination), within its
time (NotBefore, NotOnOrAfter, 60 s of clock skew), in answer to a request we made
(InResponseTo). On top:
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
- **Certificate rollover**: when a signature does not verify, the provider's metadata is fetched
  again at once (at most once a minute; backend.people.federation.saml_provider) and the
  response checked once more, so a new signing certificate that the provider lists beside the
  old one, or alone after it, is followed without a restart. Both listed are accepted meanwhile.

Nothing here logs who signed in: a refusal is logged with its rule and municipality only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.response import StatusError, UnsolicitedResponse
from saml2.sigver import SignatureError
from saml2.time_util import str_to_time
from saml2.validate import ResponseLifetimeExceed, ToEarly
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.errors import Problem
from backend.people.federation.identity import FederatedIdentity
from backend.people.federation.saml_provider import SamlProvider
from backend.people.models import SamlAssertionSeen

log = logging.getLogger("lindra.saml")

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
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


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


def _weakly_signed(response: Any) -> bool:
    """Whether a signature on the response or its (decrypted) assertion uses an algorithm OIOSAML 3
    does not allow (SHA-1)."""
    for signed in (response.response, response.assertion):
        signature = getattr(signed, "signature", None)
        if signature is None:
            continue
        info = signature.signed_info
        algorithms = [info.signature_method.algorithm, *(r.digest_method.algorithm for r in info.reference)]
        if any(algorithm not in STRONG_SIGNATURES for algorithm in algorithms):
            return True
    return False


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
    response = await _verified(provider, saml_response, request_id)
    if _weakly_signed(response):
        raise _refused(
            "saml_signature", "The response is signed with SHA-1; OIOSAML 3 asks for SHA-256.", provider.municipality_id
        )
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
