"""A real server on a loopback port (uvicorn in this event loop) for the WebSocket tests."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from tests.realtime.helpers import Live
from tests.serving import serving


@pytest.fixture
async def live(settings: Settings, clock: Clock) -> AsyncIterator[Live]:
    """The whole app served by uvicorn on a free port, as `lindra serve` serves it."""
    app = create_app(dataclasses.replace(settings, housekeeping=False), clock)
    async with serving(app) as (host, port):
        yield Live(app, host, port)
