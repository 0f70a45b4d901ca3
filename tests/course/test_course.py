"""The course of a case, whoever tells it: a person through the API, or the hospital's notice.

Read back as a coordinator or an administrator would notice it: the case's status and death, its
visits, whether its alerts still page anyone, and the audit trail naming who told us and when.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from backend.alerts.models import Alert
from backend.cases.models import Case, Place
from backend.clock import Clock
from backend.course import death, service
from backend.course.service import Source
from backend.errors import Problem
from backend.people.actor import SystemActor, SystemRole
from backend.visits.models import Visit
from tests.alerts.helpers import full_roster, raise_alert, raise_body
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import World, acting
from tests.visits.coordination_helpers import add_visit, make_case

State = tuple[str, str, str | None, str | None]
BROKER = uuid.UUID("00000000-0000-4000-8000-00000000b40c")  # the system client that delivered the notice


def notice(message: str = "message-1") -> SystemActor:
    return SystemActor(client_id=BROKER, role=SystemRole.HOSPITAL_NOTICE, request_id=message)


async def _case_with_a_visit_and_an_alert(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A referred case with a visit tomorrow and an alert climbing: (case id, visit id, alert id)."""
    case_id = await make_case(client, world, clock)
    visit_id = await add_visit(sessions, case_id, world.district_a, clock.now() + timedelta(days=1))
    await full_roster(client, world, clock)
    alert = await raise_alert(client, world.nurse_a, raise_body(case_id))
    return case_id, visit_id, uuid.UUID(alert["id"])


async def _state(sessions: Sessions, case_id: uuid.UUID, visit_id: uuid.UUID, alert_id: uuid.UUID) -> State:
    """(case status, visit status, visit's cancel reason, why the alert stopped paging)."""
    async with sessions() as session:
        case = await session.get_one(Case, case_id)
        visit = await session.get_one(Visit, visit_id)
        alert = await session.get_one(Alert, alert_id)
        return case.status, visit.status, visit.cancel_reason, alert.paging_stopped_reason


async def _audit(client: Client, world: World, case_id: uuid.UUID) -> list[dict[str, Any]]:
    response = await client.get(f"/audit/cases/{case_id}", headers=world.admin.headers)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))


