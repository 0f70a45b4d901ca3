"""`lindra admin create`: the operator makes the first administrator of a palliative unit."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from sqlalchemy import select

from backend.audit.models import AuditEntry
from tests.cases.helpers import Client, Sessions
from tests.factories import World
from tests.people.helpers import bearer, fresh_email, login

PASSWORD = "the unit's own long secret"
HER_OWN = "tulipaner i vindueskarmen om morgenen"


def admin_create(database_url: str, organisation: uuid.UUID, email: str, password: str = PASSWORD) -> str:
    """Run the command as the operator would, the password on stdin; its output."""
    command = ["admin", "create", "--organisation", str(organisation), "--email", email, "--name", "Ulla Unitadmin"]
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", *command],
        input=password + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
        check=False,
    )
    return f"{done.returncode} {done.stdout}{done.stderr}"


async def test_the_operator_creates_a_units_administrator_who_manages_its_staff(
    client: Client, world: World, neighbour: World, database_url: str, sessions: Sessions
) -> None:
    email = fresh_email()
    assert admin_create(database_url, world.unit_id, email).startswith("0 Administrator")

    # The operator typed that password: she must choose her own before she gets in.
    first = await login(client, email, PASSWORD)
    assert first.status_code == 403 and first.json()["rule"] == "password_change_required"
    device = {"platform": "web", "app_version": "board-1"}
    answer = await client.post(
        "/auth/login", json={"email": email, "password": PASSWORD, "new_password": HER_OWN, "device": device}
    )
    assert answer.status_code == 200, answer.text
    signed_in = answer.json()
    assert (await login(client, email, PASSWORD)).status_code == 401
    listed = await client.get("/admin/users", headers=bearer(signed_in["access_token"]))
    assert {u["email"] for u in listed.json()} == {world.unit.email, email}
    async with sessions() as session:
        made = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.role, AuditEntry.request_id).where(
                    AuditEntry.subject_user_id == uuid.UUID(signed_in["user"]["id"])
                )
            )
        ).all()
    assert [tuple(row) for row in made] == [("user.create", "operator", "cli")]


async def test_the_operator_is_told_why_nothing_was_created(world: World, database_url: str) -> None:
    district = admin_create(database_url, world.district_a, fresh_email())
    taken = admin_create(database_url, world.unit_id, world.nurse_a.email)
    short = admin_create(database_url, world.unit_id, fresh_email(), password="short")
    common = admin_create(database_url, world.unit_id, fresh_email(), password="password123456")
    assert district.startswith("1 No administrator created: No municipality, palliative unit or regional team")
    assert taken.startswith("1 No administrator created: Another user already has this e-mail address.")
    assert short.startswith("1 No administrator created: Use at least 12 characters.")
    assert common.startswith("1 No administrator created: ")
    assert "0 Administrator" not in common
