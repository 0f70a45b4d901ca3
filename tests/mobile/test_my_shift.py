"""My shift: the nurse's visits in window order, with what she needs at the door; cheap to poll (ETag/304)."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update

from backend.audit.models import AuditEntry
from backend.cases.models import Citizen, Medicine, Relative
from backend.clock import COPENHAGEN, Clock
from backend.config import Settings
from backend.people.models import Role
from backend.roster.shifts import shift_at
from backend.visits.models import CaseFlag, SymptomAssessment, Visit
from tests.cases.helpers import Client, Sessions, add_record, case_page, case_row, write_headers
from tests.factories import Login, World, add_user, build_world
from tests.mobile.helpers import (
    add_visit,
    at,
    change_visit,
    check_in,
    current_shift,
    my_shift,
    new_case,
    phone_post,
)

MORFIN = {"indication": "pain", "drug": "Morfin", "strength": "10 mg/ml", "quantity": "5 ampuller"}
JENS = {
    "name": "Jens",
    "relation": "søn",
    "phone": "+45 22 33 44 55",
    "primary_contact": True,
    "lives_with_citizen": False,
    "consent_to_information": True,
}


async def _audited_cases(sessions: Sessions, user_id: uuid.UUID) -> list[uuid.UUID]:
    async with sessions() as session:
        query = select(AuditEntry.case_id).where(AuditEntry.user_id == user_id, AuditEntry.action == "visit.my_shift")
        return sorted(c for c in (await session.scalars(query)).all() if c is not None)


async def _scores(client: Client, world: World, clock: Clock, visit_id: str, minutes: float, **scores: int) -> None:
    body = {"instrument": "ESAS-r", "scores": scores, "recorded_at": at(clock, minutes)}
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/scores", body)
    assert response.status_code == 201, response.text


async def test_my_shift_shows_my_visits_in_window_order_with_what_i_need_at_the_door(
    client: Client, world: World, clock: Clock, sessions: Sessions, settings: Settings
) -> None:
    karen = await new_case(client, world, clock, name="Karen Marie Testesen", address="Testvej 1, 2200 København N")
    ole = await new_case(client, world, clock, name="Ole Hansen", address="Nørrebrogade 7, 2200 København N")
    today = clock.today()
    await add_record(
        client,
        world,
        karen,
        "wishes",
        {"dies_at_home": "yes", "discussed_on": today.isoformat(), "discussed_with": "Borger"},
    )
    await add_record(
        client,
        world,
        karen,
        "medicine",
        {
            "indication": "pain",
            "drug": "Morfin",
            "strength": "10 mg/ml",
            "quantity": "5 ampuller",
            "expires_on": (today + timedelta(days=90)).isoformat(),
        },
    )
    relative = {"phone": "+45 11 22 33 44", "consent_to_information": True}
    await add_record(
        client,
        world,
        karen,
        "relatives",
        relative
        | {"name": "Jens Testesen", "relation": "ægtefælle", "primary_contact": True, "lives_with_citizen": True},
    )
    await add_record(
        client,
        world,
        karen,
        "relatives",
        {
            "name": "Sofie",
            "relation": "datter",
            "primary_contact": False,
            "lives_with_citizen": True,
            "consent_to_information": False,
            "birth_year": today.year - 9,
        },
    )
    await add_record(
        client,
        world,
        karen,
        "relatives",
        {
            "name": "Emil",
            "relation": "barnebarn",
            "primary_contact": False,
            "lives_with_citizen": False,
            "consent_to_information": False,
            "birth_year": today.year - 12,
        },
    )

    # Karen's visit comes second in the shift, Ole's first; a colleague's and tomorrow's are not mine.
    karen_visit = await add_visit(sessions, clock, karen, world.district_a, world.nurse_a.user_id, minutes=120)
    ole_visit = await add_visit(sessions, clock, ole, world.district_a, world.nurse_a.user_id, minutes=30, tasks=())
    async with sessions() as session, session.begin():
        colleague = await add_user(
            session, settings, clock, role=Role.NURSE, organisation_id=world.district_a, districts=(world.district_a,)
        )
    await add_visit(sessions, clock, karen, world.district_a, colleague.user_id, minutes=200)
    tomorrow = shift_at(current_shift(clock).starts + timedelta(hours=24))
    await add_visit(sessions, clock, karen, world.district_a, world.nurse_a.user_id, shift=tomorrow)

    await check_in(client, world.nurse_a, clock, karen_visit, minutes=-5)
    await _scores(client, world, clock, karen_visit, -4, pain=4, nausea=6, anxiety=3)
    await _scores(client, world, clock, karen_visit, -2, pain=8, nausea=2, anxiety=3)

    page = await my_shift(client, world.nurse_a)
    shift = current_shift(clock)
    assert page["shift"]["kind"] == shift.kind.value
    assert page["shift"]["day"] == shift.day.isoformat()
    assert [v["id"] for v in page["visits"]] == [ole_visit, karen_visit]

    first, second = page["visits"]
    assert first["status"] == "planned"
    assert first["tasks"] == []
    assert first["case"]["first_name"] == "Ole"
    assert first["case"]["last_scores"] is None
    assert first["case"]["home_death_wish"] is None
    assert first["case"]["anticipatory_medicine"]["complete"] is False

    assert second["status"] == "under_way"
    assert second["tasks"] == ["Tjek sprøjtepumpe", "Mundpleje"]
    door = second["case"]
    assert door["first_name"] == "Karen"
    assert door["name"] == "Karen Marie Testesen"
    assert door["address"] == "Testvej 1, 2200 København N"
    assert door["home_death_wish"] == "yes"
    medicine = door["anticipatory_medicine"]
    assert medicine["complete"] is False
    assert medicine["missing"] == ["breathlessness", "nausea", "restlessness", "death_rattle"]
    assert [item["drug"] for item in medicine["items"]] == ["Morfin"]
    assert door["relatives_to_call"] == [
        {
            "name": "Jens Testesen",
            "relation": "ægtefælle",
            "phone": "+45 11 22 33 44",
            "primary_contact": True,
            "may_be_informed": True,
        }
    ]
    assert door["children_in_home"] == [{"name": "Sofie", "age": 9}]
    scores = door["last_scores"]
    assert scores["instrument"] == "ESAS-r"
    assert scores["scores"] == {"pain": 8, "nausea": 2, "anxiety": 3}
    assert scores["trend"] == {"pain": "up", "nausea": "down", "anxiety": "same"}
    assert scores["previous_recorded_at"] is not None
    flags = sorted((f["kind"], f["items"]) for f in door["open_flags"])
    assert flags == [("rising_score", ["pain"]), ("severe_score", ["pain"])]

    # Never the CPR number, and every case shown is an audited read.
    async with sessions() as session:
        citizen = await session.get_one(Citizen, (await case_row(sessions, karen)).citizen_id)
    assert "cpr" not in str(page)
    assert citizen.cpr not in str(page)
    assert await _audited_cases(sessions, world.nurse_a.user_id) == sorted([uuid.UUID(karen), uuid.UUID(ole)])


async def test_the_next_shift_can_be_looked_at_before_it_starts(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    following = shift_at(current_shift(clock).ends)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id, shift=following)

    assert (await my_shift(client, world.nurse_a))["visits"] == []
    page = await my_shift(client, world.nurse_a, shift="next")
    assert page["shift"]["kind"] == following.kind.value
    assert [v["id"] for v in page["visits"]] == [visit_id]

    response = await client.get("/mobile/v1/my-shift", params={"shift": "tomorrow"}, headers=world.nurse_a.headers)
    assert response.status_code == 400
    assert response.json()["field"] == "shift"


async def test_polling_an_unchanged_shift_answers_304_without_a_body_or_an_audit_row(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)

    first = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert "private" in first.headers["cache-control"]
    audited = len(await _audited_cases(sessions, world.nurse_a.user_id))
    assert audited == 1

    again = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers | {"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    # A list of tags, and the weak form of ours, match too.
    listed = await client.get(
        "/mobile/v1/my-shift", headers=world.nurse_a.headers | {"If-None-Match": f'"stale", W/{etag}'}
    )
    assert listed.status_code == 304
    assert len(await _audited_cases(sessions, world.nurse_a.user_id)) == audited

    # The same answer without the header is byte for byte the first one.
    plain = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers)
    assert plain.content == first.content and plain.headers["etag"] == etag

    # Checking in changes the visit: the phone's copy is stale and a new body comes.
    await check_in(client, world.nurse_a, clock, visit_id)
    changed = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["visits"][0]["status"] == "under_way"

    # A change on the case (a relative added) also shows.
    newer = changed.headers["etag"]
    await add_record(
        client,
        world,
        case_id,
        "relatives",
        JENS,
    )
    after = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers | {"If-None-Match": newer})
    assert after.status_code == 200
    assert [r["name"] for r in after.json()["visits"][0]["case"]["relatives_to_call"]] == ["Jens"]


async def _poll(client: Client, world: World, etag: str) -> tuple[str, dict[str, Any]]:
    """A poll whose copy must be stale: the new tag and what the door shows now. Without the header,
    as a phone that has just started, the answer is byte for byte the same."""
    polled = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers | {"If-None-Match": etag})
    assert polled.status_code == 200, "the phone kept a stale copy"
    fresh = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers)
    assert fresh.content == polled.content and fresh.headers["etag"] == polled.headers["etag"] != etag
    return polled.headers["etag"], polled.json()


async def _write(client: Client, login: Login, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    response = await client.request(method, path, json=body, headers=write_headers(login))
    assert response.status_code == 200, response.text


async def test_every_change_to_what_the_door_shows_reaches_a_polling_phone(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    """The tag is made of the versions of the rows the answer reads: each kind of change must move it."""
    case_id = await new_case(client, world, clock, name="Inger Hansen")
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    first = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers)
    etag = first.headers["etag"]

    def door(answer: dict[str, Any]) -> dict[str, Any]:
        case: dict[str, Any] = answer["visits"][0]["case"]
        return case

    medicine = await add_record(
        client,
        world,
        case_id,
        "medicine",
        MORFIN | {"expires_on": (clock.today() + timedelta(days=90)).isoformat()},
    )
    etag, answer = await _poll(client, world, etag)
    assert [i["drug"] for i in door(answer)["anticipatory_medicine"]["items"]] == ["Morfin"]

    await _write(
        client, world.nurse_a, "POST", f"/cases/{case_id}/medicine/{medicine['id']}/remove", {"reason": "used"}
    )
    etag, answer = await _poll(client, world, etag)
    assert door(answer)["anticipatory_medicine"]["items"] == []

    relative = await add_record(client, world, case_id, "relatives", JENS)
    etag, answer = await _poll(client, world, etag)
    relative_path = f"/cases/{case_id}/relatives/{relative['id']}"
    await _write(client, world.nurse_a, "PATCH", relative_path, {"phone": "+45 99 88 77 66"})
    etag, answer = await _poll(client, world, etag)
    assert [r["phone"] for r in door(answer)["relatives_to_call"]] == ["+45 99 88 77 66"]
    await _write(client, world.nurse_a, "POST", f"{relative_path}/remove")
    etag, answer = await _poll(client, world, etag)
    assert door(answer)["relatives_to_call"] == []

    # Scores at the visit; a severe one flags the case, and the coordinator resolving the flag shows too.
    await check_in(client, world.nurse_a, clock, visit_id)
    etag, answer = await _poll(client, world, etag)
    await _scores(client, world, clock, visit_id, 0, pain=8)
    etag, answer = await _poll(client, world, etag)
    assert door(answer)["last_scores"]["scores"] == {"pain": 8}
    flags = door(answer)["open_flags"]
    assert [f["kind"] for f in flags] == ["severe_score"]
    async with sessions() as session:
        flag_id = await session.scalar(
            select(CaseFlag.id).where(CaseFlag.case_id == uuid.UUID(case_id), CaseFlag.resolved_at.is_(None))
        )
    await _write(client, world.coordinator, "POST", f"/case-flags/{flag_id}/resolve")
    etag, answer = await _poll(client, world, etag)
    assert door(answer)["open_flags"] == []

    # The citizen's address and the case's phase, from the coordinator's desk.
    moved = {"address": "Amagerbrogade 3, 2300 København S", "phase": "late"}
    await _write(client, world.coordinator, "PATCH", f"/cases/{case_id}", moved)
    etag, answer = await _poll(client, world, etag)
    assert (door(answer)["address"], door(answer)["phase"]) == ("Amagerbrogade 3, 2300 København S", "late")

    # Nothing changed since: the copy stands.
    unchanged = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers | {"If-None-Match": etag})
    assert unchanged.status_code == 304

    # The visit taken off her round leaves the shift.
    await change_visit(sessions, visit_id, assigned_to=None)
    etag, answer = await _poll(client, world, etag)
    assert answer["visits"] == []


async def test_a_change_to_any_row_the_door_shows_reaches_the_phone_whoever_wrote_it(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    """Writes through the API also mark the case changed; these do not, so each row's own version
    must move the tag (a job, a migration or a repair in the database writes like this)."""
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    relative = {"relation": "datter", "phone": None, "primary_contact": True, "lives_with_citizen": False}
    await add_record(client, world, case_id, "relatives", relative | {"name": "Jens", "consent_to_information": True})
    await add_record(
        client, world, case_id, "medicine", MORFIN | {"expires_on": (clock.today() + timedelta(days=90)).isoformat()}
    )
    await check_in(client, world.nurse_a, clock, visit_id)
    await _scores(client, world, clock, visit_id, 0, pain=8)
    etag = (await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers)).headers["etag"]
    case = uuid.UUID(case_id)
    changes: list[tuple[Any, Any, str, Any]] = [
        (Citizen, Citizen.id == (await case_row(sessions, case_id)).citizen_id, "phone", "+45 12 12 12 12"),
        (Relative, Relative.case_id == case, "name", "Jens Peter"),
        (Medicine, Medicine.case_id == case, "drug", "Oxycodon"),
        (SymptomAssessment, SymptomAssessment.case_id == case, "scores", {"pain": 9}),
        (CaseFlag, CaseFlag.case_id == case, "resolved_at", clock.now()),
        (Visit, Visit.id == uuid.UUID(visit_id), "tasks", ["Mundpleje"]),
    ]
    for model, where, column, value in changes:
        async with sessions() as session, session.begin():
            await session.execute(update(model).where(where).values({column: value}))
        etag, answer = await _poll(client, world, etag)
        visit = answer["visits"][0]
        door = visit["case"]
        shown = {
            "phone": door["phone"],
            "name": [r["name"] for r in door["relatives_to_call"]],
            "drug": [i["drug"] for i in door["anticipatory_medicine"]["items"]],
            "scores": door["last_scores"]["scores"],
            "resolved_at": door["open_flags"],
            "tasks": visit["tasks"],
        }[column]
        expected = {"name": ["Jens Peter"], "drug": ["Oxycodon"], "resolved_at": []}.get(column, value)
        assert shown == expected, model.__name__


async def test_at_midnight_the_phone_s_copy_goes_stale_as_medicine_expires(
    restore_clock: Clock, sessions: Sessions, settings: Settings, client: Client
) -> None:
    """The day is part of the tag: nothing in the database changes when medicine expires overnight."""
    clock = restore_clock
    local = clock.now().astimezone(COPENHAGEN)
    five_to_midnight = datetime.combine(local.date(), time(23, 55), COPENHAGEN)
    if five_to_midnight <= local:
        five_to_midnight = datetime.combine(local.date() + timedelta(days=1), time(23, 55), COPENHAGEN)
    clock.shift(five_to_midnight - local)
    world = await build_world(sessions, settings, clock)  # logins issued at 23:55
    case_id = await new_case(client, world, clock)
    await add_record(client, world, case_id, "medicine", MORFIN | {"expires_on": clock.today().isoformat()})
    await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id, minutes=90)

    before = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers)
    etag = before.headers["etag"]
    [item] = before.json()["visits"][0]["case"]["anticipatory_medicine"]["items"]
    assert item["state"] == "expires_soon"
    polled = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers | {"If-None-Match": etag})
    assert polled.status_code == 304

    clock.shift(timedelta(minutes=6))  # 00:01: the same night shift, a new day
    etag, answer = await _poll(client, world, etag)
    at_home = answer["visits"][0]["case"]["anticipatory_medicine"]
    assert [i["state"] for i in at_home["items"]] == ["expired"]
    assert "pain" in at_home["missing"]


async def test_each_full_answer_is_audited_even_when_the_same_body_is_sent_again(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    """Two phones of one nurse, or a phone started afresh: the body may be the one built before, the
    disclosure is new, so the auditor sees both."""
    case_id = await new_case(client, world, clock)
    await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    first = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers)
    second = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert await _audited_cases(sessions, world.nurse_a.user_id) == [uuid.UUID(case_id)] * 2


async def test_my_shift_shows_nothing_of_another_district_even_if_assigned_there(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    await add_visit(sessions, clock, case_id, world.district_a, world.nurse_b.user_id)
    page = await my_shift(client, world.nurse_b)
    assert page["visits"] == []
    assert await _audited_cases(sessions, world.nurse_b.user_id) == []


async def test_my_shift_is_for_care_givers_only(client: Client, world: World) -> None:
    for login in (world.admin, world.unit):
        response = await client.get("/mobile/v1/my-shift", headers=login.headers)
        assert response.status_code == 403
    assert (await client.get("/mobile/v1/my-shift")).status_code == 401


async def test_a_case_visited_twice_in_the_shift_shows_its_facts_at_both_visits_and_is_audited_once(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock, name="Inger Hansen")
    today = clock.today()
    medicine = {"strength": "10 mg/ml", "quantity": "5 ampuller"}
    await add_record(
        client,
        world,
        case_id,
        "medicine",
        medicine | {"indication": "pain", "drug": "Morfin", "expires_on": (today + timedelta(days=90)).isoformat()},
    )
    await add_record(
        client,
        world,
        case_id,
        "medicine",
        medicine
        | {"indication": "nausea", "drug": "Haloperidol", "expires_on": (today + timedelta(days=3)).isoformat()},
    )
    # Medicine for breathlessness that has expired since it was recorded: shown, but not covering.
    expired = await add_record(
        client,
        world,
        case_id,
        "medicine",
        medicine
        | {"indication": "breathlessness", "drug": "Morfin", "expires_on": (today + timedelta(days=30)).isoformat()},
    )
    async with sessions() as session, session.begin():
        await session.execute(
            update(Medicine).where(Medicine.id == uuid.UUID(expired["id"])).values(expires_on=today - timedelta(days=1))
        )
    morning = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id, minutes=30)
    evening = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id, minutes=200)

    page = await my_shift(client, world.nurse_a)
    assert [v["id"] for v in page["visits"]] == [morning, evening]
    first, second = (visit["case"] for visit in page["visits"])
    assert first == second
    at_home = first["anticipatory_medicine"]
    assert [(item["indication"], item["state"]) for item in at_home["items"]] == [
        ("breathlessness", "expired"),
        ("nausea", "expires_soon"),
        ("pain", "ok"),
    ]
    assert at_home["missing"] == ["breathlessness", "restlessness", "death_rattle"]
    assert at_home["expiring_soon"] == ["nausea"]
    assert at_home["complete"] is False
    async with sessions() as session:
        query = select(AuditEntry.case_id).where(
            AuditEntry.user_id == world.nurse_a.user_id, AuditEntry.action == "visit.my_shift"
        )
        assert (await session.scalars(query)).all() == [uuid.UUID(case_id)]


async def test_the_phone_and_the_case_page_judge_medicine_and_children_alike(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    """The door's facts are derived where the rows are, the case page's in Python: the rules must agree."""
    case_id = await new_case(client, world, clock)
    today = clock.today()
    medicine = {"drug": "Midazolam", "strength": "5 mg/ml", "quantity": "5 ampuller"}
    for indication, days in (("restlessness", 7), ("pain", 8), ("nausea", 0), ("death_rattle", 30)):
        await add_record(
            client,
            world,
            case_id,
            "medicine",
            medicine | {"indication": indication, "expires_on": (today + timedelta(days=days)).isoformat()},
        )
    async with sessions() as session, session.begin():
        await session.execute(
            update(Medicine)
            .where(Medicine.case_id == uuid.UUID(case_id), Medicine.indication == "death_rattle")
            .values(expires_on=today - timedelta(days=1))
        )
    relative = {"relation": "barn", "phone": None, "primary_contact": False, "consent_to_information": False}
    for name, age, at_home in (("Voksen", 40, False), ("Atten", 18, True), ("Sytten", 17, True), ("Ude", 12, False)):
        body = relative | {"name": name, "birth_year": today.year - age, "lives_with_citizen": at_home}
        await add_record(client, world, case_id, "relatives", body)
    await add_record(client, world, case_id, "relatives", relative | {"name": "Uden år", "lives_with_citizen": True})
    await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)

    door = (await my_shift(client, world.nurse_a))["visits"][0]["case"]
    page = await case_page(client, world, case_id)

    at_door, on_page = door["anticipatory_medicine"], page["medicine"]
    assert [(i["indication"], i["state"]) for i in at_door["items"]] == [
        (i["indication"], i["state"]) for i in on_page["items"]
    ]
    assert at_door["missing"] == on_page["missing"] == ["breathlessness", "death_rattle"]
    soon_ids = set(on_page["expiring_soon"])
    assert at_door["expiring_soon"] == sorted(i["indication"] for i in on_page["items"] if i["id"] in soon_ids)
    assert at_door["expiring_soon"] == ["nausea", "restlessness"]

    children = [r for r in page["relatives"] if r["is_child"]]
    assert door["children_in_home"] == [
        {"name": r["name"], "age": r["age"]} for r in children if r["lives_with_citizen"]
    ]
    assert door["children_in_home"] == [{"name": "Sytten", "age": 17}]
    assert sorted(r["name"] for r in door["relatives_to_call"]) == sorted(
        r["name"] for r in page["relatives"] if not r["is_child"]
    )
    assert sorted(r["name"] for r in door["relatives_to_call"]) == ["Atten", "Uden år", "Voksen"]


async def test_my_shift_travels_gzipped_to_a_phone_that_accepts_it(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    """A weak signal at the door: the same answer in a fraction of the bytes, and the same ETag."""
    for minutes in (30, 90, 150):
        case_id = await new_case(client, world, clock)
        await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id, minutes=minutes)

    plain = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers | {"Accept-Encoding": "identity"})
    zipped = await client.get("/mobile/v1/my-shift", headers=world.nurse_a.headers | {"Accept-Encoding": "gzip"})
    assert plain.status_code == zipped.status_code == 200
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in zipped.headers["vary"].lower()
    sent = int(zipped.headers["content-length"])
    assert sent * 3 < len(plain.content) == int(plain.headers["content-length"])
    assert zipped.content == plain.content  # decoded by the client, byte for byte the same answer
    assert zipped.headers["etag"] == plain.headers["etag"]

    polled = await client.get(
        "/mobile/v1/my-shift",
        headers=world.nurse_a.headers | {"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]},
    )
    assert polled.status_code == 304 and polled.content == b""
