"""Driving the national data set's export as a client would (kick-off, poll, manifest, files),
with the worker run in between, and what the rows say it must hold."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from backend.clock import Clock
from backend.config import Settings
from backend.exports.bulk import run_exports
from backend.exports.models import PseudonymSecret
from backend.exports.pseudonyms import pseudonym
from tests.cases.helpers import Client, Sessions, write_headers
from tests.exports.generated import first_day
from tests.factories import Login

NDJSON = "application/fhir+ndjson"
Files = dict[str, list[dict[str, Any]]]
PROGRESS = re.compile(r"[0-5] of 5 resource types written, \d+ resources")


def period(clock: Clock) -> dict[str, str]:
    """From the first generated day to yesterday: every generated course, whole."""
    return {"from": first_day(clock).isoformat(), "to": (clock.today() - timedelta(days=1)).isoformat()}


async def kick_off(client: Client, login: Login, params: dict[str, str]) -> str:
    """The status URL's path of a new export (202, Content-Location)."""
    response = await client.post("/exports/national", params=params, headers=write_headers(login))
    assert response.status_code == 202, response.text
    location = response.headers["content-location"]
    assert location.endswith(response.json()["status_url"])
    path: str = response.json()["status_url"]
    return path


async def download(client: Client, login: Login, manifest: dict[str, Any]) -> tuple[Files, dict[str, str]]:
    """Every file of the manifest, parsed line by line, and as it came (for scanning)."""
    files: Files = {}
    raw: dict[str, str] = {}
    for output in manifest["output"]:
        response = await client.get(urlsplit(output["url"]).path, headers=login.headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(NDJSON)
        raw[output["type"]] = response.text
        files[output["type"]] = [json.loads(line) for line in response.text.splitlines()]
        assert len(files[output["type"]]) == output["count"]
    return files, raw


async def finished(client: Client, login: Login, status_path: str) -> dict[str, Any]:
    """Poll as a client does until the manifest comes (202 with its progress until then)."""
    deadline = time.monotonic() + 30
    while True:
        response = await client.get(status_path, headers=login.headers)
        if response.status_code == 200:
            manifest: dict[str, Any] = response.json()
            return manifest
        assert response.status_code == 202, response.text
        assert PROGRESS.fullmatch(response.headers["x-progress"]), response.headers["x-progress"]
        assert time.monotonic() < deadline, "the export did not finish"
        await asyncio.sleep(0.05)


async def export(
    client: Client, sessions: Sessions, settings: Settings, clock: Clock, login: Login, params: dict[str, str]
) -> tuple[Files, dict[str, str]]:
    """Kick off, let a worker write it (this one, or the test app's own scheduler, whichever claims
    it first), read the manifest and every file."""
    status_path = await kick_off(client, login, params)
    await run_exports(sessions, settings, clock)
    manifest = await finished(client, login, status_path)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert [o["type"] for o in manifest["output"]] == [
        "Patient",
        "EpisodeOfCare",
        "Encounter",
        "Observation",
        "Communication",
    ]
    return await download(client, login, manifest)


async def pseudonyms_of(sessions: Sessions, municipality_id: uuid.UUID, cprs: list[str]) -> list[str]:
    """What the citizens' pseudonyms must be: HMAC-SHA256 of the CPR number with the stored secret."""
    async with sessions() as session:
        secret = await session.scalar(
            select(PseudonymSecret.secret).where(PseudonymSecret.municipality_id == municipality_id)
        )
    assert secret is not None
    return [pseudonym(secret, "citizen", cpr) for cpr in cprs]


def days(start: date, end: date | None) -> int | None:
    return None if end is None else (end - start).days
