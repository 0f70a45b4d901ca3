"""The whole app served by uvicorn on a free loopback port inside the test's event loop, as
`lindra serve` serves it: for tests that need a real server (WebSockets, a browser)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from litestar import Litestar


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[tuple[str, int]]:
    """Serve `app` until the block ends; yields (host, port)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield host, port
    finally:
        server.should_exit = True
        await task
        sock.close()