async def test_a_hospital_notice_admits_a_referred_case_in_event_time_and_the_log_names_the_notice(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> None:
    case_id, visit_id, alert_id = await _case_with_a_visit_and_an_alert(client, world, sessions, clock)
    refused = await client.post(
        f"/cases/{case_id}/status", json={"status": "admitted"}, headers=write_headers(world.coordinator)
    )
    assert refused.status_code == 422 and refused.json()["rule"] == "status_transition"  # a person activates first

    since = clock.now() - timedelta(hours=3)
    async with sessions.begin() as session:
        step = await service.admit(
            session, notice(), case_id, since, "Hæmatologisk afsnit", Source.HOSPITAL_NOTICE, clock.now()
        )
    assert step.changed
    assert await _state(sessions, case_id, visit_id, alert_id) == ("admitted", "cancelled", "admitted", "admitted")
    told = [entry for entry in await _audit(client, world, case_id) if entry["role"] == "hospital_notice"]
    assert [(e["user_id"], e["user_name"], e["action"], e["request_id"]) for e in told] == [
        (str(BROKER), "hospital_notice", "case.status", "message-1")
    ]
    assert told[0]["detail"] == {
        "from": "referred",
        "to": "admitted",
        "department": "Hæmatologisk afsnit",
        "source": "hospital_notice",
        "at": since.isoformat(),
    }


async def test_a_notice_that_does_not_apply_changes_nothing_and_is_not_refused(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> None:
    case_id = await make_case(client, world, clock)
    closed = await client.post(
        f"/cases/{case_id}/status", json={"status": "closed"}, headers=write_headers(world.coordinator)
    )
    assert closed.status_code == 200
    now = clock.now()
    async with sessions.begin() as session:
        steps = [
            await service.admit(session, notice(), case_id, now, None, Source.HOSPITAL_NOTICE, now),
            await service.start_leave(session, notice(), case_id, now, Source.HOSPITAL_NOTICE, now),
            await service.home_again(session, notice(), case_id, now, Source.HOSPITAL_NOTICE, now),
            await death.died(session, notice(), case_id, Place.HOSPITAL, now, Source.HOSPITAL_NOTICE, now),
            await service.close(session, notice(), case_id, now, Source.HOSPITAL_NOTICE, now),
        ]
    assert [step.changed for step in steps] == [False] * 5
    async with sessions() as session:
        case = await session.get_one(Case, case_id)
    assert (case.status, case.died_at) == ("closed", None)
    assert [e for e in await _audit(client, world, case_id) if e["role"] == "hospital_notice"] == []


async def test_a_death_in_hospital_from_a_notice_is_kept_at_its_time_and_stops_pages_and_visits(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> None:
    case_id, visit_id, alert_id = await _case_with_a_visit_and_an_alert(client, world, sessions, clock)
    encounter_end = clock.now() - timedelta(hours=5)
    async with sessions.begin() as session:
        step = await death.died(
            session, notice(), case_id, Place.HOSPITAL, encounter_end, Source.HOSPITAL_NOTICE, clock.now()
        )
    assert step.changed
    assert await _state(sessions, case_id, visit_id, alert_id) == ("deceased", "cancelled", "deceased", "person_died")
    async with sessions() as session:
        case = await session.get_one(Case, case_id)
    assert (case.died_at, case.death_place) == (encounter_end, "hospital")
    told = [e for e in await _audit(client, world, case_id) if e["role"] == "hospital_notice"]
    assert [(e["action"], e["detail"]) for e in told] == [
        ("case.death.register", {"from": "referred", "source": "hospital_notice"})
    ]


async def test_a_person_admitting_a_case_stops_its_alerts_paging_as_the_hospitals_notice_does(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> None:
    case_id, visit_id, alert_id = await _case_with_a_visit_and_an_alert(client, world, sessions, clock)
    for status in ("active", "admitted"):
        moved = await client.post(
            f"/cases/{case_id}/status", json={"status": status}, headers=write_headers(world.coordinator)
        )
        assert moved.status_code == 200, moved.text
    assert await _state(sessions, case_id, visit_id, alert_id) == ("admitted", "cancelled", "admitted", "admitted")

    home = await client.post(
        f"/cases/{case_id}/status", json={"status": "active"}, headers=write_headers(world.coordinator)
    )
    assert home.status_code == 200
    assert (await _state(sessions, case_id, visit_id, alert_id))[:3] == ("active", "planned", None)


async def test_on_leave_the_visits_stay_off_unless_the_municipality_visits_on_leave(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> None:
    case_id, visit_id, alert_id = await _case_with_a_visit_and_an_alert(client, world, sessions, clock)
    now: datetime = clock.now()
    source = Source.HOSPITAL_NOTICE
    async with sessions.begin() as session:
        await service.admit(session, notice(), case_id, now, None, source, now)
        assert (await service.start_leave(session, notice(), case_id, now, source, now)).changed
    assert (await _state(sessions, case_id, visit_id, alert_id))[:3] == ("admitted", "cancelled", "admitted")

    async with sessions.begin() as session:
        await service.end_leave(session, notice(), case_id, now, source, now)
        await service.start_leave(session, notice(), case_id, now, source, now, resume_visits=True)
    assert (await _state(sessions, case_id, visit_id, alert_id))[:3] == ("admitted", "planned", None)

    async with sessions.begin() as session:
        await service.end_leave(session, notice(), case_id, now, source, now)
    assert (await _state(sessions, case_id, visit_id, alert_id))[:3] == ("admitted", "cancelled", "admitted")
    leave = [e["action"] for e in await _audit(client, world, case_id) if e["action"].startswith("case.leave")]
    assert leave == ["case.leave.start", "case.leave.end", "case.leave.start", "case.leave.end"]


async def test_a_person_cannot_send_home_or_on_leave_a_case_that_is_not_admitted(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> None:
    case_id = await make_case(client, world, clock)
    now, person = clock.now(), acting(world, "coordinator")
    async with sessions() as session:
        with pytest.raises(Problem) as leave:
            await service.start_leave(session, person, case_id, now, Source.API, now)
        with pytest.raises(Problem) as home:
            await service.home_again(session, person, case_id, now, Source.API, now)
    assert (leave.value.status, leave.value.rule) == (422, "not_admitted")
    assert (home.value.status, home.value.rule) == (422, "status_transition")
    async with sessions() as session:
        assert (await session.get_one(Case, case_id)).status == "referred"
