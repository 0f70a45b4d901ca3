"""The phone finishes what it starts: a nurse who took an alert on her phone resolves it with its
outcome, or hands it to a colleague, from the phone too, under the board's rules."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import Response

from backend.clock import Clock
from tests.alerts.helpers import alert_events, full_roster, raise_alert, raise_body
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import Login, World
from tests.visits.coordination_helpers import make_case


async def phone(client: Client, login: Login, alert_id: str, action: str, body: Any = None) -> Response:
    return await client.post(f"/mobile/v1/alerts/{alert_id}/{action}", json=body, headers=write_headers(login))


async def test_a_nurse_takes_goes_arrives_and_resolves_an_alert_all_from_her_phone(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    alert_id = (await raise_alert(client, world.nurse_a, raise_body(case_id), "/mobile/v1/alerts"))["id"]
    for action in ("acknowledge", "on-the-way", "at-bedside"):
        assert (await phone(client, world.nurse_a, alert_id, action)).status_code == 200

    not_hers = await phone(client, world.key_person, alert_id, "resolve", {"outcome": "false_alarm"})
    unknown = await phone(client, world.nurse_a, alert_id, "resolve", {"outcome": "fine"})
    resolved = await phone(client, world.nurse_a, alert_id, "resolve", {"outcome": "managed_at_home", "note": "Ro"})

    assert not_hers.status_code == 409 and not_hers.json()["rule"] == "not_holder", not_hers.text
    assert unknown.status_code == 400 and unknown.json()["field"] == "outcome", unknown.text
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["status"], resolved.json()["outcome"]) == ("resolved", "managed_at_home")
    kinds = [kind for kind, _ in await alert_events(sessions, alert_id)]
    assert kinds[-4:] == ["alert.acknowledged", "alert.on_the_way", "alert.at_bedside", "alert.resolved"]


async def test_a_nurse_hands_the_alert_she_took_to_a_colleague_from_her_phone(
    client: Client, world: World, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    alert_id = (await raise_alert(client, world.coordinator, raise_body(case_id)))["id"]
    assert (await phone(client, world.nurse_a, alert_id, "acknowledge")).status_code == 200

    to_nobody = await phone(client, world.nurse_a, alert_id, "hand-over", {"to_user_id": str(uuid.uuid4())})
    colleague = world.key_person
    handed = await phone(client, world.nurse_a, alert_id, "hand-over", {"to_user_id": str(colleague.user_id)})
    too_late = await phone(client, world.nurse_a, alert_id, "resolve", {"outcome": "false_alarm"})
    by_colleague = await phone(client, colleague, alert_id, "resolve", {"outcome": "false_alarm"})

    assert to_nobody.status_code == 422 and to_nobody.json()["field"] == "to_user_id", to_nobody.text
    assert handed.status_code == 200 and handed.json()["acknowledged_by"] == str(colleague.user_id)
    assert too_late.status_code == 409 and too_late.json()["rule"] == "not_holder"
    assert by_colleague.status_code == 200 and by_colleague.json()["outcome"] == "false_alarm"


async def test_a_retried_raise_answers_as_the_first_time_and_says_it_is_a_replay(
    client: Client, world: World, mid_shift: Clock
) -> None:
    case_id = await make_case(client, world, mid_shift)
    headers, body = write_headers(world.nurse_a), raise_body(case_id)
    first = await client.post("/mobile/v1/alerts", json=body, headers=headers)
    again = await client.post("/mobile/v1/alerts", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert "idempotency-replayed" not in first.headers
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json() == first.json()
