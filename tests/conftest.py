"""Test fixtures over a real PostgreSQL: the embedded one, or the server at DATABASE_URL.

One database per test run, migrated once. Tests do not share rows: each builds its own
municipality through `world`, so they can run against one database without cleaning up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_sessionmaker, migrate, start_embedded
from backend.logs import CHATTY_LOGGERS, strip_query_strings
from backend.row_scope import SYSTEM
from tests.factories import World, build_world
from tests.mail import MailServer
from tests.security.logscan import RunLog
from tests.security.server_log import ServerLog


def _server_url(tmp_root: Path) -> str:
    return os.environ.get("DATABASE_URL") or start_embedded(tmp_root)


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


async def admin_exec(url: str, sql: str) -> None:
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _server_url(tmp_path_factory.getbasetemp().parent / "lindra-test-pg")


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A fresh database for this run, migrated to head."""
    name = f"lindra_test_{uuid.uuid4().hex[:10]}"
    await admin_exec(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(migrate, url)
    yield url
    await admin_exec(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server on a loopback port: the mails the app sends (one-time codes) land here."""
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, mail_server: MailServer) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-" + "x" * 32,
        db_pool_size=5,
        smtp_host="127.0.0.1",
        smtp_port=mail_server.port,
        smtp_security="none",
    )


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def app(settings: Settings, clock: Clock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Direct database access for setting up worlds and checking what was (not) written, across
    municipalities: as the application's role, in the system row scope."""
    engine = make_engine(database_url, pool_size=3)
    yield make_sessionmaker(engine, SYSTEM)
    await engine.dispose()


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> World:
    """A municipality of this test's own: two districts, one user of every role, a palliative unit."""
    return await build_world(sessions, settings, clock)


@pytest.fixture
async def neighbour(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock, world: World
) -> World:
    """The municipality next door to `world`, sharing its palliative unit and regional team."""
    return await build_world(sessions, settings, clock, neighbour_of=world)


@pytest.fixture
def restore_clock(clock: Clock) -> Iterator[Clock]:
    """For tests that move time: put the clock back afterwards."""
    offset = clock.offset
    yield clock
    clock.offset = offset


# ---- the log of the run, scanned at its end (tests/security/test_log_scan.py) -----------------

RUN_LOG = Path(tempfile.mkdtemp(prefix="lindra-run-log-")) / "app.log"


def pytest_configure(config: pytest.Config) -> None:
    """Every log record of the run is kept in RUN_LOG; the server's lines carry no query strings,
    as in `lindra serve`."""
    config.addinivalue_line("markers", "last_of_run: runs after every other test of the run (the log scan)")
    RunLog(RUN_LOG).install()
    strip_query_strings()
    for chatty in CHATTY_LOGGERS:  # the test client's httpx too: it logs every URL it is asked for
        logging.getLogger(chatty).setLevel(logging.WARNING)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked last_of_run go last; the others keep their order (the sort is stable)."""
    items.sort(key=lambda item: item.get_closest_marker("last_of_run") is not None)


@pytest.fixture(scope="session", autouse=True)
async def server_log_of_run(server_url: str) -> ServerLog:
    """PostgreSQL's log from the run's first test on."""
    return await ServerLog.since_now(server_url)
