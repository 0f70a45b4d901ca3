"""Events: one row per state change that boards and indicators follow, announced on commit.

The row and its NOTIFY are part of the use case's transaction: PostgreSQL delivers the
notification only if the change commits. The payload of the NOTIFY is the event id alone;
listeners read the row (and catch up from the table after a reconnect).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.visits.models import Event

CHANNEL = "lindra_events"


async def emit(
    session: AsyncSession,
    kind: str,
    municipality_id: uuid.UUID,
    *,
    district_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    visit_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Record an event in the caller's transaction; ids and codes only in `payload`."""
    event_id = (
        await session.execute(
            insert(Event)
            .values(
                kind=kind,
                municipality_id=municipality_id,
                district_id=district_id,
                case_id=case_id,
                visit_id=visit_id,
                actor_id=actor_id,
                payload=payload or {},
            )
            .returning(Event.id)
        )
    ).scalar_one()
    await session.execute(text("SELECT pg_notify(:channel, :id)"), {"channel": CHANNEL, "id": str(event_id)})
    return int(event_id)


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
