"""The board signs in through the municipality's provider in headless Chromium: the button, the
provider's own login and consent pages, and back to a live board; or to a clear page for a
person the mapping does not know."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.oidc.conftest import Federated, users_of
from tests.oidc.idp import COORDINATORS

try:
    from playwright.async_api import expect
except ImportError:  # the `browser` fixture skips, saying why
    expect = None


@pytest.fixture
async def tab(browser: Any, federated: Federated) -> AsyncIterator[Any]:
    """A fresh profile that reaches only this machine (the provider's pages link web fonts)."""
    context = await browser.new_context(locale="da-DK", timezone_id="Europe/Copenhagen")
    await context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1") else route.abort(),
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    yield page
    await context.close()


async def _through_the_provider(tab: Any, federated: Federated, person: str) -> None:
    await tab.goto(f"{federated.url}/board")
    await tab.click(f"#login-providers button[data-municipality='{federated.world.municipality_id}']")
    await tab.fill("input[name=login]", person)
    await tab.fill("input[name=password]", "any password")
    await tab.click("button[type=submit]")
    await tab.click("button[type=submit]")  # the provider's consent


async def test_a_coordinator_signs_in_on_the_board_with_her_municipalitys_provider(
    tab: Any, federated: Federated, person: str
) -> None:
    await federated.provider.account(person, groups=[COORDINATORS], name="Karen Koordinator")

    await _through_the_provider(tab, federated, person)

    await expect(tab.locator("#who")).to_have_text("Karen Koordinator", timeout=10_000)
    await expect(tab.locator("#conn")).to_have_attribute("data-state", "connected", timeout=10_000)
    assert tab.url == f"{federated.url}/board"  # the return mark is gone from the address bar
    assert tab.errors == []


async def test_a_person_the_mapping_does_not_know_sees_a_clear_page_and_nothing_is_made(
    tab: Any, federated: Federated, person: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await federated.provider.account(person, groups=["kantine"])
    before = await users_of(sessions, federated.world)

    await _through_the_provider(tab, federated, person)

    await expect(tab.locator("#refusal-title")).to_have_text("Ingen adgang til Lindra")
    await expect(tab.locator("#refusal-reason")).to_contain_text("Lindra-administrator")
    assert await users_of(sessions, federated.world) == before
