"""Browser tests of the board: the real app on a loopback port, driven by Debian's Chromium.

The clock is set to 02:00 on the coming night, so the night shift is running, tonight's visits
are under way or overdue, and the countdowns count against a server clock that differs from
the browser's by hours (the page must take the server's time from its tokens, not its own).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from tests.factories import World, build_world
from tests.serving import serving
from tests.visits.coordination_helpers import local, set_clock

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).parent / "screenshots"


@dataclasses.dataclass
class BoardServer:
    host: str
    port: int
    clock: Clock

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
def night(restore_clock: Clock) -> Clock:
    """02:00 (Copenhagen) on the coming night: the night shift started at 23:00 and runs to 07:00."""
    set_clock(restore_clock, local(restore_clock.today() + timedelta(days=1), 2, 0))
    return restore_clock


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession], settings: Settings, night: Clock) -> World:
    """A municipality of its own, with tokens issued at the night's time."""
    return await build_world(sessions, settings, night)


@pytest.fixture
async def server(request: pytest.FixtureRequest, settings: Settings, night: Clock) -> AsyncIterator[BoardServer]:
    """The whole app as `lindra serve` runs it, housekeeping included: the escalation sweep must run.

    Indirect parameters override settings (e.g. `{"access_token_minutes": 1}`).
    """
    overrides = getattr(request, "param", {})
    app = create_app(dataclasses.replace(settings, housekeeping=True, **overrides), night)
    async with serving(app) as (host, port):
        yield BoardServer(host, port, night)


@pytest.fixture
async def api(server: BoardServer) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP calls to the same server the browser uses (what the phones and other boards do meanwhile)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed: `apt-get install -y chromium` to run the board's browser tests")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed: `pip install -e '.[test]'`")
    async with async_playwright() as playwright:
        # Debian's Chromium; Playwright's own browser downloads are never used.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Any, server: BoardServer) -> AsyncIterator[Any]:
    """A fresh browser profile at a board's size; fails the test on any script error or CSP violation.

    It takes the server so that it closes first: a page left open would see the server go away.
    """
    context = await browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="da-DK", timezone_id="Europe/Copenhagen"
    )
    tab = await context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and not _expected(message.text)
            else None
        ),
    )
    tab.problems = problems
    yield tab
    await context.close()
    assert problems == [], problems


def _expected(text: str) -> bool:
    """Console errors the tests cause on purpose: refused actions (4xx) and the dropped WebSocket."""
    return "status of 4" in text or "WebSocket" in text


# The broker's endpoint that takes what Lindra sends (letters, acknowledgements), as in tests/messages.
from tests.messages.conftest import ack_receiver  # noqa: E402, F401
