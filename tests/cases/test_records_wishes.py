"""Wishes and status notes as the case page and the case list show them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from backend.audit.models import AuditEntry
from backend.cases.models import StatusNote, Wish
from backend.clock import Clock
from tests.cases.helpers import (
    Client,
    Sessions,
    case_page,
    case_row,
    count_rows,
    terminal_case,
    write_headers,
)
from tests.factories import World


def _wish(clock: Clock, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dies_at_home": "yes",
        "preferred_place_of_care": "home",
        "discussed_on": (clock.today() - timedelta(days=1)).isoformat(),
        "discussed_with": "Borger og datter",
    }
    return body | overrides


async def test_wish_history_is_kept_newest_first_and_the_list_filters_on_the_newest(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    first = await client.post(
        f"/cases/{case_id}/wishes",
        json=_wish(clock, dies_at_home="undecided", discussed_with="Borger"),
        headers=write_headers(world.nurse_a),
    )
    assert first.status_code == 201, first.text
    listed = (await client.get("/cases?home_death_wish=yes", headers=world.coordinator.headers)).json()
    assert listed["items"] == []

    second = await client.post(f"/cases/{case_id}/wishes", json=_wish(clock), headers=write_headers(world.nurse_a))
    assert second.status_code == 201, second.text
    # Wishing to die at home, with no place named, means the home.
    assert second.json()["preferred_place_of_death"] == "home"

    page = await case_page(client, world, case_id)
    assert [w["dies_at_home"] for w in page["wish_history"]] == ["yes", "undecided"]
    assert page["wish"]["id"] == second.json()["id"]
    assert page["wish"]["recorded_by"] == str(world.nurse_a.user_id)
    assert await count_rows(sessions, Wish, case_id) == 2

    listed = (await client.get("/cases?home_death_wish=yes", headers=world.coordinator.headers)).json()
    assert [item["id"] for item in listed["items"]] == [case_id]
    assert listed["items"][0]["home_death_wish"] == "yes"
    undecided = (await client.get("/cases?home_death_wish=undecided", headers=world.coordinator.headers)).json()
    assert undecided["items"] == []

    async with sessions() as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.case_id == uuid.UUID(case_id), AuditEntry.action == "case.wish.add"
                )
            )
        ).all()
    assert len(actions) == 2


async def test_a_wish_discussed_in_the_future_is_refused_and_nothing_changes(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    response = await client.post(
        f"/cases/{case_id}/wishes",
        json=_wish(clock, discussed_on=(clock.today() + timedelta(days=1)).isoformat()),
        headers=write_headers(world.nurse_a),
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "discussed_on"
    assert await count_rows(sessions, Wish, case_id) == 0
    case = await case_row(sessions, case_id)
    assert case.home_death_wish is None


async def test_a_wish_that_contradicts_itself_names_the_place_of_death(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    response = await client.post(
        f"/cases/{case_id}/wishes",
        json=_wish(clock, dies_at_home="yes", preferred_place_of_death="hospice"),
        headers=write_headers(world.nurse_a),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "preferred_place_of_death"
    assert response.json()["rule"] == "wish_contradiction"
    assert await count_rows(sessions, Wish, case_id) == 0


async def test_bad_wish_input_is_refused_naming_the_field(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    bad_inputs = [
        (_wish(clock, dies_at_home="maybe"), "dies_at_home"),
        (_wish(clock, preferred_place_of_care="garden"), "preferred_place_of_care"),
        (_wish(clock, discussed_with="x" * 301), "discussed_with"),
        (_wish(clock, mood="calm"), "mood"),
        ({k: v for k, v in _wish(clock).items() if k != "discussed_on"}, "discussed_on"),
    ]
    for body, field in bad_inputs:
        response = await client.post(f"/cases/{case_id}/wishes", json=body, headers=write_headers(world.nurse_a))
        assert response.status_code == 400, (field, response.text)
        assert response.json()["field"] == field, response.text
    blank = await client.post(
        f"/cases/{case_id}/wishes", json=_wish(clock, discussed_with="   "), headers=write_headers(world.nurse_a)
    )
    assert blank.status_code == 422
    assert blank.json()["field"] == "discussed_with"
    assert await count_rows(sessions, Wish, case_id) == 0


async def test_status_notes_show_newest_first_and_may_be_written_after_death(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    for text in ("Tiltagende åndenød, øget behov for ilt", "Sengeliggende, spiser ikke"):
        response = await client.post(
            f"/cases/{case_id}/status-notes", json={"text": text}, headers=write_headers(world.nurse_a)
        )
        assert response.status_code == 201, response.text
        assert response.json()["author_id"] == str(world.nurse_a.user_id)

    page = await case_page(client, world, case_id)
    assert [n["text"] for n in page["status_notes"]] == [
        "Sengeliggende, spiser ikke",
        "Tiltagende åndenød, øget behov for ilt",
    ]

    died = await client.post(
        f"/cases/{case_id}/death",
        json={"died_at": clock.now().isoformat(), "place": "home", "gp_informed": True},
        headers=write_headers(world.nurse_a),
    )
    assert died.status_code == 201, died.text
    after = await client.post(
        f"/cases/{case_id}/status-notes",
        json={"text": "Datter og barnebarn var til stede"},
        headers=write_headers(world.nurse_a),
    )
    assert after.status_code == 201, after.text
    assert await count_rows(sessions, StatusNote, case_id) == 3

    # A wish no longer makes sense after death.
    wish = await client.post(f"/cases/{case_id}/wishes", json=_wish(clock), headers=write_headers(world.nurse_a))
    assert wish.status_code == 422
    assert wish.json()["rule"] == "case_ended"
    assert await count_rows(sessions, Wish, case_id) == 0


async def test_status_notes_are_refused_on_a_closed_case_and_blank_notes_everywhere(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    blank = await client.post(
        f"/cases/{case_id}/status-notes", json={"text": " \n "}, headers=write_headers(world.nurse_a)
    )
    assert blank.status_code == 422
    assert blank.json()["field"] == "text"
    closed = await client.post(
        f"/cases/{case_id}/status", json={"status": "closed"}, headers=write_headers(world.coordinator)
    )
    assert closed.status_code == 200, closed.text
    response = await client.post(
        f"/cases/{case_id}/status-notes", json={"text": "Afsluttet"}, headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 422
    assert response.json()["rule"] == "case_ended"
    assert await count_rows(sessions, StatusNote, case_id) == 0
