"""Nobody knocks on the door of someone who is in hospital: the visits follow the case's status."""

from __future__ import annotations

from datetime import timedelta

from backend.clock import Clock
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import World
from tests.visits.coordination_helpers import add_visit, make_case, visit_events, visit_row


async def _status(client: Client, world: World, case_id: object, status: str) -> None:
    answer = await client.post(
        f"/cases/{case_id}/status", json={"status": status}, headers=write_headers(world.coordinator)
    )
    assert answer.status_code == 200, answer.text


async def test_an_admission_cancels_the_visits_ahead_and_coming_home_plans_them_again(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> None:
    case_id = await make_case(client, world, clock)
    await _status(client, world, case_id, "active")
    past = await add_visit(sessions, case_id, world.district_a, clock.now() - timedelta(hours=2))
    ahead = await add_visit(sessions, case_id, world.district_a, clock.now() + timedelta(hours=3))
    done_by_hand = await add_visit(sessions, case_id, world.district_a, clock.now() + timedelta(hours=5))
    cancel = await client.post(
        f"/visits/{done_by_hand}/cancel", json={"reason": "citizen_declined"}, headers=write_headers(world.coordinator)
    )
    assert cancel.status_code == 200, cancel.text

    await _status(client, world, case_id, "admitted")

    assert (await visit_row(sessions, ahead)).status == "cancelled"
    assert (await visit_row(sessions, ahead)).cancel_reason == "admitted"
    assert (await visit_row(sessions, past)).status == "planned"  # the past is the missed sweep's business
    assert ("visit.cancelled", {"reason": "admitted"}) in await visit_events(sessions, ahead)

    await _status(client, world, case_id, "active")

    assert (await visit_row(sessions, ahead)).status == "planned"
    assert (await visit_row(sessions, ahead)).cancel_reason is None
    # What the coordinator cancelled for another reason stays cancelled.
    assert (await visit_row(sessions, done_by_hand)).cancel_reason == "citizen_declined"
    assert (await visit_row(sessions, done_by_hand)).status == "cancelled"


async def test_a_death_cancels_every_visit_ahead(
    client: Client, world: World, sessions: Sessions, clock: Clock
) -> None:
    case_id = await make_case(client, world, clock)
    ahead = await add_visit(sessions, case_id, world.district_a, clock.now() + timedelta(hours=3))

    death = await client.post(
        f"/cases/{case_id}/death",
        json={"died_at": (clock.now() - timedelta(minutes=10)).isoformat(), "place": "home", "gp_informed": True},
        headers=write_headers(world.coordinator),
    )

    assert death.status_code in (200, 201), death.text
    row = await visit_row(sessions, ahead)
    assert (row.status, row.cancel_reason) == ("cancelled", "deceased")
