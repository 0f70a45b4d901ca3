"""Letters from the GP and the hospital (MedCom CareCommunication) landing on a case: MedCom's own
examples as threads on the case's timeline, unread for the key person and the contact person on
the board and the phone, refused with a fatal-error acknowledgement when they cannot land."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select, text

from backend.messages.acknowledgement import validated_acknowledgement
from backend.messages.care_in import MAX_ATTACHMENT_BYTES, MAX_TEXT
from backend.messages.models import Correspondence, CorrespondenceSegment, MessageState
from tests.factories import World
from tests.messages.helpers import (
    XML,
    Broker,
    Client,
    Sessions,
    ack_header,
    ack_issue,
    ack_of,
    body_kept,
    care_example,
    deliver_and_wait,
)
from tests.messages.letters import communication, encode, set_care_team

NEW, THREAD, CARECOORDINATION = "add5e7e2", "3dcb5618", "k7bfbc0c"


async def correspondence(client: Client, world: World, case_id: str) -> dict[str, Any]:
    response = await client.get(f"/cases/{case_id}/correspondence", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def letters_kept(sessions: Sessions, world: World) -> tuple[int, int]:
    """How many letters and segments the world's municipality holds."""
    async with sessions() as session:
        letters = await session.scalar(
            select(func.count()).where(Correspondence.municipality_id == world.municipality_id)
        )
        segments = await session.scalar(
            select(func.count()).where(CorrespondenceSegment.municipality_id == world.municipality_id)
        )
    return int(letters or 0), int(segments or 0)


