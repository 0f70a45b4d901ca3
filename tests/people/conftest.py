"""Fixtures for the people tests: a second municipality, and an app that locks out early."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from tests.factories import World, build_world


@pytest.fixture
async def other_world(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> World:
    """Another municipality, whose people and districts our admin must not touch."""
    return await build_world(sessions, settings, clock)


@pytest.fixture(scope="session")
def strict_settings(settings: Settings) -> Settings:
    """Locks after three failures and never slows down, so lockout tests stay fast."""
    return dataclasses.replace(
        settings,
        login_slow_after=1000,
        login_lock_after=3,
        login_window_minutes=15,
        login_lock_minutes=15,
        login_email_slow_after=1000,
    )


@pytest.fixture(scope="session")
async def strict_client(strict_settings: Settings, clock: Clock) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(strict_settings, clock=clock)) as test_client:
        yield test_client
