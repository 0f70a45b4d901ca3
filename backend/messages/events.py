"""Which of the 18 events a HospitalNotification announces.

`MessageHeader.event` is always `hospital-notification-message`: the event is read from the
activity of the Provenance that targets this header, checked against the Encounter's status and
class the IG's table gives it (interop.md §2.2). A death keeps the "current activity" and is told
by `Patient.deceasedBoolean = true` with the status finished. Whether a death is a correction
(RE_MORS), and whether a notice that says `deceasedBoolean = false` cancels one (AN_MORS), depends
on what the stay already holds in event time: `backend.messages.stays` decides those two.
"""

from __future__ import annotations

from backend.messages.codes import ACTIVITIES, AckError, Kind, Variant
from backend.messages.fhir_parse import Refusal


def read_event(activity: str, status: str, encounter_class: str, deceased: object) -> tuple[Kind, Variant]:
    """The kind and variant the notice announces, or a Refusal naming what does not fit."""
    kind, variant, classes, expected_status = ACTIVITIES[activity]
    if encounter_class not in classes:
        detail = f"Class {encounter_class} does not go with the activity {activity}."
        raise Refusal(AckError.VALUE_SET_UNKNOWN, "Encounter.class.code", detail)
    if deceased is True:
        if status != "finished":
            raise Refusal(AckError.VALUE_SET_UNKNOWN, "Encounter.status", "A death is told with the status finished.")
        return Kind.MORS, Variant.NEW
    if status != expected_status:
        detail = f"Status {status} does not go with the activity {activity} (expected {expected_status})."
        raise Refusal(AckError.VALUE_SET_UNKNOWN, "Encounter.status", detail)
    return kind, variant


def event_code(kind: Kind, variant: Variant) -> str:
    """The event code as MedCom writes it: STIN, RE_STIN, AN_STIN ..."""
    return variant.value + kind.value
