"""Cases: creating, reading, listing, moving on; bad input; idempotent retries; the audit trail."""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from backend.audit.models import AuditEntry
from backend.cases.models import Case, Citizen
from backend.clock import Clock
from tests.cases.helpers import Client, Sessions, case_body, create_case, valid_cpr, write_headers
from tests.factories import World


async def _count(sessions: Sessions, query: object) -> int:
    async with sessions() as session:
        return int(await session.scalar(query))  # type: ignore[call-overload]


async def test_a_new_case_shows_the_full_cpr_on_its_page_and_masked_in_the_list(
    client: Client, world: World, clock: Clock
) -> None:
    cpr = valid_cpr()
    created = await create_case(client, world.coordinator, world.district_a, clock.today(), cpr=cpr)
    assert created["status"] == "referred"
    assert created["cpr_masked"] == f"{cpr[:6]}-XXXX"

    page = (await client.get(f"/cases/{created['id']}", headers=world.coordinator.headers)).json()
    assert page["citizen"]["cpr"] == cpr
    assert page["citizen"]["name"] == "Karen Testesen"
    assert page["status"] == "referred"
    assert page["next_statuses"] == ["active", "closed"]

    listed = (await client.get("/cases", headers=world.coordinator.headers)).json()["items"]
    assert [item["cpr_masked"] for item in listed] == [f"{cpr[:6]}-XXXX"]
    assert cpr not in str(listed)


