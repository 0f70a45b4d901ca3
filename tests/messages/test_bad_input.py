"""Bad input: each gets a fatal-error acknowledgement whose OperationOutcome names the element,
the raw message is kept with its error, nothing is applied, and the broker never sees a 500."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.messages.acknowledgement import validated_acknowledgement
from backend.messages.fhir_parse import MAX_MESSAGE_BYTES
from backend.messages.models import MessageState
from tests.factories import World
from tests.messages import builder
from tests.messages.helpers import (
    EXAMPLE_CPR,
    XML,
    Broker,
    Client,
    Sessions,
    ack_header,
    ack_issue,
    ack_of,
    body_kept,
    deliver,
    deliver_and_wait,
    example,
    processed,
    stays_of,
)

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def admission(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "cpr": EXAMPLE_CPR,
        "episode": "5b1d0c3e-0000-4000-8000-000000000001",
        "start": START,
        "recorded": START + timedelta(seconds=2),
        "status": "in-progress",
    }
    return builder.notification("STIN", **(values | changes))


def only_the_header(message: dict[str, Any]) -> dict[str, Any]:
    return builder.resource(message, "MessageHeader")


def care_communication(message: dict[str, Any]) -> dict[str, Any]:
    builder.resource(message, "MessageHeader")["eventCoding"]["code"] = "hospital-referral-message"
    return message


def two_patients(message: dict[str, Any]) -> dict[str, Any]:
    second = dict(builder.resource(message, "Patient"), id="another-patient")
    message["entry"].append({"fullUrl": "https://hospital.example/fhir/Patient/another-patient", "resource": second})
    return message


def cpr_system_missing(message: dict[str, Any]) -> dict[str, Any]:
    builder.resource(message, "Patient")["identifier"][0]["system"] = "urn:oid:1.2.208.176.1.99"
    return message


def cc_receiver(message: dict[str, Any]) -> dict[str, Any]:
    header = builder.resource(message, "MessageHeader")
    cc = {**header["destination"][0], "endpoint": "https://sor2.sum.dsdn.dk/#id=1"}
    cc["extension"] = [{**cc["extension"][0], "valueCoding": {**cc["extension"][0]["valueCoding"], "code": "cc"}}]
    header["destination"].append(cc)
    return message


def unknown_activity(message: dict[str, Any]) -> dict[str, Any]:
    builder.resource(message, "Provenance")["activity"]["coding"][0]["code"] = "admit-somewhere-else"
    return message


def leave_without_start(message: dict[str, Any]) -> dict[str, Any]:
    builder.resource(message, "Encounter")["status"] = "onleave"
    builder.resource(message, "Provenance")["activity"]["coding"][0]["code"] = "start-leave-inpatient"
    return message


def bogus_status(message: dict[str, Any]) -> dict[str, Any]:
    builder.resource(message, "Encounter")["status"] = "bogus-status"  # fhir.resources lets this pass
    return message


def oversized(message: dict[str, Any]) -> dict[str, Any]:
    padding = '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * (MAX_MESSAGE_BYTES + 1000) + "</div>"
    builder.resource(message, "Patient")["text"] = {"status": "generated", "div": padding}
    return message


BAD: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str, str]] = {
    "not a Bundle": (only_the_header, "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE", "Bundle"),
    "another message type": (
        care_communication,
        "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE",
        "MessageHeader.eventCoding",
    ),
    "two patients": (two_patients, "MSG_Datatype_Wrong", "Bundle.entry:Patient"),
    "a Patient without the CPR system": (cpr_system_missing, "MSG_Datatype_Wrong", "Patient.identifier.system"),
    "a cc receiver": (cc_receiver, "MSG_VALUESET_VALUE_UNKNOWN", "MessageHeader.destination.extension:use"),
    "an unknown activity": (unknown_activity, "MSG_VALUESET_VALUE_UNKNOWN", "Provenance.activity.coding.code"),
    "onleave without a leave start": (
        leave_without_start,
        "MSG_Datatype_Wrong",
        "Encounter.extension:leavePeriod.valuePeriod.start",
    ),
    "an Encounter status outside the value set": (bogus_status, "MSG_VALUESET_VALUE_UNKNOWN", "Encounter.status"),
    "an oversized body": (oversized, "MSG_Element_To_Long", "Bundle"),
}


async def assert_refused(
    sessions: Sessions, world: World, message_id: Any, body: bytes, error: str, element: str
) -> None:
    message = await processed(sessions, message_id)
    assert message.state == MessageState.REFUSED
    assert (message.error_code, message.error_element) == (error, element)
    ack = ack_of(message) if message.ack_media_type != XML else None
    if ack is not None:
        validated_acknowledgement(ack)
        assert ack_header(ack)["response"]["code"] == "fatal-error"
        assert ack_header(ack)["response"]["identifier"] == message.header_id
        issue = ack_issue(ack)
        assert issue["details"]["coding"][0]["code"] == error
        assert issue["expression"] == [element]
    assert await body_kept(sessions, message_id) == body  # kept with its error
    assert await stays_of(sessions, world.municipality_id) == []  # nothing applied


@pytest.mark.parametrize("bad", sorted(BAD))
async def test_bad_input_is_answered_fatal_error_naming_the_element(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, bad: str
) -> None:
    change, error, element = BAD[bad]
    body = builder.encode(change(admission()))

    await assert_refused(sessions, world, await deliver(client, broker, body), body, error, element)


async def test_a_bundle_id_reused_under_a_new_header_id_is_fatal_error_and_the_first_stands(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    first = admission()
    await deliver_and_wait(client, sessions, broker, builder.encode(first))
    reused = admission(episode="5b1d0c3e-0000-4000-8000-000000000002")
    reused["id"] = first["id"]
    body = builder.encode(reused)

    message_id = await deliver(client, broker, body)

    message = await processed(sessions, message_id)
    assert (message.state, message.error_element) == (MessageState.REFUSED, "Bundle.id")
    assert ack_header(ack_of(message))["response"]["code"] == "fatal-error"
    (stay,) = await stays_of(sessions, world.municipality_id)  # the first message's, and only it
    assert (stay.episode_key, stay.status) == ("5b1d0c3e000040008000000000000001", "admitted")


def with_doctype(doctype: bytes, entity_use: bytes) -> bytes:
    """MedCom's XML example with a DOCTYPE, and an entity used in the Patient's family name."""
    xml = example("a5e5b880.xml")
    xml = xml.replace(b"<Bundle ", doctype + b"<Bundle ", 1)
    return xml.replace(b'<family value="Elmer"/>', b'<family value="' + entity_use + b'"/>', 1)


LAUGHS = b"".join(
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1)) * 10) for i in range(1, 10)
)  # ten to the ninth "lol" if expanded


@pytest.mark.parametrize(("doctype", "use"), [
    (b'<!DOCTYPE Bundle [<!ENTITY lol0 "lol">' + LAUGHS + b"]>", b"&lol9;"),
    (b'<!DOCTYPE Bundle [<!ENTITY secret SYSTEM "file:///etc/passwd">]>', b"&secret;"),
    (b'<!DOCTYPE Bundle [<!ENTITY remote SYSTEM "http://127.0.0.1:9/x">]>', b"&remote;"),
], ids=["billion laughs", "external file", "external URL"])  # fmt: skip
async def test_an_xml_entity_attack_is_refused_unread_and_answered_fatal_error(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, doctype: bytes, use: bytes
) -> None:
    body = with_doctype(doctype, use)

    message_id = await deliver(client, broker, body, XML)

    message = await processed(sessions, message_id)
    assert (message.state, message.error_element) == (MessageState.REFUSED, "Bundle")
    assert message.reason is not None and "DOCTYPE" in message.reason
    assert message.ack_body is not None and b'<code value="fatal-error"/>' in message.ack_body
    assert b"root:" not in message.ack_body and b"lollol" not in message.ack_body
    assert await body_kept(sessions, message_id) == body
    assert await stays_of(sessions, world.municipality_id) == []


async def test_a_body_that_is_not_json_is_kept_and_refused_without_an_answer_it_could_not_address(
    client: Client, sessions: Sessions, world: World, broker: Broker
) -> None:
    body = b"\x00\xffthis is not a message"

    message = await processed(sessions, await deliver(client, broker, body))

    assert message.state == MessageState.REFUSED
    assert message.error_code == "MSG_Damaged_durin_transport"
    assert message.reason is not None and "No acknowledgement can be addressed" in message.reason
    assert message.ack_body is None
    assert await body_kept(sessions, message.id) == body
