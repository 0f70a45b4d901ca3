"""Benchmark: escalation alerts on a cluster of real instances, next to a raw NOTIFY round trip, in one run.

    python -m bench.alerts [--instances 2] [--boards 100] [--rate 20] [--seconds 60] [--tier-seconds 5]
                           [--cases 500] [--board-processes 1] [--no-deflate] [--json bench/results/alerts.json]

Starts PostgreSQL (embedded, or DATABASE_URL's server) with a fresh database; seeds a municipality
whose live cases give every raise a case and reason of its own (so each raise is a new alert), two
districts with a raising nurse and on-call nurses, a coordinator and a key person on duty, and a
palliative unit serving the municipality; every person's phone has a push token of its own. A
critical-severity policy climbs on-call nurses -> coordinator and key person -> palliative unit,
each tier `--tier-seconds` long, calling nobody again within the run (renotify 3600 s).

Then `--instances` `lindra serve` processes (bench.cluster) push through the real firebase-admin to
a local FCM stub (a process of its own); `--boards` coordinator boards listen on /ws, round-robin
over the instances, in separate processes (so receiving every event on every board does not stall the raising loop), and
a board the server closes reconnects and catches up, as a browser's does. Nurses raise `--rate`
critical alerts a second for `--seconds` on an absolute schedule, spread over the instances.
Meanwhile, at the same rate, one asyncpg connection inserts a row and NOTIFYs its id in a
transaction while another LISTENs: the floor any raise -> board path stands on; and, also at the
same rate, a GET /health on the instances in turn (no login, no database): what any HTTP answer
from these busy instances costs, the floor under the raise's own answer.

Measured, from the moment just before a raise is sent:
- raise -> board: the alert.raised frame on every board (p50/p99 over all alert x board pairs);
- raise -> push: the first tier-0 request for the alert at the FCM stub;
- escalation lateness: fired_at - due_at of tiers 1 and 2 (and, as the phones feel it, the first
  push of the tier at the stub - due_at), and that every alert fired exactly 3 tiers;
- the raise's HTTP answer time, the raw insert+NOTIFY -> LISTEN round trip and the bare GET's answer;
- the CPU each part used while raising (instances, PostgreSQL, boards, the FCM stub, this process,
  the whole machine), and how late the board processes' loops woke: whether a figure is the
  code's or the queue for a core, and whether the boards kept up.

- push deadline -> SMS: half the on-call nurses' phones have no data (`--offline-share`), so each
  alert that calls one texts her after the tier's `sms_after_seconds` (2 s here), through Kannel
  (bench.kannel, bench.alerts_sms): from that deadline to the SMS at Kannel's fake network, as a
  ratio to the raw NOTIFY round trip of the same run.

The bars: board p99 under 50 ms, push p99 under 100 ms, lateness p99 under 1.5 s; no frame and
no push missing, 3 tiers for every alert. A few alerts raised and acknowledged first warm each
instance up; they are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import math
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import psutil
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from backend.alerts.models import Reason, TargetRule
from backend.db import start_embedded
from backend.people.tokens import AccessClaims, issue_access_token
from backend.roster.models import Duty
from backend.roster.shifts import shift_at
from backend.worker import free_port
from bench.alerts_sms import CALLBACK_SECRET, confirm_online, phones_offline, sms_figures
from bench.cluster import Cluster, StubProcess
from bench.harness import SECRET, Pressure, busy_seconds, create_database, drop_database, percentile, spread
from bench.kannel import Kannel
from bench.seed import DISTRICTS, MUNICIPALITY, seed

UNIT = uuid.UUID("00000000-0000-4000-8000-0000000000b4")
ON_CALL_PER_DISTRICT = 2
TIERS = (
    [TargetRule.ON_CALL_NURSES],
    [TargetRule.COORDINATOR, TargetRule.KEY_PERSON],
    [TargetRule.PALLIATIVE_UNIT],
)
RENOTIFY = 3600  # nobody is called again within a run
WARM_UP_PER_INSTANCE = 2
BASELINE_CHANNEL = "bench_round_trip"
Planned = tuple[uuid.UUID, uuid.UUID, Reason]  # a raise to come: case, its district, reason
BARS_MS = {"board": 50.0, "push": 100.0, "lateness": 1500.0}
T = TypeVar("T")


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID
    device_id: uuid.UUID
    role: str
    push_token: str

    def token(self) -> str:
        """An access token for the whole run."""
        return issue_access_token(SECRET, AccessClaims(self.user_id, self.device_id, self.role), datetime.now(UTC), 240)


@dataclass(frozen=True)
class AlertWorld:
    coordinator: Person  # the boards' user, also the coordinator on duty
    raisers: dict[uuid.UUID, Person]  # a nurse per district, who raises its alerts
    tier_of_token: dict[str, int]  # whose phone each tier calls
    cases: list[tuple[uuid.UUID, uuid.UUID]]  # (case, district), every case live


# ---- seeding ----------------------------------------------------------------------------------

_USER = """
INSERT INTO users (id, email, password_hash, full_name, role, organisation_id)
VALUES ($1, $2, 'not-a-login', $3, $4, $5)
"""

_DEVICE = """
INSERT INTO devices (id, user_id, platform, app_version, push_token, refresh_token_hash, refresh_expires_at)
VALUES ($1, $2, $3, 'bench', $4, $5, now() + interval '1 day')
"""

_ROSTER = """
INSERT INTO roster_entries (id, municipality_id, shift_date, shift_kind, user_id, duty, district_id)
VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6)
"""


def _push_token(name: str) -> str:
    return f"fcm-bench-{name}-{uuid.uuid4().hex}"


async def seed_alerts(url: str, cases: int, tier_seconds: int) -> AlertWorld:
    """`bench.seed`'s municipality with every case active, the people the policy calls, their roster
    for the running and the next shift, the palliative unit, and the critical policy."""
    coordinator_id, coordinator_device = await seed(url, cases)
    coordinator = Person(coordinator_id, coordinator_device, "coordinator", _push_token("coordinator"))
    people: list[tuple[Person, str, uuid.UUID, uuid.UUID | None]] = []  # person, name, organisation, district
    roster: list[tuple[Person, Duty, uuid.UUID | None]] = [(coordinator, Duty.COORDINATOR, None)]

    def add(role: str, name: str, organisation: uuid.UUID, duty: Duty | None, district: uuid.UUID | None) -> Person:
        person = Person(uuid.uuid4(), uuid.uuid4(), role, _push_token(name))
        people.append((person, name, organisation, district))
        if duty is not None:
            roster.append((person, duty, district))
        return person

    raisers = {
        district: add("nurse", f"nurse-{n}", district, Duty.NURSE, district) for n, district in enumerate(DISTRICTS)
    }
    tier_of_token = {coordinator.push_token: 1}
    for n, district in enumerate(DISTRICTS):
        for k in range(ON_CALL_PER_DISTRICT):
            tier_of_token[add("nurse", f"on-call-{n}-{k}", district, Duty.ON_CALL_NURSE, district).push_token] = 0
    tier_of_token[add("key_person", "key-person", MUNICIPALITY, Duty.KEY_PERSON, None).push_token] = 1
    tier_of_token[add("palliative_unit", "unit", UNIT, None, None).push_token] = 2

    now = datetime.now(UTC)
    shifts = [shift_at(now), shift_at(shift_at(now).ends + timedelta(minutes=1))]
    tiers = [
        {"targets": [rule.value for rule in rules], "ack_timeout_seconds": tier_seconds, "renotify_seconds": RENOTIFY}
        for rules in TIERS
    ]
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("UPDATE cases SET status = 'active' WHERE municipality_id = $1", MUNICIPALITY)
            await conn.execute(
                "INSERT INTO organisations (id, kind, name) VALUES ($1, 'palliative_unit', 'Bench Lindring')", UNIT
            )
            await conn.execute(
                "INSERT INTO organisation_serves (provider_id, municipality_id) VALUES ($1, $2)", UNIT, MUNICIPALITY
            )
            await conn.executemany(
                _USER, [(p.user_id, f"{name}@bench.lindra.dk", name, p.role, org) for p, name, org, _ in people]
            )
            await conn.executemany(
                "INSERT INTO user_districts (user_id, district_id) VALUES ($1, $2)",
                [(p.user_id, district) for p, _, _, district in people if district is not None],
            )
            await conn.executemany(
                _DEVICE, [(p.device_id, p.user_id, "android", p.push_token, uuid.uuid4().hex) for p, *_ in people]
            )
            await conn.execute(
                "UPDATE devices SET push_token = $2 WHERE id = $1", coordinator_device, coordinator.push_token
            )
            await conn.executemany(
                _ROSTER,
                [
                    (MUNICIPALITY, s.day, s.kind.value, p.user_id, duty.value, district)
                    for s in shifts
                    for p, duty, district in roster
                ],
            )
            await conn.execute(
                "INSERT INTO escalation_policies (id, municipality_id, severity, tiers, version) "
                "VALUES ($1, $2, 'critical', $3::jsonb, 1)",
                uuid.uuid4(),
                MUNICIPALITY,
                json.dumps(tiers),
            )
        rows = await conn.fetch(
            "SELECT id, district_id FROM cases WHERE municipality_id = $1 ORDER BY id", MUNICIPALITY
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return AlertWorld(coordinator, raisers, tier_of_token, [(r["id"], r["district_id"]) for r in rows])


# ---- boards, in processes of their own ----------------------------------------------------------


async def board_tokens(url: str, coordinator: Person, count: int) -> list[str]:
    """An access token per board, each of a device of its own, as each browser tab signs in: a login
    holds at most three sockets per instance, so boards sharing one would close each other."""
    devices = [uuid.uuid4() for _ in range(count)]
    conn = await asyncpg.connect(url)  # the owner: devices hold no health data
    try:
        await conn.executemany(
            _DEVICE, [(device, coordinator.user_id, "web", None, uuid.uuid4().hex) for device in devices]
        )
    finally:
        await conn.close()
    claims = [AccessClaims(coordinator.user_id, device, coordinator.role) for device in devices]
    return [issue_access_token(SECRET, claim, datetime.now(UTC), 240) for claim in claims]


def watch_boards(urls: list[str], tokens: list[str], deflate: bool, pipe: Connection) -> None:
    """A board process: connect, say "ready", record alert.raised frames until told to stop, report."""
    uvloop.run(_watch(urls, tokens, deflate, pipe))


class Board:
    """One board as a browser runs it: on a close it reconnects at once and catches up from its last event."""

    def __init__(self, url: str, token: str, deflate: bool) -> None:
        self.url, self.token, self.deflate = url, token, deflate
        self.raised: dict[str, float] = {}  # alert id -> when its alert.raised frame arrived
        self.frames = 0
        self.closes: list[str] = []
        self.socket: ClientConnection | None = None
        self._last_event: bytes | None = None

    async def connect(self) -> None:
        """Connect and authenticate; the first time (no event yet) until "ready", after a close straight on,
        so that the catch-up's frames are timed like live ones."""
        last_id = _last_id(self._last_event) if self._last_event else None
        self.socket = await connect(self.url, max_size=2**20, compression="deflate" if self.deflate else None)
        # As the board page does: several events may come in one frame.
        auth = {"type": "auth", "token": self.token, "last_event_id": last_id, "bundle": True}
        await self.socket.send(json.dumps(auth))
        while last_id is None and json.loads(await self.socket.recv())["type"] != "ready":
            pass

    async def listen(self) -> None:
        """Take the receive time first; parse only alert.raised frames (the few that are measured)."""
        while self.socket is not None:
            try:
                while True:
                    frame = await self.socket.recv(decode=False)
                    at = time.time()
                    self.frames += 1
                    if frame.startswith(b'{"type":"event'):  # one event, or several ("events")
                        self._last_event = frame
                        if b'"kind":"alert.raised"' in frame:
                            for event in _events(frame):
                                if event["kind"] == "alert.raised":
                                    self.raised.setdefault(event["alert_id"], at)
            except ConnectionClosed as closed:
                self.closes.append(f"{closed.rcvd.code} {closed.rcvd.reason}" if closed.rcvd else "no close frame")
            try:
                await self.connect()
            except (OSError, WebSocketException) as exc:
                self.closes.append(f"reconnect failed: {type(exc).__name__}")
                self.socket = None

    def report(self) -> dict[str, Any]:
        return {"raised": self.raised, "frames": self.frames, "closes": self.closes}