async def test_medcoms_examples_land_on_the_case_as_threads_on_its_timeline(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    for name in (NEW, THREAD, CARECOORDINATION):
        message = await deliver_and_wait(client, sessions, broker, encode(care_example(name)))
        assert (message.state, message.ack_code) == (MessageState.APPLIED, "ok"), message.reason
        validated_acknowledgement(ack_of(message))

    threads = (await correspondence(client, world, case_id))["threads"]
    by_key = {t["thread_key"]: t for t in threads}
    asked = by_key["urn:uuid:b2eb3d0e-5de5-4de9-b2a3-0ff321ad1c3a"]
    assert [letter["activity"] for letter in asked["letters"]] == ["new-message", "reply-message"]
    assert asked["letters"][1]["replies_to_id"] == asked["letters"][0]["id"]
    assert asked["category"] == "examination-results"
    # The reply repeats the first segment: it is kept once, and the thread reads in order.
    texts = [s["text"][:20] if s["text"] else s["attachment"]["content_type"] for s in asked["segments"]]
    assert texts == ["Til rette vedkommend", "Hej Michael, Resulta", "application/pdf", "Mange tak for fremse"]
    first = asked["segments"][0]
    assert (first["author_name"], first["author_role"], first["author_phone"]) == (
        "Michael Burns",
        "sygeplejerske",
        "38683868",
    )
    assert first["organisation_name"] == "Hjerteafdelingen på Herlev og Gentofte hospital"
    pdf = asked["segments"][2]["attachment"]
    assert (pdf["title"], pdf["has_content"]) == ("Blodprøveresultater", False)
    coordination = by_key["urn:uuid:59aac95e-ca57-4b04-b075-9880b7e6441c"]  # answers an OIOXML letter
    assert coordination["category"] == "carecoordination" and len(coordination["letters"]) == 1

    timeline = await client.get(f"/cases/{case_id}/timeline", headers=world.coordinator.headers)
    letters = [item for item in timeline.json()["items"] if item["type"] == "correspondence"]
    assert len(letters) == 3
    assert {item["direction"] for item in letters} == {"in"}


async def test_a_letter_is_unread_for_the_key_person_and_the_contact_person_until_each_reads_it(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    await set_care_team(
        client,
        world,
        case_id,
        key_person_id=str(world.key_person.user_id),
        contact_person_id=str(world.nurse_a.user_id),
    )
    await deliver_and_wait(client, sessions, broker, encode(care_example(NEW)))

    board = await client.get("/correspondence/unread", headers=world.key_person.headers)
    phone = await client.get("/mobile/v1/correspondence/unread", headers=world.nurse_a.headers)
    others = await client.get("/correspondence/unread", headers=world.coordinator.headers)
    assert board.json() == {"total": 1, "cases": [{"case_id": case_id, "unread": 1}]}
    assert phone.json() == board.json()
    assert others.json() == {"total": 0, "cases": []}

    threads = await client.get(f"/mobile/v1/cases/{case_id}/correspondence", headers=world.nurse_a.headers)
    (letter,) = threads.json()["threads"][0]["letters"]
    assert letter["unread"] is True
    read = await client.post(
        f"/mobile/v1/cases/{case_id}/correspondence/{letter['id']}/read", headers=world.nurse_a.headers
    )
    assert read.status_code == 200, read.text

    assert (await client.get("/mobile/v1/correspondence/unread", headers=world.nurse_a.headers)).json()["total"] == 0
    assert (await client.get("/correspondence/unread", headers=world.key_person.headers)).json()["total"] == 1
    async with sessions() as session:
        audited = await session.scalar(
            text("SELECT count(*) FROM audit_log WHERE action = 'case.correspondence.mark_read' AND user_id = :u"),
            {"u": world.nurse_a.user_id},
        )
    assert audited == 1


async def test_an_attachment_with_content_lands_and_is_read_back_byte_for_byte(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 8
    message = care_example(NEW)
    communication(message)["payload"].append(_attachment(message, "application/pdf", pdf))

    landed = await deliver_and_wait(client, sessions, broker, encode(message))

    assert landed.state == MessageState.APPLIED, landed.reason
    segments = (await correspondence(client, world, case_id))["threads"][0]["segments"]
    attachment = segments[-1]
    assert attachment["attachment"] == {
        "title": "Epikrise",
        "content_type": "application/pdf",
        "size": len(pdf),
        "url": None,
        "has_content": True,
    }
    got = await client.get(
        f"/cases/{case_id}/correspondence/attachments/{attachment['id']}", headers=world.coordinator.headers
    )
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"].startswith("application/pdf")
    assert got.headers["x-content-type-options"] == "nosniff"


async def test_a_letter_about_a_citizen_without_a_case_is_refused_and_nothing_about_them_is_kept(
    client: Client, sessions: Sessions, world: World, broker: Broker
) -> None:
    message = await deliver_and_wait(client, sessions, broker, encode(care_example(NEW)))

    assert (message.state, message.ack_code) == (MessageState.REFUSED, "fatal-error")
    assert ack_issue(ack_of(message))["details"]["coding"][0]["code"] == "MSG_Receiver_Identifier_UNKNOWN"
    assert await body_kept(sessions, message.id) is None
    assert await letters_kept(sessions, world) == (0, 0)
    assert "2509479989" not in (message.reason or "")


def _attachment(message: dict[str, Any], content_type: str, data: bytes) -> dict[str, Any]:
    first = communication(message)["payload"][0]
    return {
        "extension": [
            first["extension"][0],
            {
                **first["extension"][1],
                "valueIdentifier": {**first["extension"][1]["valueIdentifier"], "value": f"urn:uuid:{uuid.uuid4()}"},
            },
        ],
        "contentAttachment": {
            "contentType": content_type,
            "title": "Epikrise",
            "data": base64.b64encode(data).decode(),
        },
    }


def _reply_to_unknown(message: dict[str, Any]) -> None:
    communication(message)["identifier"][0]["value"] = f"urn:uuid:{uuid.uuid4()}"
    provenance = next(e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Provenance")
    provenance["activity"]["coding"][0]["code"] = "reply-message"
    provenance["entity"].append({"role": "revision", "what": {"reference": f"MessageHeader/{uuid.uuid4()}"}})


def _too_long(message: dict[str, Any]) -> None:
    communication(message)["payload"][0]["contentString"] = "x" * (MAX_TEXT + 1)


def _html_attachment(message: dict[str, Any]) -> None:
    communication(message)["payload"].append(_attachment(message, "text/html", b"<p>hej</p>"))


def _too_large(message: dict[str, Any]) -> None:
    communication(message)["payload"].append(_attachment(message, "application/pdf", b"x" * (MAX_ATTACHMENT_BYTES + 1)))


def _unknown_category(message: dict[str, Any]) -> None:
    communication(message)["category"][0]["coding"][0]["code"] = "gossip"


BAD: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "a reply to a thread we do not know": (_reply_to_unknown, "MSG_Datatype_Wrong", "Provenance.entity.what.reference"),
    "a text too long for its element": (_too_long, "MSG_Element_To_Long", "Communication.payload[0].contentString"),
    "an attachment type we do not accept": (
        _html_attachment,
        "MSG_VALUESET_VALUE_UNKNOWN",
        "Communication.payload[1].contentAttachment.contentType",
    ),
    "an attachment too large": (_too_large, "MSG_Element_To_Long", "Communication.payload[1].contentAttachment.data"),
    "a category outside MedCom's list": (
        _unknown_category,
        "MSG_VALUESET_VALUE_UNKNOWN",
        "Communication.category.coding.code",
    ),
}


@pytest.mark.parametrize("fault", sorted(BAD))
async def test_a_bad_letter_is_answered_fatal_error_naming_the_element_with_nothing_half_written(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, fault: str
) -> None:
    change, code, element = BAD[fault]
    message = care_example(NEW)
    change(message)

    refused = await deliver_and_wait(client, sessions, broker, msgspec.json.encode(message))

    assert (refused.state, refused.ack_code) == (MessageState.REFUSED, "fatal-error")
    ack = ack_of(refused)
    validated_acknowledgement(ack)
    assert ack_header(ack)["response"]["identifier"] == message["entry"][0]["resource"]["id"]
    issue = ack_issue(ack)
    assert (issue["details"]["coding"][0]["code"], issue["expression"]) == (code, [element])
    assert await letters_kept(sessions, world) == (0, 0)
    assert (await correspondence(client, world, case_id))["threads"] == []


async def test_the_same_letter_twice_is_kept_once_and_answered_alike(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    first = await deliver_and_wait(client, sessions, broker, encode(care_example(NEW)))
    again = await deliver_and_wait(client, sessions, broker, encode(care_example(NEW)))

    assert (again.state, again.ack_body) == (MessageState.DUPLICATE, first.ack_body)
    assert await letters_kept(sessions, world) == (1, 1)


async def test_the_neighbouring_municipality_sees_none_of_the_letters(
    client: Client, sessions: Sessions, world: World, neighbour: World, broker: Broker, case_id: str
) -> None:
    await deliver_and_wait(client, sessions, broker, encode(care_example(NEW)))

    seen = await client.get(f"/cases/{case_id}/correspondence", headers=neighbour.coordinator.headers)
    unread = await client.get("/correspondence/unread", headers=neighbour.key_person.headers)

    assert seen.status_code == 404
    assert unread.json() == {"total": 0, "cases": []}


async def test_a_letter_in_fhir_xml_lands_like_its_json_twin_and_is_answered_in_xml(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    as_xml = Bundle.model_validate(care_example(NEW)).model_dump_xml()
    body = as_xml if isinstance(as_xml, bytes) else as_xml.encode()

    landed = await deliver_and_wait(client, sessions, broker, body, XML)

    assert (landed.state, landed.ack_code, landed.ack_media_type) == (MessageState.APPLIED, "ok", XML)
    (thread,) = (await correspondence(client, world, case_id))["threads"]
    assert thread["segments"][0]["text"].startswith("Til rette vedkommende")
