"""Offline sync under load: phones syncing the same cases at once, and what one batch costs the database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from litestar import Litestar
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.alerts.models import Alert
from backend.clock import Clock
from backend.sync.service import apply_batch
from backend.visits.models import SymptomAssessment, Visit
from mobile_api import schemas as m
from tests.cases.helpers import Client, Sessions, count_rows
from tests.factories import World, acting
from tests.mobile.helpers import add_visit, new_case
from tests.mobile.test_sync import op, results

# Raising an alert: the open-alert check, the policy, and each tier's people, rows and events. Here the
# roster is empty, so every alert passes through all three tiers at once (the dearest case).
STATEMENTS_PER_ALERT = 35


async def _checked_in_visits(client: Client, world: World, clock: Clock, sessions: Sessions, n: int) -> list[str]:
    """`n` cases with a visit each, assigned to nurse A and checked in (by a sync batch)."""
    visits = []
    for _ in range(n):
        case_id = await new_case(client, world, clock, phase="late")
        visits.append(await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id))
    found = await results(client, world.nurse_a, [op("check_in", clock, -60, v) for v in visits])
    assert [r["outcome"] for r in found] == ["applied"] * n
    return visits


def _scores(clock: Clock, visits: list[str], n: int) -> list[dict[str, Any]]:
    """`n` ESAS-r scores operations going round the visits, a few seconds apart."""
    return [
        op("scores", clock, -50 + k / 20, visits[k % len(visits)], instrument="ESAS-r", scores={"pain": k % 7})
        for k in range(n)
    ]


async def test_two_phones_syncing_the_same_cases_in_opposite_orders_both_apply(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    # Two batches at once, each in its own transaction, working the same two cases crosswise. Locking
    # per operation (visit, case, visit, case...) made PostgreSQL find a deadlock and fail one batch.
    visits = await _checked_in_visits(client, world, clock, sessions, 2)
    actor = acting(world, "nurse_a")

    async def apply(operations: list[dict[str, Any]]) -> list[str]:
        data = msgspec.convert({"device_id": str(actor.device_id), "operations": operations}, m.SyncIn)
        async with sessions.begin() as session:
            out = await apply_batch(session, actor, data, clock.now())
        return [result.outcome for result in out.results]

    for _ in range(3):
        forward = _scores(clock, visits, 10)
        backward = _scores(clock, list(reversed(visits)), 10)
        outcomes = await asyncio.wait_for(asyncio.gather(apply(forward), apply(backward)), timeout=30)
        assert outcomes == [["applied"] * 10, ["applied"] * 10]
    async with sessions() as session:
        cases = [(await session.get_one(Visit, uuid.UUID(visit))).case_id for visit in visits]
    assert [await count_rows(sessions, SymptomAssessment, str(case)) for case in cases] == [30, 30]


@contextmanager
def counting(app: Litestar) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs."""
    engine: AsyncEngine = app.state.engine
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


async def test_a_batch_of_scores_costs_a_few_statements_per_operation(
    app: Litestar, client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    # Checks, locks and the scores' history are read once a batch; audit, events and results written once.
    visits = await _checked_in_visits(client, world, clock, sessions, 10)
    batch = _scores(clock, visits, 50)
    with counting(app) as statements:
        found = await results(client, world.nurse_a, batch)
    assert [r["outcome"] for r in found] == ["applied"] * 50
    # Rising pain scores raise an alert per case; raising one (policy, roster, first tier) has its own cost.
    async with sessions() as session:
        cases = {(await session.get_one(Visit, uuid.UUID(visit))).case_id for visit in visits}
        raised = await session.scalar(select(func.count()).select_from(Alert).where(Alert.case_id.in_(cases)))
    assert raised == len(cases)
    # 504 when each operation read and wrote its own
    assert len(statements) <= 60 + STATEMENTS_PER_ALERT * raised, (len(statements), raised)
