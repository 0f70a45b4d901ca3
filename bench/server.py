"""The benchmark server: the real application plus two baselines served by the same process.

`/bench/bare` is a bare Litestar endpoint; `/bench/raw/{case_id}` reads a case and writes an audit
row in one transaction with raw asyncpg: what the framework and the ORM must be measured against.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import uuid

import uvicorn
from litestar import Litestar, get
from litestar.datastructures import State

from backend.app import create_app
from backend.config import Settings
from backend.db import make_pool

_RAW_READ = """
SELECT c.id, c.status, c.phase, ci.name, ci.cpr FROM cases c JOIN citizens ci ON ci.id = c.citizen_id
WHERE c.id = $1
"""
_RAW_AUDIT = """
INSERT INTO audit_log (user_id, role, action, case_id, request_id) VALUES ($1, 'coordinator', 'bench.raw', $2, $3)
"""


@get("/bench/bare", opt={"roles": "public"})
async def bare() -> dict[str, str]:
    return {"status": "ok"}


@get("/bench/raw/{case_id:uuid}", opt={"roles": "public"})
async def raw(state: State, case_id: uuid.UUID) -> dict[str, str]:
    async with state.raw_pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_RAW_READ, case_id)
        await conn.execute(_RAW_AUDIT, state.bench_user, case_id, str(uuid.uuid4()))
    return {"id": str(row["id"]), "status": row["status"], "name": row["name"]}


def build(database_url: str, secret: str, bench_user: uuid.UUID, row_security: bool = True) -> Litestar:
    """The application, acting as its own role (`row_security`) or as the URL's user."""
    settings = Settings.from_env(database_url=database_url, secret_key=secret)
    app = create_app(settings if row_security else dataclasses.replace(settings, db_role=""))
    app.register(bare)
    app.register(raw)

    async def open_pool(app: Litestar) -> None:
        # The pool the application reads through, as the URL's user: the raw baseline asks no row scope.
        app.state.raw_pool = await make_pool(database_url, 20, role=None)
        app.state.bench_user = bench_user

    app.on_startup.append(open_pool)
    return app


def from_environment() -> Litestar:
    """The app for uvicorn's worker processes, configured by the parent through the environment."""
    env = os.environ
    return build(
        env["BENCH_DATABASE_URL"],
        env["BENCH_SECRET"],
        uuid.UUID(env["BENCH_USER"]),
        env.get("BENCH_ROW_SECURITY") != "0",
    )


if __name__ == "__main__":
    url, secret, user, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    workers = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    os.environ.update(BENCH_DATABASE_URL=url, BENCH_SECRET=secret, BENCH_USER=user)
    uvicorn.run(
        "bench.server:from_environment",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
