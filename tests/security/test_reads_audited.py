"""Every read of case data is in the audit log: lists, flags, idempotent replays and socket events.

Each test reads as a user would (real HTTP, a real socket) and then asks the audit log who read
which case, by the request's own id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from backend.app import create_app
from backend.audit.models import AuditEntry
from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import Client, Sessions, case_body, write_headers
from tests.factories import Login, World
from tests.realtime.helpers import Live, emit_event, next_frame, open_socket
from tests.serving import serving
from tests.visits.coordination_helpers import add_rows, add_visit, flag, make_case


async def _audited(sessions: Sessions, user_id: uuid.UUID, action: str) -> list[AuditEntry]:
    async with sessions() as session:
        query = select(AuditEntry).where(AuditEntry.user_id == user_id, AuditEntry.action == action)
        return list((await session.scalars(query.order_by(AuditEntry.id))).all())


def _as(login: Login) -> dict[str, str]:
    """The login's headers with a request id of the test's own, to find this read's rows by."""
    return login.headers | {"X-Request-ID": uuid.uuid4().hex}


async def _get(client: Client, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_shift_s_visit_list_is_an_audited_read_of_each_case_on_it(
    client: Client, sessions: Sessions, world: World, clock: Clock
) -> None:
    first, second = await make_case(client, world, clock), await make_case(client, world, clock, "b")
    for case_id, district in ((first, world.district_a), (second, world.district_b)):
        await add_visit(sessions, case_id, district, clock.now())
        await add_visit(sessions, case_id, district, clock.now())
    headers = _as(world.coordinator)
    shown = await _get(client, "/visits", headers)
    assert {v["case_id"] for v in shown["visits"]} == {str(first), str(second)}
    rows = await _audited(sessions, world.coordinator.user_id, "visit.board")
    read = [(row.case_id, row.request_id) for row in rows]
    assert sorted(read) == sorted([(first, headers["X-Request-ID"]), (second, headers["X-Request-ID"])])

    tonight = _as(world.key_person)
    await _get(client, "/visits/tonight", tonight)
    night_rows = await _audited(sessions, world.key_person.user_id, "visit.board")
    shown_tonight = {uuid.UUID(v["case_id"]) for v in (await _get(client, "/visits/tonight", tonight))["visits"]}
    assert {row.case_id for row in night_rows} == shown_tonight  # nothing unshown is claimed as read


async def test_the_flag_list_is_an_audited_read_of_each_flagged_case(
    client: Client, sessions: Sessions, world: World, clock: Clock
) -> None:
    case_id = await make_case(client, world, clock)
    await add_rows(sessions, flag(case_id, "severe_score", clock.now()), flag(case_id, "rising_score", clock.now()))
    headers = _as(world.coordinator)
    listed = await _get(client, "/case-flags", headers)
    assert [item["case_id"] for item in listed["items"]] == [str(case_id)] * 2
    rows = await _audited(sessions, world.coordinator.user_id, "case.flags.list")
    assert [(row.case_id, row.request_id) for row in rows] == [(case_id, headers["X-Request-ID"])]


async def test_a_replayed_write_is_an_audited_read_of_the_case_it_answers_with(
    client: Client, sessions: Sessions, world: World, clock: Clock
) -> None:
    key = str(uuid.uuid4())
    body = case_body(world.district_a, clock.today())
    first = await client.post("/cases", json=body, headers=write_headers(world.coordinator, key))
    assert first.status_code == 201, first.text
    replay_headers = write_headers(world.coordinator, key) | {"X-Request-ID": uuid.uuid4().hex}
    again = await client.post("/cases", json=body, headers=replay_headers)
    assert again.status_code == 201 and again.json()["name"] == body["name"]  # the first answer, names and all
    rows = await _audited(sessions, world.coordinator.user_id, "idempotent.replay")
    replayed = [(str(row.case_id), row.request_id) for row in rows]
    assert replayed == [(first.json()["id"], replay_headers["X-Request-ID"])]


async def test_a_resent_sync_batch_is_an_audited_read_of_the_cases_its_answers_are_about(
    client: Client, sessions: Sessions, world: World, clock: Clock
) -> None:
    case_id = await make_case(client, world, clock)
    visit_id = await add_visit(sessions, case_id, world.district_a, clock.now(), assigned_to=world.nurse_a.user_id)
    operations = [
        {
            "client_op_id": f"op-{uuid.uuid4()}",
            "type": kind,
            "device_time": clock.now().isoformat(),
            "visit_id": str(visit_id),
            "body": body,
        }
        for kind, body in (("check_in", {}), ("note", {"text": "Rolig nat."}))
    ]
    batch = {"device_id": str(world.nurse_a.device_id), "operations": operations}
    first = await client.post("/mobile/v1/sync", json=batch, headers=world.nurse_a.headers)
    assert [r["outcome"] for r in first.json()["results"]] == ["applied", "applied"], first.text
    assert await _audited(sessions, world.nurse_a.user_id, "sync.replay") == []

    headers = _as(world.nurse_a)
    again = await client.post("/mobile/v1/sync", json=batch, headers=headers)
    assert [r["replayed"] for r in again.json()["results"]] == [True, True]
    rows = await _audited(sessions, world.nurse_a.user_id, "sync.replay")
    assert [(row.case_id, row.request_id) for row in rows] == [(case_id, headers["X-Request-ID"])]


@pytest.fixture
async def live(settings: Settings, clock: Clock) -> AsyncIterator[Live]:
    app = create_app(dataclasses.replace(settings, housekeeping=False), clock)
    async with serving(app) as (host, port):
        yield Live(app, host, port)


async def _socket_reads(sessions: Sessions, login: Login, count: int) -> list[AuditEntry]:
    """The audit rows of events sent to the login's sockets, once `count` are written (in the background)."""
    for _ in range(300):
        rows = await _audited(sessions, login.user_id, "case.events.sent")
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.01)
    return rows


