"""Leavers are out at once: the provider's back-channel logout signs out her devices and closes
her WebSockets; and the provider's keys may rotate under a running Lindra."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect

from backend.audit.models import AuditEntry
from backend.people.federation.discovery import ProviderDirectory, Untrusted
from tests.oidc.conftest import Federated
from tests.oidc.idp import NURSES, Phone
from tests.realtime.helpers import close_code, next_frame

Sessions = async_sessionmaker[AsyncSession]


async def test_the_providers_back_channel_logout_signs_her_out_and_closes_her_socket_within_a_second(
    phone: Phone, federated: Federated, person: str, sessions: Sessions
) -> None:
    await federated.provider.account(person, groups=[NURSES])
    tokens = (await phone.sign_in(person)).json()
    socket = await connect(federated.url.replace("http", "ws") + "/ws")
    await socket.send(json.dumps({"type": "auth", "token": tokens["access_token"]}))
    while (await next_frame(socket))["type"] != "ready":
        pass

    signed_out_at = time.monotonic()
    await phone.browser.sign_out()  # at the provider, which tells Lindra over the back channel

    assert await close_code(socket, seconds=1.0) == 4410
    assert time.monotonic() - signed_out_at < 1.0
    assert (await phone.refresh()).status_code == 401
    me = await phone.api.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    async with sessions() as session:
        audited = await session.scalar(
            select(AuditEntry.detail).where(
                AuditEntry.role == "identity_provider",
                AuditEntry.action == "user.devices.revoke",
                AuditEntry.detail["device_id"].astext == tokens["device_id"],
            )
        )
    assert audited == {"device_id": tokens["device_id"], "reason": "provider_logout"}


async def test_a_key_rotation_at_the_provider_is_followed_without_a_restart(
    phone: Phone, federated: Federated, person: str
) -> None:
    await federated.provider.account(person, groups=[NURSES])
    assert (await phone.sign_in(person)).status_code == 200
    fetched = federated.directory.key_fetches

    await federated.provider.rotate()
    answer = await phone.sign_in(person)  # its ID token is signed with the new key

    assert answer.status_code == 200, answer.text
    assert federated.directory.key_fetches == fetched + 1
    assert (await phone.refresh()).status_code == 200


async def test_unknown_key_ids_fetch_the_providers_keys_at_most_once_a_minute(federated: Federated) -> None:
    async with httpx.AsyncClient() as http:
        directory = ProviderDirectory(http, refetch_seconds=60)
        metadata = await directory.metadata(federated.provider.issuer)
        together = await asyncio.gather(
            *(directory.key(metadata, f"made-up-{n}") for n in range(5)), return_exceptions=True
        )
        one_by_one = [await asyncio.gather(directory.key(metadata, "made-up-again"), return_exceptions=True)]
    assert all(isinstance(answer, Untrusted) for answer in [*together, *one_by_one[0]])
    assert directory.key_fetches == 1
