"""Scheduled work on visits: keep the next 48 hours generated, and notice visits that did not happen.

APScheduler only wakes these; the database decides what is due. Both are safe on several
instances at once: generation inserts with ON CONFLICT DO NOTHING, and the missed sweep claims
its rows with FOR UPDATE SKIP LOCKED, so no visit is created or marked twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import raising as alerts
from backend.alerts.models import Reason, Severity
from backend.config import Settings
from backend.events import emit
from backend.visits.plans import LIVE_CASE_STATUSES, generate

# Visits marked per run; after an outage the rest follow a minute later.
MISSED_BATCH = 1000


async def generate_visits(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Concrete visits for every live case's plan, for every shift overlapping the next 48 hours."""
    return await generate(session, now)


# A planned visit nobody checked in to, grace period over: missed if the case is still at home
# (referred or active), cancelled if the citizen was admitted, died or the case closed meanwhile.
_CLAIM_OVERDUE = """
WITH due AS (
    SELECT id FROM visits
    WHERE status = 'planned' AND checked_in_at IS NULL AND window_end < :cutoff
    ORDER BY window_end, id
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
UPDATE visits v
SET status = CASE WHEN c.status = ANY(:live) THEN 'missed' ELSE 'cancelled' END,
    cancel_reason = CASE WHEN c.status = ANY(:live) THEN NULL ELSE 'case_not_at_home' END,
    missed_at = CASE WHEN c.status = ANY(:live) THEN CAST(:now AS timestamptz) END,
    updated_at = :now
FROM due, cases c
WHERE v.id = due.id AND c.id = v.case_id
RETURNING v.id, v.status, v.case_id, v.district_id, v.window_end, c.municipality_id
"""

# One open flag per case: a further miss joins it (the count goes up; the latest 20 visit ids are kept).
_FLAG = """
INSERT INTO case_flags (id, case_id, kind, detail, raised_at)
SELECT gen_random_uuid(), g.case_id, 'visit_missed',
       jsonb_build_object('count', count(*), 'visit_ids', jsonb_path_query_array(
           jsonb_agg(g.visit_id ORDER BY g.window_end), 'lax $[last - 19 to last]')), :now
FROM unnest(CAST(:cases AS uuid[]), CAST(:visits AS uuid[]), CAST(:ends AS timestamptz[]))
     AS g(case_id, visit_id, window_end)
GROUP BY g.case_id
-- In case order: two sweeps flagging the same cases wait for each other instead of deadlocking.
ORDER BY g.case_id
ON CONFLICT (case_id, kind) WHERE resolved_at IS NULL DO UPDATE
SET detail = jsonb_build_object(
    'count', COALESCE((case_flags.detail ->> 'count')::int, 0) + (EXCLUDED.detail ->> 'count')::int,
    'visit_ids', jsonb_path_query_array(
        COALESCE(case_flags.detail -> 'visit_ids', '[]'::jsonb) || (EXCLUDED.detail -> 'visit_ids'),
        'lax $[last - 19 to last]'
    )
)
"""


async def mark_missed_visits(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Mark overdue planned visits missed, with a board event each and an open flag on the case."""
    cutoff = now - timedelta(minutes=settings.visit_grace_minutes)
    rows = list(
        await session.execute(
            text(_CLAIM_OVERDUE),
            {"cutoff": cutoff, "batch": MISSED_BATCH, "live": list(LIVE_CASE_STATUSES), "now": now},
        )
    )
    missed = [row for row in rows if row.status == "missed"]
    for row in rows:
        if row.status == "missed":
            payload = {"window_end": row.window_end.isoformat()}
            kind = "visit.missed"
        else:
            payload = {"reason": "case_not_at_home"}
            kind = "visit.cancelled"
        await emit(
            session,
            kind,
            row.municipality_id,
            district_id=row.district_id,
            case_id=row.case_id,
            visit_id=row.id,
            payload=payload,
        )
    if missed:
        await session.execute(
            text(_FLAG),
            {
                "now": now,
                "cases": [row.case_id for row in missed],
                "visits": [row.id for row in missed],
                "ends": [row.window_end for row in missed],
            },
        )
        # Somebody must find out why nobody came: an alert per case (its first tier fires on the next sweep).
        await alerts.raise_many_by_rule(
            session,
            [(row.case_id, row.id) for row in missed],
            reason=Reason.OTHER,
            severity=Severity.NORMAL,
            rule="visit_missed",
            now=now,
        )
    return len(rows)
