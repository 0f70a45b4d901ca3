"""SAML sign-in through a Context Handler: a real pysaml2 IdP in its own process, over HTTP."""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.errors import Problem
from backend.people.federation import saml, saml_provider
from tests.people.saml_idp import DEFAULT_NEXT
from tests.people.saml_stage import SCOPE, Stage, posted, running_stage

COORDINATOR_ROLE = "http://kombit.dk/roles/jobrole/palliation-koordinator/1"
ORG_UNIT = "http://sts.kombit.dk/constraints/orgenhed/1"
PERSON = (DEFAULT_NEXT["subject"], DEFAULT_NEXT["email"], DEFAULT_NEXT["name"], "Testesen")


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    """Lindra's SAML settings for a municipality of no database (its answers are only verified
    here), and the IdP process that knows Lindra's metadata."""
    with running_stage(uuid.uuid4()) as running:
        yield running


@pytest.fixture(autouse=True)
def nobody_named_in_the_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a test does, Lindra's logs never name the person who signed in."""
    caplog.set_level(logging.DEBUG)
    yield
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for identifying in PERSON:
        assert identifying not in logged


async def _sign_in_at_idp(stage: Stage, **how: Any) -> tuple[str, str]:
    """Start a sign-in as Lindra does and let the IdP answer: the request id and the SAMLResponse."""
    await stage.next(**how)
    request_id = saml_provider.new_request_id()
    location = await saml_provider.authn_request(stage.provider, request_id, "relay")
    async with httpx.AsyncClient() as http:
        form = await http.get(location)
    form.raise_for_status()
    return request_id, posted(form.text)["SAMLResponse"]


async def _refusal(sessions: async_sessionmaker[AsyncSession], stage: Stage, response: str, request_id: str) -> str:
    with pytest.raises(Problem) as refused:
        await saml.accept_assertion(sessions, stage.provider, response, request_id, datetime.now(UTC))
    assert refused.value.status == 401
    return str(refused.value.rule)


PRIVILEGES = [
    {"scope": SCOPE, "roles": [COORDINATOR_ROLE], "constraints": {ORG_UNIT: "5f1c3a1e-0000-4000-8000-00000000d15a"}},
    {"scope": "urn:dk:gov:saml:cvrNumberIdentifier:11111111", "roles": ["http://kombit.dk/roles/jobrole/other/1"]},
]


async def test_a_good_sign_in_gives_who_she_is_her_roles_districts_and_assurance(
    sessions: async_sessionmaker[AsyncSession], stage: Stage
) -> None:
    request_id, response = await _sign_in_at_idp(stage, privileges=PRIVILEGES)

    identity = await saml.accept_assertion(sessions, stage.provider, response, request_id, datetime.now(UTC))

    assert identity.municipality_id == stage.provider.municipality_id
    assert (identity.provider, identity.subject) == ("saml", DEFAULT_NEXT["subject"])
    assert (identity.email, identity.display_name) == (DEFAULT_NEXT["email"], DEFAULT_NEXT["name"])
    # Only the privilege group scoped to this municipality's CVR number counts.
    assert identity.groups == (COORDINATOR_ROLE,)
    assert identity.districts == ("5f1c3a1e-0000-4000-8000-00000000d15a",)
    assert identity.assurance == "Substantial"


async def test_a_tampered_assertion_is_refused(sessions: async_sessionmaker[AsyncSession], stage: Stage) -> None:
    request_id, response = await _sign_in_at_idp(stage, encrypt=False)  # signed only: a person can be swapped in
    xml = base64.b64decode(response).decode()
    assert DEFAULT_NEXT["subject"] in xml
    forged = xml.replace(DEFAULT_NEXT["subject"], DEFAULT_NEXT["subject"][:-1] + "2")

    rule = await _refusal(sessions, stage, base64.b64encode(forged.encode()).decode(), request_id)

    assert rule == "saml_signature"
    request_id, response = await _sign_in_at_idp(stage)
    xml = base64.b64decode(response).decode()
    cipher = re.search(r"<ns0:CipherValue>([^<]{40})", xml.split("EncryptedAssertion", 1)[1])
    assert cipher is not None
    flipped = xml.replace(cipher.group(1), cipher.group(1)[::-1], 1)
    assert await _refusal(sessions, stage, base64.b64encode(flipped.encode()).decode(), request_id) == "saml_invalid"


