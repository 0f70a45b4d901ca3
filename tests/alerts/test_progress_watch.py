"""Acknowledged and forgotten: an alert whose holder makes no progress calls her again, then climbs on.

The engine's clock is moved as in test_climb.py; the app's own background sweep shares that
clock, so what a sweep does is awaited as rows rather than assumed to be this test's sweep.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from backend.alerts import engine
from backend.alerts.models import Alert
from backend.alerts.sms.inbound import handle_reply
from backend.alerts.sms.models import SmsMessage
from backend.audit.models import AuditEntry
from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_sessionmaker
from backend.people.models import User
from backend.row_scope import SYSTEM
from tests.alerts.helpers import (
    act,
    alert_events,
    alert_row,
    full_roster,
    give_phone,
    later,
    push_kinds,
    raise_alert,
    raise_body,
    send_due_pushes,
    sweep_at,
    tiers_fired,
)
from tests.alerts.sms_night import wait_for
from tests.alerts.test_policies import THREE_QUICK_TIERS
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import World
from tests.visits.coordination_helpers import make_case

PROGRESS_MINUTES = 3
NURSE_MOBILE = "+4520001234"


async def _taken(client: Client, world: World, sessions: Sessions, clock: Clock) -> dict[str, Any]:
    """A critical alert under a policy of quick tiers and 3 minutes to move, acknowledged at once by
    nurse A (who has a phone and a mobile number), as the acknowledgement answered."""
    await full_roster(client, world, clock)
    await give_phone(sessions, world.nurse_a)
    await give_phone(sessions, world.coordinator)
    async with sessions.begin() as session:
        await session.execute(update(User).where(User.id == world.nurse_a.user_id).values(mobile=NURSE_MOBILE))
    policy = THREE_QUICK_TIERS | {"progress_within_minutes": PROGRESS_MINUTES}
    saved = await client.put("/alert-policies/critical", json=policy, headers=write_headers(world.admin))
    assert saved.status_code == 200 and saved.json()["progress_within_minutes"] == PROGRESS_MINUTES, saved.text
    raised = await raise_alert(client, world.coordinator, raise_body(await make_case(client, world, clock)))
    taken = await act(client, world.nurse_a, raised["id"], "acknowledge")
    assert taken.status_code == 200, taken.text
    answer: dict[str, Any] = taken.json()
    return answer


async def _alert_when(sessions: Sessions, alert_id: str, ready: Any) -> Alert:
    """The alert's row once `ready(row)` holds (a sweep, ours or the app's, commits it), or after 3 s."""

    async def check() -> Alert | None:
        row = await alert_row(sessions, alert_id)
        return row if ready(row) else None

    return await wait_for(check, 3) or await alert_row(sessions, alert_id)


async def _recall_sms(sessions: Sessions, alert_id: str) -> list[SmsMessage]:
    async with sessions() as session:
        query = select(SmsMessage).where(SmsMessage.alert_id == uuid.UUID(alert_id), SmsMessage.kind == "recall")
        return list((await session.scalars(query)).all())


async def test_forgotten_after_acknowledging_she_is_called_again_then_the_alert_climbs_on(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    taken = await _taken(client, world, sessions, mid_shift)
    alert_id, taken_at = taken["id"], datetime.fromisoformat(taken["acknowledged_at"])
    shown = (await client.get(f"/alerts/{alert_id}", headers=world.coordinator.headers)).json()["alert"]
    assert datetime.fromisoformat(shown["progress_due_at"]) == taken_at + timedelta(minutes=PROGRESS_MINUTES)
    assert shown["recalled_at"] is None

    # Three minutes without "on the way": her phone rings again, and the board sees the new clock.
    later(mid_shift, settings, world, PROGRESS_MINUTES * 60 + 1)
    await sweep_at(sessions, settings, mid_shift)
    recalled = await _alert_when(sessions, alert_id, lambda a: a.recalled_at is not None)
    assert (recalled.status, recalled.acknowledged_by) == ("acknowledged", world.nurse_a.user_id)
    assert recalled.progress_due_at == recalled.recalled_at + timedelta(minutes=PROGRESS_MINUTES)
    assert await push_kinds(sessions, alert_id, ["first", "recall"]) == ["first", "recall"]
    await send_due_pushes(sessions, mid_shift.now())
    assert ("alert.recalled", [str(world.nurse_a.user_id)]) in [
        (kind, payload.get("user_ids")) for kind, payload in await alert_events(sessions, alert_id)
    ]
    assert await _recall_sms(sessions, alert_id) == []  # the push has its minute to be confirmed

    # The recall's push goes unconfirmed for the tier's minute: an SMS she can answer with a code.
    later(mid_shift, settings, world, 61)
    await sweep_at(sessions, settings, mid_shift)
    [sms] = await wait_for(lambda: _recall_sms(sessions, alert_id), 3)
    assert sms.user_id == world.nurse_a.user_id and sms.code
    assert (
        sms.body
        == f"Lindra: du har kvitteret for en alarm, men ikke meldt dig på vej. Svar 1 {sms.code} når du er på vej."
    )

    # Three more minutes and still nothing: her acknowledgement is released, the next tier is called.
    later(mid_shift, settings, world, PROGRESS_MINUTES * 60)
    await sweep_at(sessions, settings, mid_shift)
    returned = await _alert_when(sessions, alert_id, lambda a: a.status == "open")
    assert (returned.status, returned.acknowledged_by, returned.progress_due_at) == ("open", None, None)
    assert [t.tier for t in await tiers_fired(sessions, alert_id, at_least=2)] == [0, 1]
    assert (await tiers_fired(sessions, alert_id))[1].target_ids == [str(world.coordinator.user_id)]
    events = dict(await alert_events(sessions, alert_id))
    assert events["alert.returned_to_climb"]["released"] == str(world.nurse_a.user_id)
    assert str(world.nurse_a.user_id) in events["alert.returned_to_climb"]["user_ids"]  # called again too
    async with sessions() as session:
        audited = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.returned_to_climb"))
        ).all()
    assert [(a.role, a.subject_user_id) for a in audited if a.detail and a.detail["alert_id"] == alert_id] == [
        ("escalation", world.nurse_a.user_id)
    ]
    # Her late answer to the recall takes the alert again, as an acknowledgement.
    async with sessions.begin() as session:
        outcome, _ = await handle_reply(session, f"late-{uuid.uuid4()}", "4520001234", f"1 {sms.code}", mid_shift.now())
    assert outcome == "acknowledged"


async def test_on_the_way_stops_the_clock_and_nobody_is_called_again(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    alert_id = (await _taken(client, world, sessions, mid_shift))["id"]

    later(mid_shift, settings, world, 120)
    moving = await act(client, world.nurse_a, alert_id, "on-the-way")
    assert moving.status_code == 200 and moving.json()["progress_due_at"] is None, moving.text
    later(mid_shift, settings, world, 4 * PROGRESS_MINUTES * 60)
    await sweep_at(sessions, settings, mid_shift)
    await sweep_at(sessions, settings, mid_shift, 1)

    row = await alert_row(sessions, alert_id)
    assert (row.status, row.acknowledged_by, row.recalled_at) == ("on_the_way", world.nurse_a.user_id, None)
    assert await push_kinds(sessions, alert_id, ["first"]) == ["first"]
    assert [t.tier for t in await tiers_fired(sessions, alert_id)] == [0]
    assert await _recall_sms(sessions, alert_id) == []


async def test_a_hand_over_gives_the_colleague_the_whole_time_again(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    alert_id = (await _taken(client, world, sessions, mid_shift))["id"]
    later(mid_shift, settings, world, 150)

    body = {"to_user_id": str(world.key_person.user_id)}
    handed = await client.post(f"/alerts/{alert_id}/hand-over", json=body, headers=write_headers(world.nurse_a))

    assert handed.status_code == 200, handed.text
    at = datetime.fromisoformat(handed.json()["acknowledged_at"])
    assert datetime.fromisoformat(handed.json()["progress_due_at"]) == at + timedelta(minutes=PROGRESS_MINUTES)
    later(mid_shift, settings, world, 60)  # past nurse A's deadline, well within the key person's
    await sweep_at(sessions, settings, mid_shift)
    assert (await alert_row(sessions, alert_id)).recalled_at is None


async def test_her_answer_to_the_recall_sms_says_on_the_way_and_another_number_changes_nothing(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    alert_id = (await _taken(client, world, sessions, mid_shift))["id"]
    later(mid_shift, settings, world, PROGRESS_MINUTES * 60 + 1)
    await sweep_at(sessions, settings, mid_shift)
    await _alert_when(sessions, alert_id, lambda a: a.recalled_at is not None)
    later(mid_shift, settings, world, 61)
    await sweep_at(sessions, settings, mid_shift)
    [sms] = await wait_for(lambda: _recall_sms(sessions, alert_id), 3)

    async with sessions.begin() as session:
        stranger, _ = await handle_reply(session, f"s-{uuid.uuid4()}", "4599999999", f"1 {sms.code}", mid_shift.now())
    assert stranger == "foreign_number" and (await alert_row(sessions, alert_id)).status == "acknowledged"
    async with sessions.begin() as session:
        answer, _ = await handle_reply(
            session, f"n-{uuid.uuid4()}", "4520001234", f" 1 {sms.code.lower()} ", mid_shift.now()
        )

    assert answer == "on_the_way"
    row = await alert_row(sessions, alert_id)
    assert (row.status, row.progress_due_at, row.recalled_at) == ("on_the_way", None, None)
    later(mid_shift, settings, world, 2 * PROGRESS_MINUTES * 60)
    await sweep_at(sessions, settings, mid_shift)
    assert [t.tier for t in await tiers_fired(sessions, alert_id)] == [0]


async def test_the_clock_is_rows_so_an_instance_started_after_an_outage_calls_her_again(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock, database_url: str
) -> None:
    """Every process that knew of the acknowledgement is gone; a new one, with its own engine and
    connections, finds the clock in the alert's row and calls her, before returning it to the climb."""
    alert_id = (await _taken(client, world, sessions, mid_shift))["id"]
    after_outage = Clock()
    after_outage.offset = mid_shift.offset + timedelta(minutes=2 * PROGRESS_MINUTES + 1)
    fresh = make_engine(database_url, pool_size=2)
    started = after_outage.now()
    try:
        await engine.sweep(make_sessionmaker(fresh, SYSTEM), settings, after_outage)
    finally:
        await fresh.dispose()

    row = await alert_row(sessions, alert_id)
    assert (row.status, row.acknowledged_by) == ("acknowledged", world.nurse_a.user_id)
    # Her call first, however long the outage was; the return to the climb is 3 minutes on.
    assert row.recalled_at is not None and started <= row.recalled_at <= after_outage.now()
    assert row.progress_due_at == row.recalled_at + timedelta(minutes=PROGRESS_MINUTES)
    assert await push_kinds(sessions, alert_id, ["first", "recall"]) == ["first", "recall"]


async def test_progress_within_minutes_out_of_range_is_refused_naming_the_field(client: Client, world: World) -> None:
    for minutes in (0, 241, "ten"):
        body = THREE_QUICK_TIERS | {"progress_within_minutes": minutes}
        answer = await client.put("/alert-policies/high", json=body, headers=write_headers(world.admin))
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"] == "progress_within_minutes"
    listed = (await client.get("/alert-policies", headers=world.admin.headers)).json()["policies"]
    assert [(p["severity"], p["is_default"], p["progress_within_minutes"]) for p in listed] == [
        ("critical", True, 10),
        ("high", True, 15),
        ("normal", True, 30),
    ]
