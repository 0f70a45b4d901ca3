"""The CareCommunication (IG 5.0.x) Lindra sends from a case, built from the profile.

A message Bundle: the MessageHeader (primary destination only, the MessageDefinition `|5.0`), the
Patient, the Communication (the thread's identifier, category, topic, and every segment of the
thread with its date, identifier, author and phone: a reply repeats the thread, as the profile
demands), the authors as PractitionerRole and Practitioner, the two organisations (SOR and EAN),
and one Provenance per message of the thread, each pointing at the message it answers. Every
message is validated by fhir.resources (R4B) and the profile's invariants (`care_in.INVARIANTS`)
before it is kept; `stamped` gives it a new Bundle.id and timestamp for each send.
"""

from __future__ import annotations

import base64
import html
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from backend.messages import care_in, codes
from backend.messages.acknowledgement import FULL_URL_BASE
from backend.messages.care_in import Segment
from backend.messages.fhir_parse import Refusal

PROFILE_BASE = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/"
CORE_BASE = "http://medcomfhir.dk/ig/core/StructureDefinition/"
DEFINITION = "http://medcomfhir.dk/ig/messagedefinitions/MessageDefinition/MedComCareCommunicationMessageDefinition|5.0"


class InvalidMessage(Exception):
    """A message we built fails the profile: a fault of ours, never sent."""


def endpoint(sor: str) -> str:
    """An organisation's messaging endpoint, as MedCom writes it."""
    return f"https://sor2.sum.dsdn.dk/#id={sor}"


@dataclass(frozen=True, slots=True)
class Party:
    """An organisation in the exchange, by its SOR and EAN (GLN) identifiers."""

    name: str | None
    sor: str
    ean: str | None


@dataclass(frozen=True, slots=True)
class Step:
    """A message of the thread, for its Provenance: who sent it, what it added, what it answered."""

    header_id: str
    activity: str
    written_at: datetime
    ours: bool
    segment_keys: tuple[str, ...]
    previous_header: str | None


@dataclass(frozen=True, slots=True)
class Letter:
    """Everything one CareCommunication says; `steps` end with this message's own."""

    thread_key: str
    category: str
    topic: str | None
    cpr: str
    patient_name: str
    us: Party
    them: Party
    segments: tuple[tuple[Segment, bool], ...]  # each with whether it is ours
    steps: tuple[Step, ...]


