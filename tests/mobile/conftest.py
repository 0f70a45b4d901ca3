"""Fixtures for the phone's API: a world built clear of a shift change, so 'the shift running now' holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.roster.shifts import shift_at
from tests.factories import World, build_world

MARGIN = timedelta(minutes=20)


@pytest.fixture
def mid_shift(restore_clock: Clock) -> Clock:
    """Move the clock into the next shift when the current one ends within 20 minutes (put back afterwards)."""
    now = restore_clock.now()
    left = shift_at(now).ends - now
    if left < MARGIN:
        restore_clock.shift(left + timedelta(minutes=1))
    return restore_clock


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession], settings: Settings, mid_shift: Clock) -> World:
    """As the suite's `world`, with tokens issued after the clock was moved."""
    return await build_world(sessions, settings, mid_shift)
