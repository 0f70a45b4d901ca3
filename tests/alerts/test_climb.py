"""Raising an alert and its climb: the on-call nurse at once, then tier after tier until someone takes it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts import engine
from backend.clock import Clock
from backend.config import Settings
from tests.alerts.helpers import (
    act,
    alert_events,
    alert_row,
    full_roster,
    give_phone,
    later,
    notifications,
    push_kinds,
    raise_alert,
    raise_body,
    send_due_pushes,
    sweep_at,
    tiers_fired,
)
from tests.cases.helpers import Client, write_headers
from tests.factories import World, build_world
from tests.visits.coordination_helpers import local, make_case, set_clock
from tests.visits.test_schedule_patterns import put_patterns

Sessions = async_sessionmaker[AsyncSession]


async def test_a_raise_calls_the_on_call_nurse_of_the_district_at_once(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    await give_phone(sessions, world.nurse_a)
    case_id = await make_case(client, world, mid_shift)

    raised = await raise_alert(client, world.coordinator, raise_body(case_id, source_detail="relative_call"))

    assert raised["status"] == "open" and raised["tier"] == 0 and raised["source"] == "board"
    assert raised["source_detail"] == "relative_call"
    (first,) = await tiers_fired(sessions, raised["id"])
    assert first.rules == ["on_call_nurses"] and first.target_ids == [str(world.nurse_a.user_id)]
    channels = sorted((n.channel, n.user_id) for n in await notifications(sessions, raised["id"]))
    assert channels == [("push", world.nurse_a.user_id), ("websocket", world.nurse_a.user_id)]
    kinds = [kind for kind, _ in await alert_events(sessions, raised["id"])]
    assert kinds[:2] == ["alert.raised", "alert.escalated"]
    escalated = dict(await alert_events(sessions, raised["id"]))["alert.escalated"]
    assert escalated["user_ids"] == [str(world.nurse_a.user_id)]
    # The push sender (the logging gateway in tests) sends it within a moment of the commit.
    for _ in range(40):
        (push,) = await notifications(sessions, raised["id"], channel="push")
        if push.status == "sent":
            break
        await asyncio.sleep(0.05)
    assert push.status == "sent" and push.sent_at is not None
    # A push that went out changes nothing the board shows: no event sends every board to re-read it.
    assert "alert.delivery" not in [kind for kind, _ in await alert_events(sessions, raised["id"])]


async def test_a_raise_calls_who_is_on_call_by_the_municipality_s_own_shift_times(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    """At 07:30 the default day shift has begun, but this municipality's night runs until 08:00."""
    day = restore_clock.today() + timedelta(days=1)
    set_clock(restore_clock, local(day, 7, 30))
    world = await build_world(sessions, settings, restore_clock)
    own = [("day", "08:00", "16:00"), ("evening", "16:00", "00:00"), ("night", "00:00", "08:00")]
    shifts = [{"kind": kind, "starts_at": starts, "ends_at": ends} for kind, starts, ends in own]
    assert (await put_patterns(client, world, shifts)).status_code == 200
    entries = [{"user_id": str(world.nurse_a.user_id), "duty": "on_call_nurse", "district_id": str(world.district_a)}]
    rostered = await client.put(
        f"/roster/{day.isoformat()}/night", json={"entries": entries}, headers=write_headers(world.coordinator)
    )
    assert rostered.status_code == 200, rostered.text
    case_id = await make_case(client, world, restore_clock)

    raised = await raise_alert(client, world.coordinator, raise_body(case_id))

    (first,) = await tiers_fired(sessions, raised["id"])
    assert first.rules == ["on_call_nurses"] and first.target_ids == [str(world.nurse_a.user_id)]