def build(letter: Letter) -> dict[str, Any]:
    """The message as FHIR JSON (its Bundle.id and timestamp are set by `stamped`), validated."""
    own = letter.steps[-1]
    us, them = _organization(letter.us), _organization(letter.them)
    patient = {
        "resourceType": "Patient",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{CORE_BASE}medcom-core-patient"]},
        "identifier": [{"system": codes.CPR_SYSTEM, "value": letter.cpr}],
        "name": [{"use": "official", "text": letter.patient_name}],
    }
    authors: dict[tuple[str | None, str | None, bool], tuple[dict[str, Any], dict[str, Any]]] = {}
    payload = []
    for segment, ours in letter.segments:
        key = (segment.author_name, segment.author_role, ours)
        if key not in authors:
            authors[key] = _author(segment.author_name, segment.author_role)
        payload.append(_payload(segment, authors[key][0]["id"], us["id"] if ours else them["id"]))
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{PROFILE_BASE}medcom-careCommunication-communication"]},
        "text": {"status": "generated", "div": _narrative(letter.segments)},
        "identifier": [{"value": letter.thread_key}],
        "status": "unknown",
        "category": [{"coding": [{"system": codes.CATEGORY_SYSTEM, "code": letter.category}]}],
        "subject": {"reference": f"Patient/{patient['id']}"},
        "payload": payload,
    }
    if letter.topic:
        communication["topic"] = {"text": letter.topic}
    header = {
        "resourceType": "MessageHeader",
        "id": own.header_id,
        "meta": {"profile": [f"{PROFILE_BASE}medcom-careCommunication-messageHeader"]},
        "eventCoding": {"system": codes.EVENT_SYSTEM, "code": codes.CARE_COMMUNICATION},
        "destination": [
            {
                "extension": [
                    {
                        "url": codes.DESTINATION_USE_URL,
                        "valueCoding": {"system": codes.DESTINATION_USE_SYSTEM, "code": "primary"},
                    }
                ],
                "endpoint": endpoint(letter.them.sor),
                "receiver": {"reference": f"Organization/{them['id']}"},
            }
        ],
        "sender": {"reference": f"Organization/{us['id']}"},
        "source": {"endpoint": endpoint(letter.us.sor)},
        "focus": [{"reference": f"Communication/{communication['id']}"}],
        "definition": DEFINITION,
    }
    provenances = [_provenance(step, us["id"] if step.ours else them["id"]) for step in letter.steps]
    people = [resource for pair in authors.values() for resource in pair]
    resources = [header, patient, communication, *people, us, them, *provenances]
    doc = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{PROFILE_BASE}medcom-careCommunication-message"]},
        "type": "message",
        "timestamp": own.written_at.isoformat(),
        "entry": [{"fullUrl": f"{FULL_URL_BASE}{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
    validate(doc)
    return doc


def validate(doc: dict[str, Any]) -> None:
    """Raise InvalidMessage unless fhir.resources (R4B) reads `doc` and it keeps the invariants."""
    try:
        Bundle.model_validate(doc)
        care_in.check_invariants(doc)
    except ValidationError as error:
        raise InvalidMessage(str(error)[:300]) from None
    except Refusal as refusal:
        raise InvalidMessage(f"{refusal.element}: {refusal.detail}") from None


def stamped(document: bytes, now: datetime) -> tuple[str, bytes]:
    """The kept message with a new Bundle.id and timestamp (MedCom: every send, re-sends too)."""
    doc = msgspec.json.decode(document)
    doc["id"], doc["timestamp"] = str(uuid.uuid4()), now.isoformat()
    return doc["id"], msgspec.json.encode(doc)


def _organization(party: Party) -> dict[str, Any]:
    identifiers = [{"system": codes.SOR_SYSTEM, "value": party.sor}]
    if party.ean:
        identifiers.insert(0, {"system": codes.GLN_SYSTEM, "value": party.ean})
    organization: dict[str, Any] = {
        "resourceType": "Organization",
        "id": str(uuid.uuid4()),
        "meta": {"profile": ["http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"]},
        "identifier": identifiers,
    }
    if party.name:
        organization["name"] = party.name
    return organization


def _author(name: str | None, role: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A PractitionerRole (with the role as text) and its Practitioner (with the name)."""
    practitioner = {
        "resourceType": "Practitioner",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{CORE_BASE}medcom-core-practitioner"]},
        "name": [{"text": name or "Ukendt"}],
    }
    practitioner_role = {
        "resourceType": "PractitionerRole",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{CORE_BASE}medcom-core-practitionerrole"]},
        "practitioner": {"reference": f"Practitioner/{practitioner['id']}"},
        "code": [{"text": role or "ukendt"}],
    }
    return practitioner_role, practitioner


def _payload(segment: Segment, role_id: str, organisation_id: str) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {"url": care_in.DATETIME_URL, "valueDateTime": segment.written_at.isoformat()},
        {
            "url": care_in.IDENTIFIER_URL,
            "valueIdentifier": {"value": segment.key, "assigner": {"reference": f"Organization/{organisation_id}"}},
        },
        {"url": care_in.PRACTITIONER_URL, "valueReference": {"reference": f"PractitionerRole/{role_id}"}},
    ]
    if segment.author_phone:
        extensions.append(
            {"url": care_in.CONTACT_URL, "valueContactPoint": {"system": "phone", "value": segment.author_phone}}
        )
    if segment.text is not None:
        return {"extension": extensions, "contentString": segment.text}
    attachment: dict[str, Any] = {"contentType": segment.content_type, "title": segment.title or "Bilag"}
    if segment.data is not None:
        attachment["data"] = base64.b64encode(segment.data).decode()
    if segment.url:
        attachment["url"] = segment.url
    return {"extension": extensions, "contentAttachment": attachment}


def _provenance(step: Step, agent_id: str) -> dict[str, Any]:
    entity: list[dict[str, Any]] = [
        {"role": "source", "what": {"identifier": {"value": key}}} for key in step.segment_keys
    ]
    if step.previous_header:
        entity.append({"role": "revision", "what": {"reference": f"MessageHeader/{step.previous_header}"}})
    return {
        "resourceType": "Provenance",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{PROFILE_BASE}medcom-careCommunication-provenance"]},
        "target": [{"reference": f"MessageHeader/{step.header_id}"}],
        "occurredDateTime": step.written_at.isoformat(),
        "recorded": step.written_at.isoformat(),
        "activity": {"coding": [{"system": codes.ACTIVITY_SYSTEM, "code": step.activity}]},
        "agent": [{"who": {"reference": f"Organization/{agent_id}"}}],
        "entity": entity,
    }


def _narrative(segments: tuple[tuple[Segment, bool], ...]) -> str:
    """The thread's texts as XHTML, as the profile asks every Communication to carry."""
    paragraphs = "".join(f"<p>{html.escape(s.text)}</p>" for s, _ours in segments if s.text)
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{paragraphs}</div>'
