"""The case follows the hospital's notices: admitted, home again, died, and a cancellation undone.

MedCom's own examples are delivered as the broker does; what a coordinator would notice is read
back: the case's status, its visits, its alerts, the board's events and the audit trail.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from backend.alerts.models import Alert
from backend.app import create_app
from backend.audit.models import AuditEntry
from backend.cases.models import Case
from backend.clock import Clock
from backend.config import Settings
from backend.visits.models import Event, Visit
from tests.alerts.helpers import full_roster, raise_alert, raise_body
from tests.factories import World
from tests.messages.helpers import Broker, Client, Sessions, deliver_and_wait, example
from tests.visits.coordination_helpers import add_visit

STIN, RE_STIN, STOR, SLOR, SLHJ = "a5e5b880", "bfab3e80", "d3128d9b", "e94de8ee", "f4aa42a4"
AN_STIN, MORS_AFTER_STIN = "c83671a4", "g099bbf3"


async def _case(sessions: Sessions, case_id: str) -> Case:
    async with sessions() as session:
        return await session.get_one(Case, uuid.UUID(case_id))


async def _visit_status(sessions: Sessions, visit_id: uuid.UUID) -> tuple[str, str | None]:
    async with sessions() as session:
        visit = await session.get_one(Visit, visit_id)
        return visit.status, visit.cancel_reason


async def _kinds(sessions: Sessions, case_id: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(select(Event.kind).where(Event.case_id == uuid.UUID(case_id)).order_by(Event.id))
        return list(rows)


async def _tomorrow_visit(sessions: Sessions, world: World, case_id: str, clock: Clock) -> uuid.UUID:
    start = clock.now() + timedelta(days=1)
    return await add_visit(sessions, uuid.UUID(case_id), world.district_a, start, assigned_to=world.nurse_a.user_id)


async def test_an_admission_notice_admits_the_case_cancels_its_visits_and_stops_its_alert_climbing(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    visit_id = await _tomorrow_visit(sessions, world, case_id, clock)
    await full_roster(client, world, clock)
    alert = await raise_alert(client, world.nurse_a, raise_body(case_id))

    message = await deliver_and_wait(client, sessions, broker, example(STIN))

    assert (await _case(sessions, case_id)).status == "admitted"
    assert await _visit_status(sessions, visit_id) == ("cancelled", "admitted")
    async with sessions() as session:
        climbing = await session.get_one(Alert, uuid.UUID(alert["id"]))
        audited = (await session.scalars(select(AuditEntry).where(AuditEntry.request_id == str(message.id)))).all()
    assert climbing.paging_stopped_reason == "admitted"
    assert "case.hospital_admitted" in await _kinds(sessions, case_id)
    assert [(row.role, row.action, str(row.case_id)) for row in audited] == [
        ("hospital_notice", "case.status", case_id)
    ]


async def test_home_again_after_leave_the_case_is_active_its_visits_planned_again_and_a_homecoming_asked_for(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    visit_id = await _tomorrow_visit(sessions, world, case_id, clock)
    for name in (STIN, RE_STIN, STOR):
        await deliver_and_wait(client, sessions, broker, example(name))
    assert (await _case(sessions, case_id)).status == "admitted"  # on leave: visits do not restart
    assert await _visit_status(sessions, visit_id) == ("cancelled", "admitted")

    for name in (SLOR, SLHJ):
        await deliver_and_wait(client, sessions, broker, example(name))

    assert (await _case(sessions, case_id)).status == "active"
    assert await _visit_status(sessions, visit_id) == ("planned", None)
    kinds = await _kinds(sessions, case_id)
    assert kinds.count("case.hospital_admitted") == 1
    assert {"case.hospital_stay_changed", "case.hospital_leave", "case.homecoming_due"} <= set(kinds)


async def test_a_cancelled_admission_undoes_exactly_what_it_did(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    visit_id = await _tomorrow_visit(sessions, world, case_id, clock)
    await deliver_and_wait(client, sessions, broker, example(STIN))
    await deliver_and_wait(client, sessions, broker, example(AN_STIN))

    assert (await _case(sessions, case_id)).status == "active"
    assert await _visit_status(sessions, visit_id) == ("planned", None)
    assert "case.homecoming_due" not in await _kinds(sessions, case_id)


async def test_a_death_in_hospital_is_registered_at_the_encounters_end_and_stops_every_visit(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    visit_id = await _tomorrow_visit(sessions, world, case_id, clock)
    await deliver_and_wait(client, sessions, broker, example(STIN))
    await deliver_and_wait(client, sessions, broker, example(MORS_AFTER_STIN))

    case = await _case(sessions, case_id)
    assert (case.status, case.death_place) == ("deceased", "hospital")
    assert case.died_at == datetime.fromisoformat("2022-12-09T09:45:30+02:00")
    assert await _visit_status(sessions, visit_id) == ("cancelled", "admitted")  # never planned again
    page = await client.get(f"/cases/{case_id}", headers=world.coordinator.headers)
    assert page.status_code == 200 and page.json()["status"] == "deceased"


async def test_an_alert_resolved_at_home_the_day_before_an_admission_is_marked_in_the_ledger_until_cancelled(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    await full_roster(client, world, clock)
    alert = await raise_alert(client, world.nurse_a, raise_body(case_id))
    admitted = datetime.fromisoformat("2022-12-07T12:00:00+02:00")  # the STIN example's arrival
    async with sessions.begin() as session:  # resolved at home the evening before, at 21:00
        row = await session.get_one(Alert, uuid.UUID(alert["id"]))
        row.status, row.outcome, row.resolved_at = "resolved", "managed_at_home", admitted - timedelta(hours=15)
    period = {"from": alert["received_at"], "to": clock.now().isoformat()}

    async def ledger() -> dict[str, object]:
        answer = await client.get("/alerts/ledger", params=period, headers=world.coordinator.headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, object] = answer.json()
        return found

    await deliver_and_wait(client, sessions, broker, example(STIN))
    marked = await ledger()
    assert [a["followed_by_admission_at"] for a in marked["alerts"]] == ["2022-12-07T10:00:00Z"]  # type: ignore[index]
    assert [c["followed_by_admission"] for c in marked["cases"]] == [1]  # type: ignore[index]

    await deliver_and_wait(client, sessions, broker, example(AN_STIN))
    assert [a["followed_by_admission_at"] for a in (await ledger())["alerts"]] == [None]  # type: ignore[index]


async def test_the_indicators_say_which_deaths_a_hospital_notice_reported(
    settings: Settings, clock: Clock, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    exact = dataclasses.replace(settings, indicator_min_count=1)  # one death: shown, for this check only
    async with AsyncTestClient(app=create_app(exact, clock)) as client:
        await deliver_and_wait(client, sessions, broker, example(STIN))
        await deliver_and_wait(client, sessions, broker, example(MORS_AFTER_STIN))
        answer = await client.get(
            "/indicators", params={"from": "2022-12-01", "to": "2022-12-31"}, headers=world.coordinator.headers
        )
    assert answer.status_code == 200, answer.text
    deaths = answer.json()["deaths"]
    assert (deaths["total"], deaths["by_place"]["hospital"], deaths["confirmed_by_notice"]) == (1, 1, 1)


async def test_the_key_person_sees_the_hospital_ask_for_an_admission_report_and_for_a_homecoming_visit(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    async def open_flags() -> set[str]:
        listed = await client.get("/case-flags", headers=world.key_person.headers)
        assert listed.status_code == 200, listed.text
        return {item["kind"] for item in listed.json()["items"] if item["case_id"] == case_id}

    await deliver_and_wait(client, sessions, broker, example(STIN))  # MedCom's STIN asks for the report
    assert await open_flags() == {"admission_report_requested"}

    await deliver_and_wait(client, sessions, broker, example(SLHJ))
    assert await open_flags() == {"admission_report_requested", "homecoming_visit_due"}


async def test_a_municipality_that_visits_on_leave_gets_its_visits_back_when_the_leave_starts(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    settings = {"care_record_acknowledges": False, "visit_on_leave": True}
    chosen = await client.put("/messages/settings", json=settings, headers=world.admin.headers)
    assert chosen.status_code == 200, chosen.text
    visit_id = await _tomorrow_visit(sessions, world, case_id, clock)
    await deliver_and_wait(client, sessions, broker, example(STIN))
    assert await _visit_status(sessions, visit_id) == ("cancelled", "admitted")

    await deliver_and_wait(client, sessions, broker, example(STOR))

    assert await _visit_status(sessions, visit_id) == ("planned", None)
    assert (await _case(sessions, case_id)).status == "admitted"  # still the hospital's patient
