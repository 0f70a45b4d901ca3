"""A person an administrator disabled (she left, or is on leave) is never paged, though the roster
still names her: her tier finds nobody and passes on at once, the coverage check shows the gap,
and an SMS due to her from before is not sent."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts.sms.models import SmsMessage
from backend.alerts.sms.outbox import DEFAULT_SMS_AFTER_SECONDS, queue_due_sms
from backend.clock import Clock
from backend.config import Settings
from backend.people.models import User
from tests.alerts.helpers import full_roster, give_phone, later, notifications, raise_alert, raise_body, tiers_fired
from tests.cases.helpers import Client, write_headers
from tests.factories import Login, World
from tests.visits.coordination_helpers import make_case

Sessions = async_sessionmaker[AsyncSession]


async def _reachable(sessions: Sessions, nurse: Login) -> None:
    """Her phone has a push token and she has a work mobile: every channel could reach her."""
    await give_phone(sessions, nurse)
    async with sessions.begin() as session:
        await session.execute(update(User).where(User.id == nurse.user_id).values(mobile="+4520000001"))


async def _disable(client: Client, world: World, who: Login) -> None:
    answer = await client.post(f"/admin/users/{who.user_id}/disable", headers=write_headers(world.admin))
    assert answer.status_code == 200, answer.text


async def test_a_disabled_nurse_on_call_is_not_called_and_her_tier_passes_on_at_once(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)  # nurse_a is the on-call nurse of district A
    await _reachable(sessions, world.nurse_a)
    case_id = await make_case(client, world, mid_shift)  # in district A

    await _disable(client, world, world.nurse_a)

    coverage = (await client.get("/alert-policies/coverage", headers=world.coordinator.headers)).json()
    gaps = {(g["severity"], g["tier"], g["district_id"], g["escalates_at_once"]) for g in coverage["shifts"][0]["gaps"]}
    assert ("critical", 0, str(world.district_a), True) in gaps
    assert ("critical", 0, str(world.district_b), True) not in gaps  # nurse_b still covers B
    raised = await raise_alert(client, world.coordinator, raise_body(case_id))
    fired = await tiers_fired(sessions, raised["id"])
    assert [(t.tier, t.empty_reason) for t in fired] == [(0, "nobody_found:on_call_nurses"), (1, None)]
    assert str(world.nurse_a.user_id) not in fired[1].target_ids
    assert raised["tier"] == 1
    assert [n for n in await notifications(sessions, raised["id"]) if n.user_id == world.nurse_a.user_id] == []


async def test_a_nurse_disabled_after_she_was_called_gets_no_sms(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    await _reachable(sessions, world.nurse_a)
    case_id = await make_case(client, world, mid_shift)
    raised = await raise_alert(client, world.coordinator, raise_body(case_id))
    (first,) = await tiers_fired(sessions, raised["id"])
    assert first.target_ids == [str(world.nurse_a.user_id)]

    await _disable(client, world, world.nurse_a)
    later(mid_shift, settings, world, DEFAULT_SMS_AFTER_SECONDS + 1)  # her push was never confirmed
    async with sessions.begin() as session:
        await queue_due_sms(session, mid_shift.now())

    async with sessions() as session:
        texts = await session.scalars(select(SmsMessage.id).where(SmsMessage.user_id == world.nurse_a.user_id))
        assert list(texts) == []
