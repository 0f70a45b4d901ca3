"""SAML sign-in through a Context Handler: a real pysaml2 IdP in its own process, over HTTP."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import logging
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.errors import Problem
from backend.people.federation import saml, saml_provider
from tests.people.saml_idp import DEFAULT_NEXT

ROOT = Path(__file__).resolve().parents[2]
CVR = "29189846"
SCOPE = f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"
COORDINATOR_ROLE = "http://kombit.dk/roles/jobrole/palliation-koordinator/1"
ORG_UNIT = "http://sts.kombit.dk/constraints/orgenhed/1"
PERSON = (DEFAULT_NEXT["subject"], DEFAULT_NEXT["email"], DEFAULT_NEXT["name"], "Testesen")


def _key_pair(folder: Path, name: str) -> None:
    """A self-signed signing certificate and its key, as PEM files `<name>.crt` and `<name>.key`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@dataclasses.dataclass
class Stage:
    idp_url: str
    provider: saml_provider.SamlProvider
    providers_file: str


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    """Lindra's SAML settings for one municipality, and the IdP process that knows Lindra's metadata."""
    folder = Path(tempfile.mkdtemp(prefix="lindra-saml-"))
    for name in ("sp", "idp-a", "idp-b"):
        _key_pair(folder, name)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    municipality = uuid.uuid4()
    settings = {
        "municipality_id": str(municipality),
        "sp_entity_id": f"https://lindra.test/saml/{municipality}",
        "acs_url": f"https://lindra.test/auth/saml/{municipality}/acs",
        "sp_cert_file": str(folder / "sp.crt"),
        "sp_key_file": str(folder / "sp.key"),
        "idp_metadata_url": f"http://127.0.0.1:{port}/metadata",
        "cvr": CVR,
        "refetch_after_failure_seconds": 0.0,
    }
    providers_file = folder / "saml.json"
    providers_file.write_text(json.dumps({"providers": [settings]}))
    provider = saml_provider.load_providers(str(providers_file))[municipality]
    (folder / "sp.xml").write_text(saml_provider.sp_metadata(provider))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.people.saml_idp", str(folder), str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "idp.log").open("w"),
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError((folder / "idp.log").read_text()) from None
                time.sleep(0.05)
        yield Stage(f"http://127.0.0.1:{port}", provider, str(providers_file))
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def nobody_named_in_the_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a test does, Lindra's logs never name the person who signed in."""
    caplog.set_level(logging.DEBUG)
    yield
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for identifying in PERSON:
        assert identifying not in logged


async def _next(stage: Stage, **how: Any) -> None:
    async with httpx.AsyncClient() as http:
        (await http.post(f"{stage.idp_url}/next", json=how)).raise_for_status()


def _posted(form: str) -> dict[str, str]:
    """The fields of the IdP's auto-posting form, as the browser would post them."""
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
    }


async def _sign_in_at_idp(stage: Stage, **how: Any) -> tuple[str, str]:
    """Start a sign-in as Lindra does and let the IdP answer: the request id and the SAMLResponse."""
    await _next(stage, **how)
    request_id = saml_provider.new_request_id()
    location = await saml_provider.authn_request(stage.provider, request_id, "relay")
    async with httpx.AsyncClient() as http:
        form = await http.get(location)
    form.raise_for_status()
    return request_id, _posted(form.text)["SAMLResponse"]


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
    await _next(stage)
    await stage.provider.metadata(stale_after=0.0)


@pytest.fixture
async def saml_client(settings: Settings, clock: Clock, stage: Stage) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(dataclasses.replace(settings, saml_providers_file=stage.providers_file), clock=clock)
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_the_sign_in_round_trip_is_accepted_and_then_refused_until_roles_are_mapped(
    saml_client: AsyncTestClient[Any], stage: Stage
) -> None:
    municipality = stage.provider.municipality_id
    await _next(stage, privileges=PRIVILEGES)
    started = await saml_client.get(f"/auth/saml/{municipality}/login", follow_redirects=False)
    assert started.status_code == 302, started.text
    assert started.headers["location"].startswith(f"{stage.idp_url}/sso?SAMLRequest=")
    async with httpx.AsyncClient() as http:
        form = _posted((await http.get(started.headers["location"])).text)

    answered = await saml_client.post(f"/auth/saml/{municipality}/acs", data=form)
    assert answered.status_code == 403, answered.text
    assert answered.json()["rule"] == "saml_not_mapped"
    again = await saml_client.post(f"/auth/saml/{municipality}/acs", data=form)
    assert (again.status_code, again.json()["rule"]) == (401, "saml_replay")
    forged_relay = await saml_client.post(f"/auth/saml/{municipality}/acs", data=form | {"RelayState": "x.1.y"})
    assert (forged_relay.status_code, forged_relay.json()["rule"]) == (401, "saml_unsolicited")

    metadata = await saml_client.get(f"/auth/saml/{municipality}/metadata")
    assert metadata.status_code == 200 and stage.provider.sp_entity_id in metadata.text
    unknown = await saml_client.get(f"/auth/saml/{uuid.uuid4()}/login", follow_redirects=False)
    assert unknown.status_code == 404
