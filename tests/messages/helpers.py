"""Delivering messages as the broker does, and reading back what Lindra made of them."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.messages.models import HospitalStay, InboxBody, InboxMessage, MessageState, StayNotice

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]

# CI has the shared folder beside the checkout: ../shared/medcom-examples from the project root.
EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "medcom-examples"
HOSPITAL_NOTIFICATIONS = EXAMPLES / "hospitalnotification"
CARE_COMMUNICATIONS = EXAMPLES / "carecommunication"
EXAMPLE_CPR = "2509479989"  # MedCom's test CPR, in every HospitalNotification example
JSON = "application/fhir+json"
XML = "application/fhir+xml"


def example(name: str, folder: Path = HOSPITAL_NOTIFICATIONS) -> bytes:
    """A MedCom example by the start of its Bundle id (`a5e5b880`), JSON unless `.xml` is given."""
    suffix = ".xml" if name.endswith(".xml") else ".json"
    stem = name.removesuffix(".xml")
    (found,) = [p for p in folder.glob(f"Bundle-{stem}*{suffix}")]
    return found.read_bytes()


def care_example(name: str) -> dict[str, Any]:
    """A MedCom CareCommunication example as FHIR JSON, to deliver or to change in a test."""
    decoded: dict[str, Any] = msgspec.json.decode(example(name, CARE_COMMUNICATIONS))
    return decoded


@dataclass
class Broker:
    """A system client of a municipality, as its message broker."""

    secret: str
    ack_url: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


async def deliver(client: Client, broker: Broker, body: bytes, media_type: str = JSON) -> uuid.UUID:
    """POST the message to the inbox as the broker; the id of the kept message."""
    response = await client.post("/messages/inbox", content=body, headers=broker.headers | {"Content-Type": media_type})
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "received"
    return uuid.UUID(response.json()["id"])


async def processed(sessions: Sessions, message_id: uuid.UUID) -> InboxMessage:
    """The message once the worker has processed it (within 15 seconds)."""
    async with asyncio.timeout(15):
        while True:
            async with sessions() as session:
                message = await session.get(InboxMessage, message_id)
            assert message is not None
            if message.state != MessageState.RECEIVED:
                return message
            await asyncio.sleep(0.05)


async def deliver_and_wait(
    client: Client, sessions: Sessions, broker: Broker, body: bytes, media_type: str = JSON
) -> InboxMessage:
    return await processed(sessions, await deliver(client, broker, body, media_type))


async def received_acks(receiver: AckReceiver, broker: Broker, count: int) -> list[bytes]:
    """What the broker's endpoint took (acknowledgements, letters), once it has taken `count`."""
    path = broker.ack_url.removeprefix(receiver.base) if broker.ack_url else ""
    async with asyncio.timeout(15):
        while len(receiver.received[path]) < count:  # noqa: ASYNC110 (another thread fills it)
            await asyncio.sleep(0.05)
    return [body for _, body in receiver.received[path]]


async def stays_of(sessions: Sessions, municipality_id: uuid.UUID) -> list[HospitalStay]:
    async with sessions() as session:
        query = select(HospitalStay).where(HospitalStay.municipality_id == municipality_id)
        return list((await session.scalars(query)).all())


async def history(sessions: Sessions, stay_id: uuid.UUID) -> list[StayNotice]:
    """The stay's notices in event time."""
    async with sessions() as session:
        query = select(StayNotice).where(StayNotice.stay_id == stay_id).order_by(StayNotice.recorded_at)
        return list((await session.scalars(query)).all())


async def body_kept(sessions: Sessions, message_id: uuid.UUID) -> bytes | None:
    async with sessions() as session:
        row = await session.get(InboxBody, message_id)
        return None if row is None else row.body


def ack_of(message: InboxMessage) -> dict[str, Any]:
    """The acknowledgement Lindra built for the message, as FHIR JSON."""
    assert message.ack_body is not None
    decoded: dict[str, Any] = msgspec.json.decode(message.ack_body)
    return decoded


def ack_header(ack: dict[str, Any]) -> dict[str, Any]:
    header: dict[str, Any] = ack["entry"][0]["resource"]
    assert header["resourceType"] == "MessageHeader"
    return header


def ack_issue(ack: dict[str, Any]) -> dict[str, Any]:
    """The OperationOutcome issue of a refusal's acknowledgement."""
    (outcome,) = [e["resource"] for e in ack["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    issue: dict[str, Any] = outcome["issue"][0]
    return issue


class AckReceiver:
    """A real HTTP endpoint on a loopback port that takes acknowledgements, as a broker would.

    `fail[path]` answers that many posts to `path` with 503 before taking one.
    """

    def __init__(self) -> None:
        self.received: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        self.attempts: dict[str, int] = defaultdict(int)
        self.fail: dict[str, int] = defaultdict(int)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.attempts[self.path] += 1
                if receiver.fail[self.path] > 0:
                    receiver.fail[self.path] -= 1
                    self.send_response(503)
                else:
                    receiver.received[self.path].append((self.headers.get("Content-Type", ""), body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
