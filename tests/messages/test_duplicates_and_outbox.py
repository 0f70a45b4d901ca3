"""Duplicates, two instances at once, the outbox to a real HTTP endpoint, the care record's switch,
and who may deliver at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from sqlalchemy import func, select

from backend.clock import Clock
from backend.messages.models import AckOutbox, InboxBody, InboxMessage, MessageState, StayNotice
from backend.messages.outbox import send_due
from backend.messages.service import process_waiting
from tests.factories import World
from tests.messages.helpers import (
    AckReceiver,
    Broker,
    Client,
    Sessions,
    ack_header,
    ack_of,
    deliver,
    deliver_and_wait,
    example,
    processed,
    received_acks,
    stays_of,
)


async def test_the_same_message_twice_gets_the_same_acknowledgement_bytes_and_one_effect(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, ack_receiver: AckReceiver
) -> None:
    first = await deliver_and_wait(client, sessions, broker, example("a5e5b880"))
    again = await deliver_and_wait(client, sessions, broker, example("a5e5b880"))

    assert again.state == MessageState.DUPLICATE and again.duplicate_of == first.id
    assert again.ack_body == first.ack_body
    assert await received_acks(ack_receiver, broker, 2) == [first.ack_body, first.ack_body]
    (stay,) = await stays_of(sessions, world.municipality_id)
    async with sessions() as session:
        notices = await session.scalar(select(func.count()).where(StayNotice.stay_id == stay.id))
    assert notices == 1
    listed = (await client.get("/messages", headers=world.admin.headers)).json()
    assert [(m["id"], m["duplicates"]) for m in listed["messages"]] == [(str(first.id), 1)]  # shown once
    assert listed["counts"] == {"applied": 1}


async def test_two_instances_holding_the_same_message_at_once_give_one_effect_and_one_answer(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    body = example("d3128d9b")
    ids = await asyncio.gather(deliver(client, broker, body), deliver(client, broker, body))
    await asyncio.gather(process_waiting(sessions, clock.now()), process_waiting(sessions, clock.now()))

    one, other = [await processed(sessions, message_id) for message_id in ids]
    assert sorted([one.state, other.state]) == [MessageState.APPLIED, MessageState.DUPLICATE]
    assert one.ack_body == other.ack_body is not None
    (stay,) = await stays_of(sessions, world.municipality_id)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(StayNotice.stay_id == stay.id)) == 1


async def test_the_outbox_tries_again_after_the_broker_fails(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, ack_receiver: AckReceiver
) -> None:
    assert broker.ack_url is not None
    ack_receiver.fail[broker.ack_url.removeprefix(ack_receiver.base)] = 1

    message = await deliver_and_wait(client, sessions, broker, example("a5e5b880"))

    assert await received_acks(ack_receiver, broker, 1) == [message.ack_body]
    assert ack_receiver.attempts[broker.ack_url.removeprefix(ack_receiver.base)] == 2
    async with sessions() as session:
        row = (await session.scalars(select(AckOutbox).where(AckOutbox.message_id == message.id))).one()
    assert (row.status, row.attempts) == ("sent", 2)


async def test_when_the_care_record_acknowledges_lindra_keeps_its_acknowledgement_and_sends_nothing(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, ack_receiver: AckReceiver
) -> None:
    switched = await client.put(
        "/messages/settings", json={"care_record_acknowledges": True}, headers=world.admin.headers
    )
    assert switched.status_code == 200, switched.text

    message = await deliver_and_wait(client, sessions, broker, example("a5e5b880"))

    assert message.state == MessageState.APPLIED and message.ack_code == "ok" and message.ack_body
    async with sessions() as session:
        assert (await session.scalars(select(AckOutbox).where(AckOutbox.message_id == message.id))).all() == []
    async with httpx.AsyncClient() as http:
        await send_due(sessions, http, datetime.now(UTC) + timedelta(hours=1))
    assert ack_receiver.attempts[(broker.ack_url or "").removeprefix(ack_receiver.base)] == 0


async def test_a_citizen_without_a_case_is_acknowledged_ok_and_nothing_about_them_is_kept(
    client: Client, sessions: Sessions, world: World, broker: Broker
) -> None:
    message = await deliver_and_wait(client, sessions, broker, example("a5e5b880"))

    assert message.state == MessageState.NOT_OURS and message.ack_code == "ok"
    assert message.event_code is None
    async with sessions() as session:
        assert await session.get(InboxMessage, message.id) is not None  # it counts
        assert await session.get(InboxBody, message.id) is None  # the bytes (CPR, name) are gone
    assert await stays_of(sessions, world.municipality_id) == []
    listed = (await client.get("/messages", headers=world.admin.headers)).json()
    assert listed["counts"] == {"not_ours": 1}


async def test_only_a_system_client_with_the_inbox_role_may_deliver(
    client: Client, world: World, broker: Broker
) -> None:
    body = example("a5e5b880")
    json_type = {"Content-Type": "application/fhir+json"}
    for headers in ({}, world.admin.headers, world.coordinator.headers, {"Authorization": "Bearer lindra_sc_guess"}):
        response = await client.post("/messages/inbox", content=body, headers=headers | json_type)
        assert response.status_code == 401, response.text
    as_person = await client.get("/messages", headers=broker.headers)
    assert as_person.status_code == 401  # the client's secret is no person's token
    wrong_type = await client.post(
        "/messages/inbox", content=body, headers=broker.headers | {"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415


async def test_a_fault_on_our_side_answers_transient_error_never_ok_and_a_resend_is_then_applied(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, database_url: str
) -> None:
    owner = await asyncpg.connect(database_url)
    await owner.execute("REVOKE INSERT ON hospital_stays FROM lindra_app")  # every attempt fails on our side
    try:
        failed = await deliver_and_wait(client, sessions, broker, example("a5e5b880"))
    finally:
        await owner.execute("GRANT INSERT ON hospital_stays TO lindra_app")
        await owner.close()

    assert (failed.state, failed.ack_code) == (MessageState.FAILED, "transient-error")
    assert ack_header(ack_of(failed))["response"]["code"] == "transient-error"
    assert await stays_of(sessions, world.municipality_id) == []
    case = (await client.get(f"/cases/{case_id}", headers=world.coordinator.headers)).json()
    assert case["status"] != "admitted"  # nothing half-applied

    again = await deliver_and_wait(client, sessions, broker, example("a5e5b880"))  # the hospital re-sends
    assert (again.state, again.ack_code) == (MessageState.APPLIED, "ok")
    assert len(await stays_of(sessions, world.municipality_id)) == 1