def _events(frame: bytes) -> list[dict[str, Any]]:
    message = json.loads(frame)
    return list(message["events"]) if message["type"] == "events" else [message]


def _last_id(frame: bytes) -> int:
    return int(_events(frame)[-1]["id"])


async def _watch(urls: list[str], tokens: list[str], deflate: bool, pipe: Connection) -> None:
    boards = [Board(url, token, deflate) for url, token in zip(urls, tokens, strict=True)]
    gate = asyncio.Semaphore(20)

    async def connect(board: Board) -> None:
        async with gate:
            await board.connect()

    await asyncio.gather(*(connect(board) for board in boards))
    lags: list[float] = []
    tasks = [asyncio.create_task(board.listen()) for board in boards]
    tasks.append(asyncio.create_task(_lag(lags)))
    pipe.send("ready")
    await asyncio.to_thread(pipe.recv)  # "stop"
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(b.socket.close() for b in boards if b.socket is not None), return_exceptions=True)
    pipe.send({"boards": [board.report() for board in boards], "lags_ms": lags})


async def _lag(lags: list[float], period: float = 0.01) -> None:
    """How late the board process's loop wakes: frames wait that long before they are timed."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(period)
        lags.append((loop.time() - before - period) * 1000)


# ---- raising, and the raw round trip ----------------------------------------------------------


@dataclass
class Raised:
    sent_at: float  # time.time() just before the request went out
    answer_ms: float
    status: int
    alert_id: str | None
    joined: bool
    failure: str | None = None  # what a raise not answered 201 got: its status and problem title, or the error


async def _raise(client: httpx.AsyncClient, token: str, body: bytes) -> Raised:
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    sent_at = time.time()
    try:
        answer = await client.post("/mobile/v1/alerts", content=body, headers=headers)
    except httpx.HTTPError as exc:  # a timeout or a dropped connection: counted as a failed raise
        return Raised(sent_at, (time.time() - sent_at) * 1000, 0, None, False, type(exc).__name__)
    answer_ms = (time.time() - sent_at) * 1000
    if answer.status_code != 201:
        failure = f"{answer.status_code} {answer.text[:120]}"
        return Raised(sent_at, answer_ms, answer.status_code, None, False, failure)
    alert = answer.json()
    return Raised(sent_at, answer_ms, answer.status_code, alert.get("id"), bool(alert.get("joined")))


def _body(case_id: uuid.UUID, reason: Reason) -> bytes:
    raise_in = {"client_id": str(uuid.uuid4()), "case_id": str(case_id), "reason": reason, "severity": "critical"}
    return json.dumps(raise_in).encode()


def plan(world: AlertWorld, count: int) -> list[Planned]:
    """(case, district, reason) for `count` raises, no pair twice; consecutive raises hit other cases."""
    reasons = list(Reason)
    return [(*world.cases[i % len(world.cases)], reasons[i // len(world.cases)]) for i in range(count)]


async def at_pace(count: int, rate: float, start: float, send: Callable[[int], Awaitable[T]]) -> list[T]:
    """Start `send(i)` at `start + i / rate` (loop time), whatever the earlier answers take."""
    loop = asyncio.get_running_loop()
    tasks = []
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        tasks.append(asyncio.create_task(send(i)))
    return list(await asyncio.gather(*tasks))


def raise_paced(
    clients: Sequence[httpx.AsyncClient], tokens: dict[uuid.UUID, str], raises: list[Planned], rate: float, start: float
) -> Awaitable[list[Raised]]:
    """Raise i at `start + i / rate`, through the instances in turn."""
    bodies = [(tokens[district], _body(case_id, reason)) for case_id, district, reason in raises]
    return at_pace(len(raises), rate, start, lambda i: _raise(clients[i % len(clients)], *bodies[i]))


async def _bare(client: httpx.AsyncClient) -> float:
    """One GET /health (no login, no database): what any answer from a busy instance costs (ms)."""
    sent_at = time.time()
    await client.get("/health")
    return (time.time() - sent_at) * 1000


def bare_paced(clients: Sequence[httpx.AsyncClient], count: int, rate: float, start: float) -> Awaitable[list[float]]:
    """The bare-endpoint baseline at the raises' pace, a quarter of a period after each raise."""
    return at_pace(count, rate, start + 0.25 / rate, lambda i: _bare(clients[i % len(clients)]))


