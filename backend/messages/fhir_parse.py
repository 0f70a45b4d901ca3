"""Reading a received message's bytes into its FHIR JSON form: JSON or XML, safely, within a size cap.

XML is parsed by lxml with entity resolution, DTD loading and network access off and libxml2's
own limits on (no `huge_tree`); a document that carries a DOCTYPE at all is refused, as FHIR's XML
rules require (no DTD, no entity declarations), so neither an external entity nor a "billion
laughs" ever reaches the models. The FHIR structure is then read by `fhir.resources` (R4B), whose
XML reader gives the same JSON form as its JSON twin.

Whatever is wrong, reading never raises: it says why (`Refusal`) and, when the MessageHeader can
still be found, where the acknowledgement goes (`Address`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from fhir.resources.R4B.bundle import Bundle
from lxml import etree
from pydantic import ValidationError

from backend.messages.codes import AckError

JSON_MEDIA_TYPE = "application/fhir+json"
XML_MEDIA_TYPE = "application/fhir+xml"
MEDIA_TYPES = (JSON_MEDIA_TYPE, XML_MEDIA_TYPE)
# A HospitalNotification is about 15 kB; a CareCommunication carries attachments of up to 512 KiB
# (base64: a third more). Anything past this is not read into the models (and the application
# takes no request body past 1 MiB at all).
MAX_MESSAGE_BYTES = 1_000_000

FHIR_NS = "{http://hl7.org/fhir}"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _safe_parser(recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False, recover=recover
    )


_STRICT, _RECOVERING = _safe_parser(False), _safe_parser(True)


class Refusal(Exception):
    """Why a message is refused: MedCom's error code, the element at fault and a technical detail."""

    def __init__(self, error: AckError, element: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.element = element
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Address:
    """What an acknowledgement needs from the message it answers: the header's id, the sender's
    endpoint (our answer's destination), ours, and the two organisations as the message gave them."""

    header_id: str
    sender_endpoint: str
    receiver_endpoint: str
    sender: dict[str, Any] | None = None
    receiver: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """A message read: its FHIR JSON form and models when it is a valid Bundle, else the refusal."""

    doc: dict[str, Any] | None
    bundle: Bundle | None
    address: Address | None
    refusal: Refusal | None


def read_message(body: bytes, media_type: str) -> Reading:
    """The message in `body`, read as `media_type` says."""
    if media_type == XML_MEDIA_TYPE:
        return _read_xml(body)
    return _read_json(body)


def _read_json(body: bytes) -> Reading:
    try:
        doc = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return Reading(None, None, None, Refusal(AckError.DAMAGED, "Bundle", "The body is not JSON."))
    if not isinstance(doc, dict):
        return Reading(None, None, None, Refusal(AckError.DAMAGED, "Bundle", "The body is not a FHIR resource."))
    address = address_of(doc)
    refusal = _refuse_size(body) or _refuse_kind(str(doc.get("resourceType")), doc.get("type"))
    if refusal is not None:
        return Reading(doc, None, address, refusal)
    try:
        bundle = Bundle.model_validate(doc)
    except ValidationError as error:
        return Reading(doc, None, address, structure_refusal(error))
    return Reading(doc, bundle, address, None)


def _read_xml(body: bytes) -> Reading:
    try:
        root = etree.fromstring(body, parser=_STRICT)
        damaged = None
    except etree.XMLSyntaxError:
        root = _recovered(body)
        damaged = Refusal(AckError.DAMAGED, "Bundle", "The body is not well-formed XML.")
    if root is None:
        return Reading(None, None, None, damaged)
    address = _address_in_xml(root)
    if root.getroottree().docinfo.internalDTD is not None or root.getroottree().docinfo.doctype:
        detail = "FHIR XML may not carry a DOCTYPE (DTD or entity declarations); nothing in it was read."
        return Reading(None, None, address, Refusal(AckError.DAMAGED, "Bundle", detail))
    kind = etree.QName(root).localname if root.tag.startswith(FHIR_NS) else str(root.tag)
    type_element = root.find(f"{FHIR_NS}type")
    refusal = (
        damaged or _refuse_size(body) or _refuse_kind(kind, None if type_element is None else type_element.get("value"))
    )
    if refusal is not None:
        return Reading(None, None, address, refusal)
    try:
        bundle = Bundle.model_validate_xml(body, xmlparser=_STRICT)
    except ValidationError as error:
        return Reading(None, None, address, structure_refusal(error))
    except (ValueError, TypeError, KeyError, AttributeError):  # fhir.resources' reader on unknown XML shapes
        return Reading(None, None, address, Refusal(AckError.DATATYPE_WRONG, "Bundle", "The XML is not FHIR."))
    doc = bundle.model_dump(mode="json")
    return Reading(doc, bundle, address_of(doc) or address, None)


def _recovered(body: bytes) -> Any:
    """What can be read of broken XML, to address the refusal; nothing is expanded or fetched."""
    try:
        return etree.fromstring(body, parser=_RECOVERING)
    except etree.XMLSyntaxError:
        return None


def _refuse_size(body: bytes) -> Refusal | None:
    if len(body) <= MAX_MESSAGE_BYTES:
        return None
    detail = f"The message is {len(body)} bytes; at most {MAX_MESSAGE_BYTES} are read."
    return Refusal(AckError.TOO_LONG, "Bundle", detail)


def _refuse_kind(resource_type: str, bundle_type: object) -> Refusal | None:
    if resource_type != "Bundle":
        detail = f"A {resource_type[:64]} resource is not a message Bundle."
        return Refusal(AckError.UNABLE_TO_RECEIVE_TYPE, "Bundle", detail)
    if bundle_type != "message":
        detail = f"Bundle.type is {str(bundle_type)[:64]!r}, not 'message'."
        return Refusal(AckError.UNABLE_TO_RECEIVE_TYPE, "Bundle.type", detail)
    return None


def structure_refusal(error: ValidationError) -> Refusal:
    """The first structural fault fhir.resources found, naming its element as a FHIR path."""
    first = error.errors()[0]
    path = "Bundle"
    for step in first["loc"]:
        if isinstance(step, int):
            path += f"[{step}]"
        elif step not in ("__root__",):
            path += f".{step}"
    return Refusal(AckError.DATATYPE_WRONG, path, f"{path}: {first['msg']}"[:300])


def resolve(doc: dict[str, Any], reference: object) -> dict[str, Any] | None:
    """The resource a `Type/id` reference names inside the bundle (fullUrls are not `urn:uuid:`)."""
    if not isinstance(reference, str) or "/" not in reference:
        return None
    resource_type, _, resource_id = reference.rstrip("/").rpartition("/")
    resource_type = resource_type.rpartition("/")[2]
    for resource in resources(doc):
        if resource.get("resourceType") == resource_type and resource.get("id") == resource_id:
            return resource
    return None


def resources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of the bundle's entries, in order."""
    entries = doc.get("entry")
    found = []
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            found.append(resource)
    return found


def address_of(doc: dict[str, Any]) -> Address | None:
    """Where the acknowledgement of this (perhaps invalid) message goes, if its header says."""
    if doc.get("resourceType") == "MessageHeader":
        header: dict[str, Any] | None = doc
    else:
        header = next((r for r in resources(doc) if r.get("resourceType") == "MessageHeader"), None)
    if header is None:
        return None
    destinations = header.get("destination")
    destination = destinations[0] if isinstance(destinations, list) and destinations else {}
    source = header.get("source")
    return _address(
        header.get("id"),
        source.get("endpoint") if isinstance(source, dict) else None,
        destination.get("endpoint") if isinstance(destination, dict) else None,
        resolve(doc, (header.get("sender") or {}).get("reference") if isinstance(header.get("sender"), dict) else None),
        resolve(doc, (destination.get("receiver") or {}).get("reference") if isinstance(destination, dict) else None),
    )


def _address_in_xml(root: Any) -> Address | None:
    header = root if root.tag == f"{FHIR_NS}MessageHeader" else root.find(f".//{FHIR_NS}MessageHeader")
    if header is None:
        return None

    def value(path: str) -> str | None:
        element = header.find(path)
        return None if element is None else element.get("value")

    return _address(
        value(f"{FHIR_NS}id"),
        value(f"{FHIR_NS}source/{FHIR_NS}endpoint"),
        value(f"{FHIR_NS}destination/{FHIR_NS}endpoint"),
        None,
        None,
    )


def _address(
    header_id: object,
    sender_endpoint: object,
    receiver_endpoint: object,
    sender: dict[str, Any] | None,
    receiver: dict[str, Any] | None,
) -> Address | None:
    if not (isinstance(header_id, str) and _FHIR_ID.match(header_id)):
        return None
    for endpoint in (sender_endpoint, receiver_endpoint):
        if not (isinstance(endpoint, str) and 0 < len(endpoint) <= 500):
            return None
    return Address(header_id, str(sender_endpoint), str(receiver_endpoint), sender, receiver)
