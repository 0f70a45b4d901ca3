"""Two real `lindra serve` processes standing for two organisations, each over a database of its
own, with a message broker between them (the VANS network in miniature: it takes what one sends
and delivers it to the other's inbox with that one's client secret). A sends a closing note, B
acknowledges it, and B's reply lands on A's case as the same thread. Then B is stopped: A sends
again by MedCom's rules (here every 3 seconds instead of 30 minutes: `LINDRA_MEDCOM_RESEND_SECONDS`)
and shows the failure after the last send.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_sessionmaker, migrate
from backend.messages.clients import create_client
from backend.messages.models import ClientRole
from backend.row_scope import SYSTEM
from backend.worker import free_port
from bench.cluster import Cluster, Instance
from tests.cases.helpers import case_body, write_headers
from tests.conftest import admin_exec, with_database
from tests.factories import Login, World, build_world

RESEND_SECONDS = 3
CPR = "2509479989"
SOR = {"a": "452011000016004", "b": "265161000016000"}
TEAM = {"gp_name": "Lægehuset Nord", "gp_sor": SOR["b"], "gp_ean": "5790000209354"}
PHONE = "+45 33 66 33 66"


class Relay:
    """The broker between the two: POST /to/<side> delivers the body to that side's inbox."""

    def __init__(self) -> None:
        self.inboxes: dict[str, tuple[str, str]] = {}  # side -> (inbox URL, client secret)
        self.seen: list[tuple[str, bytes, int]] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                url, secret = relay.inboxes[self.path.rpartition("/")[2]]
                request = urllib.request.Request(
                    url,
                    data=body,
                    method="POST",
                    headers={"Content-Type": self.headers.get("Content-Type", ""), "Authorization": f"Bearer {secret}"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        status = answer.status
                except urllib.error.HTTPError as error:
                    status = error.code
                except OSError:
                    status = 502  # the other side is down
                relay.seen.append((self.path, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, side: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/to/{side}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Organisation:
    cluster: Cluster
    world: World
    case_id: str = ""

    @property
    def instance(self) -> Instance:
        return self.cluster.instances[0]

    async def call(self, method: str, path: str, login: Login, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.instance.url, timeout=10) as http:
            response = await http.request(method, path, json=body, headers=write_headers(login))
        assert response.status_code < 300, response.text
        return response.json()

    async def letters(self) -> list[dict[str, Any]]:
        found = await self.call("GET", f"/cases/{self.case_id}/correspondence", self.world.coordinator)
        return [letter for thread in found["threads"] for letter in thread["letters"]]


async def _prepare(server_url: str, side: str, workdir: Path, relay: Relay) -> tuple[Organisation, str, str]:
    """A database with a municipality and its broker client, to be served by one `lindra serve`;
    the organisation, its database and its broker client's secret."""
    name = f"lindra_org_{side}_{uuid.uuid4().hex[:8]}"
    await admin_exec(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(migrate, url)
    secret = f"organisation-{side}-" + "z" * 40
    engine = make_engine(url, 2)
    sessions = make_sessionmaker(engine, SYSTEM)
    world = await build_world(sessions, Settings(database_url=url, secret_key=secret, db_pool_size=2), Clock())
    async with sessions.begin() as session:
        other = "b" if side == "a" else "a"
        _, client_secret = await create_client(
            session, world.municipality_id, "VANS", ClientRole.INBOX, relay.url(other)
        )
    await engine.dispose()
    env = {"LINDRA_MEDCOM_RESEND_SECONDS": str(RESEND_SECONDS)}
    port = free_port()  # known before it starts: the broker is told where its inbox is
    cluster = Cluster(database_url=url, secret=secret, workdir=workdir / side, count=1, extra_env=env, ports=[port])
    return Organisation(cluster, world), name, client_secret


async def _open(organisation: Organisation, side: str) -> None:
    """Its own SOR, and the citizen's case with the GP (the other organisation) in the care team."""
    world = organisation.world
    await organisation.call(
        "PUT", "/messages/settings", world.admin, {"care_record_acknowledges": False, "sor": SOR[side]}
    )
    body = case_body(world.district_a, Clock().today() - timedelta(days=5), cpr=CPR)
    organisation.case_id = str((await organisation.call("POST", "/cases", world.coordinator, body))["id"])
    team = TEAM | {"contact_person_id": str(world.coordinator.user_id)}
    await organisation.call("PUT", f"/cases/{organisation.case_id}/care-team", world.coordinator, team)


@dataclass
class Pair:
    a: Organisation
    b: Organisation
    relay: Relay


@pytest.fixture(scope="module")
async def pair(server_url: str) -> AsyncIterator[Pair]:
    workdir = Path(tempfile.mkdtemp(prefix="lindra-two-organisations-"))
    relay = Relay()
    made: dict[str, Organisation] = {}
    databases: list[str] = []
    try:
        for side in ("a", "b"):  # one after the other: Alembic's context is per process
            made[side], database, client_secret = await _prepare(server_url, side, workdir, relay)
            databases.append(database)
            relay.inboxes[side] = (f"http://127.0.0.1:{made[side].cluster.ports[0]}/messages/inbox", client_secret)
        await asyncio.gather(*(asyncio.to_thread(o.cluster.start) for o in made.values()))  # side by side
        for side, organisation in made.items():
            await _open(organisation, side)
        yield Pair(made["a"], made["b"], relay)
    finally:
        for organisation in made.values():
            organisation.cluster.stop()
        relay.stop()
        for database in databases:
            await admin_exec(server_url, f'DROP DATABASE "{database}" WITH (FORCE)')


async def _until(check: Callable[[], Awaitable[Any]], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_a_closing_note_is_acknowledged_by_b_and_bs_reply_lands_on_as_case_then_a_gives_up_on_a_stopped_b(
    pair: Pair,
) -> None:
    a, b = pair.a, pair.b
    note = await a.call(
        "POST",
        f"/cases/{a.case_id}/correspondence",
        a.world.coordinator,
        {
            "recipient": "gp",
            "category": "carecoordination",
            "topic": "Afslutningsnotat",
            "kind": "closing_note",
            "text": "Forløbet afsluttes. Tak for samarbejdet.",
            "contact_phone": PHONE,
        },
    )

    async def acknowledged() -> bool:
        return [letter["status"] for letter in await a.letters()] == ["acknowledged"]

    assert await _until(acknowledged, 15), await a.letters()
    (received,) = await b.letters()
    assert (received["direction"], received["thread_key"]) == ("in", note["thread_key"])

    reply = await b.call(
        "POST",
        f"/cases/{b.case_id}/correspondence",
        b.world.coordinator,
        {
            "replies_to": received["id"],
            "text": "Modtaget, tak. Jeg kommer forbi med dødsattesten.",
            "contact_phone": "+45 44 55 66 77",
        },
    )

    async def replied() -> list[dict[str, Any]]:
        letters = await a.letters()
        return letters if len(letters) == 2 else []

    sent, answer = await _until(replied, 15)
    assert (answer["direction"], answer["activity"], answer["replies_to_id"]) == ("in", "reply-message", sent["id"])
    assert answer["thread_key"] == note["thread_key"] == reply["thread_key"]
    unread = await a.call("GET", "/correspondence/unread", a.world.coordinator)
    assert unread == {"total": 1, "cases": [{"case_id": a.case_id, "unread": 1}]}  # the contact person's
    assert await _until(lambda: _status_of(b, reply["id"], "acknowledged"), 15)

    b.cluster.stop()
    status = await a.call(
        "POST",
        f"/cases/{a.case_id}/correspondence",
        a.world.coordinator,
        {
            "recipient": "gp",
            "category": "nursing",
            "topic": "Statusnotat",
            "kind": "status_note",
            "text": "Tiltagende uro om natten.",
            "contact_phone": PHONE,
        },
    )

    failed = await _until(lambda: _status_of(a, status["id"], "failed"), 6 * RESEND_SECONDS)
    assert failed, await a.letters()
    assert failed["sends"] == 3
    assert failed["failure_reason"] == "No acknowledgement after 3 sends; the broker last answered HTTP 502."
    tries = [msgspec.json.decode(body) for path, body, _ in pair.relay.seen if path.endswith("/to/b")]
    headers = {doc["entry"][0]["resource"]["id"] for doc in tries if _mentions(doc, "Tiltagende uro")}
    bundles = {doc["id"] for doc in tries if _mentions(doc, "Tiltagende uro")}
    assert len(headers) == 1 and len(bundles) == 3


async def _status_of(organisation: Organisation, letter_id: str, status: str) -> dict[str, Any] | None:
    found = [letter for letter in await organisation.letters() if letter["id"] == letter_id]
    return found[0] if found and found[0]["status"] == status else None


def _mentions(doc: dict[str, Any], text: str) -> bool:
    return text in msgspec.json.encode(doc).decode()
