"""One municipality signing in with its own provider, per test module: oidc-provider under Node,
and Lindra served on a loopback port, its provider and group mapping set by the administrator
through the API. Accounts at the provider are made per test (`person`)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.people.federation.discovery import ProviderDirectory
from backend.people.models import User
from tests.board.conftest import browser  # noqa: F401  (the headless Chromium, for the board's sign-in)
from tests.factories import World, build_world
from tests.oidc.idp import (
    APP_REDIRECT_URI,
    CLIENT_ID,
    CLIENT_SECRET,
    Browser,
    Provider,
    free_port,
    returned,
    running_provider,
)
from tests.serving import serving

NURSES = "lindra-nurses"
COORDINATORS = "lindra-coordinators"


@dataclass
class Federated:
    """The municipality, its provider, and Lindra serving it."""

    world: World
    provider: Provider
    app: Litestar
    url: str

    @property
    def directory(self) -> ProviderDirectory:
        directory: ProviderDirectory = self.app.state.oidc
        return directory


@pytest.fixture(scope="module")
async def federated(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> AsyncIterator[Federated]:
    world = await build_world(sessions, settings, clock)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with running_provider(url, str(world.municipality_id)) as provider:
        app = create_app(
            dataclasses.replace(
                settings,
                housekeeping=False,
                public_url=url,
                oidc_app_redirect_uri=APP_REDIRECT_URI,
                oidc_key_refetch_seconds=0.0,
            ),
            clock,
        )
        async with serving(app, port=port):
            await _configure(url, world, provider)
            yield Federated(world, provider, app, url)


async def _configure(url: str, world: World, provider: Provider) -> None:
    """The administrator sets the provider and maps two groups, through the API."""
    async with httpx.AsyncClient(base_url=url) as http:
        headers = world.admin.headers
        answer = await http.put(
            "/admin/federation/oidc",
            json={
                "issuer": provider.issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scopes": "openid email profile groups offline_access",
            },
            headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert answer.status_code == 200, answer.text
        for claim, role, districts in (
            (NURSES, "nurse", [str(world.district_a)]),
            (COORDINATORS, "coordinator", []),
        ):
            answer = await http.put(
                "/admin/federation/mappings",
                json={"claim": claim, "role": role, "district_ids": districts},
                headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
            )
            assert answer.status_code == 200, answer.text


@pytest.fixture
async def api(federated: Federated) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=federated.url, timeout=10) as client:
        yield client


@pytest.fixture
def person() -> str:
    """The provider's id (sub) of this test's own person."""
    return f"p-{uuid.uuid4().hex[:10]}"


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Phone:
    """The phone app: it opens the authorize URL in the (system) browser, catches the redirect to
    its own URI, and hands Lindra the code with its PKCE verifier and device key."""

    api: httpx.AsyncClient
    federated: Federated
    browser: Browser
    device_key: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    verifier: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(48))
    refresh_token: str = ""

    async def start(self) -> dict[str, Any]:
        answer = await self.api.post(
            "/auth/oidc/start",
            json={
                "municipality_id": str(self.federated.world.municipality_id),
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


@pytest.fixture
async def phone(api: httpx.AsyncClient, federated: Federated) -> AsyncIterator[Phone]:
    agent = Browser(federated.provider)
    yield Phone(api, federated, agent)
    await agent.aclose()


async def users_of(sessions: async_sessionmaker[AsyncSession], world: World) -> int:
    """How many users the municipality has: a refusal must add none."""
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(User).where(User.organisation_id == world.municipality_id)
            )
            or 0
        )
