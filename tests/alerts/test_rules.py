"""Alerts Lindra raises itself: a missed visit, a severe or steeply rising score, missing medicine."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from backend.alerts.models import Alert
from backend.clock import Clock
from backend.config import Settings
from backend.visits.jobs import mark_missed_visits
from tests.alerts.helpers import alert_events, full_roster, sweep_at, tiers_fired
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import World
from tests.mobile.helpers import add_visit, check_in, new_case, phone_post
from tests.visits.coordination_helpers import add_visit as add_visit_row
from tests.visits.coordination_helpers import make_case


async def _alerts_of(sessions: Sessions, case_id: str | uuid.UUID) -> list[Alert]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Alert).where(Alert.case_id == uuid.UUID(str(case_id))).order_by(Alert.received_at)
        )
        return list(rows.all())


async def test_a_missed_visit_raises_an_alert_whose_first_tier_the_sweep_fires(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    start = mid_shift.now() - timedelta(hours=3)
    for minutes in (0, 30):  # two visits missed: one alert
        await add_visit_row(sessions, case_id, world.district_a, start + timedelta(minutes=minutes))

    for _ in range(2):  # run twice, as two instances would: still one alert
        async with sessions.begin() as session:
            await mark_missed_visits(session, settings, mid_shift.now())

    (alert,) = await _alerts_of(sessions, case_id)
    assert (alert.source, alert.source_detail, alert.reason, alert.severity) == (
        "rule",
        "visit_missed",
        "other",
        "normal",
    )
    await sweep_at(sessions, settings, mid_shift)
    fired = await tiers_fired(sessions, alert.id)
    assert [t.tier for t in fired] == [0] and fired[0].target_ids == [str(world.nurse_a.user_id)]
    kinds = [kind for kind, _ in await alert_events(sessions, alert.id)]
    assert kinds[:2] == ["alert.raised", "alert.escalated"]


async def test_a_severe_score_at_the_bedside_raises_an_alert_for_its_symptom_once(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await new_case(client, world, mid_shift, phase="late")
    visit_id = await add_visit(sessions, mid_shift, case_id, world.district_a, world.nurse_a.user_id, minutes=0)
    await check_in(client, world.nurse_a, mid_shift, visit_id)

    for pain in (8, 9):
        scores = {"instrument": "ESAS-r", "recorded_at": mid_shift.now().isoformat(), "scores": {"pain": pain}}
        answer = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/scores", scores)
        assert answer.status_code == 201, answer.text

    (alert,) = await _alerts_of(sessions, case_id)
    assert (alert.reason, alert.severity, alert.source_detail) == ("pain", "high", "severe_score")
    assert alert.tier == 0 and alert.joined_count == 0  # the second severe score adds nothing while it is open


async def test_missing_medicine_in_the_terminal_phase_raises_an_alert(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    case_id = await new_case(client, world, mid_shift, phase="terminal")
    visit_id = await add_visit(sessions, mid_shift, case_id, world.district_a, world.nurse_a.user_id, minutes=0)
    await check_in(client, world.nurse_a, mid_shift, visit_id)

    out = await client.post(
        f"/mobile/v1/visits/{visit_id}/check-out",
        json={"device_time": mid_shift.now().isoformat()},
        headers=write_headers(world.nurse_a),
    )

    assert out.status_code == 200, out.text
    (alert,) = await _alerts_of(sessions, case_id)
    assert (alert.reason, alert.severity, alert.source) == ("medicine_missing", "high", "rule")
