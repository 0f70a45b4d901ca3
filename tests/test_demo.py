"""The demo municipality: loaded once, varied as promised, reset to a fresh database, and usable to log in.

These tests own a database of their own, because a reset drops and re-creates its whole schema.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend import demo_data
from backend.app import create_app
from backend.cases.cpr import normalise
from backend.cases.models import Indication, Phase, ReferralSource, Status
from backend.cases.workdays import add_working_days
from backend.clock import Clock
from backend.config import Settings
from backend.db import migrate
from backend.demo import load_demo, print_logins
from tests.conftest import admin_exec, with_database

TABLES = (
    "organisations organisation_serves users user_districts citizens cases case_wishes "
    "anticipatory_medicines relatives action_plans status_notes"
).split()


async def _fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _counts(url: str) -> dict[str, int]:
    return {table: (await _fetch(url, f"SELECT count(*) FROM {table}"))[0][0] for table in TABLES}


@pytest.fixture(scope="module")
async def demo_url(server_url: str) -> AsyncIterator[str]:
    """A database of this module's own, migrated, with the demo loaded."""
    name = f"lindra_demo_{uuid.uuid4().hex[:10]}"
    await admin_exec(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        await asyncio.to_thread(migrate, url)
        assert await load_demo(url) is True
        yield url
    finally:
        await admin_exec(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


def cpr_valid_in_form(cpr: str) -> bool:
    """Ten digits, a real birth date, and a 7th digit that gives a valid century (the CPR office's rule)."""
    if len(cpr) != 10 or not cpr.isdigit():
        return False
    day, month, year2, seventh = int(cpr[:2]), int(cpr[2:4]), int(cpr[4:6]), int(cpr[6])
    if seventh <= 3:
        century = 1900
    elif seventh in (4, 9):
        century = 2000 if year2 <= 36 else 1900
    else:
        century = 2000 if year2 <= 57 else 1800
    try:
        born = date(century + year2, month, day)
    except ValueError:
        return False
    return 1930 <= born.year <= 1965


async def test_demo_covers_every_phase_status_source_and_district(demo_url: str) -> None:
    cases = await _fetch(demo_url, "SELECT * FROM cases WHERE municipality_id = $1", demo_data.MUNICIPALITY_ID)
    assert len(cases) == 40
    assert {c["phase"] for c in cases} == set(Phase)
    assert {c["status"] for c in cases} == set(Status)
    assert {c["referral_source"] for c in cases} == set(ReferralSource)
    assert {c["district_id"] for c in cases} == {demo_data.NORREBRO_ID, demo_data.AMAGER_ID}
    assert {c["municipality_id"] for c in cases} == {demo_data.MUNICIPALITY_ID}
    assert {c["home_death_wish"] for c in cases} == {"yes", "no", "undecided", None}
    assert all(c["icd10"] for c in cases)
    today = Clock().today()
    assert all(today - timedelta(days=60) <= c["referral_received_on"] <= today for c in cases)

    users = await _fetch(demo_url, "SELECT role, email, palliative_skilled, organisation_id FROM users")
    nurses = [u for u in users if u["role"] == "nurse"]
    for district in (demo_data.NORREBRO_ID, demo_data.AMAGER_ID):
        in_district = [n for n in nurses if n["organisation_id"] == district]
        assert len(in_district) >= 2 and any(n["palliative_skilled"] for n in in_district)
    assert {u["role"] for u in users} == {"nurse", "coordinator", "key_person", "palliative_unit", "admin"}
    served = await _fetch(
        demo_url, "SELECT provider_id FROM organisation_serves WHERE municipality_id = $1", demo_data.MUNICIPALITY_ID
    )
    assert {s[0] for s in served} == {demo_data.TEAM_ID, demo_data.UNIT_ID}


async def test_every_cpr_is_valid_in_form(demo_url: str) -> None:
    cprs = [r[0] for r in await _fetch(demo_url, "SELECT cpr FROM citizens")]
    assert len(cprs) == 40 + 6
    assert all(cpr_valid_in_form(cpr) for cpr in cprs)
    assert all(normalise(cpr) == cpr for cpr in cprs)  # the service's own validator accepts them


async def test_deadlines_are_working_days_and_show_every_kind_of_timeliness(demo_url: str) -> None:
    today = Clock().today()
    cases = await _fetch(demo_url, "SELECT * FROM cases")
    for c in cases:
        assert c["first_contact_due"] == add_working_days(c["referral_received_on"], 5)
        assert c["assessment_due"] == add_working_days(c["referral_received_on"], 10)
    met_on_time = [c for c in cases if c["first_contact_on"] and c["first_contact_on"] <= c["first_contact_due"]]
    met_late = [c for c in cases if c["first_contact_on"] and c["first_contact_on"] > c["first_contact_due"]]
    soon = [
        c
        for c in cases
        if c["first_contact_on"] is None and today <= c["first_contact_due"] <= add_working_days(today, 2)
    ]
    overdue = [c for c in cases if c["first_contact_on"] is None and c["first_contact_due"] < today]
    assessment_overdue = [c for c in cases if c["assessment_on"] is None and c["assessment_due"] < today]
    assert met_on_time and met_late and soon and overdue and assessment_overdue


async def test_history_of_wishes_and_the_latest_on_the_case(demo_url: str) -> None:
    rows = await _fetch(
        demo_url,
        """SELECT c.id, c.home_death_wish, w.dies_at_home, w.discussed_on FROM cases c
           JOIN case_wishes w ON w.case_id = c.id ORDER BY c.id, w.discussed_on, w.recorded_at""",
    )
    by_case: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for r in rows:
        by_case.setdefault(r["id"], []).append(r)
    assert any(len(talks) == 2 for talks in by_case.values())
    assert all(talks[-1]["dies_at_home"] == talks[-1]["home_death_wish"] for talks in by_case.values())


async def test_children_under_18_some_without_offered_support(demo_url: str) -> None:
    year = Clock().today().year
    children = await _fetch(demo_url, "SELECT * FROM relatives WHERE birth_year > $1", year - 18)
    assert children
    assert [c for c in children if c["support_offered"] is not True]
    assert [c for c in children if c["talks_with_child"]]


async def test_medicine_gaps_in_terminal_cases(demo_url: str) -> None:
    today = Clock().today()
    rows = await _fetch(
        demo_url,
        """SELECT c.id, array_remove(array_agg(DISTINCT m.indication), NULL) AS indications,
                  min(m.expires_on) AS first_expiry
           FROM cases c LEFT JOIN anticipatory_medicines m ON m.case_id = c.id AND m.removed_at IS NULL
           WHERE c.phase = 'terminal' AND c.status IN ('referred', 'active', 'admitted') AND c.municipality_id = $1
           GROUP BY c.id""",
        demo_data.MUNICIPALITY_ID,
    )
    assert any(set(r["indications"]) < set(Indication) for r in rows)  # something missing
    assert any(today <= r["first_expiry"] <= today + timedelta(days=7) for r in rows)  # expiring soon
    assert any(r["first_expiry"] < today for r in rows)  # expired
    deceased = await _fetch(
        demo_url,
        "SELECT died_at, death_place, home_death_wish, gp_informed FROM cases WHERE status = 'deceased'",
    )
    assert all(d["died_at"] and d["death_place"] for d in deceased)
    assert any(d["death_place"] == "home" and d["home_death_wish"] == "yes" for d in deceased)
    assert any(d["death_place"] == "hospital" and d["home_death_wish"] == "yes" for d in deceased)


async def test_care_team_plans_and_notes(demo_url: str) -> None:
    cases = await _fetch(demo_url, "SELECT * FROM cases")
    terminal = [c for c in cases if c["phase"] == "terminal"]
    assert all(c["terminal_declared_on"] and c["palliative_team_id"] == demo_data.TEAM_ID for c in terminal)
    assert any(c["unit_referred_at"] for c in cases)
    assert all(c["key_person_id"] and c["gp_name"] for c in cases)
    plans = await _fetch(demo_url, "SELECT version, responsibilities FROM action_plans")
    assert plans and all(p["version"] == 1 for p in plans)
    assert await _fetch(demo_url, "SELECT 1 FROM status_notes LIMIT 1")


async def test_loading_again_without_reset_adds_nothing(demo_url: str) -> None:
    before = await _counts(demo_url)
    assert await load_demo(demo_url) is False
    assert await _counts(demo_url) == before


async def test_reset_gives_a_fresh_database_with_the_same_demo(demo_url: str) -> None:
    before = await _counts(demo_url)
    ids = await _fetch(demo_url, "SELECT id, cpr FROM citizens ORDER BY id")
    # Something in the append-only audit log, which refuses DELETE and TRUNCATE.
    user_id = (await _fetch(demo_url, "SELECT id FROM users LIMIT 1"))[0][0]
    conn = await asyncpg.connect(demo_url)
    try:
        await conn.execute(
            "INSERT INTO audit_log (user_id, role, action, request_id) VALUES ($1, 'admin', 'case.list', 'demo')",
            user_id,
        )
        await conn.execute(
            "INSERT INTO citizens (id, municipality_id, cpr, name, address) "
            "SELECT $1, id, '0101501234', 'X', 'Y' FROM organisations LIMIT 1",
            uuid.uuid4(),
        )
    finally:
        await conn.close()

    assert await load_demo(demo_url, reset=True) is True
    assert await _counts(demo_url) == before
    assert await _fetch(demo_url, "SELECT id, cpr FROM citizens ORDER BY id") == ids  # deterministic
    assert (await _fetch(demo_url, "SELECT count(*) FROM audit_log"))[0][0] == 0


def test_print_logins_lists_every_demo_login(capsys: pytest.CaptureFixture[str]) -> None:
    print_logins()
    out = capsys.readouterr().out
    assert demo_data.PASSWORD in out
    for local, *_ in demo_data.ALL_USERS:
        assert f"{local}@{demo_data.EMAIL_DOMAIN}" in out


@pytest.mark.parametrize(
    ("local", "role", "scope"),
    [
        ("sygeplejerske.norrebro1", "nurse", {"district_ids": [str(demo_data.NORREBRO_ID)]}),
        ("koordinator1", "coordinator", {"municipality_id": str(demo_data.MUNICIPALITY_ID)}),
        (
            "lindring",
            "palliative_unit",
            {"served_municipality_ids": [str(demo_data.MUNICIPALITY_ID), str(demo_data.NEIGHBOUR_ID)]},
        ),
        ("koordinator.frederiksberg", "coordinator", {"municipality_id": str(demo_data.NEIGHBOUR_ID)}),
        ("admin.lindring", "admin", {"municipality_id": None}),
    ],
)
async def test_a_demo_login_works_through_the_app(demo_url: str, local: str, role: str, scope: dict[str, Any]) -> None:
    app = create_app(Settings(database_url=demo_url, secret_key="x" * 40, db_pool_size=2))
    async with AsyncTestClient(app=app) as client:
        response = await client.post(
            "/auth/login",
            json={
                "email": f"{local}@{demo_data.EMAIL_DOMAIN}",
                "password": demo_data.PASSWORD,
                "device": {"platform": "web", "app_version": "demo"},
            },
        )
        assert response.status_code == 200, response.text
        me = await client.get("/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["role"] == role
    assert scope.items() <= me.json().items()


async def test_a_demo_nurse_has_a_shift_of_visits_and_the_coordinator_a_roster(demo_url: str) -> None:
    app = create_app(Settings(database_url=demo_url, secret_key="x" * 40, db_pool_size=2, housekeeping=False))
    async with AsyncTestClient(app=app) as client:

        async def token(local: str) -> dict[str, str]:
            response = await client.post(
                "/auth/login",
                json={
                    "email": f"{local}@{demo_data.EMAIL_DOMAIN}",
                    "password": demo_data.PASSWORD,
                    "device": {"platform": "android", "app_version": "demo"},
                },
            )
            return {"Authorization": f"Bearer {response.json()['access_token']}"}

        shift = await client.get("/mobile/v1/my-shift", headers=await token("sygeplejerske.norrebro1"))
        coverage = await client.get("/roster/coverage", headers=await token("koordinator1"))
    assert shift.status_code == 200, shift.text
    visits = shift.json()["visits"]
    assert visits, "the demo nurse has no visits this shift"
    assert all(v["tasks"] for v in visits)
    assert coverage.status_code == 200, coverage.text
    assert coverage.json()["gap_count"] == 0, coverage.json()


async def test_the_neighbour_has_its_own_cases_and_people_and_shares_the_unit(demo_url: str) -> None:
    neighbour = demo_data.NEIGHBOUR_ID
    cases = await _fetch(demo_url, "SELECT district_id, status FROM cases WHERE municipality_id = $1", neighbour)
    assert len(cases) == sum(sum(kinds.values()) for kinds in demo_data.NEIGHBOUR_CASE_PLAN.values())
    assert {c["district_id"] for c in cases} == {demo_data.FREDERIKSBERG_ID}
    assert {c["status"] for c in cases} == set(demo_data.NEIGHBOUR_CASE_PLAN)
    owners = await _fetch(
        demo_url,
        "SELECT DISTINCT cases.municipality_id = citizens.municipality_id FROM cases "
        "JOIN citizens ON citizens.id = cases.citizen_id",
    )
    assert [r[0] for r in owners] == [True]  # every case's citizen is of the case's municipality
    served = await _fetch(demo_url, "SELECT provider_id FROM organisation_serves WHERE municipality_id = $1", neighbour)
    assert {s[0] for s in served} == {demo_data.TEAM_ID, demo_data.UNIT_ID}
    people = await _fetch(
        demo_url,
        "SELECT u.role FROM users u JOIN organisations o ON o.id = u.organisation_id "
        "WHERE o.id = $1 OR o.parent_id = $1",
        neighbour,
    )
    assert {p[0] for p in people} == {"nurse", "coordinator", "key_person", "admin"}


async def test_each_demo_admin_manages_her_own_organisation_only(demo_url: str) -> None:
    app = create_app(Settings(database_url=demo_url, secret_key="x" * 40, db_pool_size=2, housekeeping=False))
    async with AsyncTestClient(app=app) as client:

        async def users_of(local: str) -> set[str]:
            login = await client.post(
                "/auth/login",
                json={
                    "email": f"{local}@{demo_data.EMAIL_DOMAIN}",
                    "password": demo_data.PASSWORD,
                    "device": {"platform": "web", "app_version": "demo"},
                },
            )
            token = login.json()["access_token"]
            listed = await client.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
            assert listed.status_code == 200, listed.text
            return {u["email"].split("@")[0] for u in listed.json()}

        assert await users_of("admin.lindring") == {"lindring", "admin.lindring"}
        frederiksberg = {local for local, *_ in demo_data.NEIGHBOUR_USERS}
        assert await users_of("admin.frederiksberg") == frederiksberg
        copenhagen = await users_of("admin")
    assert not copenhagen & (frederiksberg | {"lindring", "admin.lindring", "palliativt.team"})
