"""The database away for a moment (a restart, a failover): the phone is told to retry, not that it failed."""

from __future__ import annotations

import asyncpg
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import DBAPIError

from backend.errors import EXCEPTION_HANDLERS


@get("/restarting")
async def restarting() -> None:
    try:
        raise asyncpg.CannotConnectNowError("the database system is starting up")
    except asyncpg.CannotConnectNowError as exc:  # as SQLAlchemy wraps it
        raise DBAPIError("SELECT 1", None, exc) from exc


@get("/broken")
async def broken() -> None:
    raise ValueError("a bug")


async def test_a_database_restart_answers_503_with_retry_after_and_a_bug_500() -> None:
    app = Litestar([restarting, broken], exception_handlers=EXCEPTION_HANDLERS)
    async with AsyncTestClient(app=app) as client:
        away = await client.get("/restarting")
        bug = await client.get("/broken")
    assert away.status_code == 503 and away.headers["retry-after"] == "2"
    assert "starting up" not in away.text and "SELECT" not in away.text
    assert bug.status_code == 500 and "a bug" not in bug.text
