"""A municipality-sized data set for benchmarks, generated in PostgreSQL in a few statements."""

from __future__ import annotations

import uuid

import asyncpg

from backend.row_scope import SYSTEM, startup_settings

MUNICIPALITY = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
DISTRICTS = (uuid.UUID("00000000-0000-4000-8000-0000000000b2"), uuid.UUID("00000000-0000-4000-8000-0000000000b3"))

_CASES = """
WITH people AS (
    INSERT INTO citizens (id, municipality_id, cpr, name, address, phone)
    SELECT gen_random_uuid(), $1,
           to_char(date '1935-01-01' + (n * 37) % 10000, 'DDMMYY') || lpad(((n % 4000) + 0)::text, 4, '0'),
           'Borger ' || n, 'Benchvej ' || n || ', 2200 København N', '+45 20 ' || lpad(n::text, 6, '0')
    FROM generate_series(1, $2::int) AS n
    RETURNING id, name
)
INSERT INTO cases (id, citizen_id, municipality_id, district_id, diagnosis, icd10, phase, status,
                   home_death_wish, referral_received_on, referral_source, first_contact_due, assessment_due,
                   first_contact_on, gp_name, hospital_department, terminal_grant, carers_leave)
SELECT gen_random_uuid(), p.id, $1,
       CASE WHEN row_number() OVER () % 2 = 0 THEN $3::uuid ELSE $4::uuid END,
       'Kræft med metastaser', 'C34.9',
       (ARRAY['early', 'late', 'terminal'])[1 + (row_number() OVER ()) % 3],
       (ARRAY['active', 'active', 'active', 'referred', 'admitted'])[1 + (row_number() OVER ()) % 5],
       (ARRAY['yes', 'no', 'undecided'])[1 + (row_number() OVER ()) % 3],
       current_date - ((row_number() OVER ()) % 60)::int, 'hospital_ref01',
       current_date - ((row_number() OVER ()) % 60)::int + 7, current_date - ((row_number() OVER ()) % 60)::int + 14,
       current_date - ((row_number() OVER ()) % 60)::int + 3, 'Lægehuset Bench', 'Onkologisk afdeling',
       'not_applied', 'not_applied'
FROM people p
"""

_DETAILS = """
INSERT INTO case_wishes (id, case_id, dies_at_home, preferred_place_of_care, preferred_place_of_death,
                         discussed_on, discussed_with, recorded_by)
SELECT gen_random_uuid(), c.id, c.home_death_wish, 'home', 'home', current_date - 3, 'Borgeren og ægtefællen', $2
FROM cases c WHERE c.municipality_id = $1;
"""

_MEDICINE = """
INSERT INTO anticipatory_medicines (id, case_id, indication, drug, strength, quantity, expires_on, recorded_by)
SELECT gen_random_uuid(), c.id, i.indication, i.drug, '10 mg/ml', '5 ampuller', current_date + 90, $2
FROM cases c CROSS JOIN (VALUES ('pain', 'Morfin'), ('nausea', 'Haloperidol'), ('restlessness', 'Midazolam'))
     AS i(indication, drug)
WHERE c.municipality_id = $1;
"""

_RELATIVES = """
INSERT INTO relatives (id, case_id, name, relation, phone, primary_contact, lives_with_citizen,
                       consent_to_information, birth_year, support_offered)
SELECT gen_random_uuid(), c.id, r.name, r.relation, '+45 30 00 00 00', r.primary_contact, true, true, r.birth_year,
       r.support_offered
FROM cases c CROSS JOIN (VALUES ('Ægtefælle', 'ægtefælle', true, NULL::int, NULL::bool),
                                ('Barn', 'søn', false, 2014, true)) AS r(name, relation, primary_contact,
                                                                       birth_year, support_offered)
WHERE c.municipality_id = $1;
"""

_NOTES = """
INSERT INTO status_notes (id, case_id, text, author_id)
SELECT gen_random_uuid(), c.id, 'Status: stabil, smerter under kontrol.', $2
FROM cases c CROSS JOIN generate_series(1, 3) WHERE c.municipality_id = $1;
"""


_USER = """
WITH u AS (
    INSERT INTO users (id, email, password_hash, full_name, role, organisation_id)
    VALUES (gen_random_uuid(), 'bench.coordinator@bench.lindra.dk', 'not-a-login', 'Bench Koordinator',
            'coordinator', $1)
    RETURNING id
)
INSERT INTO devices (id, user_id, platform, app_version, refresh_token_hash, refresh_expires_at)
SELECT gen_random_uuid(), u.id, 'web', 'bench', md5(random()::text), now() + interval '1 day' FROM u
RETURNING user_id, id
"""


async def seed(url: str, cases: int) -> tuple[uuid.UUID, uuid.UUID]:
    """Create the benchmark municipality with `cases` cases, each with wishes, medicine, relatives and
    notes, and a coordinator with a device. Returns (user id, device id) to mint a token for."""
    conn = await asyncpg.connect(url, server_settings=startup_settings(SYSTEM))
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO organisations (id, kind, name) VALUES ($1, 'municipality', 'Benchmark Kommune')",
                MUNICIPALITY,
            )
            await conn.executemany(
                "INSERT INTO organisations (id, kind, name, parent_id) VALUES ($1, 'district', $2, $3)",
                [(DISTRICTS[0], "Bench Nord", MUNICIPALITY), (DISTRICTS[1], "Bench Syd", MUNICIPALITY)],
            )
            user_id, device_id = await conn.fetchrow(_USER, MUNICIPALITY)
            await conn.execute(_CASES, MUNICIPALITY, cases, *DISTRICTS)
            for statement in (_DETAILS, _MEDICINE, _NOTES):
                await conn.execute(statement, MUNICIPALITY, user_id)
            await conn.execute(_RELATIVES, MUNICIPALITY)
        return user_id, device_id
    finally:
        await conn.close()
