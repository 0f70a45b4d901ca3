"""The municipality's identity provider for the tests: Node's oidc-provider (tests/oidc/provider),
started on a free loopback port, with accounts, key rotation and a substituted ID token set over
its /test routes; and a person's browser at it, as plain HTTP (the phone-style client's view)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import html
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from backend.worker import free_port

PROVIDER_DIR = Path(__file__).parent / "provider"
CLIENT_ID = "lindra"
CLIENT_SECRET = "lindra-test-client-secret-" + "s" * 16
APP_REDIRECT_URI = "https://app.lindra.test/oidc"
NURSES = "lindra-nurses"
COORDINATORS = "lindra-coordinators"


@dataclass
class SigningKey:
    """An RSA key the provider signs with (or an attacker's, never published)."""

    kid: str
    private: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def jwk(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private))
        return found | {"kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


class Provider:
    """A running oidc-provider and what the tests tell it."""

    def __init__(self, port: int, keys: list[SigningKey], log: Path) -> None:
        self.port = port
        self.keys = keys
        self.log = log  # what the provider printed: its warnings and failed back-channel calls

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _control(self, method: str, path: str, body: dict[str, Any]) -> None:
        async with httpx.AsyncClient(base_url=self.issuer) as http:
            answer = await http.request(method, path, json=body)
        assert answer.status_code == 204, answer.text

    async def account(self, sub: str, *, groups: list[str], active: bool = True, name: str = "Test Person") -> None:
        """Who may sign in (the dev login takes any password), with her groups."""
        body = {"email": f"{sub}@kommune.test", "name": name, "groups": groups, "active": active}
        await self._control("PUT", f"/test/accounts/{sub}", body)

    async def rotate(self) -> SigningKey:
        """A new signing key, published first (so it signs) beside the old ones."""
        new = SigningKey(f"k{len(self.keys) + 1}-{secrets.token_hex(4)}")
        self.keys.insert(0, new)
        await self._control("POST", "/test/rotate", {"keys": [key.jwk() for key in self.keys]})
        return new

    async def substitute_id_token(self, id_token: str) -> None:
        """The next answer of the token endpoint carries this ID token instead of its own."""
        await self._control("POST", "/test/next-id-token", {"id_token": id_token})

    def id_claims(self, sub: str, nonce: str, **changes: Any) -> dict[str, Any]:
        """Claims as the provider would sign them for Lindra's client, with changes."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": sub, "nonce": nonce, "iat": now, "exp": now + 300}
        claims.update({"groups": ["lindra-nurses"], "email": f"{sub}@kommune.test"})
        return claims | changes


@asynccontextmanager
async def running_provider(lindra_url: str, municipality_id: str) -> AsyncIterator[Provider]:
    """Start oidc-provider with one client: Lindra, at `lindra_url`, for this municipality."""
    node = shutil.which("node")
    assert node is not None, "Node is needed for the sign-in tests (`npm ci -s --prefix tests/oidc/provider`)"
    port = free_port()
    keys = [SigningKey("k1")]
    folder = Path(tempfile.mkdtemp(prefix="lindra-oidc-"))
    config = {
        "port": port,
        "issuer": f"http://127.0.0.1:{port}",
        "keys": [key.jwk() for key in keys],
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{lindra_url}/auth/oidc/callback", APP_REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
                "backchannel_logout_uri": f"{lindra_url}/auth/oidc/backchannel-logout/{municipality_id}",
                "backchannel_logout_session_required": True,
            }
        ],
    }
    (folder / "config.json").write_text(json.dumps(config))
    log = (folder / "provider.log").open("w")
    process = await asyncio.create_subprocess_exec(
        node, str(PROVIDER_DIR / "server.js"), str(folder / "config.json"), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        provider = Provider(port, keys, folder / "provider.log")
        async with httpx.AsyncClient() as http:
            for _ in range(500):
                if process.returncode is not None:
                    raise RuntimeError((folder / "provider.log").read_text())
                try:
                    if (await http.get(f"{provider.issuer}/.well-known/openid-configuration")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
            else:
                raise RuntimeError("the provider did not start")
        yield provider
    finally:
        process.terminate()
        await process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


class Browser:
    """A person's browser at the provider, as plain HTTP: follows redirects, fills the provider's
    development login (any password) and consent forms, and stops at the first redirect that
    leaves the provider (to the app, or to Lindra)."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.http = httpx.AsyncClient(timeout=10)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def sign_in(self, authorize_url: str, login: str) -> str:
        """The URL the provider sends the browser back to, with `code` and `state`."""
        url = authorize_url
        for _ in range(12):
            answer = await self.http.get(url)
            while answer.is_redirect:
                url = urljoin(url, answer.headers["location"])
                if not url.startswith(self.provider.issuer):
                    return url
                answer = await self.http.get(url)
            form = _form(answer.text)
            assert form is not None, answer.text[:500]
            action, fields = form
            if fields.get("prompt") == "login":
                fields |= {"login": login, "password": "any"}
            answer = await self.http.post(urljoin(url, action), data=fields)
            assert answer.is_redirect, answer.text[:500]
            url = urljoin(url, answer.headers["location"])
            if not url.startswith(self.provider.issuer):
                return url
        raise AssertionError("the provider never sent the browser back")

    async def sign_out(self) -> None:
        """Sign out at the provider (as a leaver's IT would end her session): it tells Lindra."""
        page = await self.http.get(f"{self.provider.issuer}/session/end")
        form = _form(page.text)
        assert form is not None, page.text[:500]
        action, fields = form
        answer = await self.http.post(urljoin(self.provider.issuer, action), data=fields | {"logout": "yes"})
        assert answer.status_code in (200, 303), answer.text[:500]


def _form(page: str) -> tuple[str, dict[str, str]] | None:
    """The first form's action and hidden fields."""
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    if action is None:
        return None
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), {key: html.unescape(value) for key, value in fields.items()}


