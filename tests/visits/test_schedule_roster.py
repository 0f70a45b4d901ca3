"""The roster: who may change it, what a wrong entry is told, who is on duty when, and the gaps ahead."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.people.models import Role, User
from backend.roster.models import Duty, RosterEntry
from backend.roster.service import on_duty
from backend.roster.shifts import local_instant
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import Login, World, add_user, build_world


def entry(login: Login, duty: str, district: uuid.UUID | None = None) -> dict[str, Any]:
    return {"user_id": str(login.user_id), "duty": duty, "district_id": str(district) if district else None}


async def put_roster(client: Client, who: Login, day: date, kind: str, *entries: dict[str, Any]) -> Any:
    return await client.put(
        f"/roster/{day.isoformat()}/{kind}", json={"entries": list(entries)}, headers=write_headers(who)
    )


async def skilled_nurse(sessions: Sessions, settings: Settings, clock: Clock, world: World, name: str) -> Login:
    """Another nurse of district A, trained in basic palliation."""
    async with sessions.begin() as session:
        login = await add_user(
            session,
            settings,
            clock,
            role=Role.NURSE,
            organisation_id=world.district_a,
            districts=(world.district_a,),
            name=name,
        )
        await session.execute(update(User).where(User.id == login.user_id).values(palliative_skilled=True))
    return login


@pytest.fixture
async def other(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> World:
    return await build_world(sessions, settings, clock)


async def test_the_coordinator_rosters_a_shift_and_everyone_in_the_municipality_sees_it(
    client: Client, world: World, other: World, clock: Clock
) -> None:
    tomorrow = clock.today() + timedelta(days=1)
    saved = await put_roster(
        client,
        world.coordinator,
        tomorrow,
        "night",
        entry(world.nurse_a, "nurse", world.district_a),
        entry(world.nurse_a, "on_call_nurse", world.district_a),
        entry(world.nurse_b, "on_call_nurse", world.district_b),
        entry(world.coordinator, "coordinator"),
        entry(world.key_person, "key_person"),
    )
    assert saved.status_code == 200, saved.text
    assert [e["duty"] for e in saved.json()["entries"]] == [
        "nurse",
        "on_call_nurse",
        "on_call_nurse",
        "coordinator",
        "key_person",
    ]
    assert {e["full_name"] for e in saved.json()["entries"]} == {"Test Person"}
    assert saved.json()["ends"] > saved.json()["starts"]

    listed = await client.get(
        "/roster", params={"from": tomorrow.isoformat(), "to": tomorrow.isoformat()}, headers=world.nurse_b.headers
    )
    assert listed.status_code == 200, listed.text
    shifts = listed.json()["shifts"]
    assert [s["shift_kind"] for s in shifts] == ["day", "evening", "night"]
    assert shifts[0]["entries"] == [] and shifts[1]["entries"] == []
    assert sorted(e["duty"] for e in shifts[2]["entries"]) == [
        "coordinator",
        "key_person",
        "nurse",
        "on_call_nurse",
        "on_call_nurse",
    ]

    # Replacing the shift's roster drops whoever is no longer on it.
    again = await put_roster(client, world.admin, tomorrow, "night", entry(world.nurse_b, "nurse", world.district_b))
    assert again.status_code == 200, again.text
    assert [(e["user_id"], e["duty"]) for e in again.json()["entries"]] == [(str(world.nurse_b.user_id), "nurse")]

    # Another municipality sees its own (empty) roster, not ours.
    theirs = await client.get(
        "/roster", params={"from": tomorrow.isoformat(), "to": tomorrow.isoformat()}, headers=other.coordinator.headers
    )
    assert all(s["entries"] == [] for s in theirs.json()["shifts"])


async def test_only_coordinators_and_admins_change_the_roster(client: Client, world: World, clock: Clock) -> None:
    tomorrow = clock.today() + timedelta(days=1)
    for who in ("nurse_a", "key_person", "unit"):
        refused = await put_roster(
            client, getattr(world, who), tomorrow, "day", entry(world.nurse_a, "nurse", world.district_a)
        )
        assert refused.status_code == 403, who
    assert (
        await client.get("/roster", params={"from": "2027-01-01", "to": "2027-01-01"}, headers=world.unit.headers)
    ).status_code == 403


async def test_a_wrong_roster_entry_is_refused_naming_it_and_nothing_changes(
    client: Client, world: World, other: World, clock: Clock, sessions: Sessions
) -> None:
    day = clock.today() + timedelta(days=2)
    good = entry(world.nurse_a, "nurse", world.district_a)
    assert (await put_roster(client, world.coordinator, day, "day", good)).status_code == 200
    cases: list[tuple[list[dict[str, Any]], int, str, str | None]] = [
        ([good, entry(world.nurse_b, "nurse")], 422, "entries[1].district_id", "district_required"),
        (
            [entry(world.coordinator, "coordinator", world.district_a)],
            422,
            "entries[0].district_id",
            "no_district_for_duty",
        ),
        ([entry(world.nurse_a, "nurse", other.district_a)], 422, "entries[0].district_id", None),
        ([entry(world.nurse_a, "on_call_nurse", world.district_b)], 422, "entries[0].user_id", "not_in_district"),
        ([entry(world.nurse_a, "coordinator")], 422, "entries[0].user_id", "role_for_duty"),
        ([entry(world.coordinator, "key_person")], 422, "entries[0].user_id", "role_for_duty"),
        ([entry(other.nurse_a, "nurse", world.district_a)], 422, "entries[0].user_id", None),
        ([good, good], 422, "entries[1].user_id", "duplicate_entry"),
        ([{**good, "duty": "driver"}], 400, "entries[0].duty", None),
        ([{**good, "user_id": "not-an-id"}], 400, "entries[0].user_id", None),
    ]
    for entries, status, field, rule in cases:
        response = await put_roster(client, world.coordinator, day, "day", *entries)
        assert response.status_code == status, (field, response.text)
        assert response.json()["field"] == field, response.json()
        if rule:
            assert response.json()["rule"] == rule
    far = await put_roster(client, world.coordinator, clock.today() + timedelta(days=400), "day", good)
    assert far.status_code == 422 and far.json()["field"] == "shift_date"
    bad_kind = await put_roster(client, world.coordinator, day, "lunch", good)
    assert bad_kind.status_code == 400
    listed = await client.get(
        "/roster", params={"from": day.isoformat(), "to": day.isoformat()}, headers=world.coordinator.headers
    )
    assert [e["user_id"] for e in listed.json()["shifts"][0]["entries"]] == [str(world.nurse_a.user_id)]
    too_long = await client.get(
        "/roster",
        params={"from": day.isoformat(), "to": (day + timedelta(days=90)).isoformat()},
        headers=world.coordinator.headers,
    )
    assert too_long.status_code == 422 and too_long.json()["field"] == "to"  # a rule between two good dates


async def test_on_duty_follows_the_shift_running_at_the_instant(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings
) -> None:
    skilled = await skilled_nurse(sessions, settings, clock, world, "Palliativ Sygeplejerske")
    day = clock.today() + timedelta(days=1)
    next_day = day + timedelta(days=1)
    evening = await put_roster(
        client, world.coordinator, day, "evening", entry(world.nurse_a, "on_call_nurse", world.district_a)
    )
    night = await put_roster(
        client,
        world.coordinator,
        day,
        "night",
        entry(world.nurse_a, "on_call_nurse", world.district_a),
        entry(skilled, "on_call_nurse", world.district_a),
        entry(world.nurse_b, "on_call_nurse", world.district_b),
        entry(world.key_person, "key_person"),
    )
    assert evening.status_code == night.status_code == 200

    async def who(at: Any, duty: Duty, district: uuid.UUID | None = None) -> list[uuid.UUID]:
        async with sessions() as session:
            return await on_duty(session, world.municipality_id, at, duty, district)

    a = world.district_a
    assert await who(local_instant(day, time(22, 59)), Duty.ON_CALL_NURSE, a) == [world.nurse_a.user_id]
    # From 23:00 the night: the palliative-skilled nurse first, through to 06:59 the next morning.
    night_a = [skilled.user_id, world.nurse_a.user_id]
    assert await who(local_instant(day, time(23, 0)), Duty.ON_CALL_NURSE, a) == night_a
    assert await who(local_instant(next_day, time(6, 59)), Duty.ON_CALL_NURSE, a) == night_a
    assert await who(local_instant(next_day, time(3, 0)), Duty.ON_CALL_NURSE, world.district_b) == [
        world.nurse_b.user_id
    ]
    assert await who(local_instant(next_day, time(3, 0)), Duty.KEY_PERSON) == [world.key_person.user_id]
    assert await who(local_instant(next_day, time(3, 0)), Duty.COORDINATOR) == []
    assert await who(local_instant(next_day, time(7, 0)), Duty.ON_CALL_NURSE, a) == []


async def test_an_empty_roster_shows_every_gap_and_a_full_shift_none(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings
) -> None:
    empty = await client.get("/roster/coverage", params={"hours": 24}, headers=world.coordinator.headers)
    assert empty.status_code == 200, empty.text
    body = empty.json()
    assert len(body["shifts"]) in (3, 4)  # the running shift and those starting in the next 24 hours
    for covered in body["shifts"]:
        missing = sorted((g["missing"], g["district_id"] or "") for g in covered["gaps"])
        assert missing == sorted(
            [("coordinator", ""), ("key_person", "")]
            + [(duty, str(d)) for d in (world.district_a, world.district_b) for duty in ("nurse", "on_call_nurse")]
        )
    assert body["gap_count"] == 6 * len(body["shifts"])

    running = body["shifts"][0]
    skilled = await skilled_nurse(sessions, settings, clock, world, "Palliativ Sygeplejerske")
    saved = await put_roster(
        client,
        world.coordinator,
        date.fromisoformat(running["shift_date"]),
        running["shift_kind"],
        entry(world.nurse_a, "nurse", world.district_a),
        entry(world.nurse_b, "nurse", world.district_b),
        entry(skilled, "on_call_nurse", world.district_a),
        entry(world.nurse_b, "on_call_nurse", world.district_b),
        entry(world.coordinator, "coordinator"),
        entry(world.key_person, "key_person"),
    )
    assert saved.status_code == 200, saved.text
    now_covered = (await client.get("/roster/coverage", headers=world.nurse_a.headers)).json()["shifts"][0]
    # Only one thing is short: district B's on-call nurse has no palliative training.
    assert now_covered["gaps"] == [{"missing": "palliative_skilled_on_call", "district_id": str(world.district_b)}]
    by_district = {d["district_id"]: d for d in now_covered["districts"]}
    assert by_district[str(world.district_a)]["palliative_skilled_on_call"] == 1
    assert now_covered["coordinators"] == now_covered["key_persons"] == 1
    assert (
        await client.get("/roster/coverage", params={"hours": 500}, headers=world.coordinator.headers)
    ).status_code == 400


async def test_a_deleted_person_leaves_a_gap(client: Client, world: World, clock: Clock, sessions: Sessions) -> None:
    first = (await client.get("/roster/coverage", headers=world.coordinator.headers)).json()["shifts"][0]
    day = date.fromisoformat(first["shift_date"])
    assert (
        await put_roster(client, world.coordinator, day, first["shift_kind"], entry(world.key_person, "key_person"))
    ).status_code == 200
    async with sessions.begin() as session:
        await session.execute(update(User).where(User.id == world.key_person.user_id).values(deleted_at=clock.now()))
        kept = await session.scalar(select(RosterEntry.id).where(RosterEntry.user_id == world.key_person.user_id))
    assert kept is not None  # the row is still there ...
    shift = (await client.get("/roster/coverage", headers=world.coordinator.headers)).json()["shifts"][0]
    assert {"missing": "key_person", "district_id": None} in shift["gaps"]  # ... but nobody answers
