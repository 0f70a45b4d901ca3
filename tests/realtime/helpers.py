"""Real WebSocket clients for the realtime tests, and events emitted as the services emit them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from backend.clock import Clock
from backend.config import Settings
from backend.events import emit
from backend.people.tokens import AccessClaims, issue_access_token
from backend.realtime import Hub
from tests.factories import Login

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Live:
    app: Litestar
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.hub
        return hub


@dataclass
class Socket:
    """An authenticated connection: the events of its catch-up and the cursor `ready` gave."""

    ws: ClientConnection
    ready_id: int
    caught_up: list[dict[str, Any]] = field(default_factory=list)


async def open_socket(
    live: Live, login: Login, last_event_id: int | None = None, *, token: str | None = None, **options: Any
) -> Socket:
    ws = await connect(live.url, **options)
    await ws.send(json.dumps({"type": "auth", "token": token or login.token, "last_event_id": last_event_id}))
    caught_up = []
    while (frame := await next_frame(ws))["type"] == "event":
        caught_up.append(frame)
    assert frame["type"] == "ready", frame
    return Socket(ws, frame["last_event_id"], caught_up)


async def next_frame(ws: ClientConnection, seconds: float = 2.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), seconds))
    return frame


async def close_code(ws: ClientConnection, seconds: float = 3.0) -> int | None:
    """Read (and drop) whatever is still coming until the server closes; the close code it sent."""
    async with asyncio.timeout(seconds):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            return ws.close_code


async def emit_event(sessions: Sessions, municipality_id: uuid.UUID, kind: str = "visit.missed", **values: Any) -> int:
    """Commit one event as a use case would; its id."""
    async with sessions() as session, session.begin():
        return await emit(session, kind, municipality_id, **values)


def addressed_to(*logins: Login, **payload: Any) -> dict[str, Any]:
    return {"user_ids": [str(login.user_id) for login in logins], **payload}


async def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """Poll the server's state (it offers nothing to wait on) until the condition holds."""
    for _ in range(int(seconds * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not hold in time")


async def only_next_is(ws: ClientConnection, event_id: int) -> None:
    """The next frame is this event: whatever was emitted before it was not sent to this client."""
    frame = await next_frame(ws)
    assert (frame["type"], frame["id"]) == ("event", event_id), frame


def token_expiring_in(settings: Settings, clock: Clock, login: Login, seconds: float) -> str:
    """An access token of the login's device that lapses `seconds` from now (in the past if negative)."""
    claims = AccessClaims(login.user_id, login.device_id, login.role.value)
    issued = clock.now() - timedelta(minutes=settings.access_token_minutes) + timedelta(seconds=seconds)
    return issue_access_token(settings.secret_key, claims, issued, settings.access_token_minutes)