def returned(url: str) -> dict[str, str]:
    """The query of the URL the provider sent the browser back to."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def configure(url: str, admin: dict[str, str], provider: Provider, nurses_district: uuid.UUID) -> None:
    """The municipality's administrator (`admin`: her headers) sets the provider and maps two
    groups through the API: nurses (in `nurses_district`) and coordinators."""
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.put(
            "/admin/federation/oidc",
            json={
                "issuer": provider.issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scopes": "openid email profile groups offline_access",
            },
            headers=admin | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert answer.status_code == 200, answer.text
        for claim, role, districts in (
            (NURSES, "nurse", [str(nurses_district)]),
            (COORDINATORS, "coordinator", []),
        ):
            answer = await http.put(
                "/admin/federation/mappings",
                json={"claim": claim, "role": role, "district_ids": districts},
                headers=admin | {"Idempotency-Key": str(uuid.uuid4())},
            )
            assert answer.status_code == 200, answer.text


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Phone:
    """The phone app: it opens the authorize URL in the (system) browser, catches the redirect to
    its own URI, and hands Lindra the code with its PKCE verifier and device key."""

    api: httpx.AsyncClient
    municipality_id: uuid.UUID
    browser: Browser
    device_key: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    verifier: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(48))
    refresh_token: str = ""

    async def start(self) -> dict[str, Any]:
        answer = await self.api.post(
            "/auth/oidc/start",
            json={
                "municipality_id": str(self.municipality_id),
                "client": "app",
                "device_key": self.device_key,
                "code_challenge": challenge_of(self.verifier),
            },
        )
        assert answer.status_code == 200, answer.text
        started: dict[str, Any] = answer.json()
        return started

    async def at_provider(self, login: str) -> dict[str, str]:
        """Start, sign in at the provider; what came back to the app (code and state)."""
        started = await self.start()
        back = await self.browser.sign_in(started["authorize_url"], login)
        assert back.startswith(APP_REDIRECT_URI), back
        return returned(back)

    async def hand_over(self, back: dict[str, str], **changes: Any) -> httpx.Response:
        body = {
            "state": back["state"],
            "code": back["code"],
            "code_verifier": self.verifier,
            "device_key": self.device_key,
            "device": {"platform": "android", "app_version": "2.0.0"},
        } | changes
        answer = await self.api.post("/auth/oidc/token", json=body)
        if answer.status_code == 200:
            self.refresh_token = answer.json()["refresh_token"]
        return answer

    async def sign_in(self, login: str) -> httpx.Response:
        return await self.hand_over(await self.at_provider(login))

    async def refresh(self) -> httpx.Response:
        answer = await self.api.post(
            "/auth/refresh", json={"refresh_token": self.refresh_token, "device_key": self.device_key}
        )
        if answer.status_code == 200:
            self.refresh_token = answer.json()["refresh_token"]
        return answer