async def test_events_a_socket_is_sent_are_an_audited_read_of_their_cases(
    client: Client, sessions: Sessions, world: World, clock: Clock, live: Live
) -> None:
    first, second = await make_case(client, world, clock), await make_case(client, world, clock)
    socket = await open_socket(live, world.coordinator, last_event_id=None)
    try:
        sent = [
            await emit_event(sessions, world.municipality_id, case_id=first, district_id=world.district_a),
            await emit_event(sessions, world.municipality_id, case_id=second, district_id=world.district_a),
            await emit_event(sessions, world.municipality_id, case_id=first, district_id=world.district_a),
        ]
        received = [(await next_frame(socket.ws))["id"] for _ in sent]
    finally:
        await socket.ws.close()
    assert received == sent
    rows = await _socket_reads(sessions, world.coordinator, 2)
    by_case: dict[uuid.UUID, list[int]] = {}
    for row in rows:
        assert row.detail is not None
        by_case.setdefault(row.case_id, []).extend(row.detail["event_ids"])  # type: ignore[arg-type]
    assert by_case == {first: [sent[0], sent[2]], second: [sent[1]]}
    assert len({row.request_id for row in rows}) == 1  # the socket's own id, on every row

    # The catch-up after a reconnect is sent too, and so read.
    again = await open_socket(live, world.coordinator, last_event_id=sent[0])
    await again.ws.close()
    assert [event["id"] for event in again.caught_up] == sent[1:]
    rows = await _socket_reads(sessions, world.coordinator, len(rows) + 2)
    caught_up = [row for row in rows if row.request_id not in {r.request_id for r in rows[:2]}]
    assert sorted((row.case_id, tuple(row.detail["event_ids"])) for row in caught_up) == sorted(  # type: ignore[index]
        [(first, (sent[2],)), (second, (sent[1],))]
    )
