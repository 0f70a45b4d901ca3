"""HospitalNotification messages built from the profile (IG 3.0.2), for the tests' own cases.

`notification(...)` gives the FHIR JSON of one message: its header (primary receiver, the
sender's SOR endpoint), the Patient (CPR), the Encounter (status, class, episode of care,
period, leave period), the two organisations and the Provenance of this message's activity.
Tests change what they need in the returned dict.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from backend.messages import codes

SENDER_SOR = "265161000016000"
RECEIVER_SOR = "953741000016009"
HEADER_PROFILE = (
    "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-messageHeader"
)

# The activity of each event code (a death keeps the current activity: given by the caller).
ACTIVITY_OF = {
    "STAA": "admit-emergency",
    "RE_STAA": "revise-admit-emergency",
    "AN_STAA": "cancel-admit-emergency",
    "STIN": "admit-inpatient",
    "RE_STIN": "revise-admit-inpatient",
    "AN_STIN": "cancel-admit-inpatient",
    "STOR": "start-leave-inpatient",
    "RE_STOR": "revise-start-leave-inpatient",
    "AN_STOR": "cancel-start-leave-inpatient",
    "SLOR": "end-leave-inpatient",
    "RE_SLOR": "revise-end-leave-inpatient",
    "AN_SLOR": "cancel-end-leave-inpatient",
    "SLHJ": "discharge-inpatient-home",
    "RE_SLHJ": "revise-discharge-inpatient-home",
    "AN_SLHJ": "cancel-discharge-inpatient-home",
}


def _organization(org_id: str, sor: str, name: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": org_id,
        "identifier": [{"system": codes.SOR_SYSTEM, "value": sor}],
        "name": name,
    }


def notification(
    event: str,
    *,
    cpr: str,
    episode: str,
    start: datetime,
    recorded: datetime,
    status: str,
    encounter_class: str = "IMP",
    end: datetime | None = None,
    leave: tuple[datetime | None, datetime | None] | None = None,
    deceased: bool | None = None,
    activity: str | None = None,
    department: str = "Medicinsk afdeling M1",
) -> dict[str, Any]:
    """One HospitalNotification message (ids are fresh, not all UUIDs: as in real traffic)."""
    header_id, bundle_id = f"h{uuid.uuid4()}"[:36], str(uuid.uuid4())
    patient_id, encounter_id = str(uuid.uuid4()), str(uuid.uuid4())
    sender_id, receiver_id, provenance_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    period: dict[str, str] = {"start": start.isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": status,
        "class": {"system": codes.ACT_CODE_SYSTEM, "code": encounter_class},
        "subject": {"reference": f"Patient/{patient_id}"},
        "episodeOfCare": [
            {"identifier": {"system": f"https://sor2.sum.dsdn.dk/#id={SENDER_SOR}", "value": f"urn:uuid:{episode}"}}
        ],
        "period": period,
        "serviceProvider": {"reference": f"Organization/{sender_id}"},
    }
    if leave is not None:
        leave_period = {key: moment.isoformat() for key, moment in zip(("start", "end"), leave, strict=True) if moment}
        encounter["extension"] = [{"url": codes.LEAVE_PERIOD_URL, "valuePeriod": leave_period}]
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": codes.CPR_SYSTEM, "value": cpr}],
        "name": [{"use": "official", "family": "Testesen", "given": ["Karen"]}],
    }
    if deceased is not None:
        patient["deceasedBoolean"] = deceased
    header = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "meta": {"profile": [HEADER_PROFILE]},
        "eventCoding": {"system": codes.EVENT_SYSTEM, "code": codes.HOSPITAL_NOTIFICATION},
        "destination": [
            {
                "extension": [
                    {
                        "url": codes.DESTINATION_USE_URL,
                        "valueCoding": {"system": codes.DESTINATION_USE_SYSTEM, "code": "primary"},
                    }
                ],
                "endpoint": f"https://sor2.sum.dsdn.dk/#id={RECEIVER_SOR}",
                "receiver": {"reference": f"Organization/{receiver_id}"},
            }
        ],
        "sender": {"reference": f"Organization/{sender_id}"},
        "source": {"endpoint": f"https://sor2.sum.dsdn.dk/#id={SENDER_SOR}"},
        "focus": [{"reference": f"Encounter/{encounter_id}"}],
    }
    provenance = {
        "resourceType": "Provenance",
        "id": provenance_id,
        "target": [{"reference": f"MessageHeader/{header_id}"}],
        "occurredDateTime": recorded.isoformat(),
        "recorded": recorded.isoformat(),
        "activity": {"coding": [{"system": codes.ACTIVITY_SYSTEM, "code": activity or ACTIVITY_OF[event]}]},
        "agent": [{"who": {"reference": f"Organization/{sender_id}"}}],
    }
    resources = [
        header,
        patient,
        encounter,
        _organization(receiver_id, RECEIVER_SOR, "Hjemmeplejen"),
        _organization(sender_id, SENDER_SOR, department),
        provenance,
    ]
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "message",
        "timestamp": recorded.isoformat(),
        "entry": [
            {"fullUrl": f"https://hospital.example/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }


def encode(message: dict[str, Any]) -> bytes:
    return msgspec.json.encode(message)


def resource(message: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The (first) resource of a type in the message, to change it in place."""
    found: dict[str, Any] = next(
        e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == resource_type
    )
    return found
