"""Visits of a person who is not at home: cancelled when the case is admitted, closed or the person
dies, and planned again when the person comes home from an admission.

Cancelled visits stay as rows (a phone, an event or an offline operation may point at them), and
their rows keep generation from making them again; coming home turns the admission's ones back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.events import emit_many
from backend.visits.schemas import CancelReason

_CANCEL_FUTURE = text(
    """
    UPDATE visits v SET status = 'cancelled', cancel_reason = :reason, updated_at = :now
    FROM cases c
    WHERE v.case_id = :case_id AND c.id = v.case_id AND v.status = 'planned' AND v.window_start >= :now
    RETURNING v.id, v.district_id, c.municipality_id
    """
)

_PLAN_AGAIN = text(
    """
    UPDATE visits v SET status = 'planned', cancel_reason = NULL, updated_at = :now
    FROM cases c
    WHERE v.case_id = :case_id AND c.id = v.case_id AND v.status = 'cancelled'
      AND v.cancel_reason = 'admitted' AND v.window_start >= :now
    RETURNING v.id, v.district_id, c.municipality_id
    """
)


async def _announce(
    session: AsyncSession, kind: str, case_id: uuid.UUID, rows: Sequence[Any], reason: str | None
) -> int:
    await emit_many(
        session,
        [
            {
                "kind": kind,
                "municipality_id": row.municipality_id,
                "district_id": row.district_id,
                "case_id": case_id,
                "visit_id": row.id,
                "payload": {"reason": reason} if reason else {},
            }
            for row in rows
        ],
    )
    return len(rows)


async def cancel_future_visits(session: AsyncSession, case_id: uuid.UUID, reason: CancelReason, now: datetime) -> int:
    """The planned visits from now on, cancelled with the reason (each with a board event)."""
    rows = list(await session.execute(_CANCEL_FUTURE, {"case_id": case_id, "reason": reason.value, "now": now}))
    return await _announce(session, "visit.cancelled", case_id, rows, reason.value)


async def plan_again_after_admission(session: AsyncSession, case_id: uuid.UUID, now: datetime) -> int:
    """Home again: the future visits the admission cancelled are planned again."""
    rows = list(await session.execute(_PLAN_AGAIN, {"case_id": case_id, "now": now}))
    return await _announce(session, "visit.planned_again", case_id, rows, None)