async def round_trips(url: str, count: int, rate: float, start: float) -> tuple[list[float], int]:
    """The raw baseline at the same pace: INSERT + pg_notify in a transaction -> LISTEN callback (ms),
    and how many notifications never came."""
    loop = asyncio.get_running_loop()
    listener, writer = await asyncpg.connect(url), await asyncpg.connect(url)
    received: dict[int, float] = {}
    await writer.execute("CREATE TABLE bench_round_trip (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
    await listener.add_listener(BASELINE_CHANNEL, lambda *args: received.setdefault(int(args[3]), time.time()))
    started: dict[int, float] = {}
    try:
        for i in range(count):
            await asyncio.sleep(max(0.0, start + (i + 0.5) / rate - loop.time()))  # between two raises
            started[i] = time.time()
            async with writer.transaction():
                await writer.execute("INSERT INTO bench_round_trip (id) VALUES ($1)", i)
                await writer.execute("SELECT pg_notify($1, $2)", BASELINE_CHANNEL, str(i))
        await asyncio.sleep(1.0)
    finally:
        await listener.close()
        await writer.close()
    return [(received[i] - at) * 1000 for i, at in started.items() if i in received], count - len(received)


async def warm_up(cluster: Cluster, world: AlertWorld, raises: list[Planned]) -> None:
    """Raise a few alerts on every instance, wait for their pushes, acknowledge them (so they stop climbing)."""
    coordinator = world.coordinator.token()
    for i, (case_id, district, reason) in enumerate(raises):
        instance = cluster.instances[i % len(cluster.instances)]
        async with httpx.AsyncClient(base_url=instance.url, timeout=30) as client:
            raised = await _raise(client, world.raisers[district].token(), _body(case_id, reason))
            if raised.status != 201 or raised.alert_id is None:
                raise RuntimeError(f"warm-up raise answered {raised.status}; see {cluster.workdir}")
            deadline = time.monotonic() + 10
            while not any(s.body["message"]["data"]["alert_id"] == raised.alert_id for s in cluster.stub.sends()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no push for the warm-up alert; see {cluster.workdir}")
                await asyncio.sleep(0.05)
            headers = {"Authorization": f"Bearer {coordinator}", "Idempotency-Key": str(uuid.uuid4())}
            taken = await client.post(f"/alerts/{raised.alert_id}/acknowledge", headers=headers)
            if taken.status_code != 200:
                raise RuntimeError(f"warm-up acknowledge answered {taken.status_code}: {taken.text[:200]}")


async def tiers_fired(url: str, alert_ids: list[str], tiers: int, seconds: float) -> list[asyncpg.Record]:
    """Wait until every alert has fired its tiers (at most `seconds`); their alert_tiers rows."""
    conn = await asyncpg.connect(url)
    try:
        query = "SELECT count(*) FROM alert_tiers WHERE alert_id = ANY($1::uuid[])"
        for _ in range(math.ceil(seconds / 0.5)):
            if await conn.fetchval(query, alert_ids) >= tiers * len(alert_ids):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # the last tiers' pushes
        return list(
            await conn.fetch(
                "SELECT alert_id::text AS alert_id, tier, due_at, fired_at, fired_by FROM alert_tiers "
                "WHERE alert_id = ANY($1::uuid[])",
                alert_ids,
            )
        )
    finally:
        await conn.close()


async def resent_unconfirmed(url: str, alert_ids: list[str]) -> int:
    """Pushes sent again because no phone confirmed them (the bench's phones never do)."""
    conn = await asyncpg.connect(url)
    try:
        query = "SELECT count(*) FROM notifications WHERE kind = 'unconfirmed' AND alert_id = ANY($1::uuid[])"
        return int(await conn.fetchval(query, alert_ids))
    finally:
        await conn.close()


# ---- where the CPU went ------------------------------------------------------------------------


def _cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def _fixed(processes: list[psutil.Process]) -> Callable[[], list[psutil.Process]]:
    return lambda: processes


class CpuUse:
    """CPU each part of the run used over a window, in cores (1.0 = one core busy all the time): on
    two shared cores, whether the figures measure the code or the queue for a core."""

    def __init__(self, groups: dict[str, Callable[[], list[psutil.Process]]]) -> None:
        self.groups = groups
        self.began = time.monotonic()
        self.busy = busy_seconds()
        self.first = {name: _cpu_seconds(processes()) for name, processes in groups.items()}

    def cores(self) -> dict[str, float]:
        wall = time.monotonic() - self.began
        used = {
            name: sum(s - self.first[name].get(pid, 0.0) for pid, s in _cpu_seconds(processes()).items())
            for name, processes in self.groups.items()
        }
        used["machine"] = busy_seconds() - self.busy
        return {name: round(seconds / wall, 2) for name, seconds in used.items()}


async def postmaster(url: str) -> psutil.Process | None:
    """The PostgreSQL server's main process, if it runs on this machine (its children are the backends)."""
    conn = await asyncpg.connect(url)
    try:
        with contextlib.suppress(psutil.Error):  # asked while the backend lives: it ends with the connection
            parent = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()")).parent()
            if parent is not None and parent.name() == "postgres":
                return parent
        return None
    finally:
        await conn.close()


# ---- figures ----------------------------------------------------------------------------------


def figures(
    raised: dict[str, float],
    boards: list[dict[str, Any]],
    sends: list[Any],
    tier_of_token: dict[str, int],
    tier_rows: list[asyncpg.Record],
) -> dict[str, Any]:
    """Every measure and check, from the raises' send times and what boards, stub and database saw."""
    board_ms, missing_frames = [], 0
    for board in boards:
        for alert_id, at in raised.items():
            seen = board["raised"].get(alert_id)
            if seen is None:
                missing_frames += 1
            else:
                board_ms.append((seen - at) * 1000)
    first_push: dict[tuple[str, int], float] = {}
    for send in sends:
        message = send.body["message"]
        key = (message["data"]["alert_id"], tier_of_token.get(message["token"], -1))
        first_push[key] = min(first_push.get(key, math.inf), send.received_at)
    push_ms = [(first_push[(a, 0)] - at) * 1000 for a, at in raised.items() if (a, 0) in first_push]
    late = [r for r in tier_rows if r["tier"] >= 1]
    tiers_per_alert = Counter(r["alert_id"] for r in tier_rows)
    sweeps = Counter((r["fired_by"], r["fired_at"]) for r in late)
    return {
        "board": spread(board_ms) | {"missing": missing_frames},
        "push": spread(push_ms) | {"missing": sum((a, 0) not in first_push for a in raised)},
        "lateness": spread([(r["fired_at"] - r["due_at"]).total_seconds() * 1000 for r in late])
        | {"alerts_without_3_tiers": sum(tiers_per_alert[a] != 3 for a in raised)},
        "tier_push_lateness": spread(
            [
                (first_push[(r["alert_id"], r["tier"])] - r["due_at"].timestamp()) * 1000
                for r in late
                if (r["alert_id"], r["tier"]) in first_push
            ]
        ),
        "sweep_to_push": spread(
            [
                (first_push[(r["alert_id"], r["tier"])] - r["fired_at"].timestamp()) * 1000
                for r in late
                if (r["alert_id"], r["tier"]) in first_push
            ]
        ),
        "sweep_batches": {
            "count": len(sweeps),
            "alerts_p50": percentile(list(sweeps.values()), 50),
            "alerts_max": max(sweeps.values(), default=0),
        },
    }


_PROBLEM = re.compile(r"^(?:(?:WARNING|ERROR|CRITICAL) - \S+ \S+ - |(?:WARNING|ERROR|CRITICAL):\s+|Traceback)(.*)")


def log_findings(logs: str, limit: int = 8) -> list[str]:
    """The instances' warnings and errors, most frequent first, with ids and numbers blanked so alike ones add up."""
    found: Counter[str] = Counter()
    for line in logs.splitlines():
        if match := _PROBLEM.match(line):
            found[re.sub(r"\d+", "#", re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<id>", match[1]))] += 1
    return [f"{count:5d} x {message[:150]}" for message, count in found.most_common(limit)]


def print_report(args: argparse.Namespace, result: dict[str, Any]) -> bool:
    f = result["figures"]
    rows = [
        ("raise -> board frame (all boards)", f["board"], f"p99 < {BARS_MS['board']:.0f}", "board"),
        ("raise -> FCM stub (tier-0 push)", f["push"], f"p99 < {BARS_MS['push']:.0f}", "push"),
        ("escalation lateness (fired - due)", f["lateness"], f"p99 < {BARS_MS['lateness']:.0f}", "lateness"),
        ("tier 1-2: push at stub - due", f["tier_push_lateness"], "context", None),
        ("tier 1-2: push at stub - fired_at", f["sweep_to_push"], "context", None),
        ("push deadline -> SMS at fake SMSC", result["sms"], "context", None),
        ("raw insert+NOTIFY -> LISTEN", result["baseline"], "baseline", None),
        ("bare GET /health answer", result["bare"], "baseline", None),
        ("raise HTTP answer", result["answers"], "context", None),
    ]
    print(
        f"\n{result['alerts']} alerts at {result['achieved_rate']:.1f}/s for {args.seconds} s on {args.instances} "
        f"instance(s), {args.boards} boards{'' if args.deflate else ' (no deflate)'} in {args.board_processes} "
        f"process(es), {args.tier_seconds} s tiers; "
        f"{os.cpu_count()} CPUs shared by everything\n"
    )
    print(f"| {'measure':36} | {'count':>7} | {'p50 ms':>8} | {'p99 ms':>8} | {'max ms':>8} | {'bar':16} |")
    print(f"|{'-' * 38}|{'-' * 9}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 18}|")
    ok = True
    for name, s, bar, key in rows:
        verdict = bar
        if key is not None:
            met = s["p99_ms"] < BARS_MS[key]
            ok &= met
            verdict = f"{bar}: {'met' if met else 'NOT met'}"
        print(
            f"| {name:36} | {s['count']:7d} | {s['p50_ms']:8.1f} | {s['p99_ms']:8.1f} | {s['max_ms']:8.1f} | "
            f"{verdict:16} |"
        )
    checks = {
        "raises not answered 201 (or joined)": result["raise_errors"],
        "board frames missing": f["board"]["missing"],
        "alerts without a tier-0 push": f["push"]["missing"],
        "alerts without exactly 3 tiers": f["lateness"]["alerts_without_3_tiers"],
        "baseline notifications missing": result["baseline_missing"],
        "SMS missing at the fake SMSC": result["sms"]["missing"],
        "SMS that arrived twice": result["sms"]["twice"],
        "SMS to phones that confirmed their push": result["sms"]["to_phones_with_data"],
    }
    sms, base = result["sms"], result["baseline"]
    print(
        f"\nSMS vs raw NOTIFY: p50 {sms['p50_ms'] / base['p50_ms']:.0f}x, p99 {sms['p99_ms'] / base['p99_ms']:.0f}x "
        f"({sms['count']} SMS, {result['offline_share']:.0%} of the on-call phones without data)"
    )
    print()
    for name, count in checks.items():
        print(f"{name}: {count}")
        ok &= count == 0
    for failure, count in result["raise_failures"].items():
        print(f"  raise failed {count} x: {failure}")
    closes = ", ".join(f"{count} x {reason}" for reason, count in result["board_closes"].items()) or "none"
    print(f"board sockets the server closed (the boards reconnected and caught up): {closes}")
    cores = ", ".join(f"{name} {used:.2f}" for name, used in result["cpu_cores_while_raising"].items())
    print(f"CPU while raising, in cores of {os.cpu_count()}: {cores}")
    stalled = result["stalled_pct_while_raising"]
    print(
        f"while raising, some task waited for a core {stalled['cpu']} % of the time, for the disk {stalled['io']} %;"
        f" the virtual machine's host took {stalled['steal']} % of the cores"
    )
    w = result["board_processes"]
    print(
        f"board processes: loop lag p99 {w['lag_p99_ms']:.1f} ms, "
        f"max {w['lag_max_ms']:.1f} ms; {w['frames']} frames ({w['frames'] / max(1, result['alerts']):.0f} per alert)"
    )
    sweeps = f["sweep_batches"]
    print(
        f"tiers 1-2 fired in {sweeps['count']} sweep transactions, {sweeps['alerts_p50']:.0f} alerts each (median), "
        f"{sweeps['alerts_max']} at most; {result['resent_unconfirmed']} unconfirmed pushes resent during the run"
    )
    if result["log_findings"]:
        print("instance log warnings and errors:\n  " + "\n  ".join(result["log_findings"]))
    print(f"instance logs: {result['workdir']}; run took {result['run_seconds']:.0f} s")
    print(f"Bar (the three p99s above, nothing missing): {'met' if ok else 'NOT met'}")
    return ok


# ---- the run ----------------------------------------------------------------------------------


async def measure(
    args: argparse.Namespace, url: str, cluster: Cluster, world: AlertWorld, kannel: Kannel, online: list[uuid.UUID]
) -> dict[str, Any]:
    """Warm up, connect the boards, raise and round-trip at the pace, wait out the climbs, collect."""
    count = args.rate * args.seconds
    warm = WARM_UP_PER_INSTANCE * args.instances
    everything = plan(world, count + warm)
    await warm_up(cluster, world, everything[count:])

    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    urls = [cluster.instances[b % args.instances].ws_url for b in range(args.boards)]
    tokens = await board_tokens(url, world.coordinator, args.boards)
    for n in range(args.board_processes):
        ours, theirs = context.Pipe()
        share = slice(n, None, args.board_processes)
        process = context.Process(target=watch_boards, args=(urls[share], tokens[share], args.deflate, theirs))
        process.start()
        pipes.append(ours)
        processes.append(process)
    try:
        for pipe in pipes:
            if not await asyncio.to_thread(pipe.poll, 120) or pipe.recv() != "ready":
                raise RuntimeError("the boards did not connect")

        groups = {}
        for n, instance in enumerate(cluster.instances):
            serving = psutil.Process(instance.pid)
            groups[f"instance-{n}"] = _fixed([serving])
            groups[f"worker-{n}"] = serving.children  # its background worker, asked each time (it may restart)
        server = await postmaster(url)
        if server is not None:
            groups["postgres"] = server.children  # backends come and go: asked each time
        groups["boards"] = _fixed([psutil.Process(p.pid) for p in processes])
        assert isinstance(cluster.stub, StubProcess)
        groups["FCM stub"] = _fixed([psutil.Process(cluster.stub.pid)])
        groups["bench"] = _fixed([psutil.Process()])
        tokens = {district: nurse.token() for district, nurse in world.raisers.items()}
        clients = [httpx.AsyncClient(base_url=i.url, timeout=30) for i in cluster.instances]
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.5
        cpu, pressure = CpuUse(groups), Pressure()
        phones_done = asyncio.Event()
        confirming = asyncio.create_task(confirm_online(url, online, phones_done))
        raises, bare, (baseline, baseline_missing) = await asyncio.gather(
            raise_paced(clients, tokens, everything[:count], args.rate, start),
            bare_paced(clients, count, args.rate, start),
            round_trips(url, count, args.rate, start),
        )
        cores, waited = cpu.cores(), pressure.percent()
        for client in clients:
            await client.aclose()
        raised = {r.alert_id: r.sent_at for r in raises if r.status == 201 and r.alert_id and not r.joined}
        tier_rows = await tiers_fired(url, list(raised), len(TIERS), 2 * args.tier_seconds + 60)
        sms = await sms_figures(url, kannel, list(raised), online)
        phones_done.set()
        await confirming

        for pipe in pipes:
            pipe.send("stop")
        reports = [await asyncio.to_thread(pipe.recv) for pipe in pipes]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    boards = [board for report in reports for board in report["boards"]]
    lags = [lag for report in reports for lag in report["lags_ms"]]
    last = max(r.sent_at for r in raises)
    return {
        "alerts": len(raised),
        "achieved_rate": (len(raises) - 1) / (last - min(r.sent_at for r in raises)) if len(raises) > 1 else 0.0,
        "raise_errors": len(raises) - len(raised),
        "raise_failures": dict(Counter(r.failure for r in raises if r.failure)),
        "answers": spread([r.answer_ms for r in raises]),
        "baseline": spread(baseline),
        "bare": spread(bare),
        "baseline_missing": baseline_missing,
        "sms": sms,
        "offline_share": args.offline_share,
        "figures": figures(raised, boards, cluster.stub.sends(), world.tier_of_token, tier_rows),
        "board_closes": dict(Counter(close for b in boards for close in b["closes"])),
        "cpu_cores_while_raising": cores,
        "stalled_pct_while_raising": waited,
        "board_processes": {
            "lag_p99_ms": percentile(lags, 99),
            "lag_max_ms": max(lags, default=math.nan),
            "frames": sum(b["frames"] for b in boards),
        },
        "resent_unconfirmed": await resent_unconfirmed(url, list(raised)),
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--boards", type=int, default=100)
    parser.add_argument("--rate", type=int, default=20, help="alerts raised a second")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--cases", type=int, default=500, help="live cases (more if the raises need more case-reason pairs)"
    )
    parser.add_argument("--tier-seconds", type=int, default=5, help="each tier's acknowledgement timeout")
    parser.add_argument("--board-processes", type=int, default=1, help="processes the boards are spread over")
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="boards do not offer permessage-deflate as browsers do (what the per-socket compression costs)",
    )
    parser.add_argument("--offline-share", type=float, default=0.5, help="share of on-call phones without data")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="lindra-bench-alerts-"))
    # The embedded server stops when this process exits (its own exit handler, registered after this
    # one, so it runs first); then its files go. The cluster's logs stay, for the report.
    atexit.register(shutil.rmtree, tmp / "pg", ignore_errors=True)
    server_url = os.environ.get("DATABASE_URL") or start_embedded(tmp)
    count = args.rate * args.seconds + WARM_UP_PER_INSTANCE * args.instances
    cases = max(args.cases, math.ceil(count / len(Reason)))
    url = asyncio.run(create_database(server_url))
    port = free_port()  # the first instance's, where Kannel reports and forwards replies
    lindra = f"http://127.0.0.1:{port}"
    kannel = Kannel(tmp / "kannel", lindra, CALLBACK_SECRET)
    cluster = Cluster(
        database_url=url,
        secret=SECRET,
        workdir=tmp / "cluster",
        count=args.instances,
        stub=StubProcess(),
        extra_env=kannel.settings_env(lindra, CALLBACK_SECRET),
        ports=[port],
    )
    try:
        world = asyncio.run(seed_alerts(url, cases, args.tier_seconds))
        tier_zero = [token for token, tier in world.tier_of_token.items() if tier == 0]
        _, online = asyncio.run(phones_offline(url, tier_zero, args.offline_share))
        print(f"seeded {cases} live cases and the people the policy calls; starting the cluster", flush=True)
        kannel.start()
        result = asyncio.run(measure(args, url, cluster.start(), world, kannel, online))
        result["log_findings"] = log_findings(cluster.logs())
    finally:
        cluster.stop()
        kannel.stop()
        asyncio.run(drop_database(server_url, url))
    result |= {"workdir": str(cluster.workdir), "run_seconds": time.monotonic() - started}
    ok = print_report(args, result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"arguments": vars(args) | {"json": str(args.json)}, **result, "bar_met": ok}
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
