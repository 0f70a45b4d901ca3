"""`lindra client create`: the operator makes a municipality's broker, whose secret then delivers."""

from __future__ import annotations

import asyncio

import pytest

from backend.cli import main
from tests.factories import World
from tests.messages.helpers import Broker, Client, example


async def test_the_operator_creates_a_broker_whose_secret_delivers_to_the_inbox(
    client: Client, world: World, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    command = ["client", "create", "--municipality", str(world.municipality_id), "--name", "BeskedFordeler"]

    assert await asyncio.to_thread(main, command) == 0

    secret = capsys.readouterr().out.strip().splitlines()[-1]
    response = await client.post(
        "/messages/inbox",
        content=example("a5e5b880"),
        headers=Broker(secret, None).headers | {"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 202, response.text
