"""Is it a CareCommunication (IG 5.0.x) we can land on a case? Structure by fhir.resources (R4B,
done when the message was read), the profile's invariants by fhirpathpy, the bound codes, the
lengths and the attachments by our own rules.

`care_message_of` either returns what the message says (`CareMessage`) or raises the `Refusal`
naming the first element at fault, for the fatal-error acknowledgement. The same invariants hold
every message Lindra builds (`backend.messages.care_out`).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.messages import codes
from backend.messages.codes import AckError
from backend.messages.fhir_parse import Refusal, resolve, resources
from backend.messages.validation import holds, instant, patient_cpr

# A message segment's text: longer is refused (MSG_Element_To_Long) rather than cut.
MAX_TEXT = 20_000
MAX_TOPIC = 60
# An attachment's content, decoded.
MAX_ATTACHMENT_BYTES = 512 * 1024
DEFINITION_PREFIX = (
    "http://medcomfhir.dk/ig/messagedefinitions/MessageDefinition/MedComCareCommunicationMessageDefinition|5."
)
DATETIME_URL = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-datetime-extension"
IDENTIFIER_URL = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-identifier-extension"
PRACTITIONER_URL = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-practitioner-extension"
CONTACT_URL = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-contact-extension"

# The profile's invariants fhirpathpy evaluates (context: the Bundle); cc-11 and cc-12 compare
# resolved resources, which fhirpathpy cannot: the recipient's organisation is checked by Lindra
# when it builds, and a received message names no recipient Lindra relies on.
INVARIANTS = (
    ("medcom-careCommunication-1",
     "entry[0].resource.ofType(MessageHeader).meta.profile.startsWith("
     "'http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-messageHeader')",
     "MessageHeader.meta.profile", "The MessageHeader must claim the CareCommunication header profile."),
    ("medcom-careCommunication-2", "entry.where(resource.is(Patient)).count() = 1", "Bundle.entry:Patient",
     "The message must hold exactly one Patient."),
    ("medcom-careCommunication-3",
     "entry.resource.ofType(Provenance).all(meta.profile.startsWith("
     "'http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-provenance'))",
     "Provenance.meta.profile", "Every Provenance must claim the CareCommunication provenance profile."),
    ("medcom-careCommunication-4", "entry.resource.ofType(Practitioner).name.exists()", "Practitioner.name",
     "The author must have a name."),
    ("medcom-careCommunication-5",
     "entry.resource.ofType(Communication).where(category.coding.code != 'regarding-referral').priority.empty()",
     "Communication.priority", "A priority is only allowed in the category regarding-referral."),
    ("medcom-careCommunication-6",
     "entry.resource.ofType(Communication).all(iif(category.coding.code != 'other', true, topic.text.exists()))",
     "Communication.topic", "The category other needs a topic."),
    ("medcom-careCommunication-13", "entry.resource.ofType(PractitionerRole).all(practitioner.reference.exists())",
     "PractitionerRole.practitioner", "Every PractitionerRole must name its Practitioner."),
    ("cpr", "entry.resource.ofType(Patient).identifier.system = 'urn:oid:1.2.208.176.1.2'",
     "Patient.identifier.system", "The Patient must be identified by CPR (urn:oid:1.2.208.176.1.2)."),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Segment:
    """A message text or an attachment, with its signature."""

    key: str  # the payload's identifier: one segment per thread, repeated by every reply
    position: int
    written_at: datetime
    author_name: str | None
    author_role: str | None
    author_phone: str | None
    organisation_name: str | None
    text: str | None = None
    title: str | None = None
    content_type: str | None = None
    data: bytes | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class CareMessage:
    """What a valid CareCommunication says, as Lindra keeps it."""

    header_id: str
    cpr: str
    thread_key: str  # Communication.identifier: the same along a thread
    category: str
    topic: str | None
    activity: str
    previous_header: str | None  # the FHIR message this one answers (Provenance.entity revision)
    sender_name: str | None
    sender_sor: str | None
    sender_endpoint: str
    recipient_endpoint: str
    written_at: datetime
    segments: tuple[Segment, ...]


def check_invariants(doc: dict[str, Any]) -> None:
    """Refuse `doc` at the first of the profile's invariants it breaks."""
    for _key, expression, element, detail in INVARIANTS:
        if not holds(doc, expression):
            raise Refusal(AckError.DATATYPE_WRONG, element, detail)


