"""Live events for boards and phones: one LISTEN per app instance, fanned out over WebSockets.

Every committed change writes an `events` row and NOTIFYs its id (backend.events). The hub of
each app instance listens on a dedicated connection, reads the rows of ids that arrive together
in one query, and offers each to the connected clients allowed to see it. Clients never wait on
each other: each has a bounded queue and its own sender task; one that cannot keep up is closed
(1013) and catches up from the table when it reconnects, as the hub itself does after losing its
connection.

Protocol on `GET /ws` (JSON text frames):
  client -> server  {"type": "auth", "token": "<access JWT>", "last_event_id": <int or null>,
                     "bundle": <optional, default false>}
                    first, within 10 s; again at any time to renew the token
                    {"type": "ping"}
  server -> client  {"type": "event", "id", "kind", "municipality_id", "district_id", "case_id",
                     "visit_id", "alert_id", "actor_id", "payload", "created_at"}
                    first the visible events after the client's last_event_id (of the last
                    24 hours, the newest 5000 at most; none if it sent null), then
                    {"type": "ready", "last_event_id": <cursor to send on the next connect>,
                     "complete": <false when the catch-up was cut: reload over the API>}
                    then live events, each once; {"type": "pong"} for a ping.
                    A client that said "bundle": true may also get several events, in order, in
                    one frame: {"type": "events", "events": [<event>, ...]} (in the catch-up, and
                    whenever more than one waits to be sent: one frame instead of one each, which
                    on a busy night is most of a board's and its server's work). Clients that did
                    not ask (phone apps already in the field) get one event per frame, as before.
Close codes: 4400 token in the URL or a malformed frame, 4401 not (or no longer) authenticated
(renew the token), 4410 this device is signed out (log in again; a refresh will fail), 4409 a
newer socket of this login took this one's place (do not reconnect by itself), 4403 role
refused, 1013 too slow, 1012 server restarting. See backend.realtime_guard for 4410 and 4409.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections import deque
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from backend.audit.sent_events import SentEventsAudit
from backend.clock import Clock
from backend.errors import Problem
from backend.events import CHANNEL
from backend.people.actor import ACTORS_CHANNEL, PUBLIC, Actor, KnownActors, load_actor
from backend.people.models import Role
from backend.people.tokens import AccessClaims, read_access_token
from backend.realtime_guard import REPLACED, SIGNED_OUT, SIGNED_OUT_REASON, SocketGuard
from backend.row_scope import SYSTEM, acquire, startup_settings

log = logging.getLogger("lindra.realtime")

AUTH_SECONDS = 10.0
CATCH_UP_LIMIT = 5000  # a client's catch-up: at most this many events, of the last 24 hours
LOOK_BACK_IDS = 200  # identity ids may commit out of order: the hub re-reads this far back
DISPATCHED_MEMORY = 10_000  # ids the hub remembers sending, far more than a look-back re-reads
PAGE = 1000
GATHER_SECONDS = 0.001  # ids notified this close together are read in one query (every frame waits this long)
RETRY_SECONDS = 0.5
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0
PROBE_TIMEOUT = 3.0


class Close(enum.IntEnum):
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TOO_SLOW = 1013
    BAD_REQUEST = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    REPLACED = REPLACED
    SIGNED_OUT = SIGNED_OUT


class EventFrame(msgspec.Struct, frozen=True, tag_field="type", tag="event"):
    """An `events` row as sent to clients (decoded straight from the row's JSON)."""

    id: int
    kind: str
    municipality_id: uuid.UUID
    district_id: uuid.UUID | None
    case_id: uuid.UUID | None
    visit_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    payload: dict[str, Any]
    created_at: datetime
    alert_id: uuid.UUID | None = None  # absent from schemas older than the alerts migration


class Ready(msgspec.Struct, frozen=True, tag_field="type", tag="ready"):
    last_event_id: int
    # False when the catch-up was cut (more than CATCH_UP_LIMIT events, or older than a day):
    # the client reloads what it shows over the API instead of trusting the frames.
    complete: bool = True


class Auth(msgspec.Struct, frozen=True, tag_field="type", tag="auth"):
    token: str
    last_event_id: int | None = None
    bundle: bool = False  # the client reads {"type": "events"} frames


class Ping(msgspec.Struct, frozen=True, tag_field="type", tag="ping"):
    pass


PONG = '{"type":"pong"}'
_EVENT = '{"type":"event",'  # how every event frame begins (msgspec writes the tag first)
BUNDLE_MAX = 200  # events in one frame at most
TOO_SLOW = "too slow; reconnect and catch up"
# However stuck or not, a client this many times `queue_size` behind is dropped (memory is bounded).
HARD_CAP_FACTOR = 10

_decode_event = msgspec.json.Decoder(EventFrame).decode
_decode_message = msgspec.json.Decoder(Auth | Ping).decode


def _frame(message: msgspec.Struct) -> str:
    return msgspec.json.encode(message).decode()


def _bundled(frames: list[str]) -> list[str]:
    """The frames to send for `frames`: each run of event frames as one `events` frame."""
    out: list[str] = []
    run: list[str] = []
    for frame in [*frames, ""]:
        if frame.startswith(_EVENT):
            run.append(frame)
            continue
        if len(run) > 1:
            out.append('{"type":"events","events":[' + ",".join(run) + "]}")
        else:
            out.extend(run)
        run = []
        if frame:
            out.append(frame)
    return out


def visible(actor: Actor, event: EventFrame) -> bool:
    """Whether the actor may see the event: the same scope as the boards and lists of that role."""
    if actor.role is Role.ADMIN:
        return False  # administrators do not read health records
    addressed = event.payload.get("user_ids")
    if isinstance(addressed, list) and str(actor.user_id) in addressed:
        return True  # a notification for this person's phone
    if actor.role in (Role.COORDINATOR, Role.KEY_PERSON):
        return event.municipality_id == actor.municipality_id
    if actor.role is Role.NURSE:
        return event.municipality_id == actor.municipality_id and (
            event.district_id is None or event.district_id in actor.district_ids
        )
    if actor.role is Role.PALLIATIVE_UNIT:
        return (
            event.municipality_id in actor.served_municipality_ids
            and event.kind.startswith("alert.")
            and event.payload.get("unit") is True
        )
    return False


class RecentIds:
    """The last `size` ids seen: enough to drop repeats, bounded so a long-lived process stays small."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[int] = deque()
        self._ids: set[int] = set()

    def __contains__(self, event_id: int) -> bool:
        return event_id in self._ids

    def add(self, event_id: int) -> bool:
        """Remember the id; False if it was already remembered."""
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


class Client:
    """One socket as the hub sees it: who is listening, what it was sent, what waits to be sent.

    Until `release`, live events are held back (the socket is busy with the catch-up); after it
    they go to a bounded queue that the socket's own sender task drains.
    """

    def __init__(
        self, actor: Actor, queue_size: int, had: int | None, stall_seconds: float = 5.0, bundle: bool = False
    ) -> None:
        self.actor = actor
        self.bundle = bundle
        self.opened = time.monotonic()
        # The client said it has every event up to here: one dispatched late is not sent again.
        self._had = had or 0
        # Behind by `queue_size` frames is too slow only if its socket is stuck too: after our own
        # loop stalled, a burst may fill every client's queue at once while the sockets are fine.
        self._soft = queue_size
        self._stall = stall_seconds
        self._sending_since: float | None = None
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size * HARD_CAP_FACTOR)
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._held: list[tuple[int, str]] | None = []
        # Live events are sent once by the hub's own dedupe; only the catch-up can overlap them.
        self._caught_up: frozenset[int] = frozenset()

    @property
    def device_id(self) -> uuid.UUID:
        return self.actor.device_id

    @property
    def is_closed(self) -> bool:
        return self.closed.done()

    def close(self, code: int, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result((code, reason))

    def offer(self, event_id: int, frame: str) -> bool:
        """Queue an event unless already sent. False when the client is closed: before, or now for
        being too far behind."""
        if self.closed.done():
            return False
        if self._held is not None:
            if len(self._held) < self._soft:
                self._held.append((event_id, frame))
                return True
        elif event_id <= self._had or event_id in self._caught_up or self.push(frame):
            return True
        self.close(Close.TOO_SLOW, TOO_SLOW)
        return False

    def push(self, frame: str) -> bool:
        """Queue a frame; False when the client is too far behind (see `__init__`)."""
        stuck = self._sending_since is not None and time.monotonic() - self._sending_since > self._stall
        if self.queue.qsize() >= self._soft and stuck:
            return False
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True

    def release(self, caught_up: frozenset[int]) -> None:
        """End the catch-up, which sent `caught_up`: queue the live events held meanwhile, except those."""
        self._caught_up = caught_up
        held, self._held = self._held or [], None
        for event_id, frame in held:
            self.offer(event_id, frame)

    async def send_all(self, socket: WebSocket[Any, Any, Any]) -> None:
        """Write the queued frames in order; return when the socket is gone."""
        try:
            while True:
                frames = [await self.queue.get()]
                if self.bundle:  # what else waits goes with it
                    while len(frames) < BUNDLE_MAX and not self.queue.empty():
                        frames.append(self.queue.get_nowait())
                    frames = _bundled(frames)
                self._sending_since = time.monotonic()
                for frame in frames:
                    await socket.send_text(frame)
                self._sending_since = None
        except (WebSocketDisconnect, OSError):
            return


_BY_IDS = "SELECT to_jsonb(e)::text FROM events e WHERE e.id = ANY($1::bigint[])"

# After a reconnect: everything after the last dispatched id, and the recent ids just before it,
# which may have committed after it.
_SINCE = """
    SELECT to_jsonb(e)::text FROM events e
    WHERE e.id > $1 AND (e.id > $2 OR e.created_at > now() - interval '1 minute')
    ORDER BY e.id LIMIT $3
    """

# A client's catch-up, coarsely scoped in SQL (its municipalities, or addressed to it) and then
# filtered by `visible`: one rule, in one place.
_BACKLOG = """
    SELECT to_jsonb(e)::text FROM events e
    WHERE e.id > $1 AND e.id <= $2 AND e.created_at > now() - interval '24 hours'
      AND (
          e.payload->'user_ids' ? $4
          OR (e.municipality_id = ANY($3::uuid[])
              AND ($6::uuid[] IS NULL OR e.district_id IS NULL OR e.district_id = ANY($6::uuid[]))
              AND (NOT $7 OR (e.kind LIKE 'alert.%' AND e.payload->>'unit' = 'true')))
      )
    ORDER BY e.id DESC LIMIT $5
    """


async def backlog(
    connection: asyncpg.Connection, actor: Actor, after: int | None
) -> tuple[int, list[EventFrame], bool]:
    """The newest event id now, the visible events after `after` (none if None), oldest first, and
    whether that is all of them. The SQL applies the visibility rule's scope before the limit, so
    another district's busy night does not push a nurse's own events out of her catch-up."""
    newest = int(await connection.fetchval("SELECT coalesce(max(id), 0) FROM events"))
    if after is None or after >= newest:
        return newest, [], True
    scope = [m for m in (actor.municipality_id, *actor.served_municipality_ids) if m is not None]
    districts = list(actor.district_ids) if actor.role == Role.NURSE else None
    unit = actor.role == Role.PALLIATIVE_UNIT
    rows = await connection.fetch(
        _BACKLOG, after, newest, scope, str(actor.user_id), CATCH_UP_LIMIT + 1, districts, unit
    )
    complete = len(rows) <= CATCH_UP_LIMIT
    events = (_decode_event(row[0]) for row in reversed(rows[:CATCH_UP_LIMIT]))
    return newest, [event for event in events if visible(actor, event)], complete


class Hub:
    """The app instance's one LISTEN connection and the clients it feeds.

    `connected`, `reconnects` and `client_count` are for monitoring; `queue_size`, `stall_seconds` and
    `recheck_seconds` apply to clients that connect after they are set.
    """

    def __init__(
        self,
        database_url: str,
        pool: asyncpg.Pool,
        *,
        queue_size: int = 1000,
        stall_seconds: float = 5.0,
        recheck_seconds: float = 60.0,
        probe_seconds: float = 5.0,
    ) -> None:
        self.pool = pool
        self.queue_size = queue_size
        self.stall_seconds = stall_seconds
        self.recheck_seconds = recheck_seconds
        self.connected = False
        self.reconnects = 0
        self._url = database_url
        self._probe_seconds = probe_seconds
        self._clients: set[Client] = set()
        self._listener: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._pending: set[int] = set()
        self._catch_up_due = False
        self._wake = asyncio.Event()
        self._dispatched = RecentIds(DISPATCHED_MEMORY)
        self._last_id = 0
        self._tasks: list[asyncio.Task[None]] = []
        # Who calls, kept while this hub's connection hears every change to it (see `KnownActors`).
        self.actors = KnownActors()
        # Closes the sockets of signed-out devices at once, and bounds the sockets per device.
        self.guard = SocketGuard(pool)
        # Every event a socket is sent is a read of its case (see `SentEventsAudit`).
        self.audit = SentEventsAudit(pool)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @property
    def listener_pid(self) -> int | None:
        """The PostgreSQL backend doing the LISTEN (to find it in pg_stat_activity)."""
        return self._listener.get_server_pid() if self._listener is not None else None

    async def start(self) -> None:
        """Listen (failing the start-up if the database cannot be reached) and begin dispatching."""
        await self._connect()
        assert self._listener is not None
        self._last_id = int(await self._listener.fetchval("SELECT coalesce(max(id), 0) FROM events"))
        self._tasks = [
            asyncio.create_task(self._supervise()),
            asyncio.create_task(self._dispatch()),
            asyncio.create_task(self.guard.run(lambda: self._clients)),
        ]
        self.audit.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.audit.stop()
        for client in tuple(self._clients):
            client.close(Close.SERVICE_RESTART, "server restarting; reconnect")
        self._clients.clear()
        self.actors.distrust()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None
        self.connected = False

    def subscribe(self, actor: Actor, had: int | None = None, bundle: bool = False) -> Client:
        """A new client, receiving from now on (held back until its catch-up is done) the events
        after `had`, the last one it says it has."""
        client = Client(actor, self.queue_size, had, self.stall_seconds, bundle)
        self.guard.admit(client, self._clients)
        self._clients.add(client)
        return client

    def unsubscribe(self, client: Client) -> None:
        self._clients.discard(client)

    # The listening connection

    async def _connect(self) -> None:
        # It reads the newest event id of every municipality: the system's row scope, named when connecting.
        connection = await asyncpg.connect(
            self._url, timeout=5, server_settings={"application_name": "lindra realtime"} | startup_settings(SYSTEM)
        )
        lost = self._lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: self._on_lost(lost))
        await connection.add_listener(CHANNEL, self._notified)
        await connection.add_listener(ACTORS_CHANNEL, self._actors_changed)
        self._listener = connection
        self.connected = True
        self.actors.trust()
        self.guard.changed()  # notices sent while no one listened were missed

    def _actors_changed(self, *notification: object) -> None:
        self.actors.forget()
        self.guard.changed()

    def _on_lost(self, lost: asyncio.Event) -> None:
        self.actors.distrust()  # deaf to changes from now: no actor is kept until the listener is back
        lost.set()

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._pending.add(int(payload))
        except ValueError:
            log.warning("ignored a notification that is not an event id: %r", payload[:40])
            return
        self._wake.set()

    async def _supervise(self) -> None:
        """Watch the connection; when it is lost, reconnect with backoff and catch up from the table."""
        while True:
            await self._until_lost()
            self.connected = False
            self.actors.distrust()
            if self._listener is not None:
                self._listener.terminate()
            log.warning("lost the LISTEN connection; reconnecting")
            delay = BACKOFF_FIRST
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._connect()
                    break
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("reconnecting the LISTEN connection failed: %s", exc)
                    delay = min(delay * 2, BACKOFF_MAX)
            self.reconnects += 1
            self._catch_up_due = True
            self._wake.set()

    async def _until_lost(self) -> None:
        """Return when asyncpg reports the connection closed, or a periodic probe finds it dead
        (a silent network drop tells asyncpg nothing)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._probe_seconds):
                    await self._lost.wait()
                return
            try:
                assert self._listener is not None
                await self._listener.execute("SELECT 1", timeout=PROBE_TIMEOUT)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return

    # Reading and fanning out

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(GATHER_SECONDS)
            self._wake.clear()
            ids, self._pending = self._pending, set()
            catch_up, self._catch_up_due = self._catch_up_due, False
            try:
                async with acquire(self.pool, SYSTEM) as connection:  # every municipality's events
                    if catch_up:
                        await self._catch_up(connection)
                    if ids:
                        rows = await connection.fetch(_BY_IDS, list(ids))
                        self._fan_out([_decode_event(row[0]) for row in rows])
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("reading events failed, retrying: %s", exc)
                self._pending |= ids
                self._catch_up_due |= catch_up
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
            except Exception:  # a bug must not end the dispatching for every client
                log.exception("dispatching events %s failed; skipped", sorted(ids)[:20])

    async def _catch_up(self, connection: asyncpg.Connection) -> None:
        after, last = max(0, self._last_id - LOOK_BACK_IDS), self._last_id
        while True:
            rows = await connection.fetch(_SINCE, after, last, PAGE)
            events = [_decode_event(row[0]) for row in rows]
            self._fan_out(events)
            if len(rows) < PAGE:
                return
            after = last = events[-1].id

    def _fan_out(self, events: list[EventFrame]) -> None:
        """Offer each new event to the clients that may see it; never waits on a socket (nor on the
        audit rows of what each was sent, written in the background)."""
        sent: dict[Client, list[EventFrame]] = {}
        for event in sorted(events, key=lambda e: e.id):
            if not self._dispatched.add(event.id):
                continue
            self._last_id = max(self._last_id, event.id)
            frame = _frame(event)
            for client in tuple(self._clients):
                if not visible(client.actor, event):
                    continue
                if client.offer(event.id, frame):
                    sent.setdefault(client, []).append(event)
                else:
                    self._clients.discard(client)
        for client, its_events in sent.items():
            self.audit.sent(client.actor, its_events)


