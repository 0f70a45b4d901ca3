"""Small helpers for the people tests: logging in over HTTP and idempotency headers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import PASSWORD

Client = AsyncTestClient[Litestar]


async def login(
    client: Client,
    email: str,
    password: str = PASSWORD,
    *,
    platform: str = "android",
    push_token: str | None = None,
) -> httpx.Response:
    device: dict[str, Any] = {"platform": platform, "app_version": "2.3.0"}
    if push_token is not None:
        device["push_token"] = push_token
    return await client.post("/auth/login", json={"email": email, "password": password, "device": device})


async def login_ok(client: Client, email: str, password: str = PASSWORD, **device: Any) -> dict[str, Any]:
    response = await login(client, email, password, **device)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def choose_password(client: Client, code: str, new_password: str) -> httpx.Response:
    """Redeem a mailed one-time code, as the app does: choose one's password and sign in."""
    device = {"platform": "android", "app_version": "2.3.0"}
    return await client.post("/auth/password", json={"code": code, "new_password": new_password, "device": device})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def with_key(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    """The caller's headers plus a fresh (or the given) Idempotency-Key, as a phone sends them."""
    return {**headers, "Idempotency-Key": key or new_key()}


def fresh_email() -> str:
    return f"nobody-{uuid.uuid4().hex[:10]}@test.lindra.dk"
