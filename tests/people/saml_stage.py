"""A municipality's SAML identity provider for the tests: Lindra's SAML settings for one
municipality (a settings file, as `LINDRA_SAML_PROVIDERS` names it) and the pysaml2 IdP process
(tests.people.saml_idp) that knows Lindra's metadata, on a free loopback port."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from backend.people.federation import saml_provider
from backend.worker import free_port

ROOT = Path(__file__).resolve().parents[2]
CVR = "29189846"
SCOPE = f"urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"


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

    async def next(self, **how: Any) -> None:
        """Who signs in at the IdP next, and how (tests.people.saml_idp)."""
        async with httpx.AsyncClient() as http:
            (await http.post(f"{self.idp_url}/next", json=how)).raise_for_status()


@contextmanager
def running_stage(municipality: uuid.UUID, lindra_url: str = "https://lindra.test") -> Iterator[Stage]:
    """The IdP process for `municipality`, whose answers go to Lindra's ACS at `lindra_url`."""
    folder = Path(tempfile.mkdtemp(prefix="lindra-saml-"))
    for name in ("sp", "idp-a", "idp-b"):
        _key_pair(folder, name)
    port = free_port()
    settings = {
        "municipality_id": str(municipality),
        "sp_entity_id": f"https://lindra.test/saml/{municipality}",
        "acs_url": f"{lindra_url}/auth/saml/{municipality}/acs",
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


def posted(form: str) -> dict[str, str]:
    """The fields of the IdP's auto-posting form, as the browser would post them."""
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
    }
