"""Fixtures for MedCom messages: a local broker endpoint for acknowledgements, a broker per world,
and the world's citizen with MedCom's test CPR and a case."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from backend.clock import Clock
from backend.messages.clients import create_client
from backend.messages.models import ClientRole
from tests.cases.helpers import create_case
from tests.factories import World
from tests.messages.helpers import EXAMPLE_CPR, AckReceiver, Broker, Client, Sessions


@pytest.fixture(scope="session")
def ack_receiver() -> Iterator[AckReceiver]:
    receiver = AckReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


async def make_broker(sessions: Sessions, municipality_id: uuid.UUID, ack_url: str | None) -> Broker:
    async with sessions.begin() as session:
        _, secret = await create_client(session, municipality_id, "BeskedFordeler", ClientRole.INBOX, ack_url)
    return Broker(secret, ack_url)


@pytest.fixture
async def broker(sessions: Sessions, world: World, ack_receiver: AckReceiver) -> Broker:
    """The world's message broker, taking acknowledgements at a path of its own on the receiver."""
    return await make_broker(sessions, world.municipality_id, f"{ack_receiver.base}/acks/{uuid.uuid4()}")


@pytest.fixture
async def case_id(client: Client, world: World, clock: Clock) -> str:
    """The world's case of the citizen MedCom's examples are about."""
    created = await create_case(
        client, world.coordinator, world.district_a, clock.today() - timedelta(days=3), cpr=EXAMPLE_CPR
    )
    return str(created["id"])
