"""Who sees which event: the pure rule, without a database or a socket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from backend.people.actor import Actor
from backend.people.models import Role
from backend.realtime import EventFrame, RecentIds, visible

TOWN, OTHER_TOWN = uuid.uuid4(), uuid.uuid4()
NORTH, SOUTH = uuid.uuid4(), uuid.uuid4()


def actor(role: Role, **scope: Any) -> Actor:
    values: dict[str, Any] = {"municipality_id": TOWN, "district_ids": (), "served_municipality_ids": ()}
    values.update(scope)
    return Actor(
        user_id=uuid.uuid4(), device_id=uuid.uuid4(), role=role, organisation_id=uuid.uuid4(), request_id="t", **values
    )


def event(
    kind: str = "visit.missed", municipality: uuid.UUID = TOWN, district: uuid.UUID | None = None, **payload: Any
) -> EventFrame:
    return EventFrame(
        id=1,
        kind=kind,
        municipality_id=municipality,
        district_id=district,
        case_id=None,
        visit_id=None,
        actor_id=None,
        payload=payload,
        created_at=datetime.now(UTC),
    )


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.KEY_PERSON])
def test_coordinators_and_key_persons_see_their_whole_municipality(role: Role) -> None:
    person = actor(role)
    assert visible(person, event(district=NORTH))
    assert visible(person, event(district=None))
    assert not visible(person, event(municipality=OTHER_TOWN))


def test_a_nurse_sees_her_districts_and_the_municipality_wide_events() -> None:
    nurse = actor(Role.NURSE, district_ids=(NORTH,))
    assert visible(nurse, event(district=NORTH))
    assert visible(nurse, event(district=None))
    assert not visible(nurse, event(district=SOUTH))
    assert not visible(nurse, event(municipality=OTHER_TOWN, district=None))


def test_an_event_addressed_to_a_person_reaches_them_outside_their_scope() -> None:
    nurse = actor(Role.NURSE, district_ids=(NORTH,))
    assert visible(nurse, event(district=SOUTH, user_ids=[str(uuid.uuid4()), str(nurse.user_id)]))
    assert visible(nurse, event(municipality=OTHER_TOWN, user_ids=[str(nurse.user_id)]))
    assert not visible(nurse, event(district=SOUTH, user_ids=[str(uuid.uuid4())]))
    assert not visible(nurse, event(district=SOUTH, user_ids=str(nurse.user_id)))  # a list, not a string


def test_the_palliative_unit_sees_only_unit_alerts_of_the_municipalities_it_serves() -> None:
    unit = actor(Role.PALLIATIVE_UNIT, municipality_id=None, served_municipality_ids=(TOWN,))
    assert visible(unit, event("alert.raised", unit=True))
    assert visible(unit, event("alert.escalated", district=SOUTH, unit=True))
    assert not visible(unit, event("alert.raised", unit=False))
    assert not visible(unit, event("alert.raised"))
    assert not visible(unit, event("alert.raised", unit="true"))
    assert not visible(unit, event("visit.missed", unit=True))
    assert not visible(unit, event("alert.raised", municipality=OTHER_TOWN, unit=True))
    assert visible(unit, event("visit.missed", user_ids=[str(unit.user_id)]))


def test_an_administrator_sees_nothing() -> None:
    admin = actor(Role.ADMIN)
    assert not visible(admin, event())
    assert not visible(admin, event(user_ids=[str(admin.user_id)]))


def test_recent_ids_drop_repeats_and_forget_the_oldest() -> None:
    recent = RecentIds(3)
    assert [recent.add(i) for i in (1, 2, 1, 3, 4)] == [True, True, False, True, True]
    assert 1 not in recent and {2, 3, 4} == {i for i in range(5) if i in recent}
    assert recent.add(1)
