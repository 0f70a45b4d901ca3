"""The MedCom Acknowledgement (IG 2.0.3) Lindra answers every received message with.

`ok`, `transient-error` (our side failed; the sender may send again) or `fatal-error` (the message
breaks the profile; sending it again will not help), the last two with an OperationOutcome whose
detail is MedCom's error code and whose expression names the element at fault. It goes to the
original sender's `source.endpoint`, from the endpoint the message was addressed to; the two
organisations are those the message named. Every acknowledgement built is validated by
fhir.resources (R4B) and the profile's invariant medcom-acknowledgement-1 before it is kept, in the
format (JSON or XML) the message came in. The bytes are built once and kept: a duplicate gets them
again, byte for byte.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from fhir.resources.R4B.bundle import Bundle

from backend.messages import codes
from backend.messages.codes import AckCode, AckError
from backend.messages.fhir_parse import XML_MEDIA_TYPE, Address, Refusal
from backend.messages.validation import holds

ACK_PROFILE = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgement"
ACK_HEADER_PROFILE = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgementHeader"
)
ACK_OUTCOME_PROFILE = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-acknowledgement-operationoutcome"
)
ORGANIZATION_PROFILE = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"
PROVENANCE_PROFILE = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
ACK_1 = (
    "iif(entry.resource.ofType(MessageHeader).response.code = 'ok', true, "
    "entry.resource.ofType(MessageHeader).response.code != 'ok' and entry.resource.ofType(OperationOutcome).exists())"
)
# Entries are named `<base><Type>/<id>`, and referenced as `Type/id` inside the bundle, as MedCom's own.
FULL_URL_BASE = "https://lindra.dk/fhir/"
# What a transient error says: our side could not take the message now.
TRANSIENT = Refusal(AckError.OUT_OF_OPERATION, "Bundle", "The receiver could not process the message; send it again.")


class InvalidAcknowledgement(Exception):
    """An acknowledgement we built fails the profile: a fault of ours, never sent."""


def build_acknowledgement(
    address: Address, code: AckCode, refusal: Refusal | None, now: datetime, media_type: str
) -> bytes:
    """The acknowledgement of the message at `address`, serialised as `media_type`."""
    ours = _organization(address.receiver, address.receiver_endpoint)
    theirs = _organization(address.sender, address.sender_endpoint)
    header_id, timestamp = str(uuid.uuid4()), now.isoformat()
    response: dict[str, Any] = {"identifier": address.header_id, "code": code.value}
    entries: list[dict[str, Any]] = []
    if refusal is not None:
        outcome = _outcome(refusal, transient=code == AckCode.TRANSIENT_ERROR)
        response["details"] = {"reference": f"OperationOutcome/{outcome['id']}"}
        entries.append(outcome)
    header = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "meta": {"profile": [ACK_HEADER_PROFILE]},
        "eventCoding": {"system": codes.EVENT_SYSTEM, "code": codes.ACKNOWLEDGEMENT},
        "destination": [
            {
                "extension": [
                    {
                        "url": codes.DESTINATION_USE_URL,
                        "valueCoding": {"system": codes.DESTINATION_USE_SYSTEM, "code": "primary"},
                    }
                ],
                "endpoint": address.sender_endpoint,
                "receiver": {"reference": f"Organization/{theirs['id']}"},
            }
        ],
        "sender": {"reference": f"Organization/{ours['id']}"},
        "source": {"endpoint": address.receiver_endpoint},
        "response": response,
    }
    received = _provenance(f"MessageHeader/{address.header_id}", "new-message", theirs["id"], timestamp)
    answer = _provenance(f"MessageHeader/{header_id}", "acknowledgement", ours["id"], timestamp)
    answer["entity"] = [{"role": "revision", "what": {"reference": f"MessageHeader/{address.header_id}"}}]
    resources = [header, received, answer, ours, theirs, *entries]
    doc = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [ACK_PROFILE]},
        "type": "message",
        "timestamp": timestamp,
        "entry": [{"fullUrl": f"{FULL_URL_BASE}{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
    bundle = validated_acknowledgement(doc)
    if media_type == XML_MEDIA_TYPE:
        xml = bundle.model_dump_xml()
        return xml if isinstance(xml, bytes) else xml.encode()
    return msgspec.json.encode(doc)


def validated_acknowledgement(doc: dict[str, Any]) -> Bundle:
    """`doc` as fhir.resources reads it, if it is an acknowledgement that keeps medcom-acknowledgement-1."""
    try:
        bundle = Bundle.model_validate(doc)
    except ValueError as error:
        raise InvalidAcknowledgement(str(error)[:300]) from None
    if not holds(doc, ACK_1):
        raise InvalidAcknowledgement("medcom-acknowledgement-1")
    return bundle


def _organization(named: dict[str, Any] | None, endpoint: str) -> dict[str, Any]:
    """The organisation as the message named it, else as its SOR endpoint (`...#id=<SOR>`) says."""
    if named and named.get("id") and named.get("identifier"):
        kept: dict[str, Any] = {key: named[key] for key in ("id", "identifier", "name") if key in named}
        return {"resourceType": "Organization", "meta": {"profile": [ORGANIZATION_PROFILE]}, **kept}
    sor = endpoint.rpartition("#id=")[2] if "#id=" in endpoint else endpoint
    return {
        "resourceType": "Organization",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [ORGANIZATION_PROFILE]},
        "identifier": [{"system": codes.SOR_SYSTEM, "value": sor[:64]}],
    }


def _provenance(target: str, activity: str, agent_id: str, timestamp: str) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [PROVENANCE_PROFILE]},
        "target": [{"reference": target}],
        "occurredDateTime": timestamp,
        "recorded": timestamp,
        "activity": {"coding": [{"system": codes.ACTIVITY_SYSTEM, "code": activity}]},
        "agent": [{"who": {"reference": f"Organization/{agent_id}"}}],
    }


def _outcome(refusal: Refusal, transient: bool) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [ACK_OUTCOME_PROFILE]},
        "issue": [
            {
                "severity": "error",
                "code": "transient" if transient else "invalid",
                "details": {
                    "coding": [{"system": codes.ACK_ERROR_SYSTEM, "code": refusal.error.value}],
                    "text": refusal.detail,
                },
                "expression": [refusal.element],
            }
        ],
    }
