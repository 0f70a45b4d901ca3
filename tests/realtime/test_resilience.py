"""What a live system does to sockets: slow phones, a lost LISTEN connection, revoked devices, expiry."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import asyncpg
from websockets.asyncio.client import connect

from backend.clock import Clock
from backend.config import Settings
from backend.events import emit
from backend.people.auth import revoke_devices
from backend.realtime import Client
from tests.factories import World, acting
from tests.realtime.helpers import (
    Live,
    Sessions,
    close_code,
    emit_event,
    next_frame,
    only_next_is,
    open_socket,
    token_expiring_in,
    until,
)

PAD = "x" * 32_000  # big frames fill the slow reader's socket buffers quickly


async def test_a_client_that_never_reads_is_dropped_while_another_keeps_receiving(
    live: Live, world: World, sessions: Sessions
) -> None:
    live.hub.queue_size = 20
    live.hub.stall_seconds = 0.5
    # A phone that stopped reading: a small receive buffer, its library buffering one frame at most,
    # and no compression (which would shrink the padding to nothing).
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (live.host, live.port))
    slow = await connect(live.url, sock=raw, max_queue=1, compression=None)
    await slow.send(json.dumps({"type": "auth", "token": world.coordinator.token}))
    assert (await next_frame(slow))["type"] == "ready"
    board = await open_socket(live, world.coordinator)
    assert live.hub.client_count == 2

    delays = []
    for n in range(600):
        started = time.monotonic()
        event_id = await emit_event(sessions, world.municipality_id, payload={"n": n, "pad": PAD})
        await only_next_is(board.ws, event_id)
        delays.append(time.monotonic() - started)
        if live.hub.client_count == 1:
            break
    assert live.hub.client_count == 1, "the slow client was never dropped"
    for n in range(5):
        started = time.monotonic()
        await only_next_is(board.ws, await emit_event(sessions, world.municipality_id, payload={"after": n}))
        delays.append(time.monotonic() - started)
    assert max(delays) < 1.0

    # Once it reads again it finds what was buffered, then the close that tells it to catch up.
    assert await close_code(slow, seconds=10) == 1013


async def test_events_committed_while_the_listener_was_down_arrive_after_it_reconnects(
    live: Live, world: World, sessions: Sessions, database_url: str
) -> None:
    hub = live.hub
    board = await open_socket(live, world.coordinator)
    pid, reconnects = hub.listener_pid, hub.reconnects
    async with sessions() as session, session.begin():
        while_down = await emit(session, "visit.missed", world.municipality_id)
        admin = await asyncpg.connect(database_url)  # the URL's user, as the listener is
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        await admin.close()
        await until(lambda: not hub.connected)
    assert not hub.connected  # the commit's NOTIFY went to nobody

    await only_next_is(board.ws, while_down)
    assert hub.connected and hub.reconnects == reconnects + 1 and hub.listener_pid != pid
    await only_next_is(board.ws, await emit_event(sessions, world.municipality_id))


async def test_a_revoked_device_is_disconnected(live: Live, world: World, sessions: Sessions, clock: Clock) -> None:
    live.hub.recheck_seconds = 0.3
    nurse = await open_socket(live, world.nurse_a)
    colleague = await open_socket(live, world.nurse_b)
    async with sessions() as session, session.begin():
        await revoke_devices(session, clock.now(), "lost", device_id=world.nurse_a.device_id)
    assert await close_code(nurse.ws) == 4410  # signed out: log in again
    await colleague.ws.send(json.dumps({"type": "ping"}))
    assert await next_frame(colleague.ws) == {"type": "pong"}


async def test_an_expired_token_closes_4401_unless_renewed(
    live: Live, world: World, settings: Settings, clock: Clock
) -> None:
    lapsing = await open_socket(live, world.coordinator, token=token_expiring_in(settings, clock, world.coordinator, 2))
    renewed = await open_socket(live, world.coordinator, token=token_expiring_in(settings, clock, world.coordinator, 2))
    await renewed.ws.send(json.dumps({"type": "auth", "token": world.coordinator.token}))
    assert await close_code(lapsing.ws, seconds=4) == 4401
    await renewed.ws.send(json.dumps({"type": "ping"}))
    assert await next_frame(renewed.ws) == {"type": "pong"}


async def test_a_renewal_with_another_persons_token_is_refused(live: Live, world: World) -> None:
    board = await open_socket(live, world.coordinator)
    await board.ws.send(json.dumps({"type": "auth", "token": world.key_person.token}))
    assert await close_code(board.ws) == 4401


async def test_a_burst_after_our_own_stall_drops_no_healthy_client(world: World) -> None:
    # Our loop was blocked: the hub hands a burst to every client before any sender task ran.
    actor = acting(world, "coordinator")
    healthy = Client(actor, queue_size=5, had=None, stall_seconds=0.5)
    healthy.release(frozenset())
    assert all(healthy.offer(n, f"frame {n}") for n in range(1, 40))
    assert not healthy.closed.done()

    # A socket stuck in one write for longer than the stall limit, and behind: that one goes.
    stuck = Client(actor, queue_size=5, had=None, stall_seconds=0.5)
    stuck.release(frozenset())
    stuck._sending_since = time.monotonic() - 1
    assert [stuck.offer(n, "x") for n in range(1, 8)] == [True] * 5 + [False, False]
    assert stuck.closed.done() and stuck.closed.result()[0] == 1013
