"""What a phone in another time zone, a pasted text or a hostile client sends at the edges of the
input: each answered by a problem naming the field, never a 500, and nothing written."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.alerts.models import Alert
from backend.clock import Clock
from tests.alerts.helpers import raise_body
from tests.cases.helpers import Client, Sessions, case_body, write_headers
from tests.factories import World
from tests.mobile.helpers import new_case
from tests.mobile.test_sync import op, send

NUL = "Karen\u0000Testesen"


def assert_problem(response: Any, status: int, field: str) -> None:
    """A problem (not a 500) that names the field at fault."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    assert response.json()["field"] == field, response.text


async def alerts_of(sessions: Sessions, case_id: str) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(Alert).where(Alert.case_id == uuid.UUID(case_id))
        return int(await session.scalar(query) or 0)


@pytest.mark.parametrize("path", ["/mobile/v1/alerts", "/alerts"])
@pytest.mark.parametrize(
    "raised_at",
    [
        "2026-11-20T03:12:00",  # no offset: a phone's local wall clock, or UTC?
        "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-12:00",  # after year 9999 in UTC
    ],
)
async def test_a_raise_at_a_time_without_offset_or_beyond_the_calendar_is_refused_naming_raised_at(
    client: Client, world: World, clock: Clock, sessions: Sessions, path: str, raised_at: str
) -> None:
    case_id = await new_case(client, world, clock)
    body = raise_body(case_id, raised_at=raised_at)
    answer = await client.post(path, json=body, headers=write_headers(world.nurse_a))
    assert_problem(answer, 400, "raised_at")
    assert await alerts_of(sessions, case_id) == 0


async def test_a_case_name_holding_a_nul_is_refused_naming_the_name(client: Client, world: World, clock: Clock) -> None:
    body = case_body(world.district_a, clock.today(), name=NUL)
    answer = await client.post("/cases", json=body, headers=write_headers(world.coordinator))
    assert_problem(answer, 400, "name")


@pytest.mark.parametrize("note", ["Ring\u0000til datter", "Ring\u001btil datter", "Ring\u0085til datter"])
async def test_an_alert_note_holding_a_control_character_is_refused_naming_the_note(
    client: Client, world: World, clock: Clock, sessions: Sessions, note: str
) -> None:
    case_id = await new_case(client, world, clock)
    answer = await client.post("/alerts", json=raise_body(case_id, note=note), headers=write_headers(world.nurse_a))
    assert_problem(answer, 400, "note")
    assert await alerts_of(sessions, case_id) == 0


async def test_free_text_keeps_its_tabs_and_newlines(client: Client, world: World, clock: Clock) -> None:
    case_id = await new_case(client, world, clock)
    note = "Datter ringede:\n\tsmerter i nat\r\nkommer kl. 8"
    answer = await client.post("/alerts", json=raise_body(case_id, note=note), headers=write_headers(world.nurse_a))
    assert answer.status_code == 201, answer.text


async def test_a_ledger_period_mixing_naive_and_aware_times_is_refused_naming_the_naive_one(
    client: Client, world: World
) -> None:
    period = {"from": "2026-11-01T00:00:00", "to": "2026-11-02T00:00:00+00:00"}
    answer = await client.get("/alerts/ledger", params=period, headers=world.coordinator.headers)
    assert_problem(answer, 400, "from")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/indicators", {"from": "9999-12-31", "to": "9999-12-31"}, "from"),
        ("/indicators.csv", {"from": "2026-11-01", "to": "9999-12-31"}, "to"),
        ("/roster", {"from": "9999-12-30", "to": "9999-12-31"}, "from"),
        ("/visits", {"shift": "9999-12-31/night"}, "shift"),
        ("/alerts/ledger", {"from": "9999-12-30T00:00:00+00:00", "to": "9999-12-31T23:00:00+00:00"}, "from"),
        ("/alerts/ledger", {"from": "0001-01-01T00:00:00+14:00", "to": "0001-01-02T00:00:00+14:00"}, "from"),
    ],
)
async def test_a_period_at_the_edge_of_the_calendar_is_refused_naming_the_day(
    client: Client, world: World, path: str, params: dict[str, str], field: str
) -> None:
    answer = await client.get(path, params=params, headers=world.coordinator.headers)
    assert_problem(answer, 400, field)


async def test_a_roster_shift_at_the_end_of_the_calendar_is_refused_naming_the_day(
    client: Client, world: World
) -> None:
    answer = await client.put(
        "/roster/9999-12-31/night", json={"entries": []}, headers=write_headers(world.coordinator)
    )
    assert_problem(answer, 400, "shift_date")


