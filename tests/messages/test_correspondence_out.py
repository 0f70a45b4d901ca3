"""Letters from a case to the GP and the hospital (MedCom CareCommunication): drafts filled in from
the case, sent through the outbox to the broker, acknowledged, re-sent by MedCom's rules (new
Bundle.id, the same MessageHeader.id, at most twice, 30 minutes apart) and failed with the reason;
a reply quotes its thread; bad input is a clear error with nothing written."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select

from backend.clock import Clock
from backend.messages.acknowledgement import build_acknowledgement
from backend.messages.care_in import MAX_ATTACHMENT_BYTES, care_message_of
from backend.messages.care_out import validate
from backend.messages.codes import AckCode, AckError
from backend.messages.correspondence import RESEND_AFTER, resend_due
from backend.messages.fhir_parse import JSON_MEDIA_TYPE, Refusal, address_of
from backend.messages.models import AckOutbox, Correspondence, MessageState
from backend.messages.validation import message_header
from tests.cases.helpers import write_headers
from tests.factories import World
from tests.messages.helpers import (
    AckReceiver,
    Broker,
    Client,
    Sessions,
    care_example,
    deliver_and_wait,
    received_acks,
)
from tests.messages.letters import GP_SOR, OUR_SOR, communication, encode, ready_to_write, write_letter

PHONE = "+45 33 66 33 66"


async def thread_letters(client: Client, world: World, case_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/cases/{case_id}/correspondence", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    return [letter for thread in response.json()["threads"] for letter in thread["letters"]]


async def sent_bodies(sessions: Sessions, letter_id: str) -> list[dict[str, Any]]:
    """Every send of a letter the outbox holds, oldest first, as FHIR JSON."""
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(AckOutbox.body)
                .where(AckOutbox.correspondence_id == uuid.UUID(letter_id))
                .order_by(AckOutbox.created_at)
            )
        ).all()
    return [msgspec.json.decode(body) for body in rows]


def acknowledgement_of(letter: dict[str, Any], code: AckCode, refusal: Refusal | None = None) -> bytes:
    """The receiver's acknowledgement of a letter we sent, built as Lindra builds its own."""
    address = address_of(letter)
    assert address is not None
    answered_at = datetime.fromisoformat(letter["timestamp"]) + timedelta(minutes=1)
    return build_acknowledgement(address, code, refusal, answered_at, JSON_MEDIA_TYPE)


async def test_a_closing_note_is_drafted_from_the_case_edited_sent_and_acknowledged(
    client: Client,
    sessions: Sessions,
    world: World,
    broker: Broker,
    case_id: str,
    ack_receiver: AckReceiver,
) -> None:
    await ready_to_write(client, world, case_id)
    draft = await client.get(
        f"/cases/{case_id}/correspondence/draft",
        params={"kind": "closing_note", "recipient": "gp"},
        headers=world.nurse_a.headers,
    )
    assert draft.status_code == 200, draft.text
    filled = draft.json()
    assert (filled["category"], filled["topic"]) == ("carecoordination", "Afslutningsnotat")
    assert "Henvist" in filled["text"] and "afsluttes" in filled["text"]
    text = filled["text"] + "\nTak for samarbejdet."

    letter = await write_letter(
        client,
        world.nurse_a,
        case_id,
        {
            "recipient": "gp",
            "category": filled["category"],
            "topic": filled["topic"],
            "text": text,
            "kind": "closing_note",
            "contact_phone": PHONE,
        },
    )
    assert (letter["status"], letter["sends"], letter["recipient_name"]) == ("sending", 1, "Lægerne på Nørrebrogade")

    (taken,) = await received_acks(ack_receiver, broker, 1)
    sent = msgspec.json.decode(taken)
    validate(sent)
    header, _event = message_header(sent)
    assert header["destination"][0]["endpoint"].endswith(f"#id={GP_SOR}")
    assert header["source"]["endpoint"].endswith(f"#id={OUR_SOR}")
    assert communication(sent)["payload"][0]["contentString"] == text
    assert [letter["status"] for letter in await thread_letters(client, world, case_id)] == ["sent"]

    await deliver_and_wait(client, sessions, broker, acknowledgement_of(sent, AckCode.OK))

    (shown,) = await thread_letters(client, world, case_id)
    assert shown["status"] == "acknowledged" and shown["acknowledged_at"] is not None
    timeline = await client.get(f"/cases/{case_id}/timeline", headers=world.coordinator.headers)
    (entry,) = [item for item in timeline.json()["items"] if item["type"] == "correspondence"]
    assert (entry["direction"], entry["status"]) == ("out", "acknowledged")


