"""Registering a death: where it happened against where it was wished, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.clock import Clock
from tests.cases.helpers import (
    Client,
    Sessions,
    add_record,
    audit_details,
    case_page,
    case_row,
    terminal_case,
    write_headers,
)
from tests.factories import World


async def _wish(client: Client, world: World, clock: Clock, case_id: str, **body: Any) -> None:
    await add_record(
        client,
        world,
        case_id,
        "wishes",
        {"discussed_on": clock.today().isoformat(), "discussed_with": "Borger og ægtefælle", **body},
    )


def _death(clock: Clock, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "died_at": (clock.now() - timedelta(hours=1)).isoformat(),
        "place": "home",
        "present": "Ægtefælle og datter",
        "gp_informed": True,
    }
    return body | overrides


async def test_a_death_at_home_where_home_was_wished_is_a_death_where_wished(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    await _wish(client, world, clock, case_id, dies_at_home="yes")
    response = await client.post(f"/cases/{case_id}/death", json=_death(clock), headers=write_headers(world.nurse_a))
    assert response.status_code == 201, response.text
    assert response.json()["preferred_place"] == "home"
    assert response.json()["died_where_wished"] is True

    page = await case_page(client, world, case_id)
    assert page["status"] == "deceased"
    assert page["next_statuses"] == ["closed"]
    assert page["death"]["place"] == "home"
    assert page["death"]["present"] == "Ægtefælle og datter"
    assert page["death"]["died_where_wished"] is True
    assert page["flags"] == []  # nothing more to chase: no medicine or deadline warnings

    deceased = (await client.get("/cases?status=deceased", headers=world.coordinator.headers)).json()["items"]
    assert [item["id"] for item in deceased] == [case_id]
    details = await audit_details(sessions, case_id, "case.death.register")
    assert details == [{"from": "referred", "source": "api"}]


async def test_a_hospital_death_where_home_was_wished_is_not_where_wished(
    client: Client, world: World, clock: Clock
) -> None:
    case_id = await terminal_case(client, world, clock)
    await _wish(client, world, clock, case_id, dies_at_home="undecided")
    await _wish(client, world, clock, case_id, dies_at_home="yes", preferred_place_of_death="home")
    response = await client.post(
        f"/cases/{case_id}/death", json=_death(clock, place="hospital"), headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 201, response.text
    page = await case_page(client, world, case_id)
    assert page["death"]["preferred_place"] == "home"
    assert page["death"]["died_where_wished"] is False


async def test_without_a_wish_it_is_unknown_whether_the_death_was_where_wished(
    client: Client, world: World, clock: Clock
) -> None:
    case_id = await terminal_case(client, world, clock)
    response = await client.post(
        f"/cases/{case_id}/death", json=_death(clock, present=None), headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 201, response.text
    assert response.json()["preferred_place"] is None
    assert response.json()["died_where_wished"] is None


async def test_a_death_registered_from_a_phone_a_little_ahead_is_accepted(
    client: Client, world: World, clock: Clock
) -> None:
    case_id = await terminal_case(client, world, clock)
    ahead = (clock.now() + timedelta(minutes=2)).astimezone(UTC).isoformat()
    response = await client.post(
        f"/cases/{case_id}/death", json=_death(clock, died_at=ahead), headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 201, response.text
    assert (await case_page(client, world, case_id))["status"] == "deceased"


async def test_an_impossible_death_is_refused_naming_the_field_and_the_case_is_unchanged(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    before_referral = datetime.combine(clock.today() - timedelta(days=5), datetime.min.time(), UTC).isoformat()
    bad_inputs = [
        (_death(clock, died_at=(clock.now() + timedelta(hours=1)).isoformat()), 422, "died_at"),
        (_death(clock, died_at=before_referral), 422, "died_at"),
        (_death(clock, died_at="0001-01-01T00:00:00+14:00"), 400, "died_at"),  # beyond the calendar: a bound
        (_death(clock, died_at="9999-12-31T23:59:59-14:00"), 400, "died_at"),
        (_death(clock, died_at=clock.now().replace(tzinfo=None).isoformat()), 400, "died_at"),
        (_death(clock, place="garden"), 400, "place"),
        (_death(clock, present="p" * 501), 400, "present"),
        (_death(clock, cause="cancer"), 400, "cause"),
        ({k: v for k, v in _death(clock).items() if k != "gp_informed"}, 400, "gp_informed"),
    ]
    for body, status, field in bad_inputs:
        response = await client.post(f"/cases/{case_id}/death", json=body, headers=write_headers(world.nurse_a))
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field, response.text
    case = await case_row(sessions, case_id)
    assert (case.status, case.died_at, case.death_place) == ("referred", None, None)
    assert (await case_page(client, world, case_id))["death"] is None


async def test_a_second_registration_is_refused_but_a_retry_gets_the_first_answer(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    headers, body = write_headers(world.nurse_a), _death(clock)
    first = await client.post(f"/cases/{case_id}/death", json=body, headers=headers)
    assert first.status_code == 201, first.text
    retry = await client.post(f"/cases/{case_id}/death", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()

    second = await client.post(
        f"/cases/{case_id}/death", json=_death(clock, place="hospice"), headers=write_headers(world.coordinator)
    )
    assert second.status_code == 409
    assert second.json()["rule"] == "already_deceased"
    case = await case_row(sessions, case_id)
    assert case.death_place == "home"


async def test_a_death_is_registered_from_admitted_but_not_on_a_closed_case(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    admitted = await terminal_case(client, world, clock)
    for status in ("active", "admitted"):
        moved = await client.post(
            f"/cases/{admitted}/status", json={"status": status}, headers=write_headers(world.coordinator)
        )
        assert moved.status_code == 200, moved.text
    response = await client.post(
        f"/cases/{admitted}/death", json=_death(clock, place="hospital"), headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 201, response.text

    closed = await terminal_case(client, world, clock)
    moved = await client.post(
        f"/cases/{closed}/status", json={"status": "closed"}, headers=write_headers(world.coordinator)
    )
    assert moved.status_code == 200, moved.text
    refused = await client.post(f"/cases/{closed}/death", json=_death(clock), headers=write_headers(world.nurse_a))
    assert refused.status_code == 422
    assert refused.json()["rule"] == "status_transition"
    case = await case_row(sessions, closed)
    assert (case.status, case.died_at) == ("closed", None)