async def test_an_acute_visit_at_the_end_of_the_calendar_is_refused_naming_its_window(
    client: Client, world: World, clock: Clock
) -> None:
    case_id = await new_case(client, world, clock)
    body = {
        "kind": "ad_hoc",
        "window_start": "9999-12-31T22:00:00+00:00",
        "window_end": "9999-12-31T23:00:00+00:00",
        "reason": "Uro",
    }
    answer = await client.post(f"/cases/{case_id}/visits", json=body, headers=write_headers(world.coordinator))
    assert_problem(answer, 400, "window_start")


@pytest.mark.parametrize("before_id", [2**63, 2**64, 10**30])
async def test_an_audit_page_cursor_past_64_bits_is_refused_naming_it(
    client: Client, world: World, clock: Clock, before_id: int
) -> None:
    case_id = await new_case(client, world, clock)
    answer = await client.get(
        f"/audit/cases/{case_id}", params={"before_id": str(before_id)}, headers=world.admin.headers
    )
    assert_problem(answer, 400, "before_id")


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
async def test_a_timeline_cursor_beyond_the_calendar_is_refused_naming_it(
    client: Client, world: World, clock: Clock, instant: str
) -> None:
    case_id = await new_case(client, world, clock)
    cursor = base64.urlsafe_b64encode(f"{instant}|{uuid.uuid4()}".encode()).decode().rstrip("=")
    answer = await client.get(
        f"/cases/{case_id}/timeline", params={"before": cursor}, headers=world.coordinator.headers
    )
    assert_problem(answer, 400, "before")


@pytest.mark.parametrize("path", ["/auth/login", "/mobile/v1/sync", "/cases"])
async def test_json_nested_a_thousand_levels_deep_is_a_400_even_before_login(
    client: Client, world: World, path: str
) -> None:
    deep = "[" * 1000 + "]" * 1000
    body = '{"email": "a@b.dk", "password": ' + deep + "}"
    headers = {"content-type": "application/json"}
    if path != "/auth/login":
        headers |= write_headers(world.coordinator if path == "/cases" else world.nurse_a)
    answer = await client.post(path, content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


# ---- sync batches -------------------------------------------------------------------------------


async def test_a_batch_with_one_good_raise_and_one_without_offset_applies_the_good_one_and_says_so_again(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    other_case = await new_case(client, world, clock)
    good = op("raise_alert", clock, -5, None, **_raise(case_id, (clock.now() - timedelta(minutes=5)).isoformat()))
    naive = (clock.now() - timedelta(minutes=4)).replace(tzinfo=None).isoformat()
    bad = op("raise_alert", clock, -4, None, **_raise(other_case, naive))
    batch = [good, bad]
    first = await send(client, world.nurse_a, batch)
    assert first.status_code == 200, first.text
    outcomes = [(r["outcome"], r["status"], (r.get("error") or {}).get("field")) for r in first.json()["results"]]
    assert outcomes == [("applied", 201, None), ("rejected", 400, "body.raised_at")]
    assert (await alerts_of(sessions, case_id), await alerts_of(sessions, other_case)) == (1, 0)

    again = await send(client, world.nurse_a, batch)
    assert again.status_code == 200, again.text
    replayed = [(r["outcome"], r["status"], r["replayed"]) for r in again.json()["results"]]
    assert replayed == [("applied", 201, True), ("rejected", 400, True)]
    assert (await alerts_of(sessions, case_id), await alerts_of(sessions, other_case)) == (1, 0)


async def test_a_note_holding_a_nul_in_a_batch_is_refused_alone(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await new_case(client, world, clock)
    good = op("raise_alert", clock, -3, None, **_raise(case_id, None))
    bad = op("raise_alert", clock, -2, None, **_raise(case_id, None) | {"note": NUL, "reason": "breathlessness"})
    for replayed in (False, True):  # kept as refused, though PostgreSQL cannot store its NUL: a resend says the same
        answer = await send(client, world.nurse_a, [good, bad])
        assert answer.status_code == 200, answer.text
        found = [(r["outcome"], (r.get("error") or {}).get("field"), r["replayed"]) for r in answer.json()["results"]]
        assert found == [("applied", None, replayed), ("rejected", "body.note", replayed)]
        assert await alerts_of(sessions, case_id) == 1


def _raise(case_id: str, raised_at: str | None) -> dict[str, Any]:
    body = raise_body(case_id)
    if raised_at is not None:
        body["raised_at"] = raised_at
    return body
