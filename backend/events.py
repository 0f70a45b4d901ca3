"""Events: one row per state change that boards and indicators follow, announced on commit.

The row and its NOTIFY are part of the use case's transaction: PostgreSQL delivers the
notification only if the change commits. The payload of the NOTIFY is the event id alone;
listeners read the row (and catch up from the table after a reconnect).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import json_text
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


# Several events in one statement (rows in order, one NOTIFY each): a sweep or a sync batch
# announces dozens at once. The rows come as arrays (`event_arrays`); `where` may pick among them
# (`r` is a row, `r.n` its place), for a statement that writes its events with other rows.
def insert_events(where: str = "true") -> str:
    return f"""
        INSERT INTO events (kind, municipality_id, district_id, case_id, visit_id, alert_id, actor_id, payload)
        SELECT r.kind, r.municipality_id, r.district_id, r.case_id, r.visit_id, r.alert_id, r.actor_id,
               CAST(r.payload AS jsonb)
        FROM unnest(CAST(:event_kinds AS text[]), CAST(:event_municipality_ids AS uuid[]),
                    CAST(:event_district_ids AS uuid[]), CAST(:event_case_ids AS uuid[]),
                    CAST(:event_visit_ids AS uuid[]), CAST(:event_alert_ids AS uuid[]),
                    CAST(:event_actor_ids AS uuid[]), CAST(:event_payloads AS text[]))
             WITH ORDINALITY AS r(kind, municipality_id, district_id, case_id, visit_id, alert_id, actor_id, payload, n)
        WHERE {where}
        ORDER BY r.n
        RETURNING id, pg_notify('{CHANNEL}', id::text)"""


_EMIT_MANY = text(f"WITH e AS ({insert_events()}) SELECT id FROM e ORDER BY id")


def event_arrays(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The parameters of `insert_events` for rows given as `emit`'s arguments."""
    values = {
        "event_kinds": [row["kind"] for row in rows],
        "event_municipality_ids": [row["municipality_id"] for row in rows],
        "event_payloads": [json_text(row.get("payload") or {}) for row in rows],
    }
    for column in ("district_id", "case_id", "visit_id", "alert_id", "actor_id"):
        values[f"event_{column}s"] = [row.get(column) for row in rows]
    return values


async def emit_many(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Record several events at once (each row as `emit`'s arguments), in order; their ids."""
    if not rows:
        return []
    return [int(i) for i in (await session.scalars(_EMIT_MANY, event_arrays(rows))).all()]


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
