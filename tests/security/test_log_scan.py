"""No log of the run holds a CPR number, a citizen's name or a token: the scan at the end of the suite.

The last test loads the demo municipality into the run's database and attacks it as the attacker
did (simultaneous registrations of a demo CPR, tokens in URLs, failed logins), then scans the
application's log of the whole run (tests/conftest.py keeps every record in RUN_LOG) and
PostgreSQL's log from the run's first test on (the embedded server's `log` in its data folder, or
`pg_current_logfile()`; with DATABASE_URL elsewhere, the file named in LINDRA_TEST_PG_LOG) for
every CPR number and name in the citizens table (every one the run and the demo issued) and for
any access token or a refresh token the attack was issued.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
import websockets

from backend import demo_data as demo
from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.demo import load_demo
from backend.logs import TEXT_FORMAT
from tests.cases.helpers import Client, case_body, valid_cpr
from tests.conftest import RUN_LOG
from tests.security.logscan import Secrets, scan
from tests.security.server_log import ServerLog
from tests.serving import serving


def test_the_scan_finds_a_deliberately_logged_cpr_and_names_only_where(tmp_path: Path) -> None:
    cpr, name = valid_cpr(), "Karen Margrethe Testesen"
    logger = logging.getLogger("lindra.scan_test")
    logger.propagate = False  # into this test's file only, not the run's log
    handler = logging.FileHandler(tmp_path / "app.log")
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logger.addHandler(handler)
    try:
        logger.warning("nothing personal here")
        logger.error("registered %s-%s for %s", cpr[:6], cpr[6:], name)
    finally:
        logger.removeHandler(handler)
        handler.close()
    written = (tmp_path / "app.log").read_text()
    findings = scan(written, "the test's log", Secrets(frozenset({cpr}), frozenset({name}), frozenset()))
    assert findings == [
        "a citizen's CPR number in the test's log, line 2",
        "a citizen's name in the test's log, line 2",
    ]
    assert not any(cpr in finding or cpr[:6] in finding or "Karen" in finding for finding in findings)


async def _attack(settings: Settings, clock: Clock, database_url: str) -> set[str]:
    """The attacker's run against the demo municipality, through a served app; the tokens it got."""
    await load_demo(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        cpr, name = await connection.fetchrow(
            "SELECT cpr, name FROM citizens WHERE municipality_id = $1 ORDER BY cpr LIMIT 1", demo.MUNICIPALITY_ID
        )
        district = await connection.fetchval(
            "SELECT id FROM organisations WHERE parent_id = $1 AND kind = 'district' LIMIT 1", demo.MUNICIPALITY_ID
        )
    finally:
        await connection.close()
    tokens: set[str] = set()
    app = create_app(dataclasses.replace(settings, housekeeping=False), clock)
    async with (
        serving(app, access_log=True) as (host, port),
        httpx.AsyncClient(base_url=f"http://{host}:{port}") as http,
    ):
        device = {"platform": "web", "app_version": "attack"}
        login = {"email": f"koordinator1@{demo.EMAIL_DOMAIN}", "password": demo.PASSWORD, "device": device}
        signed_in = await http.post("/auth/login", json=login)
        assert signed_in.status_code == 200, signed_in.text
        tokens |= {signed_in.json()["access_token"], signed_in.json()["refresh_token"]}
        bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        body = case_body(district, clock.today() - timedelta(days=2), cpr=cpr, name=name)
        await asyncio.gather(
            *(http.post("/cases", json=body, headers=bearer | {"Idempotency-Key": str(uuid.uuid4())}) for _ in range(8))
        )
        await http.get(f"/cases?access_token={signed_in.json()['access_token']}")
        await http.get(f"/cases?search={cpr}&name={name}", headers=bearer)
        async with websockets.connect(f"ws://{host}:{port}/ws?token={signed_in.json()['access_token']}") as socket:
            with pytest.raises(websockets.ConnectionClosed):
                await socket.recv()
        for password in ("forkert-kodeord-1", cpr, name):
            await http.post("/auth/login", json=login | {"password": password})
        await http.post("/auth/login", json=login | {"email": f"{cpr}@{demo.EMAIL_DOMAIN}"})
        await http.post("/auth/refresh", json={"refresh_token": signed_in.json()["refresh_token"] + "x"})
    return tokens


async def _secrets(database_url: str, tokens: set[str]) -> Secrets:
    """Every CPR number and name in the run's citizens table (the run's and the demo's), and `tokens`."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT cpr, name FROM citizens")
    finally:
        await connection.close()
    assert len(rows) > len(demo.ALL_USERS), "the demo's citizens are in the run's database"
    return Secrets(frozenset(r["cpr"] for r in rows), frozenset(r["name"] for r in rows), frozenset(tokens))


@pytest.mark.last_of_run
async def test_after_an_attack_no_log_of_the_run_holds_a_cpr_a_name_or_a_token(
    settings: Settings, clock: Clock, database_url: str, client: Client, server_log_of_run: ServerLog
) -> None:
    tokens = await _attack(settings, clock, database_url)
    secrets = await _secrets(database_url, tokens)
    logging.getLogger("lindra.scan").info("scanning the run's logs")  # the run's log is being written
    app_log = RUN_LOG.read_text(encoding="utf-8")
    assert "scanning the run's logs" in app_log and "uvicorn.access" in app_log, "the run's log was kept"
    server_log = server_log_of_run.written()
    findings = scan(app_log, f"the application's log ({RUN_LOG})", secrets)
    findings += scan(server_log, f"PostgreSQL's log ({server_log_of_run.path})", secrets)
    assert not findings, "\n".join(findings)
