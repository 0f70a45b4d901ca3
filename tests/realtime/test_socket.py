"""The /ws protocol against a real server: authentication, live events, visibility and catch-up."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sqlalchemy import text
from websockets.asyncio.client import connect

from backend.clock import Clock
from backend.config import Settings
from backend.events import emit
from backend.realtime import PONG, _bundled
from tests.factories import World, build_world
from tests.realtime.helpers import (
    Live,
    Sessions,
    addressed_to,
    close_code,
    emit_event,
    next_frame,
    only_next_is,
    open_socket,
    token_expiring_in,
    until,
)


async def test_the_first_message_authenticates_then_ready_and_pings(
    live: Live, world: World, sessions: Sessions
) -> None:
    first = await open_socket(live, world.coordinator)
    before = await emit_event(sessions, world.municipality_id)
    await only_next_is(first.ws, before)  # dispatched: from here on it is history
    board = await open_socket(live, world.coordinator)
    assert board.caught_up == []  # no cursor: live from now on
    assert board.ready_id >= before
    await board.ws.send(json.dumps({"type": "ping"}))
    assert await next_frame(board.ws) == {"type": "pong"}
    assert live.hub.client_count == 2
    await board.ws.close()
    await until(lambda: live.hub.client_count == 1)


@pytest.mark.parametrize("parameter", ["token", "access_token"])
async def test_a_token_in_the_url_is_refused(live: Live, world: World, parameter: str) -> None:
    async with connect(f"{live.url}?{parameter}={world.coordinator.token}") as ws:
        assert await close_code(ws) == 4400


async def test_a_bad_token_or_no_auth_first_closes_4401(
    live: Live, world: World, settings: Settings, clock: Clock
) -> None:
    for first in (
        {"type": "auth", "token": "not-a-jwt", "last_event_id": None},
        {"type": "auth", "token": world.coordinator.token[:-3] + "abc", "last_event_id": None},
        {"type": "auth", "token": token_expiring_in(settings, clock, world.coordinator, -1)},
        {"type": "ping"},
    ):
        async with connect(live.url) as ws:
            await ws.send(json.dumps(first))
            assert await close_code(ws) == 4401, first


async def test_a_malformed_frame_closes_4400(live: Live, world: World) -> None:
    async with connect(live.url) as ws:
        await ws.send("{not json")
        assert await close_code(ws) == 4400
    board = await open_socket(live, world.coordinator)
    await board.ws.send(json.dumps({"type": "auth"}))
    assert await close_code(board.ws) == 4400


async def test_an_administrator_is_refused_4403(live: Live, world: World) -> None:
    async with connect(live.url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": world.admin.token}))
        assert await close_code(ws) == 4403


async def test_an_event_reaches_the_coordinator_within_two_seconds(
    live: Live, world: World, sessions: Sessions
) -> None:
    board = await open_socket(live, world.coordinator)
    started = time.monotonic()
    event_id = await emit_event(
        sessions, world.municipality_id, "visit.missed", district_id=world.district_a, payload={"code": "late"}
    )
    frame = await next_frame(board.ws, seconds=2)
    assert time.monotonic() - started < 2
    assert frame["type"] == "event" and frame["id"] == event_id
    assert frame["kind"] == "visit.missed"
    assert frame["municipality_id"] == str(world.municipality_id)
    assert frame["district_id"] == str(world.district_a)
    assert frame["payload"] == {"code": "late"}
    assert {"case_id", "visit_id", "alert_id", "actor_id", "created_at"} <= frame.keys()


async def test_a_nurse_gets_her_district_and_what_is_addressed_to_her(
    live: Live, world: World, sessions: Sessions
) -> None:
    nurse_b = await open_socket(live, world.nurse_b)
    nurse_a = await open_socket(live, world.nurse_a)
    in_a = await emit_event(sessions, world.municipality_id, district_id=world.district_a)
    await only_next_is(nurse_a.ws, in_a)
    to_b = await emit_event(
        sessions,
        world.municipality_id,
        "alert.raised",
        district_id=world.district_a,
        payload=addressed_to(world.nurse_b),
    )
    await only_next_is(nurse_b.ws, to_b)  # district A's event never came
    everyone = await emit_event(sessions, world.municipality_id, "case.flagged")
    await only_next_is(nurse_a.ws, to_b)  # addressed events in her district reach her as well
    await only_next_is(nurse_a.ws, everyone)
    await only_next_is(nurse_b.ws, everyone)


async def test_the_unit_gets_only_unit_alerts_of_the_municipalities_it_serves(
    live: Live, world: World, sessions: Sessions, settings: Settings, clock: Clock
) -> None:
    elsewhere = await build_world(sessions, settings, clock)
    unit = await open_socket(live, world.unit)
    await emit_event(sessions, world.municipality_id, "visit.missed", payload={"unit": True})
    await emit_event(sessions, world.municipality_id, "alert.raised", payload={"unit": False})
    await emit_event(sessions, world.municipality_id, "alert.raised")
    await emit_event(sessions, elsewhere.municipality_id, "alert.raised", payload={"unit": True})
    ours = await emit_event(
        sessions, world.municipality_id, "alert.raised", district_id=world.district_b, payload={"unit": True}
    )
    await only_next_is(unit.ws, ours)


async def test_reconnecting_with_last_event_id_gets_exactly_the_missed_events(
    live: Live, world: World, sessions: Sessions, settings: Settings, clock: Clock
) -> None:
    elsewhere = await build_world(sessions, settings, clock)
    board = await open_socket(live, world.coordinator)
    seen = await emit_event(sessions, world.municipality_id)
    await only_next_is(board.ws, seen)
    await board.ws.close()

    missed = [await emit_event(sessions, world.municipality_id, district_id=world.district_b)]
    await emit_event(sessions, elsewhere.municipality_id)
    missed.append(await emit_event(sessions, world.municipality_id, payload=addressed_to(world.coordinator)))

    again = await open_socket(live, world.coordinator, last_event_id=seen)
    assert [frame["id"] for frame in again.caught_up] == missed
    assert again.ready_id >= missed[-1]
    after = await emit_event(sessions, world.municipality_id)
    await only_next_is(again.ws, after)

    nothing_new = await open_socket(live, world.coordinator, last_event_id=after)
    assert nothing_new.caught_up == []


async def test_the_catch_up_covers_the_last_24_hours(live: Live, world: World, sessions: Sessions) -> None:
    cursor = await emit_event(sessions, world.municipality_id)
    old = await emit_event(sessions, world.municipality_id)
    recent = await emit_event(sessions, world.municipality_id)
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE events SET created_at = now() - interval '25 hours' WHERE id = :id"), {"id": old}
        )
    board = await open_socket(live, world.coordinator, last_event_id=cursor)
    assert [frame["id"] for frame in board.caught_up] == [recent]


async def test_events_committed_during_the_catch_up_arrive_once_and_in_order(
    live: Live, world: World, sessions: Sessions
) -> None:
    live.hub.guard.per_device = 1000  # many boards of one login, each catching up while events commit
    cursor = await emit_event(sessions, world.municipality_id)

    async def keep_emitting() -> list[int]:
        return [await emit_event(sessions, world.municipality_id, payload={"n": n}) for n in range(150)]

    emitting = asyncio.create_task(keep_emitting())
    boards = []
    while not emitting.done():
        boards.append(await open_socket(live, world.coordinator, last_event_id=cursor))
        await asyncio.sleep(0.01)
    emitted = await emitting
    assert len(boards) >= 3
    for board in boards:
        received = [frame["id"] for frame in board.caught_up]
        while not received or received[-1] != emitted[-1]:
            received.append((await next_frame(board.ws))["id"])
        assert received == emitted


async def test_a_board_that_reads_bundles_gets_many_events_in_few_frames_and_a_phone_one_each(
    live: Live, world: World, sessions: Sessions
) -> None:
    """Events that wait together go out together to a client that asked ("bundle": true), in order
    and none missing; a phone app that did not ask still gets one event per frame."""
    phone = await open_socket(live, world.coordinator)
    cursor = await emit_event(sessions, world.municipality_id)
    await only_next_is(phone.ws, cursor)

    async def committed_together(count: int) -> list[int]:
        async with sessions() as session, session.begin():
            return [await emit(session, "visit.missed", world.municipality_id) for _ in range(count)]

    async def bundled_frames(ws: Any, until_id: int) -> list[dict[str, Any]]:
        frames = []
        while not frames or (frames[-1].get("events") or [frames[-1]])[-1].get("id") != until_id:
            frames.append(await next_frame(ws))
        return frames

    def ids(frames: list[dict[str, Any]]) -> list[int]:
        return [
            event["id"] for frame in frames for event in (frame["events"] if frame["type"] == "events" else [frame])
        ]

    missed = await committed_together(30)
    board = await connect(live.url)
    await board.send(
        json.dumps({"type": "auth", "token": world.coordinator.token, "last_event_id": cursor, "bundle": True})
    )
    catch_up = await next_frame(board)
    assert catch_up["type"] == "events" and [e["id"] for e in catch_up["events"]] == missed
    assert (await next_frame(board))["type"] == "ready"

    live_events = await committed_together(30)
    frames = await bundled_frames(board, live_events[-1])
    assert ids(frames) == live_events
    assert len(frames) <= 3
    one_each = [await next_frame(phone.ws) for _ in range(60)]
    assert [frame["type"] for frame in one_each] == ["event"] * 60
    assert [frame["id"] for frame in one_each] == missed + live_events
    await board.close()


def test_a_pong_between_waiting_events_keeps_its_place() -> None:
    events = [f'{{"type":"event","id":{n}}}' for n in (1, 2, 3)]
    assert _bundled([events[0], PONG, events[1], events[2]]) == [
        events[0],
        PONG,
        '{"type":"events","events":[' + events[1] + "," + events[2] + "]}",
    ]
