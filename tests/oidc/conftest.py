"""One municipality signing in with its own provider, per test module: oidc-provider under Node,
and Lindra served on a loopback port, its provider and group mapping set by the administrator
through the API. Accounts at the provider are made per test (`person`)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

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
from backend.worker import free_port
from tests.board.conftest import browser  # noqa: F401  (the headless Chromium, for the board's sign-in)
from tests.factories import World, build_world
from tests.oidc.idp import APP_REDIRECT_URI, Browser, Phone, Provider, configure, running_provider
from tests.serving import serving


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
            await configure(url, world.admin.headers, provider, nurses_district=world.district_a)
            yield Federated(world, provider, app, url)


@pytest.fixture
async def api(federated: Federated) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=federated.url, timeout=10) as client:
        yield client


@pytest.fixture
def person() -> str:
    """The provider's id (sub) of this test's own person."""
    return f"p-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def phone(api: httpx.AsyncClient, federated: Federated) -> AsyncIterator[Phone]:
    agent = Browser(federated.provider)
    yield Phone(api, federated.world.municipality_id, agent)
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
