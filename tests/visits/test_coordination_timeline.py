"""The case timeline for the board, the coordinator's flags, and who may see or change which visit."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import Client, Sessions, write_headers
from tests.visits.coordination_helpers import (
    add_rows,
    add_visit,
    assessment,
    audit_actions,
    case_events,
    flag,
    local,
    make_case,
    medicine,
    note,
    visit_row,
    world_at,
)

WEDNESDAY = date(2026, 11, 18)
TUESDAY = WEDNESDAY - timedelta(days=1)
NOW = local(WEDNESDAY, 20)


def _z(day: date, hour: int, minute: int = 0) -> str:
    """How the API writes a Copenhagen wall-clock time: in UTC."""
    return local(day, hour, minute).isoformat().replace("+00:00", "Z")


async def test_the_timeline_shows_what_happened_on_the_case_newest_first(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock, phase="terminal")
    nurse, coordinator = world.nurse_a.user_id, world.coordinator.user_id
    yesterday = await add_visit(
        sessions,
        case_id,
        world.district_a,
        local(TUESDAY, 10),
        status="done",
        assigned_to=nurse,
        checked_in_at=local(TUESDAY, 10, 5),
        checked_out_at=local(TUESDAY, 10, 40),
    )
    tonight = await add_visit(sessions, case_id, world.district_a, local(WEDNESDAY, 21), assigned_to=nurse)
    scores = assessment(case_id, nurse, local(TUESDAY, 10, 15), pain=7, anxiety=4)
    scores.visit_id = yesterday
    given = medicine(case_id, nurse, local(TUESDAY, 10, 20), visit_id=yesterday, effect="Lindring efter 20 min")
    first_note = note(case_id, nurse, local(TUESDAY, 10, 35), "Smerter lindret", visit_id=yesterday)
    severe = flag(
        case_id,
        "severe_score",
        local(TUESDAY, 10, 16),
        detail={"item": "pain", "score": 7},
        resolved_at=local(TUESDAY, 11),
        resolved_by=coordinator,
    )
    await add_rows(sessions, scores, given, first_note, severe)
    correction = note(case_id, nurse, local(WEDNESDAY, 8), "Rettelse: smerter 7 før morfin", corrects_id=first_note.id)
    await add_rows(sessions, correction)
    death = {"died_at": local(WEDNESDAY, 19, 30).isoformat(), "place": "home", "gp_informed": True}
    assert (
        await client.post(f"/cases/{case_id}/death", json=death, headers=write_headers(world.nurse_a))
    ).status_code == 201

    response = await client.get(f"/cases/{case_id}/timeline", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["type"], i["id"]) for i in items] == [
        ("visit", str(tonight)),
        ("death", str(case_id)),
        ("note", str(correction.id)),
        ("note", str(first_note.id)),
        ("medicine_given", str(given.id)),
        ("flag", str(severe.id)),
        ("scores", str(scores.id)),
        ("visit", str(yesterday)),
    ]
    assert response.json()["next_before"] is None
    by_id = {i["id"]: i for i in items}

    visit = by_id[str(yesterday)]
    assert visit["at"] == _z(TUESDAY, 10) and visit["status"] == "done"
    assert visit["checked_in_at"] == _z(TUESDAY, 10, 5) and visit["checked_out_at"] == _z(TUESDAY, 10, 40)
    assert visit["assignee"] == {"id": str(nurse), "name": "Test Person"}
    assert by_id[str(tonight)]["state"] == "cancelled"  # the death cancelled the visit still ahead
    assert by_id[str(case_id)] | {"at": None} == {
        "type": "death",
        "at": None,
        "id": str(case_id),
        "place": "home",
        "present": None,
        "gp_informed": True,
    }
    recorded = by_id[str(scores.id)]
    assert recorded["instrument"] == "ESAS-r" and recorded["visit_id"] == str(yesterday)
    assert recorded["scores"]["pain"] == 7 and recorded["scores"]["anxiety"] == 4 and len(recorded["scores"]) == 9
    assert recorded["recorded_by"]["id"] == str(nurse)
    dose = by_id[str(given.id)]
    assert (dose["drug"], dose["dose"], dose["unit"], dose["route"]) == ("Morfin", 2.5, "mg", "sc")
    assert dose["effect"] == "Lindring efter 20 min"
    assert by_id[str(first_note.id)]["corrected_by"] == [str(correction.id)]
    assert by_id[str(first_note.id)]["text"] == "Smerter lindret"  # the original is kept as written
    assert by_id[str(correction.id)]["corrects_id"] == str(first_note.id)
    assert by_id[str(correction.id)]["author"] == {"id": str(nurse), "name": "Test Person"}
    raised = by_id[str(severe.id)]
    assert raised["kind"] == "severe_score" and raised["detail"] == {"item": "pain", "score": 7}
    assert raised["resolved_by"]["id"] == str(coordinator) and raised["resolved_at"] == _z(TUESDAY, 11)

    assert (await audit_actions(sessions, case_id)).count("case.timeline.read") == 1


async def test_the_timeline_pages_without_gaps_or_repeats(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    nurse = world.nurse_a.user_id
    same_time = local(TUESDAY, 12)  # three records at one instant must still page cleanly
    await add_rows(
        sessions,
        *(note(case_id, nurse, same_time, f"Note {n}") for n in range(3)),
        *(assessment(case_id, nurse, local(TUESDAY, 9 + n)) for n in range(3)),
    )
    for hour in (8, 14, 16):
        await add_visit(sessions, case_id, world.district_a, local(TUESDAY, hour), status="done")

    seen: list[str] = []
    before: str | None = None
    pages = 0
    while True:
        query = f"?limit=4&before={before}" if before else "?limit=4"
        page = (await client.get(f"/cases/{case_id}/timeline{query}", headers=world.nurse_a.headers)).json()
        pages += 1
        seen += [i["id"] for i in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    everything = (await client.get(f"/cases/{case_id}/timeline?limit=200", headers=world.nurse_a.headers)).json()
    assert pages == 3 and len(seen) == 9
    assert seen == [i["id"] for i in everything["items"]]
    ats = [i["at"] for i in everything["items"]]
    assert ats == sorted(ats, reverse=True)
    assert (await audit_actions(sessions, case_id)).count("case.timeline.read") == 4

    bad = await client.get(f"/cases/{case_id}/timeline?before=not-a-cursor", headers=world.nurse_a.headers)
    assert bad.status_code == 400 and bad.json()["field"] == "before"
    too_many = await client.get(f"/cases/{case_id}/timeline?limit=1000", headers=world.nurse_a.headers)
    assert too_many.status_code == 400 and too_many.json()["field"] == "limit"


async def test_only_those_who_may_see_the_case_read_its_timeline_and_change_its_visits(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    other = await world_at(sessions, settings, restore_clock, NOW)
    case_id = await make_case(client, world, restore_clock)
    visit = await add_visit(
        sessions, case_id, world.district_a, local(WEDNESDAY, 21), assigned_to=world.nurse_a.user_id
    )
    url = f"/cases/{case_id}/timeline"

    expected = [
        (world.nurse_a, 200),
        (world.coordinator, 200),
        (world.key_person, 200),
        (world.nurse_b, 404),  # another district's case
        (world.unit, 404),  # not referred to the unit
        (other.coordinator, 404),  # another municipality
        (world.admin, 403),  # no health records for administrators
    ]
    for login, status in expected:
        assert (await client.get(url, headers=login.headers)).status_code == status, login.role
    assert (await audit_actions(sessions, case_id)).count("case.timeline.read") == 3

    nurse = str(world.nurse_a.user_id)
    writes: list[tuple[str, dict[str, Any]]] = [
        (f"/visits/{visit}/assign", {"user_id": nurse}),
        (f"/visits/{visit}/cancel", {"reason": "duplicate"}),
    ]
    for path, body in writes:
        assert (await client.post(path, json=body, headers=write_headers(other.coordinator))).status_code == 404
        assert (await client.post(path, json=body, headers=write_headers(world.unit))).status_code == 403
        assert (await client.post(path, json=body, headers=write_headers(world.nurse_b))).status_code == 403
    hand_back = f"/visits/{visit}/hand-back"
    assert (await client.post(hand_back, json={"reason": "x"}, headers=write_headers(world.nurse_b))).status_code == 404
    assert (await client.post(hand_back, json={"reason": "x"}, headers=write_headers(world.unit))).status_code == 403
    unknown = await client.post(
        f"/visits/{uuid.uuid4()}/assign", json={"user_id": nurse}, headers=write_headers(world.coordinator)
    )
    assert unknown.status_code == 404
    row = await visit_row(sessions, visit)
    assert (row.status, row.assigned_to) == ("planned", world.nurse_a.user_id)
    assert await case_events(sessions, case_id) == []


async def test_the_coordinator_sees_open_flags_and_resolves_them(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    other = await world_at(sessions, settings, restore_clock, NOW)
    case_a = await make_case(client, world, restore_clock, "a")
    case_b = await make_case(client, world, restore_clock, "b")
    foreign = await make_case(client, other, restore_clock)
    severe = flag(case_a, "severe_score", NOW - timedelta(hours=2), detail={"item": "pain", "score": 8})
    missing = flag(case_b, "medicine_missing", NOW - timedelta(hours=1), detail={"indications": ["pain"]})
    old = flag(
        case_a,
        "missed_visit",
        NOW - timedelta(days=1),
        resolved_at=NOW - timedelta(hours=20),
        resolved_by=world.coordinator.user_id,
    )
    await add_rows(sessions, severe, missing, old, flag(foreign, "severe_score", NOW))

    response = await client.get("/case-flags?open=true", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["id"] for i in items] == [str(severe.id), str(missing.id)]  # the longest waiting first
    assert items[0] | {"raised_at": None} == {
        "id": str(severe.id),
        "case_id": str(case_a),
        "district_id": str(world.district_a),
        "kind": "severe_score",
        "detail": {"item": "pain", "score": 8},
        "raised_at": None,
        "resolved_at": None,
        "resolved_by": None,
    }
    only_b = (await client.get(f"/case-flags?district_id={world.district_b}", headers=world.key_person.headers)).json()
    assert [i["id"] for i in only_b["items"]] == [str(missing.id)]
    resolved = (await client.get("/case-flags?open=false", headers=world.coordinator.headers)).json()
    assert [i["id"] for i in resolved["items"]] == [str(old.id)]

    done = await client.post(f"/case-flags/{severe.id}/resolve", headers=write_headers(world.key_person))
    assert done.status_code == 200, done.text
    assert done.json()["resolved_by"] == str(world.key_person.user_id) and done.json()["resolved_at"]
    still_open = (await client.get("/case-flags", headers=world.coordinator.headers)).json()
    assert [i["id"] for i in still_open["items"]] == [str(missing.id)]
    assert await case_events(sessions, case_a) == [
        ("case.flag_resolved", {"flag_id": str(severe.id), "kind": "severe_score"})
    ]
    assert "case.flag.resolve" in await audit_actions(sessions, case_a)

    again = await client.post(f"/case-flags/{severe.id}/resolve", headers=write_headers(world.coordinator))
    assert again.status_code == 409 and again.json()["rule"] == "already_resolved"
    foreign_try = await client.post(f"/case-flags/{missing.id}/resolve", headers=write_headers(other.coordinator))
    assert foreign_try.status_code == 404
    for login in (world.nurse_a, world.unit):
        assert (await client.get("/case-flags", headers=login.headers)).status_code == 403
        refused = await client.post(f"/case-flags/{missing.id}/resolve", headers=write_headers(login))
        assert refused.status_code == 403
    assert [i["id"] for i in (await client.get("/case-flags", headers=world.coordinator.headers)).json()["items"]] == [
        str(missing.id)
    ]
