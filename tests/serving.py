"""The whole app served by uvicorn on a free loopback port inside the test's event loop, as
`lindra serve` serves it: for tests that need a real server (WebSockets, a browser)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from litestar import Litestar


@asynccontextmanager
async def serving(app: Litestar, *, access_log: bool = False, port: int = 0) -> AsyncIterator[tuple[str, int]]:
    """Serve `app` until the block ends; yields (host, port). With `access_log`, uvicorn logs each
    request and socket through the process's logging, as `lindra serve` has it do. `port`: one
    chosen beforehand (for a gateway told where to call back), else a free one."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    host, port = sock.getsockname()
    logs: dict[str, Any] = {"log_config": None, "log_level": "info"} if access_log else {"log_level": "warning"}
    server = uvicorn.Server(uvicorn.Config(app, timeout_graceful_shutdown=3, access_log=access_log, **logs))
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
