"""A real server on a loopback port (uvicorn in this event loop) for the WebSocket tests."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from tests.realtime.helpers import Live


@pytest.fixture
async def live(settings: Settings, clock: Clock) -> AsyncIterator[Live]:
    """The whole app served by uvicorn on a free port, as `lindra serve` serves it."""
    app = create_app(dataclasses.replace(settings, housekeeping=False), clock)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
    yield Live(app, host, port)
    server.should_exit = True
    await serving
    sock.close()
