"""A property-based fuzz of every operation of the OpenAPI, for every role: naive and extreme
date-times, control characters, huge and negative numbers, long strings and JSON nested a thousand
deep (`fuzz_strategies`). Whatever is sent, no answer is a 5xx, no sync operation fails on our
side, and a refused request leaves nothing written behind it.

"Nothing written" is read from what every committed change leaves: the caller's audit rows, her
Idempotency-Key rows and her sync operations, which a write stores in its own transaction. The
app here runs no background work, so only the requests change them. The examples are drawn
derandomized: the same requests on every run, in CI too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import Sessions, create_case
from tests.factories import World, build_world
from tests.mobile.helpers import add_visit
from tests.security.fuzz_strategies import Operation, Request, Values, operations

ROLES = ["nurse_a", "coordinator", "key_person", "unit", "admin"]
# Signing out, revoking devices or deleting users would end the logins the run goes on with.
SKIP = ("logout", "revoke")
EXAMPLES = 8  # per role; each example sends one request to every operation (about 4 s a role here)

_FOOTPRINT = text(
    "SELECT (SELECT count(*) FROM audit_log WHERE user_id = :user_id)"
    " + (SELECT count(*) FROM idempotency_keys WHERE user_id = :user_id)"
    " + (SELECT count(*) FROM sync_operations WHERE user_id = :user_id)"
)


@dataclasses.dataclass
class Target:
    http: AsyncTestClient[Litestar]
    world: World
    values: Values
    operations: list[Operation]


@pytest.fixture(scope="module")
async def target(settings: Settings, sessions: Sessions) -> AsyncIterator[Target]:
    clock = Clock()
    app = create_app(dataclasses.replace(settings, housekeeping=False, db_pool_size=2), clock)
    world = await build_world(sessions, settings, clock)
    async with AsyncTestClient(app=app) as http:
        case = await create_case(http, world.coordinator, world.district_a, clock.today(), phase="terminal")
        visit = await add_visit(sessions, clock, case["id"], world.district_a, world.nurse_a.user_id)
        document: dict[str, Any] = app.openapi_schema.to_schema()
        known = [uuid.UUID(case["id"]), uuid.UUID(visit), world.district_a, world.municipality_id]
        yield Target(http, world, Values(document, known), operations(document, SKIP))


async def footprint(sessions: Sessions, user_id: uuid.UUID) -> int:
    async with sessions() as session:
        return int(await session.scalar(_FOOTPRINT, {"user_id": user_id}) or 0)


async def send(http: AsyncTestClient[Litestar], request: Request) -> Any:
    return await http.request(
        request.method, request.url, params=request.params, headers=request.headers, content=request.content
    )


def requests(target: Target, token: str) -> st.SearchStrategy[list[tuple[str, Request]]]:
    """One request to every operation, in the document's order."""
    return st.tuples(
        *(target.values.request(op, token).map(lambda r, op=op: (op.name, r)) for op in target.operations)
    ).map(list)


@pytest.mark.parametrize("role", ROLES)
async def test_no_hostile_value_gets_a_5xx_or_leaves_a_refused_write_behind(
    target: Target, sessions: Sessions, role: str
) -> None:
    login = target.world.users[role]

    async def check(name: str, request: Request) -> None:
        before = await footprint(sessions, login.user_id)
        answer = await send(target.http, request)
        said = f"{name} as {role}: {request.url} {request.params} {(request.content or '')[:300]!r}"
        assert answer.status_code < 500, f"{said} -> {answer.status_code} {answer.text[:300]}"
        if answer.status_code >= 400:
            assert await footprint(sessions, login.user_id) == before, f"{said} -> refused but wrote"
        elif name.endswith("/sync"):
            outcomes = [result["outcome"] for result in answer.json()["results"]]
            assert "failed" not in outcomes, f"{said} -> {answer.text[:600]}"

    # Hypothesis drives a plain function; each request runs on the test's event loop.
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failure message names the request
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=st.data())
    def every_operation(batch: st.DataObject) -> None:
        for name, request in batch.draw(requests(target, login.token)):
            asyncio.run_coroutine_threadsafe(check(name, request), loop).result()

    await asyncio.to_thread(every_operation)