async def test_an_assertion_signed_with_sha1_is_refused(
    sessions: async_sessionmaker[AsyncSession], stage: Stage
) -> None:
    request_id, response = await _sign_in_at_idp(stage, sha1=True)

    assert await _refusal(sessions, stage, response, request_id) == "saml_signature"


async def test_an_assertion_for_another_audience_is_refused(
    sessions: async_sessionmaker[AsyncSession], stage: Stage
) -> None:
    # Encrypted, it could not be: the IdP knows no certificate of the other system.
    request_id, response = await _sign_in_at_idp(stage, audience="https://another-system.example/saml", encrypt=False)

    assert await _refusal(sessions, stage, response, request_id) == "saml_audience"


async def test_a_replayed_assertion_is_refused(sessions: async_sessionmaker[AsyncSession], stage: Stage) -> None:
    request_id, response = await _sign_in_at_idp(stage)
    await saml.accept_assertion(sessions, stage.provider, response, request_id, datetime.now(UTC))

    assert await _refusal(sessions, stage, response, request_id) == "saml_replay"


async def test_an_assurance_level_below_substantial_is_refused(
    sessions: async_sessionmaker[AsyncSession], stage: Stage
) -> None:
    request_id, response = await _sign_in_at_idp(stage, loa="Low")

    assert await _refusal(sessions, stage, response, request_id) == "saml_assurance"


async def test_a_response_to_no_request_of_ours_is_refused(
    sessions: async_sessionmaker[AsyncSession], stage: Stage
) -> None:
    _, response = await _sign_in_at_idp(stage)

    assert await _refusal(sessions, stage, response, saml_provider.new_request_id()) == "saml_unsolicited"


async def test_a_response_that_is_no_saml_at_all_is_refused(
    sessions: async_sessionmaker[AsyncSession], stage: Stage
) -> None:
    garbage = base64.b64encode(b"<html><body>not a response</body></html>").decode()

    assert await _refusal(sessions, stage, garbage, saml_provider.new_request_id()) == "saml_invalid"
    assert await _refusal(sessions, stage, "%%% not base64 %%%", saml_provider.new_request_id()) == "saml_invalid"


async def test_a_rolled_over_signing_key_is_followed_and_the_retired_one_refused(
    sessions: async_sessionmaker[AsyncSession], stage: Stage
) -> None:
    await stage.provider.metadata(stale_after=0.0)  # Lindra knows key A only
    request_id, response = await _sign_in_at_idp(stage, sign_with="idp-b", listed=["idp-a", "idp-b"])
    identity = await saml.accept_assertion(sessions, stage.provider, response, request_id, datetime.now(UTC))
    assert identity.subject == DEFAULT_NEXT["subject"]

    request_id, response = await _sign_in_at_idp(stage, sign_with="idp-a", listed=["idp-a", "idp-b"])
    await saml.accept_assertion(sessions, stage.provider, response, request_id, datetime.now(UTC))

    request_id, response = await _sign_in_at_idp(stage, sign_with="idp-a", listed=["idp-b"])
    await stage.provider.metadata(stale_after=0.0)  # the metadata's age is up: A is gone from it
    assert await _refusal(sessions, stage, response, request_id) == "saml_signature"
    await stage.next()
    await stage.provider.metadata(stale_after=0.0)


@pytest.fixture
async def saml_client(settings: Settings, clock: Clock, stage: Stage) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(dataclasses.replace(settings, saml_providers_file=stage.providers_file), clock=clock)
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_lindras_metadata_is_served_and_an_unknown_municipality_has_no_sign_in(
    saml_client: AsyncTestClient[Any], stage: Stage
) -> None:
    metadata = await saml_client.get(f"/auth/saml/{stage.provider.municipality_id}/metadata")
    assert metadata.status_code == 200 and stage.provider.sp_entity_id in metadata.text
    unknown = await saml_client.get(f"/auth/saml/{uuid.uuid4()}/login", follow_redirects=False)
    assert unknown.status_code == 404