async def test_cpr_written_with_a_dash_is_accepted_and_stored_as_ten_digits(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    cpr = valid_cpr()
    created = await create_case(client, world.coordinator, world.district_a, clock.today(), cpr=f"{cpr[:6]}-{cpr[6:]}")
    async with sessions() as session:
        stored = await session.scalar(
            select(Citizen.cpr).join(Case, Case.citizen_id == Citizen.id).where(Case.id == uuid.UUID(created["id"]))
        )
    assert stored == cpr


async def test_invalid_cpr_numbers_are_refused_naming_the_field_and_nothing_is_written(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    for bad in ("3102501234", "010150123", "0101501234X", "01015a1234", "0113501234"):
        response = await client.post(
            "/cases", json=case_body(world.district_a, clock.today(), cpr=bad), headers=write_headers(world.coordinator)
        )
        assert response.status_code in (400, 422), bad
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["field"] == "cpr", problem
        assert bad not in response.text  # the number is never echoed back
    assert (
        await _count(
            sessions, select(func.count()).select_from(Case).where(Case.municipality_id == world.municipality_id)
        )
        == 0
    )


async def test_a_second_open_case_for_the_same_citizen_is_refused(client: Client, world: World, clock: Clock) -> None:
    cpr = valid_cpr()
    await create_case(client, world.coordinator, world.district_a, clock.today(), cpr=cpr)
    response = await client.post(
        "/cases", json=case_body(world.district_b, clock.today(), cpr=cpr), headers=write_headers(world.coordinator)
    )
    assert response.status_code == 409
    assert response.json()["rule"] == "one_open_case"


async def test_bad_bodies_get_problem_details_naming_the_field(client: Client, world: World, clock: Clock) -> None:
    headers = write_headers(world.coordinator)
    cases = {
        "unknown field": (case_body(world.district_a, clock.today(), favourite_colour="blue"), "favourite_colour"),
        "wrong type": (case_body(world.district_a, clock.today(), phase=3), "phase"),
        "bad enum": (case_body(world.district_a, clock.today(), phase="dying"), "phase"),
        "too long": (case_body(world.district_a, clock.today(), name="x" * 201), "name"),
        "nested": (
            case_body(world.district_a, clock.today(), referral={"received_on": "2026-13-01", "source": "gp_ref01"}),
            "referral.received_on",
        ),
        "future referral": (case_body(world.district_a, clock.today() + timedelta(days=2)), "referral.received_on"),
        "foreign district": (case_body(uuid.uuid4(), clock.today()), "district_id"),
    }
    for label, (body, field) in cases.items():
        response = await client.post("/cases", json=body, headers=headers)
        assert response.status_code in (400, 422), label
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["field"] == field, (label, problem)

    malformed = await client.post("/cases", content=b'{"cpr": ', headers=headers | {"content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["title"] == "Invalid request"


async def test_writes_need_an_idempotency_key(client: Client, world: World, clock: Clock) -> None:
    response = await client.post(
        "/cases", json=case_body(world.district_a, clock.today()), headers=world.coordinator.headers
    )
    assert response.status_code == 400
    assert response.json().get("field") == "Idempotency-Key", response.json()


async def test_a_retried_create_returns_the_first_answer_and_creates_one_case(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    body = case_body(world.district_a, clock.today())
    headers = write_headers(world.coordinator)
    first = await client.post("/cases", json=body, headers=headers)
    second = await client.post("/cases", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    query = select(func.count()).select_from(Case).where(Case.municipality_id == world.municipality_id)
    assert await _count(sessions, query) == 1

    other = await client.post("/cases", json=body | {"name": "Someone Else"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"


async def test_status_moves_only_by_the_allowed_steps(client: Client, world: World, clock: Clock) -> None:
    case_id = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]

    async def move(status: str) -> tuple[int, dict[str, object]]:
        r = await client.post(
            f"/cases/{case_id}/status", json={"status": status}, headers=write_headers(world.coordinator)
        )
        return r.status_code, r.json()

    assert (await move("admitted"))[1]["rule"] == "status_transition"
    code, body = await move("active")
    assert code == 200 and body["status"] == "active"
    code, body = await move("deceased")
    assert code == 422 and body["rule"] == "use_death_registration"
    assert (await move("admitted"))[0] == 200
    assert (await move("active"))[0] == 200
    assert (await move("closed"))[0] == 200
    code, body = await move("active")
    assert code == 422 and body["field"] == "status"
    page = (await client.get(f"/cases/{case_id}", headers=world.coordinator.headers)).json()
    assert page["status"] == "closed" and page["next_statuses"] == []


async def test_patch_changes_only_the_fields_sent(client: Client, world: World, clock: Clock) -> None:
    case_id = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]
    response = await client.patch(
        f"/cases/{case_id}", json={"phase": "terminal", "address": "Nyvej 2"}, headers=write_headers(world.key_person)
    )
    assert response.status_code == 200, response.text
    page = (await client.get(f"/cases/{case_id}", headers=world.coordinator.headers)).json()
    assert page["phase"] == "terminal"
    assert page["citizen"]["address"] == "Nyvej 2"
    assert page["citizen"]["name"] == "Karen Testesen"
    assert page["diagnosis"] == "Lungekræft med knoglemetastaser"

    empty = await client.patch(f"/cases/{case_id}", json={}, headers=write_headers(world.key_person))
    assert empty.status_code == 422


async def test_referral_deadlines_count_danish_working_days_over_christmas(client: Client, world: World) -> None:
    case = await create_case(client, world.coordinator, world.district_a, date(2025, 12, 22))
    assert case["first_contact_due"] == "2026-01-05"
    assert case["assessment_due"] == "2026-01-12"
    page = (await client.get(f"/cases/{case['id']}", headers=world.coordinator.headers)).json()
    assert page["referral"]["first_contact"]["state"] == "overdue"
    assert "first_contact_overdue" in page["flags"]


async def test_list_filters_and_pages_with_a_cursor(client: Client, world: World, clock: Clock) -> None:
    today = clock.today()
    made = [
        await create_case(
            client,
            world.coordinator,
            world.district_a if i % 2 else world.district_b,
            today - timedelta(days=i),
            phase="terminal" if i < 2 else "early",
        )
        for i in range(5)
    ]
    overdue = await create_case(client, world.coordinator, world.district_a, today - timedelta(days=40))

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/cases", params=params, headers=world.coordinator.headers)).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in made] + [overdue["id"]]  # newest referral first, each once

    async def ids(**params: str) -> set[str]:
        body = (await client.get("/cases", params=params, headers=world.coordinator.headers)).json()
        return {item["id"] for item in body["items"]}

    assert await ids(phase="terminal") == {made[0]["id"], made[1]["id"]}
    assert await ids(district_id=str(world.district_b)) == {made[0]["id"], made[2]["id"], made[4]["id"]}
    assert await ids(deadline="overdue") == {overdue["id"]}
    assert overdue["id"] not in await ids(deadline="due_soon")

    bad = await client.get("/cases", params={"deadline": "someday"}, headers=world.coordinator.headers)
    assert bad.status_code == 400 and bad.json()["field"] == "deadline"
    bad_cursor = await client.get("/cases", params={"cursor": "nonsense"}, headers=world.coordinator.headers)
    assert bad_cursor.status_code == 400 and bad_cursor.json()["field"] == "cursor"


async def test_every_read_and_change_of_a_case_is_audited(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = (await create_case(client, world.coordinator, world.district_a, clock.today()))["id"]
    await client.get(f"/cases/{case_id}", headers=world.nurse_a.headers)
    await client.get("/cases", headers=world.key_person.headers)
    await client.post(f"/cases/{case_id}/status", json={"status": "active"}, headers=write_headers(world.coordinator))
    await client.get(f"/cases/{case_id}", headers=world.nurse_b.headers)  # refused: not audited as a read

    async with sessions() as session:
        rows = (
            await session.execute(
                select(AuditEntry.user_id, AuditEntry.action, AuditEntry.detail)
                .where(AuditEntry.case_id == uuid.UUID(case_id))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(r.user_id, r.action) for r in rows] == [
        (world.coordinator.user_id, "case.create"),
        (world.nurse_a.user_id, "case.read"),
        (world.key_person.user_id, "case.list"),
        (world.coordinator.user_id, "case.status"),
    ]
    assert rows[-1].detail == {"from": "referred", "to": "active", "source": "api"}


async def test_the_audit_log_cannot_be_changed_or_deleted(database_url: str) -> None:
    import asyncpg

    owner = await asyncpg.connect(database_url)  # the schema's owner: only the trigger stands in the way
    try:
        for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await owner.execute(statement)
    finally:
        await owner.close()


async def test_no_cpr_name_or_diagnosis_reaches_the_logs(
    client: Client, world: World, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the client's request lines: the URLs, checked too
    cpr = valid_cpr()
    body = case_body(world.district_a, clock.today(), cpr=cpr, name="Hemmelig Borgersen", diagnosis="Sjælden diagnose")
    created = (await client.post("/cases", json=body, headers=write_headers(world.coordinator))).json()
    await client.get(f"/cases/{created['id']}", headers=world.nurse_a.headers)
    await client.get("/cases", headers=world.coordinator.headers)
    await client.post("/cases", json=body | {"cpr": cpr[:6] + "-" + cpr[6:]}, headers=write_headers(world.coordinator))
    await client.post("/cases", json=body | {"cpr": "3" + cpr[1:] + "9"}, headers=write_headers(world.coordinator))
    logged = caplog.text
    assert caplog.records  # the requests were logged at all
    for secret in (cpr, cpr[:6] + "-" + cpr[6:], "Hemmelig", "Sjælden"):
        assert secret not in logged


async def test_the_list_names_the_cases_asked_for_by_id_within_scope(
    client: Client, world: World, clock: Clock
) -> None:
    mine = await create_case(client, world.coordinator, world.district_a, clock.today())
    other = await create_case(client, world.coordinator, world.district_b, clock.today())
    params = [("id", mine["id"]), ("id", other["id"])]

    coordinator = (await client.get("/cases", params=params, headers=world.coordinator.headers)).json()
    nurse = (await client.get("/cases", params=params, headers=world.nurse_a.headers)).json()

    assert {c["id"] for c in coordinator["items"]} == {mine["id"], other["id"]}
    assert [c["id"] for c in nurse["items"]] == [mine["id"]]  # the other district's case stays hidden
