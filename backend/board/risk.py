"""Cases at risk: the live cases the coordinator should look at before the night does.

The reasons are the case page's flags (`backend.cases.page`) plus open score flags, found by
PostgreSQL for every live case in the actor's scope in one statement, so the board never loads
each case. The thresholds come from the rules they mirror (expiry warning, due-soon limit, the
flag kinds); tests hold the board to the case page's flags for the same cases.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.board import schemas as s
from backend.cases.access import scope_sql
from backend.cases.models import Indication, Phase, Status
from backend.cases.page import EXPIRY_WARNING
from backend.cases.rules import due_soon_limit
from backend.clock import COPENHAGEN
from backend.people.actor import Actor
from backend.visits.warnings import RISING_SCORE, SEVERE_SCORE

MAX_CASES = 200


def _flag(kind: str) -> str:
    """An open flag of the kind, however old, as a reason.

    Open, not "raised in the last 24 h": a repeat while the flag is open joins it without a new
    raised_at, so a case scoring severe every day would drop off after the first day. The flag
    stays until a coordinator resolves it; the reason carries when it was raised.
    """
    return f"""(SELECT jsonb_build_object('code', f.kind, 'raised_at', f.raised_at)
         FROM case_flags f WHERE f.case_id = live.id AND f.kind = :{kind} AND f.resolved_at IS NULL)"""


def _deadline(name: str) -> str:
    """`<name>_overdue` or `<name>_due` (due soon) while the deadline is not met, as the case page says."""
    due, met_on = f"live.{name}_due", f"live.{name}_on"
    return f"""CASE WHEN {met_on} IS NULL AND {due} < :today
                 THEN jsonb_build_object('code', '{name}_overdue', 'on', {due})
                 WHEN {met_on} IS NULL AND {due} <= :soon
                 THEN jsonb_build_object('code', '{name}_due', 'on', {due}) END"""


_AT_RISK_SQL = """
WITH live AS (
    SELECT cases.id, citizens.name, cases.district_id, cases.status, cases.phase,
           cases.first_contact_due, cases.first_contact_on, cases.assessment_due, cases.assessment_on
    FROM cases JOIN citizens ON citizens.id = cases.citizen_id
    WHERE cases.status IN (:referred, :active) AND ({scope}) {district}
),
checked AS (
    SELECT live.id, live.name, live.district_id, live.status, live.phase,
        array_remove(ARRAY[
            {severe},
            {rising},
            -- the case page's rule: an indication with no unexpired medicine is missing; it counts
            -- in the terminal phase, or when there is no medicine in the home at all
            CASE WHEN cardinality(med.missing) > 0 AND (live.phase = :terminal OR med.items = 0)
                 THEN jsonb_build_object('code', 'medicine_missing', 'indications', to_jsonb(med.missing)) END,
            CASE WHEN med.expiring_on IS NOT NULL
                 THEN jsonb_build_object('code', 'medicine_expiring', 'on', med.expiring_on) END,
            CASE WHEN med.expired_on IS NOT NULL
                 THEN jsonb_build_object('code', 'medicine_expired', 'on', med.expired_on) END,
            -- a relative under 18 this year (the birth year is all the record holds), support not offered
            CASE WHEN EXISTS (SELECT 1 FROM relatives r
                              WHERE r.case_id = live.id AND r.removed_at IS NULL
                                AND CAST(:year AS int) - r.birth_year < 18 AND r.support_offered IS NOT TRUE)
                 THEN jsonb_build_object('code', 'child_without_support') END,
            {first_contact},
            {assessment}
        ], NULL) AS reasons
    FROM live
    CROSS JOIN LATERAL (
        SELECT count(*) AS items,
               min(m.expires_on) FILTER (WHERE m.expires_on >= :today AND m.expires_on <= :expiry_limit)
                   AS expiring_on,
               min(m.expires_on) FILTER (WHERE m.expires_on < :today) AS expired_on,
               ARRAY(SELECT i.indication
                     FROM unnest(CAST(:indications AS text[])) WITH ORDINALITY AS i(indication, n)
                     WHERE NOT EXISTS (SELECT 1 FROM anticipatory_medicines u
                                       WHERE u.case_id = live.id AND u.removed_at IS NULL
                                         AND u.expires_on >= :today AND u.indication = i.indication)
                     ORDER BY i.n) AS missing
        FROM anticipatory_medicines m
        WHERE m.case_id = live.id AND m.removed_at IS NULL
    ) AS med
),
ranked AS (
    SELECT checked.*, row_number() OVER (ORDER BY cardinality(reasons) DESC, name, id) AS n
    FROM checked WHERE cardinality(reasons) > 0
)
SELECT json_build_object(
    'total', (SELECT count(*) FROM ranked),
    'items', COALESCE((
        SELECT json_agg(json_build_object(
            'case_id', r.id, 'name', r.name, 'district_id', r.district_id, 'status', r.status, 'phase', r.phase,
            'reasons', to_jsonb(r.reasons)) ORDER BY r.n)
        FROM ranked r WHERE r.n <= :limit), '[]')
)::text
"""


class _Row(msgspec.Struct):
    total: int
    items: list[s.RiskCase]


_decode = msgspec.json.Decoder(_Row).decode


async def at_risk(session: AsyncSession, actor: Actor, district_id: uuid.UUID | None, now: datetime) -> s.AtRisk:
    """Live cases (referred or active) in the actor's scope with a reason, most reasons first.

    At most 200; names are shown, so each case shown is an audited read.
    """
    today = now.astimezone(COPENHAGEN).date()
    params: dict[str, Any] = {
        "referred": Status.REFERRED.value,
        "active": Status.ACTIVE.value,
        SEVERE_SCORE: SEVERE_SCORE,
        RISING_SCORE: RISING_SCORE,
        "terminal": Phase.TERMINAL.value,
        "today": today,
        "soon": due_soon_limit(today),
        "expiry_limit": today + EXPIRY_WARNING,
        "indications": [i.value for i in Indication],
        "year": today.year,
        "limit": MAX_CASES,
    }

    def bind(value: Any) -> str:
        name = f"scope_{len(params)}"
        params[name] = value
        return f":{name}"

    district = f"AND cases.district_id = {bind(district_id)}" if district_id else ""
    sql = _AT_RISK_SQL.format(
        scope=scope_sql(actor, bind),
        district=district,
        severe=_flag(SEVERE_SCORE),
        rising=_flag(RISING_SCORE),
        first_contact=_deadline("first_contact"),
        assessment=_deadline("assessment"),
    )
    row = _decode(await session.scalar(text(sql), params))
    await audit.record_case_reads(session, actor, "board.at_risk", [item.case_id for item in row.items])
    return s.AtRisk(as_of=now, total=row.total, limit=MAX_CASES, items=row.items)
