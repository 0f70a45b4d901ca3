"""Escalation policies, the coverage check, and tiers across the nights when the clocks change."""

from __future__ import annotations

from datetime import UTC, date, datetime

from backend.clock import Clock
from backend.config import Settings
from backend.people.models import Role
from tests.alerts.helpers import alert_row, full_roster, raise_alert, raise_body, tiers_fired
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import World, add_user
from tests.visits.coordination_helpers import make_case, move_to, world_at

THREE_QUICK_TIERS = {
    "tiers": [
        {"targets": ["on_call_nurses"], "ack_timeout_seconds": 60, "renotify_seconds": 30},
        {"targets": ["coordinator"], "ack_timeout_seconds": 60, "renotify_seconds": 30},
        {"targets": ["palliative_unit", "palliative_team"], "ack_timeout_seconds": 120, "renotify_seconds": 60},
    ]
}


async def test_an_admin_sets_a_policy_and_alerts_already_climbing_keep_theirs(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    before = await raise_alert(client, world.coordinator, raise_body(await make_case(client, world, mid_shift)))

    saved = await client.put("/alert-policies/critical", json=THREE_QUICK_TIERS, headers=write_headers(world.admin))
    assert saved.status_code == 200, saved.text
    assert saved.json()["is_default"] is False and saved.json()["version"] == 1
    after = await raise_alert(client, world.coordinator, raise_body(await make_case(client, world, mid_shift)))

    old, new = await alert_row(sessions, before["id"]), await alert_row(sessions, after["id"])
    assert old.tiers[0]["ack_timeout_seconds"] == 300 and old.policy_version is None
    assert new.tiers[0]["ack_timeout_seconds"] == 60 and new.policy_version == 1
    listed = (await client.get("/alert-policies", headers=world.coordinator.headers)).json()["policies"]
    assert [(p["severity"], p["is_default"]) for p in listed] == [("critical", False), ("high", True), ("normal", True)]


async def test_a_policy_without_tiers_or_with_a_zero_timeout_is_refused_and_nothing_changes(
    client: Client, world: World
) -> None:
    bad_bodies = {
        "tiers": {"tiers": []},
        "tiers[0].ack_timeout_seconds": {
            "tiers": [{"targets": ["coordinator"], "ack_timeout_seconds": 0, "renotify_seconds": 60}]
        },
        "tiers[0].targets[0]": {
            "tiers": [{"targets": ["the_mayor"], "ack_timeout_seconds": 60, "renotify_seconds": 60}]
        },
    }
    for field, body in bad_bodies.items():
        answer = await client.put("/alert-policies/high", json=body, headers=write_headers(world.admin))
        assert answer.status_code == 400 and answer.json()["field"] == field, answer.text
    not_admin = await client.put(
        "/alert-policies/high", json=THREE_QUICK_TIERS, headers=write_headers(world.coordinator)
    )
    assert not_admin.status_code == 403
    listed = (await client.get("/alert-policies", headers=world.admin.headers)).json()["policies"]
    assert all(p["is_default"] for p in listed)


async def test_the_coverage_check_names_every_shift_and_district_where_a_tier_finds_nobody(
    client: Client, world: World, mid_shift: Clock
) -> None:
    empty = (await client.get("/alert-policies/coverage", headers=world.coordinator.headers)).json()
    first = empty["shifts"][0]
    gaps = {(g["severity"], g["tier"], g["district_id"]) for g in first["gaps"]}
    assert ("critical", 0, str(world.district_a)) in gaps and ("critical", 0, str(world.district_b)) in gaps
    assert ("critical", 1, None) in gaps  # no coordinator on duty, no key person on call
    assert all(g["escalates_at_once"] for g in first["gaps"] if g["tier"] == 0)
    assert sorted(first["districts_without_skilled_on_call"]) == sorted([str(world.district_a), str(world.district_b)])
    assert len(empty["shifts"]) >= 3  # the next 24 hours touch at least three shifts

    await full_roster(client, world, mid_shift)
    covered = (await client.get("/alert-policies/coverage", headers=world.coordinator.headers)).json()["shifts"][0]
    # Tiers 0 and 1 now find someone. The regional team serves the municipality but has no staff in
    # Lindra: the last tier would reach only the unit, and the check says so.
    remaining = {(g["severity"], g["tier"], tuple(g["missing"]), g["escalates_at_once"]) for g in covered["gaps"]}
    assert remaining == {(severity, 2, ("palliative_team",), False) for severity in ("critical", "high", "normal")}
    assert len(covered["districts_without_skilled_on_call"]) == 2


def _utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def test_tiers_call_the_night_nurse_until_the_nine_hour_night_really_ends(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    # 31 October 2027: clocks go back at 03:00, the night 30/31 October lasts 23:00 CEST to 07:00 CET,
    # i.e. 21:00 to 06:00 UTC. At 05:30 UTC (06:30 CET) the night nurse is still the one on call.
    world = await world_at(sessions, settings, restore_clock, _utc(2027, 10, 30, 21, 30))
    night = date(2027, 10, 30)
    answer = await client.put(
        f"/roster/{night.isoformat()}/night",
        json={
            "entries": [
                {"user_id": str(world.nurse_a.user_id), "duty": "on_call_nurse", "district_id": str(world.district_a)}
            ]
        },
        headers=write_headers(world.coordinator),
    )
    assert answer.status_code == 200, answer.text
    case_id = await make_case(client, world, restore_clock)
    move_to(restore_clock, _utc(2027, 10, 31, 5, 30), settings, world)

    raised = await raise_alert(client, world.coordinator, raise_body(case_id))

    (first, *_) = await tiers_fired(sessions, raised["id"])
    assert first.target_ids == [str(world.nurse_a.user_id)]
    alert = await alert_row(sessions, raised["id"])
    assert alert.next_escalation_at is not None
    # Five minutes of real time later (the clock runs on a little while the test works).
    assert abs((alert.next_escalation_at - _utc(2027, 10, 31, 5, 35)).total_seconds()) < 5


async def test_after_the_seven_hour_night_the_day_nurse_is_called(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    # 28 March 2027: clocks go forward at 02:00; the night 27/28 March ends at 07:00 CEST = 05:00 UTC.
    world = await world_at(sessions, settings, restore_clock, _utc(2027, 3, 27, 22, 30))
    async with sessions.begin() as session:
        day_nurse = await add_user(
            session,
            settings,
            restore_clock,
            role=Role.NURSE,
            organisation_id=world.district_a,
            districts=(world.district_a,),
        )
    world.users["day_nurse"] = day_nurse
    case_id = await make_case(client, world, restore_clock)
    for shift_date, kind, who in ((date(2027, 3, 27), "night", world.nurse_a), (date(2027, 3, 28), "day", day_nurse)):
        answer = await client.put(
            f"/roster/{shift_date.isoformat()}/{kind}",
            json={
                "entries": [
                    {"user_id": str(who.user_id), "duty": "on_call_nurse", "district_id": str(world.district_a)}
                ]
            },
            headers=write_headers(world.coordinator),
        )
        assert answer.status_code == 200, answer.text

    move_to(restore_clock, _utc(2027, 3, 28, 4, 50), settings, world)
    in_the_night = await raise_alert(client, world.coordinator, raise_body(case_id))
    move_to(restore_clock, _utc(2027, 3, 28, 5, 10), settings, world)
    in_the_day = await raise_alert(client, world.coordinator, raise_body(case_id, reason="fall"))

    assert (await tiers_fired(sessions, in_the_night["id"]))[0].target_ids == [str(world.nurse_a.user_id)]
    assert (await tiers_fired(sessions, in_the_day["id"]))[0].target_ids == [str(day_nurse.user_id)]