# The endpoint


class _Closing(Exception):
    """End the conversation with this close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@websocket("/ws", opt={"roles": PUBLIC})
async def events_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Live events for a board or phone. Public for routing only: the first message authenticates
    (a token in the URL would end up in access logs)."""
    await socket.accept()
    try:
        await _Conversation(socket).run()
    except _Closing as closing:
        with contextlib.suppress(WebSocketDisconnect, OSError):
            await socket.close(closing.code, closing.reason)
    except WebSocketDisconnect:
        pass
    except Exception:  # logged here: Litestar would close with 4500 and log nothing
        log.exception("event socket failed")
        with contextlib.suppress(WebSocketDisconnect, OSError):
            await socket.close(Close.INTERNAL_ERROR, "internal error; reconnect later")


class _Conversation:
    """One socket from authentication to close: catch-up, then live events, renewals and re-checks."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        state = socket.app.state
        self.socket = socket
        self.hub: Hub = state.hub
        self.secret: str = state.settings.secret_key
        self.clock: Clock = state.clock
        self.request_id = str(uuid.uuid4())
        self.claims: AccessClaims | None = None
        self.next_check = 0.0

    async def run(self) -> None:
        if "token" in self.socket.query_params or "access_token" in self.socket.query_params:
            raise _Closing(Close.BAD_REQUEST, "Send the token in the first message, never in the URL.")
        try:
            async with asyncio.timeout(AUTH_SECONDS):
                first = await self._receive()
        except TimeoutError:
            raise _Closing(Close.UNAUTHENTICATED, "Authenticate within 10 seconds.") from None
        if not isinstance(first, Auth):
            raise _Closing(Close.UNAUTHENTICATED, "The first message must be auth.")
        client = self.hub.subscribe(await self._authenticate(first.token), first.last_event_id, first.bundle)
        sender: asyncio.Task[None] | None = None
        try:
            await self._catch_up(client, first.last_event_id)
            sender = asyncio.create_task(client.send_all(self.socket))
            await self._converse(client, sender)
        finally:
            self.hub.unsubscribe(client)
            if sender is not None:
                _discard(sender)

    async def _receive(self) -> Auth | Ping:
        text = await self.socket.receive_text()
        try:
            return _decode_message(text)
        except msgspec.MsgspecError:
            raise _Closing(Close.BAD_REQUEST, "Expected an auth or ping message.") from None

    async def _authenticate(self, token: str) -> Actor:
        claims = read_access_token(self.secret, token, self.clock.now())
        if claims is None:
            raise _Closing(Close.UNAUTHENTICATED, "The access token is invalid or has expired.")
        if self.claims is not None and (claims.user_id, claims.device_id) != (
            self.claims.user_id,
            self.claims.device_id,
        ):
            raise _Closing(Close.UNAUTHENTICATED, "A renewal must be for the same device.")
        self.claims = claims
        return await self._check()

    async def _check(self) -> Actor:
        """Ask the database again: the device may have been revoked or the user deleted."""
        assert self.claims is not None
        try:
            async with self.hub.pool.acquire() as connection:
                actor = await load_actor(connection, self.claims, self.request_id)
        except Problem:
            raise _Closing(Close.SIGNED_OUT, SIGNED_OUT_REASON) from None
        if actor.role is Role.ADMIN:
            raise _Closing(Close.FORBIDDEN, "Administrators do not read health records.")
        self.next_check = asyncio.get_running_loop().time() + self.hub.recheck_seconds
        return actor

    async def _catch_up(self, client: Client, last_event_id: int | None) -> None:
        """Send the missed events, then `ready`. The client is already subscribed, so an event
        committed meanwhile is held back and sent after, unless the catch-up had it."""
        async with acquire(self.hub.pool, SYSTEM) as connection:  # `backlog` scopes it to the client
            newest, missed, complete = await backlog(connection, client.actor, last_event_id)
        frames = [_frame(event) for event in missed]
        if client.bundle:
            frames = [
                frame for n in range(0, len(frames), BUNDLE_MAX) for frame in _bundled(frames[n : n + BUNDLE_MAX])
            ]
        self.hub.audit.sent(client.actor, missed)
        for frame in frames:
            await self.socket.send_text(frame)
        await self.socket.send_text(_frame(Ready(newest, complete)))
        client.release(frozenset(event.id for event in missed))

    async def _converse(self, client: Client, sender: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        receiving = asyncio.ensure_future(self._receive())
        try:
            while True:
                assert self.claims is not None
                expires_in = self.claims.expires_at - self.clock.now().timestamp()
                timeout = max(0.0, min(expires_in, self.next_check - loop.time()))
                waiting: set[asyncio.Future[Any]] = {receiving, sender, client.closed}
                done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if client.closed.done():
                    raise _Closing(*client.closed.result())
                if sender in done:
                    sender.result()  # the socket is gone (or the sender failed: raise that)
                    return
                if receiving in done:
                    message = receiving.result()
                    receiving = asyncio.ensure_future(self._receive())
                    if isinstance(message, Auth):
                        client.actor = await self._authenticate(message.token)
                    elif not client.push(PONG):
                        raise _Closing(Close.TOO_SLOW, TOO_SLOW)
                if self.claims.expires_at <= self.clock.now().timestamp():
                    raise _Closing(Close.UNAUTHENTICATED, "The access token has expired; renew it in time.")
                if loop.time() >= self.next_check:
                    client.actor = await self._check()
        finally:
            _discard(receiving)


def _discard(task: asyncio.Future[Any]) -> None:
    """Cancel a task we no longer wait for; if it already failed, its error is moot (we are closing)."""
    task.cancel()
    if task.done() and not task.cancelled():
        task.exception()
