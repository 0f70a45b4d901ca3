"""Events: one row per state change that boards and indicators follow, announced on commit.

The row and its NOTIFY are part of the use case's transaction: PostgreSQL delivers the
notification only if the change commits. The payload of the NOTIFY is the event id alone;
listeners read the row (and catch up from the table after a reconnect).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from backend.visits.models import Event

CHANNEL = "lindra_events"


# Written out once: events are emitted on every hot path (a raise emits two), and building the
# statement anew each time cost more than running it.
_EMIT = text(
    f"""
    WITH e AS (
        INSERT INTO events (kind, municipality_id, district_id, case_id, visit_id, alert_id, actor_id, payload)
        VALUES (:kind, :municipality_id, :district_id, :case_id, :visit_id, :alert_id, :actor_id, :payload)
        RETURNING id
    )
    SELECT id, pg_notify('{CHANNEL}', id::text) FROM e
    """
).bindparams(bindparam("payload", type_=JSONB))


async def emit(
    session: AsyncSession,
    kind: str,
    municipality_id: uuid.UUID,
    *,
    district_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    visit_id: uuid.UUID | None = None,
    alert_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Record an event in the caller's transaction; ids and codes only in `payload`.

    One statement: the row and its NOTIFY (a CTE), since a use case may emit several.
    """
    values = {
        "kind": kind,
        "municipality_id": municipality_id,
        "district_id": district_id,
        "case_id": case_id,
        "visit_id": visit_id,
        "alert_id": alert_id,
        "actor_id": actor_id,
        "payload": payload or {},
    }
    return int((await session.execute(_EMIT, values)).scalar_one())


async def emit_many(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Record several events at once (each row as `emit`'s arguments): one INSERT and one NOTIFY statement."""
    if not rows:
        return []
    values = [
        {
            "kind": row["kind"],
            "municipality_id": row["municipality_id"],
            "district_id": row.get("district_id"),
            "case_id": row.get("case_id"),
            "visit_id": row.get("visit_id"),
            "alert_id": row.get("alert_id"),
            "actor_id": row.get("actor_id"),
            "payload": row.get("payload") or {},
        }
        for row in rows
    ]
    table = cast(Table, Event.__table__)
    inserted = await session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), values)
    ids = [int(i) for i in inserted.all()]
    await session.execute(
        text(
            "SELECT pg_notify(:channel, id::text) "
            "FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS e(id, n) ORDER BY n"
        ),
        {"channel": CHANNEL, "ids": ids},
    )
    return ids


async def events_since(
    session: AsyncSession, municipality_id: uuid.UUID, after_id: int, limit: int = 500
) -> list[Event]:
    """The catch-up read for a listener that was away: events of a municipality after an id."""
    query = (
        select(Event)
        .where(Event.municipality_id == municipality_id, Event.id > after_id)
        .order_by(Event.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
