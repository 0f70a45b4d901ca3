"""Letters from the phone: a nurse at the bedside takes a draft filled in from the case and sends
it, or replies in a thread, with an Idempotency-Key; a weak signal's retry sends once; she sees each
letter's state, and why one failed; a bad recipient is problem+json naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from backend.messages.codes import AckCode, AckError
from backend.messages.fhir_parse import Refusal
from tests.cases.helpers import write_headers
from tests.factories import Login, World
from tests.messages.helpers import AckReceiver, Broker, Client, Sessions, care_example, deliver_and_wait, received_acks
from tests.messages.letters import encode, ready_to_write
from tests.messages.test_correspondence_out import PHONE, acknowledgement_of, sent_bodies

PHONE_API = "/mobile/v1/cases/{case_id}/correspondence"


async def send_from_phone(client: Client, login: Login, case_id: str, body: dict[str, Any], key: str) -> Any:
    return await client.post(PHONE_API.format(case_id=case_id), json=body, headers=write_headers(login, key))


async def letters_on_phone(client: Client, login: Login, case_id: str) -> list[dict[str, Any]]:
    response = await client.get(PHONE_API.format(case_id=case_id), headers=login.headers)
    assert response.status_code == 200, response.text
    return [letter for thread in response.json()["threads"] for letter in thread["letters"]]


async def test_a_nurse_sends_a_status_note_from_the_phone_and_a_retry_sends_it_once(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, ack_receiver: AckReceiver
) -> None:
    await ready_to_write(client, world, case_id)
    draft = await client.get(
        PHONE_API.format(case_id=case_id) + "/draft",
        params={"kind": "status_note", "recipient": "gp"},
        headers=world.nurse_a.headers,
    )
    assert draft.status_code == 200, draft.text
    filled = draft.json()
    assert filled["topic"] == "Statusnotat" and "PN-medicin" in filled["text"]
    body = {
        "recipient": "gp",
        "category": filled["category"],
        "topic": filled["topic"],
        "text": filled["text"] + "\nØget uro i nat.",
        "kind": "status_note",
        "contact_phone": PHONE,
    }
    key = str(uuid.uuid4())

    first = await send_from_phone(client, world.nurse_a, case_id, body, key)
    again = await send_from_phone(client, world.nurse_a, case_id, body, key)  # the answer was lost on the way

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json() and again.headers["idempotency-replayed"] == "true"
    assert first.json()["status"] == "sending"
    (taken,) = await received_acks(ack_receiver, broker, 1)
    assert len(await sent_bodies(sessions, first.json()["id"])) == 1
    (shown,) = await letters_on_phone(client, world.nurse_a, case_id)
    assert (shown["id"], shown["status"], shown["direction"]) == (first.json()["id"], "sent", "out")

    await deliver_and_wait(client, sessions, broker, acknowledgement_of(msgspec.json.decode(taken), AckCode.OK))
    (shown,) = await letters_on_phone(client, world.nurse_a, case_id)
    assert shown["status"] == "acknowledged"


async def test_a_reply_from_the_phone_answers_the_gp_and_a_refusal_shows_why(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, ack_receiver: AckReceiver
) -> None:
    await ready_to_write(client, world, case_id)
    await deliver_and_wait(client, sessions, broker, encode(care_example("add5e7e2")))
    (received,) = await letters_on_phone(client, world.nurse_a, case_id)

    reply = await send_from_phone(
        client,
        world.nurse_a,
        case_id,
        {"replies_to": received["id"], "text": "Midazolam er i hjemmet.", "contact_phone": PHONE},
        str(uuid.uuid4()),
    )
    assert reply.status_code == 201, reply.text
    assert (reply.json()["thread_key"], reply.json()["activity"]) == (received["thread_key"], "reply-message")
    await received_acks(ack_receiver, broker, 2)  # the received letter's acknowledgement, and the reply
    (sent,) = await sent_bodies(sessions, reply.json()["id"])
    refusal = Refusal(AckError.RECEIVER_UNKNOWN, "MessageHeader.destination", "No such receiver.")
    await deliver_and_wait(client, sessions, broker, acknowledgement_of(sent, AckCode.FATAL_ERROR, refusal))

    shown = {letter["id"]: letter for letter in await letters_on_phone(client, world.nurse_a, case_id)}
    failed = shown[reply.json()["id"]]
    assert (failed["status"], failed["failure_code"], failed["refusal_code"]) == (
        "failed",
        "refused",
        "MSG_Receiver_Identifier_UNKNOWN",
    )


async def test_a_bad_recipient_from_the_phone_is_a_problem_naming_the_field_and_nothing_is_sent(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    await ready_to_write(client, world, case_id, gp_sor=None)
    body = {"recipient": "gp", "category": "nursing", "text": "Øget uro.", "contact_phone": PHONE}

    no_sor = await send_from_phone(client, world.nurse_a, case_id, body, str(uuid.uuid4()))
    unknown = await send_from_phone(
        client, world.nurse_a, case_id, body | {"recipient": "neighbour"}, str(uuid.uuid4())
    )

    assert no_sor.status_code == 422 and no_sor.headers["content-type"].startswith("application/problem+json")
    assert (no_sor.json()["field"], no_sor.json()["rule"]) == ("recipient", "recipient_sor")
    assert "SOR" in no_sor.json()["detail"]
    assert unknown.status_code == 400 and unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["field"] == "recipient", unknown.json()
    assert await letters_on_phone(client, world.nurse_a, case_id) == []
