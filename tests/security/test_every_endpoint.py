"""The attacker's view of every HTTP endpoint the app has, found from the app itself (so a new
route cannot be forgotten): no token, an expired one, a revoked device, a deleted user, and
each role the route does not allow. Scoping by district and municipality is tested per domain."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from sqlalchemy import update

from backend.clock import Clock
from backend.config import Settings
from backend.people.actor import PUBLIC
from backend.people.models import Device, Role, User
from backend.people.tokens import AccessClaims, issue_access_token
from tests.cases.helpers import Client, Sessions
from tests.factories import Login, World, add_user


def guarded_routes(app: Litestar) -> list[tuple[str, str, frozenset[Role]]]:
    """(method, concrete path, roles) for every route that needs a login."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.opt.get("roles") in (None, PUBLIC):
                continue
            path = re.sub(r"\{[^}:]+:uuid\}", str(uuid.uuid4()), route.path)
            path = re.sub(r"\{[^}:]+:date\}", "2026-11-22", path)
            path = re.sub(r"\{severity:str\}", "critical", path)
            path = re.sub(r"\{shift_kind:str\}", "night", path)
            path = re.sub(r"\{action:str\}", "acknowledge", path)
            path = re.sub(r"\{resource_type:str\}", "Patient", path)
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                found.append((method, path, handler.opt["roles"]))
    return found


async def call(client: Client, method: str, path: str, headers: dict[str, str]) -> Any:
    body = None if method == "GET" else {}
    return await client.request(method, path, json=body, headers=headers | {"Idempotency-Key": str(uuid.uuid4())})


@pytest.fixture
async def strangers(sessions: Sessions, settings: Settings, clock: Clock, world: World) -> dict[str, dict[str, str]]:
    """Headers that must never get in: none, expired, a revoked device's, a deleted user's."""
    async with sessions.begin() as session:
        revoked = await add_user(session, settings, clock, role=Role.COORDINATOR, organisation_id=world.municipality_id)
        deleted = await add_user(session, settings, clock, role=Role.COORDINATOR, organisation_id=world.municipality_id)
        await session.execute(update(Device).where(Device.id == revoked.device_id).values(revoked_at=clock.now()))
        await session.execute(update(User).where(User.id == deleted.user_id).values(deleted_at=clock.now()))
    c = world.coordinator
    expired = issue_access_token(
        settings.secret_key,
        AccessClaims(c.user_id, c.device_id, Role.COORDINATOR.value),
        clock.now() - timedelta(hours=1),
        settings.access_token_minutes,
    )
    return {
        "no token": {},
        "expired token": {"Authorization": f"Bearer {expired}"},
        "revoked device": revoked.headers,
        "deleted user": deleted.headers,
        "forged token": {"Authorization": "Bearer " + c.token[:-4] + "AAAA"},
    }


async def test_nobody_without_a_valid_login_gets_past_any_endpoint(
    app: Litestar, client: Client, strangers: dict[str, dict[str, str]]
) -> None:
    routes = guarded_routes(app)
    assert len(routes) > 60  # every guarded route of the app, not a sample
    let_in = [
        (who, method, path, answer.status_code)
        for method, path, _ in routes
        for who, headers in strangers.items()
        if (answer := await call(client, method, path, headers)).status_code != 401
    ]
    assert let_in == [], "\n".join(map(str, let_in))


async def test_every_role_is_refused_where_its_role_is_not_allowed(app: Litestar, client: Client, world: World) -> None:
    logins: dict[Role, Login] = {
        Role.NURSE: world.nurse_a,
        Role.COORDINATOR: world.coordinator,
        Role.KEY_PERSON: world.key_person,
        Role.PALLIATIVE_UNIT: world.unit,
        Role.ADMIN: world.admin,
    }
    wrong = []
    # Signing out or revoking devices would end the very logins this test goes on with.
    routes = [r for r in guarded_routes(app) if "logout" not in r[1] and "revoke" not in r[1]]
    for method, path, roles in routes:
        for role, login in logins.items():
            status = (await call(client, method, path, login.headers)).status_code
            if role in roles:
                if status in (401, 403) or status >= 500:
                    wrong.append((role.value, method, path, status, "allowed role refused"))
            elif status != 403:
                wrong.append((role.value, method, path, status, "role let in"))
    assert wrong == [], "\n".join(map(str, wrong))


async def test_error_bodies_never_hold_a_stack_trace_or_sql(client: Client, world: World) -> None:
    probes = [
        ("POST", "/cases", b"{not json"),
        ("POST", "/cases", b'{"cpr": "0101' + b"9" * 5000 + b'"}'),
        ("GET", "/cases/not-a-uuid", None),
        ("GET", "/cases?limit=-1&cursor=%00%27", None),
        ("POST", "/mobile/v1/sync", b'{"operations": "\'; DROP TABLE cases; --"}'),
    ]
    for method, path, body in probes:
        headers = world.coordinator.headers | {"Idempotency-Key": str(uuid.uuid4()), "content-type": "application/json"}
        answer = await client.request(method, path, content=body, headers=headers)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        text = answer.text
        for leak in ("Traceback", 'File "', "sqlalchemy", "asyncpg", "SELECT ", "INSERT ", "psycopg"):
            assert leak not in text, (path, leak)