def care_message_of(doc: dict[str, Any], header: dict[str, Any]) -> CareMessage:
    """The CareCommunication `doc` carries (already valid for fhir.resources), or Refusal."""
    definition = str(header.get("definition") or "")
    if not definition.startswith(DEFINITION_PREFIX):
        raise Refusal(AckError.VALUE_SET_UNKNOWN, "MessageHeader.definition", "Not a CareCommunication 5.x message.")
    check_invariants(doc)
    focus = header.get("focus") or []
    communication = resolve(doc, focus[0].get("reference")) if len(focus) == 1 else None
    if communication is None or communication.get("resourceType") != "Communication":
        raise Refusal(AckError.DATATYPE_WRONG, "MessageHeader.focus", "The focus must be the message's Communication.")
    category = _category(communication)
    topic = (communication.get("topic") or {}).get("text")
    if topic is not None and len(str(topic)) > MAX_TOPIC:
        detail = f"The topic is {len(str(topic))} characters; at most {MAX_TOPIC}."
        raise Refusal(AckError.TOO_LONG, "Communication.topic.text", detail)
    identifiers = communication.get("identifier") or []
    thread_key = str((identifiers[0] if identifiers else {}).get("value") or "")
    if not thread_key or len(thread_key) > 100:
        raise Refusal(AckError.DATATYPE_WRONG, "Communication.identifier", "The thread has no usable identifier.")
    provenance = _own_provenance(doc, str(header["id"]))
    activity = _activity(provenance)
    sender = resolve(doc, (header.get("sender") or {}).get("reference")) or {}
    destinations = header.get("destination") or [{}]
    segments = tuple(_segment(doc, payload, n) for n, payload in enumerate(communication.get("payload") or []))
    if not any(segment.text is not None for segment in segments):
        raise Refusal(AckError.DATATYPE_WRONG, "Communication.payload", "A message needs at least one text.")
    recorded = instant(provenance.get("recorded"), "Provenance.recorded", required=True)
    return CareMessage(
        header_id=str(header["id"]),
        cpr=patient_cpr(next(r for r in resources(doc) if r.get("resourceType") == "Patient")),
        thread_key=thread_key,
        category=category,
        topic=str(topic) if topic else None,
        activity=activity,
        previous_header=_previous(provenance),
        sender_name=str(sender["name"])[:200] if sender.get("name") else None,
        sender_sor=identifier(sender, codes.SOR_SYSTEM),
        sender_endpoint=str((header.get("source") or {}).get("endpoint") or "")[:500],
        recipient_endpoint=str(destinations[0].get("endpoint") or "")[:500],
        written_at=recorded,
        segments=segments,
    )


def _category(communication: dict[str, Any]) -> str:
    categories = communication.get("category") or [{}]
    coding = (categories[0].get("coding") or [{}])[0]
    if coding.get("system") != codes.CATEGORY_SYSTEM:
        detail = f"{str(coding.get('system'))[:100]!r}"
        raise Refusal(AckError.CODE_SYSTEM_UNKNOWN, "Communication.category.coding.system", detail)
    if coding.get("code") not in codes.CARE_COMMUNICATION_CATEGORIES:
        detail = f"{str(coding.get('code'))[:64]!r} is not a CareCommunication category."
        raise Refusal(AckError.VALUE_SET_UNKNOWN, "Communication.category.coding.code", detail)
    return str(coding["code"])


def _own_provenance(doc: dict[str, Any], header_id: str) -> dict[str, Any]:
    own = [
        r
        for r in resources(doc)
        if r.get("resourceType") == "Provenance"
        and any(str(t.get("reference", "")).endswith(f"MessageHeader/{header_id}") for t in r.get("target") or [])
    ]
    if len(own) != 1:
        raise Refusal(AckError.DATATYPE_WRONG, "Provenance.target", "Exactly one Provenance must target this header.")
    return own[0]


def _activity(provenance: dict[str, Any]) -> str:
    coding = ((provenance.get("activity") or {}).get("coding") or [{}])[0]
    if coding.get("system") != codes.ACTIVITY_SYSTEM or coding.get("code") not in codes.CARE_COMMUNICATION_ACTIVITIES:
        detail = f"{str(coding.get('code'))[:64]!r} is not a CareCommunication activity."
        raise Refusal(AckError.VALUE_SET_UNKNOWN, "Provenance.activity.coding.code", detail)
    return str(coding["code"])