async def test_without_an_acknowledgement_a_letter_is_sent_twice_more_then_fails_with_the_reason(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    await ready_to_write(client, world, case_id)
    letter = await write_letter(
        client,
        world.coordinator,
        case_id,
        {
            "recipient": "gp",
            "category": "nursing",
            "text": "Status: øget smerte.",
            "contact_phone": PHONE,
        },
    )
    sent_at = clock.now()

    await resend_due(sessions, sent_at + RESEND_AFTER - timedelta(minutes=1), RESEND_AFTER)
    assert len(await sent_bodies(sessions, letter["id"])) == 1  # not yet
    for sends in (2, 3):
        await resend_due(sessions, sent_at + (sends - 1) * RESEND_AFTER + timedelta(seconds=1), RESEND_AFTER)
        (shown,) = await thread_letters(client, world, case_id)
        assert (shown["sends"], shown["status"] in ("sending", "sent")) == (sends, True)
    await resend_due(sessions, sent_at + 3 * RESEND_AFTER + timedelta(seconds=2), RESEND_AFTER)

    (shown,) = await thread_letters(client, world, case_id)
    assert shown["status"] == "failed" and shown["sends"] == 3
    assert shown["failure_reason"].startswith("No acknowledgement after 3 sends")
    bodies = await sent_bodies(sessions, letter["id"])
    assert len({body["id"] for body in bodies}) == 3  # a new Bundle.id each time
    assert len({body["entry"][0]["resource"]["id"] for body in bodies}) == 1  # the same message
    for body in bodies:
        validate(body)


async def test_a_fatal_error_acknowledgement_fails_the_letter_with_the_receivers_reason(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, ack_receiver: AckReceiver
) -> None:
    await ready_to_write(client, world, case_id)
    await write_letter(
        client,
        world.coordinator,
        case_id,
        {
            "recipient": "gp",
            "category": "medicine",
            "text": "Midazolam mangler.",
            "contact_phone": PHONE,
        },
    )
    (taken,) = await received_acks(ack_receiver, broker, 1)
    refusal = Refusal(AckError.VALUE_SET_UNKNOWN, "Communication.category", "Unknown here.")

    answer = await deliver_and_wait(
        client, sessions, broker, acknowledgement_of(msgspec.json.decode(taken), AckCode.FATAL_ERROR, refusal)
    )

    assert answer.state == MessageState.APPLIED and answer.ack_body is None  # an acknowledgement is not answered
    (shown,) = await thread_letters(client, world, case_id)
    assert shown["status"] == "failed"
    assert "MSG_VALUESET_VALUE_UNKNOWN (Communication.category)" in shown["failure_reason"]


async def test_a_reply_quotes_its_thread_and_goes_to_whoever_wrote(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, ack_receiver: AckReceiver
) -> None:
    await ready_to_write(client, world, case_id)
    asked = care_example("add5e7e2")
    await deliver_and_wait(client, sessions, broker, encode(asked))
    (received,) = await thread_letters(client, world, case_id)

    reply = await write_letter(
        client,
        world.key_person,
        case_id,
        {
            "replies_to": received["id"],
            "text": "Prøverne er sendt i går.",
            "contact_phone": PHONE,
        },
    )

    assert (reply["activity"], reply["replies_to_id"], reply["thread_key"]) == (
        "reply-message",
        received["id"],
        received["thread_key"],
    )
    bodies = await received_acks(ack_receiver, broker, 2)  # the acknowledgement of the question, then the reply
    sent = next(msgspec.json.decode(b) for b in bodies if b"care-communication-message" in b)
    validate(sent)
    header, _event = message_header(sent)
    assert header["destination"][0]["endpoint"].endswith("#id=265161000016000")  # the hospital that asked
    read_back = care_message_of(sent, header)
    assert read_back.thread_key == "urn:uuid:b2eb3d0e-5de5-4de9-b2a3-0ff321ad1c3a"
    assert read_back.previous_header == asked["entry"][0]["resource"]["id"]
    assert [s.text for s in read_back.segments] == [
        communication(asked)["payload"][0]["contentString"],
        "Prøverne er sendt i går.",
    ]
    assert [s.author_name for s in read_back.segments] == ["Michael Burns", "Test Person"]


async def test_the_notice_of_a_death_at_home_is_drafted_once_the_death_is_registered(
    client: Client, world: World, case_id: str, clock: Clock
) -> None:
    await ready_to_write(client, world, case_id)
    url = f"/cases/{case_id}/correspondence/draft"
    params = {"kind": "death_notice", "recipient": "gp"}
    before = await client.get(url, params=params, headers=world.nurse_a.headers)
    assert (before.status_code, before.json()["rule"]) == (409, "no_death_at_home")

    died_at = (clock.now() - timedelta(hours=2)).replace(microsecond=0)
    death = {"died_at": died_at.isoformat(), "place": "home", "present": "Datteren", "gp_informed": True}
    registered = await client.post(f"/cases/{case_id}/death", json=death, headers=write_headers(world.nurse_a))
    assert registered.status_code in (200, 201), registered.text

    draft = (await client.get(url, params=params, headers=world.nurse_a.headers)).json()
    assert (draft["category"], draft["topic"]) == ("decease", "Dødsfald i eget hjem")
    assert "døde i eget hjem" in draft["text"] and "Til stede: Datteren." in draft["text"]
    assert "dødsattest" in draft["text"]


def _pdf(size: int) -> str:
    return base64.b64encode(b"%PDF" + b"x" * (size - 4)).decode()


BAD: dict[str, tuple[dict[str, Any], int, str]] = {
    "a recipient without SOR": ({"recipient": "hospital_department"}, 422, "recipient"),
    "a reply to a thread we do not know": ({"recipient": None, "replies_to": str(uuid.uuid4())}, 422, "replies_to"),
    "a text too long for its element": ({"text": "x" * 20_001}, 400, "text"),
    "an attachment type we do not accept": (
        {"attachments": [{"title": "Notat", "content_type": "text/html", "data": _pdf(100)}]},
        422,
        "attachments[0].content_type",
    ),
    "an attachment too large": (
        {"attachments": [{"title": "Scan", "content_type": "application/pdf", "data": _pdf(MAX_ATTACHMENT_BYTES + 1)}]},
        413,
        "attachments[0].data",
    ),
    "a category outside MedCom's list": ({"category": "gossip"}, 422, "category"),
}


@pytest.mark.parametrize("fault", sorted(BAD))
async def test_a_bad_letter_is_a_clear_error_and_nothing_is_written(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, fault: str
) -> None:
    await ready_to_write(client, world, case_id)
    change, status, field = BAD[fault]
    body = {"recipient": "gp", "category": "nursing", "text": "Hej.", "contact_phone": PHONE} | change

    problem = await write_letter(client, world.nurse_a, case_id, body, status=status)

    assert field in problem.get("field", "") + str(problem.get("detail", "")), problem
    async with sessions() as session:
        letters = await session.scalar(
            select(func.count()).where(Correspondence.municipality_id == world.municipality_id)
        )
    assert letters == 0
    assert await thread_letters(client, world, case_id) == []


async def test_a_retried_letter_is_written_and_sent_once(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    await ready_to_write(client, world, case_id)
    body = {"recipient": "gp", "category": "nursing", "text": "Øget uro.", "contact_phone": PHONE}
    headers = write_headers(world.nurse_a)

    first = await client.post(f"/cases/{case_id}/correspondence", json=body, headers=headers)
    again = await client.post(f"/cases/{case_id}/correspondence", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["idempotency-replayed"] == "true"
    assert len(await thread_letters(client, world, case_id)) == 1
    assert len(await sent_bodies(sessions, first.json()["id"])) == 1
