"""Nothing personal in any log: not PostgreSQL's, not the access log of a real `lindra serve`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request

import asyncpg
import pytest
import websockets

from backend.config import Settings
from backend.worker import free_port
from tests.cases.helpers import valid_cpr
from tests.factories import World
from tests.security.server_log import ServerLog


async def test_a_cpr_that_violates_a_unique_key_is_not_in_postgresql_s_log(database_url: str) -> None:
    log = await ServerLog.since_now(database_url)
    cpr = valid_cpr()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CREATE TEMP TABLE people (cpr text PRIMARY KEY, name text NOT NULL)")
        await connection.execute("INSERT INTO people VALUES ($1, 'Karen')", cpr)
        with pytest.raises(asyncpg.UniqueViolationError):  # bound: the DETAIL names the key's value
            await connection.execute("INSERT INTO people VALUES ($1, 'Karen')", cpr)
        with pytest.raises(asyncpg.UniqueViolationError):  # literal: the statement's text holds it too
            await connection.execute(f"INSERT INTO people VALUES ('{cpr}', 'Karen')")
        with pytest.raises(asyncpg.NotNullViolationError):  # the DETAIL shows the failing row
            await connection.execute("INSERT INTO people VALUES ($1, NULL)", cpr[::-1])
    finally:
        await connection.close()
    written = await log.wait_for("null value in column")
    assert written.count("duplicate key value violates unique constraint") == 2, "the errors reached the log"
    leaked = cpr in written or cpr[::-1] in written
    assert not leaked, "PostgreSQL's log holds the CPR number"


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code
    except OSError:
        return 0


async def test_a_token_sent_in_a_url_is_not_in_the_access_log(
    database_url: str, settings: Settings, world: World
) -> None:
    """`lindra serve` as deployed (DATABASE_URL set, no worker): its log, after tokens in URLs."""
    port = free_port()
    env = os.environ | {"DATABASE_URL": database_url, "LINDRA_SECRET_KEY": settings.secret_key}
    command = [sys.executable, "-m", "backend.cli", "serve", "--port", str(port), "--no-demo", "--no-worker"]
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    base = f"127.0.0.1:{port}"
    token = world.coordinator.token
    try:
        deadline = time.monotonic() + 60
        while await asyncio.to_thread(_get, f"http://{base}/health") != 200:
            assert process.returncode is None and time.monotonic() < deadline, "lindra serve did not start"
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(_get, f"http://{base}/cases?access_token={token}") == 400
        assert await asyncio.to_thread(_get, f"http://{base}/cases?x=1&access_token={token}#frag") == 400
        async with websockets.connect(f"ws://{base}/ws?token={token}") as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            output = (await process.communicate())[0].decode()
    assert '"GET /cases HTTP/1.1" 400' in output, "the access log is on, its lines carry the path"
    assert "/ws" in output
    leaked = token in output or token[-20:] in output or "access_token" in output or "token=" in output
    assert not leaked, "the access log holds the token"
