"""Migration 20261204_0008: every citizen comes to belong to the municipality of her cases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date as date_

import asyncpg
import pytest

from backend.db import downgrade, migrate
from tests.conftest import admin_exec, with_database

BEFORE = "20261123_0007"
TENANCY = "20261204_0008"

_CASE = """
    INSERT INTO cases (id, citizen_id, municipality_id, district_id, diagnosis, phase, status,
                       referral_received_on, referral_source, first_contact_due, assessment_due, updated_at)
    VALUES ($1, $2, $3, $4, 'C34.9', 'late', $5, $6::date, 'hospital_ref01', $6::date, $6::date, $6::date)
"""


@pytest.fixture
async def url_before(server_url: str) -> AsyncIterator[str]:
    """A database of its own, at the revision before citizens had a municipality."""
    name = f"lindra_tenancy_{uuid.uuid4().hex[:8]}"
    await admin_exec(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(migrate, url, BEFORE)
    yield url
    await admin_exec(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


async def _municipality(conn: asyncpg.Connection, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    municipality, district = uuid.uuid4(), uuid.uuid4()
    await conn.execute("INSERT INTO organisations (id, kind, name) VALUES ($1, 'municipality', $2)", municipality, name)
    await conn.execute(
        "INSERT INTO organisations (id, kind, name, parent_id) VALUES ($1, 'district', $2, $3)",
        district,
        f"{name} Syd",
        municipality,
    )
    return municipality, district


async def _citizens(conn: asyncpg.Connection) -> list[tuple[str, uuid.UUID, str]]:
    rows = await conn.fetch("SELECT cpr, municipality_id, name FROM citizens ORDER BY cpr, name")
    return [(r["cpr"], r["municipality_id"], r["name"]) for r in rows]


async def test_a_citizen_known_in_two_municipalities_becomes_one_of_each_and_back(url_before: str) -> None:
    conn = await asyncpg.connect(url_before)
    try:
        here, here_district = await _municipality(conn, "Herfra Kommune")
        there, there_district = await _municipality(conn, "Derfra Kommune")
        shared, alone, orphan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for citizen, cpr, name in ((shared, "0101501234", "Delt"), (alone, "0202502345", "Alene")):
            await conn.execute(
                "INSERT INTO citizens (id, cpr, name, address) VALUES ($1, $2, $3, 'Vej 1')", citizen, cpr, name
            )
        await conn.execute(
            "INSERT INTO citizens (id, cpr, name, address) VALUES ($1, '0303503456', 'Ingen', 'Vej')", orphan
        )
        cases = {key: uuid.uuid4() for key in ("shared_here", "shared_there", "shared_there_again", "alone")}
        await conn.execute(_CASE, cases["shared_here"], shared, here, here_district, "closed", date_(2026, 1, 5))
        await conn.execute(_CASE, cases["shared_there"], shared, there, there_district, "closed", date_(2026, 3, 1))
        await conn.execute(
            _CASE, cases["shared_there_again"], shared, there, there_district, "active", date_(2026, 6, 1)
        )
        await conn.execute(_CASE, cases["alone"], alone, there, there_district, "active", date_(2026, 2, 1))

        await asyncio.to_thread(migrate, url_before, TENANCY)

        assert await _citizens(conn) == [
            ("0101501234", here, "Delt"),
            ("0101501234", there, "Delt"),
            ("0202502345", there, "Alene"),
        ]
        owners = await conn.fetch(
            "SELECT cases.id, cases.municipality_id, citizens.municipality_id AS owner "
            "FROM cases JOIN citizens ON citizens.id = cases.citizen_id"
        )
        assert all(r["municipality_id"] == r["owner"] for r in owners) and len(owners) == 4
        there_citizens = await conn.fetch(
            "SELECT DISTINCT citizen_id FROM cases WHERE id = ANY($1::uuid[])",
            [cases["shared_there"], cases["shared_there_again"]],
        )
        assert len(there_citizens) == 1  # both of a municipality's cases point at its one copy

        await asyncio.to_thread(downgrade, url_before, BEFORE)
        rows = await conn.fetch("SELECT cpr, count(*) AS n FROM citizens GROUP BY cpr ORDER BY cpr")
        assert [(r["cpr"], r["n"]) for r in rows] == [("0101501234", 1), ("0202502345", 1)]
        assert await conn.fetchval("SELECT count(DISTINCT citizen_id) FROM cases") == 2
    finally:
        await conn.close()


async def test_the_downgrade_refuses_a_cpr_with_open_cases_in_two_municipalities(url_before: str) -> None:
    await asyncio.to_thread(migrate, url_before, TENANCY)
    conn = await asyncpg.connect(url_before)
    try:
        for name in ("Herfra Kommune", "Derfra Kommune"):
            municipality, district = await _municipality(conn, name)
            citizen = uuid.uuid4()
            await conn.execute(
                "INSERT INTO citizens (id, municipality_id, cpr, name, address) "
                "VALUES ($1, $2, '0101501234', 'X', 'Y')",
                citizen,
                municipality,
            )
            await conn.execute(_CASE, uuid.uuid4(), citizen, municipality, district, "active", date_(2026, 6, 1))
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="open cases in more than one municipality"):
        await asyncio.to_thread(downgrade, url_before, BEFORE)