def _previous(provenance: dict[str, Any]) -> str | None:
    """The MessageHeader.id of the FHIR message this one answers; None for a new message, or one
    that answers an EDIFACT or OIOXML letter (named by an identifier Lindra cannot know)."""
    for entity in provenance.get("entity") or []:
        reference = str((entity.get("what") or {}).get("reference") or "")
        if entity.get("role") == "revision" and "MessageHeader/" in reference:
            return reference.rpartition("MessageHeader/")[2][:64]
    return None


def _extension(payload: dict[str, Any], url: str) -> dict[str, Any]:
    return next((e for e in payload.get("extension") or [] if e.get("url") == url), {})


def _segment(doc: dict[str, Any], payload: dict[str, Any], n: int) -> Segment:
    at = f"Communication.payload[{n}]"
    key = str((_extension(payload, IDENTIFIER_URL).get("valueIdentifier") or {}).get("value") or "")
    if not key or len(key) > 100:
        raise Refusal(AckError.DATATYPE_WRONG, f"{at}.extension:identifier", "Each segment needs its identifier.")
    written = instant(_extension(payload, DATETIME_URL).get("valueDateTime"), f"{at}.extension:date", required=True)
    role = resolve(doc, (_extension(payload, PRACTITIONER_URL).get("valueReference") or {}).get("reference")) or {}
    person = resolve(doc, (role.get("practitioner") or {}).get("reference")) or {}
    assigner = (_extension(payload, IDENTIFIER_URL).get("valueIdentifier") or {}).get("assigner") or {}
    organisation = resolve(doc, assigner.get("reference")) or {}
    signed = {
        "key": key,
        "position": n,
        "written_at": written,
        "author_name": _name(person),
        "author_role": _role(role),
        "author_phone": _short((_extension(payload, CONTACT_URL).get("valueContactPoint") or {}).get("value"), 40),
        "organisation_name": _short(organisation.get("name"), 200),
    }
    if "contentString" in payload:
        text = str(payload["contentString"])
        if len(text) > MAX_TEXT:
            detail = f"The text is {len(text)} characters; at most {MAX_TEXT}."
            raise Refusal(AckError.TOO_LONG, f"{at}.contentString", detail)
        return Segment(**signed, text=text)
    attachment = payload.get("contentAttachment") or {}
    content_type = attachment.get("contentType")
    if content_type not in codes.ATTACHMENT_TYPES:
        detail = f"{str(content_type)[:40]!r}: attachments are PDF, GIF, JPEG, PNG or TIFF."
        raise Refusal(AckError.VALUE_SET_UNKNOWN, f"{at}.contentAttachment.contentType", detail)
    data = _decoded(attachment.get("data"), f"{at}.contentAttachment.data")
    return Segment(
        **signed,
        title=_short(attachment.get("title"), 200) or "",
        content_type=str(content_type),
        data=data,
        url=_short(attachment.get("url"), 500),
    )


def _decoded(value: object, element: str) -> bytes | None:
    if value is None:
        return None
    text = str(value)
    if len(text) * 3 // 4 > MAX_ATTACHMENT_BYTES + 3:
        detail = f"The attachment is larger than {MAX_ATTACHMENT_BYTES} bytes."
        raise Refusal(AckError.TOO_LONG, element, detail)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refusal(AckError.DATATYPE_WRONG, element, "The attachment is not base64.") from None
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise Refusal(AckError.TOO_LONG, element, f"The attachment is larger than {MAX_ATTACHMENT_BYTES} bytes.")
    return data


def _name(person: dict[str, Any]) -> str | None:
    names = person.get("name") or []
    if not names:
        return None
    name = names[0]
    return _short(" ".join([*(name.get("given") or []), name.get("family") or ""]).strip() or name.get("text"), 200)


def _role(role: dict[str, Any]) -> str | None:
    for code in role.get("code") or []:
        coding = (code.get("coding") or [{}])[0]
        return _short(coding.get("code") or code.get("text"), 100)
    return None


def _short(value: object, size: int) -> str | None:
    return str(value)[:size] if value else None


def identifier(resource: dict[str, Any], system: str) -> str | None:
    found = next((i.get("value") for i in resource.get("identifier") or [] if i.get("system") == system), None)
    return str(found)[:20] if found else None
