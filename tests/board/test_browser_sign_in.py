"""Signing in on the board when the password is not one's own: the forced change, and a mailed code."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pyotp
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.people.models import Organisation, PasswordSignIn, User
from tests.board.conftest import BoardServer
from tests.factories import PASSWORD, World
from tests.mail import MailServer

try:
    from playwright.async_api import expect
except ImportError:  # the `browser` fixture skips every browser test, saying why
    expect = None

NEW_PASSWORD = "kaffe på natbordet klokken tre"


async def test_a_password_set_by_someone_else_is_replaced_in_the_login_form(
    page: Any, server: BoardServer, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(User).where(User.id == world.coordinator.user_id).values(password_change_required=True)
        )
    await page.goto(f"{server.url}/board")
    await page.fill("#login-email", world.coordinator.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")

    await expect(page.locator("#login-error")).to_contain_text("Vælg en ny")
    await expect(page.locator("#login-new-password")).to_be_visible()
    await page.fill("#login-new-password", NEW_PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=10_000)

    async with httpx.AsyncClient(base_url=server.url) as http:
        again = await http.post(
            "/auth/login",
            json={
                "email": world.coordinator.email,
                "password": NEW_PASSWORD,
                "device": {"platform": "web", "app_version": "t"},
            },
        )
    assert again.status_code == 200, again.text


async def test_a_code_from_the_reset_mail_chooses_the_password_and_opens_the_board(
    page: Any, server: BoardServer, world: World, mail_server: MailServer
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        reset = await http.post(
            f"/admin/users/{world.coordinator.user_id}/password-reset",
            headers=world.admin.headers | {"Idempotency-Key": str(uuid.uuid4())},
        )
    assert reset.status_code == 200, reset.text
    code = mail_server.code_for(world.coordinator.email)

    await page.goto(f"{server.url}/board")
    await page.click("#login-have-code")
    await page.fill("#code-code", "AAAA-BBBB-CCCC-DDDD")
    await page.fill("#code-password", NEW_PASSWORD)
    await page.click("#code-submit")
    await expect(page.locator("#code-error")).to_be_visible()

    await page.fill("#code-code", code)
    await page.fill("#code-password", NEW_PASSWORD)
    await page.click("#code-submit")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=10_000)
    await expect(page.locator("#who")).not_to_be_empty()


async def test_a_coordinator_sets_up_her_authenticator_app_on_the_board_and_signs_in_with_its_code(
    page: Any, server: BoardServer, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(Organisation)
            .where(Organisation.id == world.municipality_id)
            .values(password_sign_in=PasswordSignIn.SECOND_FACTOR.value)
        )
    await page.goto(f"{server.url}/board")
    await page.fill("#login-email", world.coordinator.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")

    await expect(page.locator("#factor-form")).to_be_visible()
    totp = pyotp.TOTP(await page.locator("#factor-secret").inner_text())
    await page.fill("#factor-otp", totp.at(server.clock.now()))
    await page.click("#factor-submit")
    await expect(page.locator("#recovery-codes li")).to_have_count(10)
    await page.click("#recovery-continue")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=10_000)

    await page.click("#logout")
    server.clock.shift(timedelta(seconds=30))
    await page.fill("#login-email", world.coordinator.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_contain_text("godkendelsesapp")
    await page.fill("#login-otp", totp.at(server.clock.now()))
    await page.click("#login-submit")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=10_000)
