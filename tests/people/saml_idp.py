"""A SAML identity provider built on pysaml2's IdP, issuing OIOSAML 3-shaped assertions as KOMBIT's
Context Handler does: persistent NameID, the NSIS level, e-mail, name and the basic privilege list.

Run by the tests as its own process: `python -m tests.people.saml_idp <folder> <port>`. The folder
holds `sp.xml` (Lindra's metadata) and `idp-a`/`idp-b` `.crt`/`.key` (two signing keys, for
rollover). Served over HTTP:
- `GET /metadata`: its metadata, listing the signing certificates in force;
- `GET /sso?SAMLRequest=...&RelayState=...` (HTTP-Redirect): the auto-posting form a browser
  would get, with the signed response for the next person;
- `POST /next` (JSON): who signs in next and how (`loa`, `audience`, `privileges`), and which key
  signs, how, and which the metadata lists (`sign_with`, `sha1`, `listed`).
"""

from __future__ import annotations

import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

PRIVILEGE_ATTRIBUTE = "dk:gov:saml:attribute:Privileges_intermediate"
DEFAULT_NEXT: dict[str, Any] = {
    "subject": "https://data.gov.dk/model/core/eid/professional/uuid/4f1c1c6a-1111-4c1e-9a55-000000000001",
    "email": "karen.testesen@kommune.test",
    "name": "Karen Testesen",
    "loa": "Substantial",
    "audience": None,  # None: the SP that asked
    "privileges": [],  # [{"scope": ..., "roles": [...], "constraints": {name: value}}]
    "sign_with": "idp-a",
    "listed": ["idp-a"],
    "sha1": False,  # sign with RSA-SHA1, as OIOSAML 3 forbids
    "encrypt": True,  # encrypt the assertion to the SP's certificate, as OIOSAML 3 does
}


def privilege_list(groups: list[dict[str, Any]]) -> str:
    """The OIO basic privilege list, base64 as the attribute carries it."""
    parts = ['<bpp:PrivilegeList xmlns:bpp="http://digst.dk/oiosaml/basic_privilege_profile">']
    for group in groups:
        parts.append(f'<PrivilegeGroup Scope="{group["scope"]}">')
        parts += [f"<Privilege>{role}</Privilege>" for role in group["roles"]]
        parts += [f'<Constraint Name="{n}">{v}</Constraint>' for n, v in group.get("constraints", {}).items()]
        parts.append("</PrivilegeGroup>")
    parts.append("</bpp:PrivilegeList>")
    return base64.b64encode("".join(parts).encode()).decode()


class Idp:
    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder = folder
        self.base_url = base_url
        self.entity_id = f"{base_url}/metadata"
        self.next = dict(DEFAULT_NEXT)

    def server(self) -> Server:
        key = self.next["sign_with"]
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": get_xmlsec_binary(),
                "key_file": str(self.folder / f"{key}.key"),
                "cert_file": str(self.folder / f"{key}.crt"),
                "metadata": {"local": [str(self.folder / "sp.xml")]},
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(f"{self.base_url}/sso", BINDING_HTTP_REDIRECT)]},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "want_authn_requests_signed": False,
                        "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
                    }
                },
            }
        )
        return Server(config=config)

    def metadata(self) -> str:
        keys = "".join(
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            + "".join((self.folder / f"{name}.crt").read_text().splitlines()[1:-1])
            + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            for name in self.next["listed"]
        )
        return (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}">'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f"{keys}<md:NameIDFormat>{NAMEID_FORMAT_PERSISTENT}</md:NameIDFormat>"
            f'<md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}" Location="{self.base_url}/sso"/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )

    def answer(self, saml_request: str, relay_state: str) -> str:
        """The auto-posting form with a signed response to the SP's AuthnRequest."""
        server = self.server()
        request = server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT).message
        person = self.next
        acs = request.assertion_consumer_service_url
        identity = {
            "https://data.gov.dk/model/core/specVersion": ["OIO-SAML-3.0"],
            "https://data.gov.dk/concept/core/nsis/loa": [person["loa"]],
            "https://data.gov.dk/model/core/eid/email": [person["email"]],
            "https://data.gov.dk/model/core/eid/fullName": [person["name"]],
            PRIVILEGE_ATTRIBUTE: [privilege_list(person["privileges"])],
        }
        response = server.create_authn_response(
            identity,
            in_response_to=request.id,
            destination=acs,
            sp_entity_id=person["audience"] or request.issuer.text,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=person["subject"]),
            authn={"class_ref": f"https://data.gov.dk/concept/core/nsis/loa/{person['loa']}"},
            sign_assertion=True,
            sign_response=False,
            encrypt_assertion=person["encrypt"],
            sign_alg=SIG_RSA_SHA1 if person["sha1"] else SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA1 if person["sha1"] else DIGEST_SHA256,
        )
        return server.apply_binding(BINDING_HTTP_POST, str(response), acs, relay_state, response=True)["data"]


def serve(folder: Path, port: int) -> None:
    idp = Idp(folder, f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: str, kind: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/metadata":
                return self._send(200, idp.metadata(), "application/samlmetadata+xml")
            if url.path == "/sso":
                query = parse_qs(url.query)
                relay_state = query.get("RelayState", [""])[0]
                if len(relay_state.encode()) > 80:  # the SAML bindings' limit, which a strict provider enforces
                    return self._send(400, "RelayState longer than 80 bytes", "text/plain")
                form = idp.answer(query["SAMLRequest"][0], relay_state)
                return self._send(200, form, "text/html")
            return self._send(404, "not found", "text/plain")

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            idp.next = {**DEFAULT_NEXT, **body}
            self._send(204, "", "text/plain")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