async def test_a_retried_raise_is_one_raise_and_a_second_raise_joins_the_open_alert(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    body = raise_body(case_id)

    first = await raise_alert(client, world.nurse_a, body, "/mobile/v1/alerts")
    retried = await raise_alert(client, world.nurse_a, body, "/mobile/v1/alerts")
    joined = await raise_alert(client, world.coordinator, raise_body(case_id, severity="high"))
    other_reason = await raise_alert(client, world.coordinator, raise_body(case_id, reason="breathlessness"))

    assert retried["id"] == first["id"] and first["source"] == "phone"
    assert joined["id"] == first["id"] and joined["joined"] is True and joined["joined_count"] == 1
    assert other_reason["id"] != first["id"]
    # The join did not fire the first tier again.
    assert [t.tier for t in await tiers_fired(sessions, first["id"])] == [0]


async def test_nobody_acknowledges_so_each_tier_fires_once_and_on_time(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    raised = await raise_alert(client, world.nurse_a, raise_body(case_id))
    alert = await alert_row(sessions, raised["id"])
    deadline = alert.next_escalation_at
    assert deadline is not None and round((deadline - alert.received_at).total_seconds()) == 300

    await sweep_at(sessions, settings, mid_shift, 299)
    assert [t.tier for t in await tiers_fired(sessions, raised["id"])] == [0]

    later(mid_shift, settings, world, 2)
    # Three instances sweeping at the same moment: the tier still fires once.
    await asyncio.gather(*(sweep_at(sessions, settings, mid_shift) for _ in range(3)))
    fired = await tiers_fired(sessions, raised["id"], at_least=2)
    assert [t.tier for t in fired] == [0, 1]
    assert fired[1].due_at == deadline and (fired[1].fired_at - deadline).total_seconds() < 5
    assert set(fired[1].target_ids) == {str(world.coordinator.user_id), str(world.key_person.user_id)}

    # The unit cannot see the case before its tier ...
    assert (await client.get(f"/alerts/{raised['id']}", headers=world.unit.headers)).status_code == 404
    later(mid_shift, settings, world, 301)
    await sweep_at(sessions, settings, mid_shift)
    fired = await tiers_fired(sessions, raised["id"], at_least=3)
    assert [t.tier for t in fired] == [0, 1, 2]
    assert set(fired[2].target_ids) == {str(world.unit.user_id)}
    # ... and can once it is called; the last tier sets no further deadline.
    detail = await client.get(f"/alerts/{raised['id']}", headers=world.unit.headers)
    assert detail.status_code == 200 and detail.json()["alert"]["next_escalation_at"] is None
    later(mid_shift, settings, world, 3600)
    await sweep_at(sessions, settings, mid_shift)
    assert len(await tiers_fired(sessions, raised["id"], at_least=4)) == 3  # waited: no sweep fires a fourth


async def test_a_night_of_alerts_due_together_each_climbs_one_tier_with_its_own_calls(
    client: Client,
    world: World,
    sessions: Sessions,
    settings: Settings,
    mid_shift: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # More alerts due in the same instant than a sweep transaction takes, at different tiers: the
    # sweep goes on batch after batch, and each alert calls the people of its own next tier.
    monkeypatch.setattr(engine, "SWEEP_BATCH", 3)
    await full_roster(client, world, mid_shift)
    for login in (world.coordinator, world.key_person, world.unit):
        await give_phone(sessions, login)
    cases = [await make_case(client, world, mid_shift, district) for district in ("a", "b", "a", "b")]

    async def raise_on_every_case(reason: str) -> list[str]:
        return [(await raise_alert(client, world.coordinator, raise_body(c, reason=reason)))["id"] for c in cases]

    earlier = await raise_on_every_case("pain")
    later(mid_shift, settings, world, 301)
    await engine.sweep(sessions, settings, mid_shift)
    newer = await raise_on_every_case("breathlessness")
    later(mid_shift, settings, world, 301)
    await engine.sweep(sessions, settings, mid_shift)  # the earlier ones to tier 2, the newer to tier 1
    await engine.sweep(sessions, settings, mid_shift)  # nothing more is due: no tier fires twice

    called = {1: {world.coordinator.user_id, world.key_person.user_id}, 2: {world.unit.user_id}}
    for alert_id, tiers in [(a, [0, 1, 2]) for a in earlier] + [(a, [0, 1]) for a in newer]:
        fired = await tiers_fired(sessions, alert_id)
        assert [t.tier for t in fired] == tiers
        last = tiers[-1]
        assert {uuid.UUID(u) for u in fired[-1].target_ids} == called[last]
        pushed = {n.user_id for n in await notifications(sessions, alert_id, channel="push", tier=last)}
        assert pushed == called[last]
        escalated = [p for kind, p in await alert_events(sessions, alert_id) if kind == "alert.escalated"]
        assert [p["tier"] for p in escalated] == tiers
        assert {uuid.UUID(u) for u in escalated[-1]["user_ids"]} == called[last]


async def test_a_tier_that_finds_nobody_passes_on_at_once_and_says_why(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    # An empty roster: no on-call nurse, no coordinator on duty; the case has its own key person.
    case_id = await make_case(client, world, mid_shift)
    team = await client.put(
        f"/cases/{case_id}/care-team",
        json={"key_person_id": str(world.key_person.user_id)},
        headers=write_headers(world.coordinator),
    )
    assert team.status_code == 200, team.text

    raised = await raise_alert(client, world.coordinator, raise_body(case_id))

    fired = await tiers_fired(sessions, raised["id"])
    assert [(t.tier, t.empty_reason) for t in fired] == [(0, "nobody_found:on_call_nurses"), (1, None)]
    assert fired[1].target_ids == [str(world.key_person.user_id)]
    assert raised["tier"] == 1
    kinds = [kind for kind, _ in await alert_events(sessions, raised["id"])]
    assert kinds == ["alert.raised", "alert.tier_empty", "alert.escalated"]


async def test_acknowledging_stops_the_climb_and_every_call_not_yet_made(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    await give_phone(sessions, world.nurse_a)
    case_id = await make_case(client, world, mid_shift)
    raised = await raise_alert(client, world.coordinator, raise_body(case_id))

    taken = await act(client, world.nurse_a, raised["id"], "acknowledge")

    assert taken.status_code == 200, taken.text
    assert taken.json()["status"] == "acknowledged"
    assert taken.json()["acknowledged_by"] == str(world.nurse_a.user_id)
    assert taken.json()["next_escalation_at"] is None
    # Past the tier's timeout and its calls' interval, within the 10 minutes she has to move
    # (after them the watch calls her again: tests/alerts/test_progress_watch.py).
    later(mid_shift, settings, world, 9 * 60)
    await sweep_at(sessions, settings, mid_shift)
    assert [t.tier for t in await tiers_fired(sessions, raised["id"])] == [0]
    # Not called again, and nothing left waiting to be sent.
    pushes = await notifications(sessions, raised["id"], channel="push")
    assert len(pushes) == 1 and pushes[0].status in ("sent", "cancelled")
    acknowledged = dict(await alert_events(sessions, raised["id"]))["alert.acknowledged"]
    assert acknowledged["user_ids"] == [str(world.nurse_a.user_id)]


async def test_of_two_acknowledging_at_once_one_wins_and_the_other_is_told_who(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    raised = await raise_alert(client, world.nurse_a, raise_body(case_id))

    answers = await asyncio.gather(
        act(client, world.nurse_a, raised["id"], "acknowledge"),
        act(client, world.coordinator, raised["id"], "acknowledge"),
    )

    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()["acknowledged_by"]
    loser = next(a for a in answers if a.status_code == 409).json()
    assert loser["rule"] == "already_acknowledged" and "Test Person has this alert" in loser["detail"]
    assert loser["facts"] == {"held_by": "Test Person", "held_by_id": winner}
    assert (await alert_row(sessions, raised["id"])).acknowledged_by == uuid.UUID(winner)


async def test_calls_are_repeated_until_taken_and_an_unconfirmed_push_is_sent_again(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    await give_phone(sessions, world.nurse_a)
    case_id = await make_case(client, world, mid_shift)
    raised = await raise_alert(client, world.coordinator, raise_body(case_id))
    await send_due_pushes(sessions, mid_shift.now())

    # After a minute without a receipt the push goes out once more.
    later(mid_shift, settings, world, 61)
    await sweep_at(sessions, settings, mid_shift)
    assert await push_kinds(sessions, raised["id"], ["first", "unconfirmed"]) == ["first", "unconfirmed"]

    # The phone confirms that one; at the tier's interval (120 s for critical) she is called again.
    resent = next(n for n in await notifications(sessions, raised["id"], channel="push") if n.kind == "unconfirmed")
    await send_due_pushes(sessions, mid_shift.now())
    receipt = await client.post(f"/mobile/v1/notifications/{resent.id}/received", headers=write_headers(world.nurse_a))
    assert receipt.status_code == 200, receipt.text
    later(mid_shift, settings, world, 60)
    await sweep_at(sessions, settings, mid_shift)
    expected = ["first", "renotify", "unconfirmed"]
    assert await push_kinds(sessions, raised["id"], expected) == expected
    detail = (await client.get(f"/alerts/{raised['id']}", headers=world.coordinator.headers)).json()
    (target,) = detail["targets"]
    assert target["confirmed"] is True and target["times_notified"] == 2 and target["has_phone"] is True


async def test_a_push_nobody_confirms_is_sent_again_once_not_every_minute(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    await give_phone(sessions, world.nurse_a)
    raised = await raise_alert(client, world.coordinator, raise_body(await make_case(client, world, mid_shift)))
    await send_due_pushes(sessions, mid_shift.now())

    later(mid_shift, settings, world, 61)
    await sweep_at(sessions, settings, mid_shift)
    await send_due_pushes(sessions, mid_shift.now())
    # The copy is never confirmed either; a minute on, only the tier's own call again (at 120 s) is added.
    later(mid_shift, settings, world, 61)
    await sweep_at(sessions, settings, mid_shift)

    expected = ["first", "renotify", "unconfirmed"]
    assert await push_kinds(sessions, raised["id"], expected) == expected
