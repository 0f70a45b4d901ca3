"""Choosing one's own password: at the sign-in after an administrator chose it, and without a mail server."""

from __future__ import annotations

import dataclasses
import logging
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.people.models import User
from tests.factories import PASSWORD, World
from tests.mail import CODE, MailServer
from tests.people.helpers import Client, bearer, choose_password, fresh_email, login, login_ok, with_key

NEW_PASSWORD = "nattevagt med varm te"


async def _login_with_new(client: Client, email: str, new_password: str) -> int:
    device = {"platform": "ios", "app_version": "3.0.0"}
    body = {"email": email, "password": PASSWORD, "device": device, "new_password": new_password}
    return (await client.post("/auth/login", json=body)).status_code


async def test_a_password_set_by_someone_else_must_be_changed_at_the_next_sign_in(
    client: Client, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(User).where(User.id == world.nurse_a.user_id).values(password_change_required=True)
        )

    asked = await login(client, world.nurse_a.email)

    assert asked.status_code == 403
    assert (asked.json()["field"], asked.json()["rule"]) == ("new_password", "password_change_required")
    assert "access_token" not in asked.text
    assert await _login_with_new(client, world.nurse_a.email, "a" * 12) == 422
    assert await _login_with_new(client, world.nurse_a.email, NEW_PASSWORD) == 200
    # Her old sessions ended with the old password; the new one is hers alone.
    assert (await client.get("/me", headers=world.nurse_a.headers)).status_code == 401
    assert (await login(client, world.nurse_a.email)).status_code == 401
    await login_ok(client, world.nurse_a.email, NEW_PASSWORD)


async def test_changing_ones_password_at_sign_in_ends_every_other_session(client: Client, world: World) -> None:
    other = await login_ok(client, world.coordinator.email)

    assert await _login_with_new(client, world.coordinator.email, NEW_PASSWORD) == 200

    assert (await client.get("/me", headers=bearer(other["access_token"]))).status_code == 401


async def test_an_expired_code_is_refused(
    client: Client, world: World, settings: Settings, restore_clock: Clock, mail_server: MailServer
) -> None:
    reset = await client.post(
        f"/admin/users/{world.key_person.user_id}/password-reset", headers=with_key(world.admin.headers)
    )
    assert reset.status_code == 200
    code = mail_server.code_for(world.key_person.email)
    restore_clock.shift(timedelta(hours=settings.password_code_hours))

    refused = await choose_password(client, code, NEW_PASSWORD)

    assert (refused.status_code, refused.json()["field"]) == (400, "code")


async def test_without_a_mail_server_the_code_waits_in_a_file_only_the_operator_reads(
    settings: Settings, clock: Clock, world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    demo = dataclasses.replace(settings, smtp_host="", data_dir=tmp_path)
    email = fresh_email()
    async with Client(app=create_app(demo, clock=clock)) as client:
        body = {
            "email": email,
            "full_name": "Ny Kollega",
            "role": "coordinator",
            "organisation_id": str(world.municipality_id),
        }
        with caplog.at_level(logging.INFO):
            created = await client.post("/admin/users", json=body, headers=with_key(world.admin.headers))

        assert created.status_code == 201, created.text
        assert created.json()["invitation"]["delivery"] == "operator_file"
        [mail] = list((tmp_path / "outbox").iterdir())
        assert stat.S_IMODE(mail.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
        found = CODE.search(mail.read_text())
        assert found is not None and email in mail.read_text()
        assert found.group(0) not in caplog.text and found.group(0) not in created.text
        assert (await choose_password(client, found.group(0), NEW_PASSWORD)).status_code == 200
