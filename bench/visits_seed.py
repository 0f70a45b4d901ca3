"""A municipality's visits for benchmarks: 500 active cases, 3,000 visits a day, 30 days of history.

Built set-wise in PostgreSQL on top of `bench.seed` (cases with wishes, medicine, relatives, notes):
nurses with devices, every shift from 30 days ago to tomorrow with two visits per case, the past
ones done (a few missed) with check-in and check-out, symptom scores at about a third of them,
as-needed medicine at some, notes at half, and a few open flags. Shift boundaries come from
`backend.roster.shifts` (exact across daylight saving) and are handed to SQL as arrays.

Every nurse works every shift in her district (about 9 visits each a shift), so whichever shift is
running while the benchmark runs, each nurse's "my shift" holds a full round. The visits of the
shift running at seeding are checked in (under way) so that bedside operations apply to them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from backend.clock import COPENHAGEN
from backend.roster.models import ShiftKind
from backend.roster.shifts import shift, shift_at
from backend.row_scope import SYSTEM, startup_settings
from bench.seed import DISTRICTS, MUNICIPALITY, seed

NURSES_PER_DISTRICT = 56  # 250 cases / 56 = 4 or 5 cases, 8 or 10 visits per nurse per shift
HISTORY_DAYS = 30

_NURSES = """
WITH n AS (
    SELECT d.district, d.ord, i, gen_random_uuid() AS id
    FROM unnest($1::uuid[]) WITH ORDINALITY AS d(district, ord), generate_series(0, $2::int - 1) AS i
),
u AS (
    INSERT INTO users (id, email, password_hash, full_name, role, organisation_id)
    SELECT id, 'nurse' || ord || '-' || i || '@bench.lindra.dk', 'not-a-login', 'Sygeplejerske ' || ord || '-' || i,
           'nurse', district
    FROM n
    RETURNING id
),
ud AS (INSERT INTO user_districts (user_id, district_id) SELECT id, district FROM n)
INSERT INTO bench_nurses (district_id, slot, user_id) SELECT district, i, id FROM n
"""

_DEVICES = """
INSERT INTO devices (id, user_id, platform, app_version, refresh_token_hash, refresh_expires_at)
SELECT gen_random_uuid(), user_id, 'android', 'bench', md5(random()::text || user_id::text), now() + interval '1 day'
FROM bench_nurses
"""

# Two visits per case per shift, spread over the shift, both by one nurse (continuity of care): each
# district's cases are dealt round its nurses.
_VISITS = """
WITH shifts AS (
    SELECT * FROM unnest($1::date[], $2::text[], $3::timestamptz[], $4::timestamptz[])
        AS s(day, kind, starts, ends)
),
ranked AS (
    SELECT c.id, c.district_id, (row_number() OVER (PARTITION BY c.district_id ORDER BY c.id))::int AS rank
    FROM cases c WHERE c.municipality_id = $5
),
planned AS (
    SELECT r.id AS case_id, r.district_id, s.day, s.kind,
           s.starts + make_interval(mins => ((r.rank * 37 + j * 211)
               % greatest(1, (extract(epoch FROM s.ends - s.starts) / 60)::int - 60))) AS window_start,
           b.user_id AS nurse, (r.rank * 2 + j + extract(doy FROM s.day)::int) AS n
    FROM shifts s CROSS JOIN ranked r CROSS JOIN generate_series(0, 1) AS j
    JOIN bench_nurses b ON b.district_id = r.district_id AND b.slot = r.rank % $6
)
INSERT INTO visits (id, case_id, district_id, kind, status, shift_date, shift_kind, window_start, window_end,
                    tasks, assigned_to, checked_in_at, checked_in_device_at, checked_out_at, checked_out_device_at,
                    missed_at, created_at, updated_at)
SELECT gen_random_uuid(), case_id, district_id, 'planned', state, day, kind, window_start, window_end,
       '["Tjek smertepumpe", "Mundpleje"]'::jsonb, nurse,
       CASE WHEN state IN ('done', 'under_way') THEN least(window_start + interval '5 minutes', $7) END,
       CASE WHEN state IN ('done', 'under_way') THEN least(window_start + interval '5 minutes', $7) END,
       CASE WHEN state = 'done' THEN window_start + interval '40 minutes' END,
       CASE WHEN state = 'done' THEN window_start + interval '40 minutes' END,
       CASE WHEN state = 'missed' THEN window_end + interval '30 minutes' END,
       window_start - interval '2 days', $7
FROM (
    SELECT planned.*, window_start + interval '45 minutes' AS window_end,
           CASE WHEN planned.day = $8 AND planned.kind = $9 THEN 'under_way'
                WHEN window_start + interval '45 minutes' >= $7 THEN 'planned'
                WHEN n % 50 = 7 THEN 'missed'
                ELSE 'done' END AS state
    FROM planned
) AS v
"""

_SCORES = """
INSERT INTO symptom_assessments (id, case_id, visit_id, instrument, scores, recorded_at, received_at, recorded_by)
SELECT gen_random_uuid(), v.case_id, v.id, 'ESAS-r',
       jsonb_build_object('pain', (random() * 6)::int, 'tiredness', (random() * 6)::int,
                          'drowsiness', (random() * 6)::int, 'nausea', (random() * 4)::int,
                          'lack_of_appetite', (random() * 6)::int, 'shortness_of_breath', (random() * 5)::int,
                          'depression', (random() * 4)::int, 'anxiety', (random() * 5)::int,
                          'wellbeing', (random() * 6)::int),
       v.checked_in_at + interval '10 minutes', v.checked_in_at + interval '11 minutes', v.assigned_to
