"""What an attacker tries at the edges of HTTP: other origins, huge bodies, tokens in URLs."""

from __future__ import annotations

import dataclasses
import time
import uuid

from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import Client
from tests.factories import World

BOARD = "https://lindra.kommune.example"


async def test_cors_answers_only_the_configured_origins(settings: Settings, clock: Clock) -> None:
    app = create_app(dataclasses.replace(settings, allowed_origins=(BOARD,), housekeeping=False), clock)
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    async with AsyncTestClient(app=app) as http:
        allowed = await http.options("/cases", headers={"Origin": BOARD, **preflight})
        evil = await http.options("/cases", headers={"Origin": "https://evil.example", **preflight})
        plain = await http.get("/health", headers={"Origin": "https://evil.example"})
    assert allowed.headers.get("access-control-allow-origin") == BOARD
    assert "access-control-allow-origin" not in evil.headers
    assert "access-control-allow-origin" not in plain.headers


async def test_without_configured_origins_no_browser_elsewhere_may_call(client: Client) -> None:
    answer = await client.get("/health", headers={"Origin": BOARD})
    assert "access-control-allow-origin" not in answer.headers


async def test_an_oversized_body_is_refused_before_it_is_read(client: Client, world: World) -> None:
    body = b'{"operations": [' + b'{"type":"note"},' * 200_000 + b"{}]}"  # about 3 MiB
    headers = world.nurse_a.headers | {"Idempotency-Key": str(uuid.uuid4()), "content-type": "application/json"}
    started = time.perf_counter()
    answer = await client.post("/mobile/v1/sync", content=body, headers=headers)
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert time.perf_counter() - started < 2


async def test_a_token_in_the_url_is_refused_even_when_it_is_valid(client: Client, world: World) -> None:
    for name in ("access_token", "token"):
        answer = await client.get("/me", params={name: world.coordinator.token})
        assert answer.status_code == 400 and answer.json()["field"] == "access_token"
