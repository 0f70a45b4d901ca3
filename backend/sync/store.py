"""The offline operations' rows (`sync_operations`): claimed before they run, read back when one
comes again, answered at the end; and the answers a resent or reused operation gets.

An operation is kept under (user, client_op_id) with its body, so that a resend is told from a
reuse of the id for something else; a body PostgreSQL cannot hold (a NUL, even in jsonb) is kept
as its digest, which tells the two apart as well.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, cast

import msgspec
from sqlalchemy import Table, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.people.actor import Actor
from backend.visits.models import SyncOperation
from backend.wire import faults
from mobile_api import schemas as m


def refused(client_op_id: str | None, outcome: str, status: int, error: m.SyncError) -> m.SyncResult:
    """An operation's answer when it did not apply: what the single endpoint would have said."""
    return m.SyncResult(client_op_id=client_op_id, outcome=outcome, status=status, error=error)


def stored_body(op: m.SyncOperationIn) -> dict[str, Any]:
    """What is kept of the operation: its body, or the body's digest when it holds what the edge
    refuses (PostgreSQL cannot store a NUL even in jsonb); either tells a resend from a reuse."""
    visit_id = str(op.visit_id) if op.visit_id else None
    if faults(op.body, "body") is None:
        return {"visit_id": visit_id, "body": op.body}
    return {"visit_id": visit_id, "body_sha256": hashlib.sha256(msgspec.json.encode(op.body)).hexdigest()}


async def claim(session: AsyncSession, actor: Actor, ops: list[m.SyncOperationIn], now: datetime) -> set[str]:
    """Store the operations as pending, in one INSERT; the ids that were new (the others were received before)."""
    rows = [
        {
            "user_id": actor.user_id,
            "client_op_id": op.client_op_id,
            "device_id": actor.device_id,
            "op_type": op.type.value,
            "device_time": op.device_time,
            "outcome": "pending",
            "body": stored_body(op),
            "result": {},
            "received_at": now,
        }
        for op in ops
    ]
    # Many parameter sets to one cached statement: SQLAlchemy sends them as one multi-row INSERT.
    table = cast(Table, SyncOperation.__table__)
    claimed = await session.scalars(insert(table).on_conflict_do_nothing().returning(table.c.client_op_id), rows)
    return set(claimed.all())


async def stored(session: AsyncSession, actor: Actor, client_op_ids: list[str]) -> dict[str, Any]:
    """The operations received before, by client_op_id, in one SELECT."""
    if not client_op_ids:
        return {}
    rows = await session.execute(
        select(
            SyncOperation.client_op_id,
            SyncOperation.op_type,
            SyncOperation.device_time,
            SyncOperation.body,
            SyncOperation.result,
        ).where(SyncOperation.user_id == actor.user_id, SyncOperation.client_op_id.in_(client_op_ids))
    )
    return {row.client_op_id: row for row in rows}


async def store_results(session: AsyncSession, actor: Actor, done: dict[str, tuple[m.SyncResult, m.OpType]]) -> None:
    """Each operation's outcome and result on its row, in one UPDATE."""
    failed = [key for key, (result, _) in done.items() if result.outcome == "failed"]
    if failed:  # forgotten: a resend runs them again
        await session.execute(
            delete(SyncOperation).where(SyncOperation.user_id == actor.user_id, SyncOperation.client_op_id.in_(failed))
        )
    keys = [key for key in done if key not in failed]
    if not keys:
        return
    outcomes = [done[key][0] for key in keys]
    await session.execute(
        text(
            "UPDATE sync_operations AS s SET outcome = v.outcome, result = CAST(v.result AS jsonb) "
            "FROM unnest(CAST(:keys AS text[]), CAST(:outcomes AS text[]), CAST(:results AS text[])) "
            "AS v(client_op_id, outcome, result) "
            "WHERE s.user_id = :user_id AND s.client_op_id = v.client_op_id"
        ),
        {
            "keys": keys,
            "outcomes": [result.outcome for result in outcomes],
            "results": [msgspec.json.encode(result).decode() for result in outcomes],
            "user_id": actor.user_id,
        },
    )


def reused(op: m.SyncOperationIn) -> m.SyncResult:
    """The answer to an id used again for another operation: refused, so nothing is done under a stale id."""
    error = m.SyncError(
        title="Operation id reused",
        detail="This client_op_id was already used for a different operation.",
        field="client_op_id",
        rule="client_op_id_reused",
    )
    return refused(op.client_op_id, "rejected", 422, error)


def replayed(result: m.SyncResult) -> m.SyncResult:
    """A second copy within one batch: the first copy's answer, marked a replay."""
    again = msgspec.convert(msgspec.to_builtins(result), m.SyncResult)
    again.replayed = True
    return again


def replay(row: Any, op: m.SyncOperationIn) -> m.SyncResult:
    """An operation received in an earlier batch: its stored answer, marked a replay (or `reused`)."""
    if (row.op_type, row.device_time, row.body) != (op.type.value, op.device_time, stored_body(op)):
        return reused(op)
    result = msgspec.convert(row.result, m.SyncResult)
    result.replayed = True
    return result


# A replayed operation shows its first answer again: a read of the case it was about, named by its
# visit or, for a raise, by the case in its body.
_AUDIT_REPLAYS = text(
    """
    INSERT INTO audit_log (user_id, role, action, case_id, request_id)
    SELECT DISTINCT CAST(:user_id AS uuid), CAST(:role AS text), 'sync.replay', about.case_id,
                    CAST(:request_id AS text)
    FROM (
        SELECT case_id FROM visits WHERE id = ANY(CAST(:visit_ids AS uuid[]))
        UNION SELECT id FROM cases WHERE id = ANY(CAST(:case_ids AS uuid[]))
    ) AS about
    """
)


def _case_id(body: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(body["case_id"]))
    except (KeyError, ValueError):
        return None


async def audit_replays(session: AsyncSession, actor: Actor, replays: list[m.SyncOperationIn]) -> None:
    """Audit the applied operations answered again from an earlier batch as reads of their cases."""
    if not replays:
        return
    visit_ids = sorted({op.visit_id for op in replays if op.visit_id is not None})
    case_ids = sorted({case for case in map(_case_id, (op.body for op in replays)) if case is not None})
    await session.execute(
        _AUDIT_REPLAYS,
        {
            "user_id": actor.user_id,
            "role": actor.role.value,
            "request_id": actor.request_id,
            "visit_ids": visit_ids,
            "case_ids": case_ids,
        },
    )