FROM visits v JOIN cases c ON c.id = v.case_id
WHERE c.municipality_id = $1 AND v.status = 'done' AND abs(hashtext(v.id::text)) % 3 = 0
"""

_MEDICINE = """
INSERT INTO medicine_given (id, case_id, visit_id, drug, dose, unit, route, given_at, reason, effect,
                            effect_recorded_at, recorded_by)
SELECT gen_random_uuid(), v.case_id, v.id, 'Morfin', 2.5, 'mg', 'sc', v.checked_in_at + interval '15 minutes',
       'Gennembrudssmerter', 'God effekt', v.checked_in_at + interval '35 minutes', v.assigned_to
FROM visits v JOIN cases c ON c.id = v.case_id
WHERE c.municipality_id = $1 AND v.status = 'done' AND abs(hashtext(v.id::text)) % 10 = 1
"""

_NOTES = """
INSERT INTO visit_notes (id, case_id, visit_id, text, interventions, relatives_present, written_at, author_id)
SELECT gen_random_uuid(), v.case_id, v.id, 'Rolig, smerter under kontrol. Ægtefælle til stede.',
       '["mundpleje", "lejring"]'::jsonb, 'Ægtefælle', v.checked_in_at + interval '30 minutes', v.assigned_to
FROM visits v JOIN cases c ON c.id = v.case_id
WHERE c.municipality_id = $1 AND v.status = 'done' AND abs(hashtext(v.id::text)) % 2 = 0
"""

_FLAGS = """
INSERT INTO case_flags (id, case_id, kind, detail, raised_at)
SELECT gen_random_uuid(), c.id, 'severe_score', '{"items": ["pain"]}'::jsonb, $2::timestamptz - interval '3 hours'
FROM cases c WHERE c.municipality_id = $1 AND abs(hashtext(c.id::text)) % 20 = 0
"""


@dataclass(frozen=True)
class Nurse:
    user_id: uuid.UUID
    device_id: uuid.UUID
    visit_ids: tuple[uuid.UUID, ...]  # her visits of the shift running at seeding, checked in


@dataclass(frozen=True)
class VisitWorld:
    coordinator_id: uuid.UUID
    coordinator_device_id: uuid.UUID
    case_ids: list[uuid.UUID]
    nurses: list[Nurse]
    visits: int
    assessments: int


async def seed_visits(url: str, cases: int = 500, now: datetime | None = None) -> VisitWorld:
    """Seed `bench.seed`'s municipality, make every case active, and add nurses, visits and records."""
    now = now or datetime.now(UTC)
    coordinator_id, coordinator_device = await seed(url, cases)
    current = shift_at(now)
    today = now.astimezone(COPENHAGEN).date()
    days = [today + timedelta(days=offset) for offset in range(-HISTORY_DAYS, 2)]
    shifts = [shift(day, kind) for day in days for kind in ShiftKind]
    conn = await asyncpg.connect(url, server_settings=startup_settings(SYSTEM))
    try:
        async with conn.transaction():
            await conn.execute("UPDATE cases SET status = 'active' WHERE municipality_id = $1", MUNICIPALITY)
            await conn.execute(
                "CREATE TEMPORARY TABLE bench_nurses (district_id uuid, slot int, user_id uuid) ON COMMIT DROP"
            )
            await conn.execute(_NURSES, list(DISTRICTS), NURSES_PER_DISTRICT)
            await conn.execute(_DEVICES)
            await conn.execute(
                _VISITS,
                [s.day for s in shifts],
                [s.kind.value for s in shifts],
                [s.starts for s in shifts],
                [s.ends for s in shifts],
                MUNICIPALITY,
                NURSES_PER_DISTRICT,
                now,
                current.day,
                current.kind.value,
            )
            for statement in (_SCORES, _MEDICINE, _NOTES):
                await conn.execute(statement, MUNICIPALITY)
            await conn.execute(_FLAGS, MUNICIPALITY, now)
            rows = await conn.fetch(
                """
                SELECT b.user_id, d.id AS device_id,
                       ARRAY(SELECT v.id FROM visits v WHERE v.assigned_to = b.user_id
                             AND v.shift_date = $1 AND v.shift_kind = $2 ORDER BY v.window_start) AS visit_ids
                FROM bench_nurses b JOIN devices d ON d.user_id = b.user_id
                ORDER BY b.slot, b.district_id
                """,
                current.day,
                current.kind.value,
            )
        nurses = [Nurse(r["user_id"], r["device_id"], tuple(r["visit_ids"])) for r in rows]
        case_ids = [r["id"] for r in await conn.fetch("SELECT id FROM cases WHERE municipality_id = $1", MUNICIPALITY)]
        visits = await conn.fetchval("SELECT count(*) FROM visits")
        assessments = await conn.fetchval("SELECT count(*) FROM symptom_assessments")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return VisitWorld(coordinator_id, coordinator_device, case_ids, nurses, int(visits), int(assessments))
