"""The MedCom code tables Lindra checks bound codes against, and the event code each notice gets.

fhir.resources checks structure and cardinality but no value-set binding, and fhirpathpy cannot
evaluate `memberOf()`: every bound code of a HospitalNotification is checked here instead
(HospitalNotification IG 3.0.2, MedCom terminology 1.8.1; interop.md §2.2).
"""

from __future__ import annotations

import enum

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
LPR3_SYSTEM = "https://www.esundhed.dk/Registre/Landspatientregisteret"
EVENT_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
ACTIVITY_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DESTINATION_USE_URL = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
DESTINATION_USE_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
LEAVE_PERIOD_URL = (
    "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalnotifiation-leave-period-extension"
)
REPORT_OF_ADMISSION_URL = (
    "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-messaging-reportOfAdmissionExtension"
)
ACK_ERROR_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"

HOSPITAL_NOTIFICATION = "hospital-notification-message"
ACKNOWLEDGEMENT = "acknowledgement-message"
CARE_COMMUNICATION = "care-communication-message"
ACKNOWLEDGEMENT_ACTIVITY = "acknowledgement"
RECEIVED_EVENTS = frozenset({HOSPITAL_NOTIFICATION, ACKNOWLEDGEMENT, CARE_COMMUNICATION})

# CareCommunication (IG 5.0.x; MedCom terminology): categories, activities, attachment types.
GLN_SYSTEM = "https://www.gs1.org/gln"
CATEGORY_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-careCommunication-categoryCodes"
CARE_COMMUNICATION_CATEGORIES = frozenset(
    {
        "alcohol-and-drug-treatment", "assistive-devices", "carecoordination", "decease", "discharge",
        "examination-results", "healthcare", "home-care-assessment", "medicine", "nursing", "outpatient",
        "psychiatry-social-disability", "regarding-referral", "telemedicine", "training", "acute-ambulant",
        "extended-care-responsibility", "other",
    }
)  # fmt: skip
CARE_COMMUNICATION_ACTIVITIES = frozenset({"new-message", "reply-message", "forward-message"})
ATTACHMENT_TYPES = frozenset({"application/pdf", "image/gif", "image/jpeg", "image/png", "image/tiff"})

ENCOUNTER_STATUSES = frozenset({"in-progress", "onleave", "finished", "entered-in-error"})
ENCOUNTER_CLASSES = frozenset({"IMP", "EMER"})
DESTINATION_USES = frozenset({"primary", "cc"})


class Kind(enum.StrEnum):
    """What a notice is about; its correction (RE_) and cancellation (AN_) are about the same."""

    STAA = "STAA"  # start of an acute ambulant stay
    STIN = "STIN"  # start of an inpatient stay
    STOR = "STOR"  # start of a leave
    SLOR = "SLOR"  # end of a leave
    SLHJ = "SLHJ"  # discharged home or to the primary sector
    MORS = "MORS"  # died


class Variant(enum.StrEnum):
    NEW = ""
    REVISE = "RE_"
    CANCEL = "AN_"


# Every HN activity code (value set medcom-hospitalNotification-messageActivities, 18 codes):
# the kind and variant it announces, the classes it may come with and the Encounter status the
# IG's code table gives it (a death keeps the current activity and is told by the status and
# Patient.deceased instead: see `backend.messages.events`).
ACTIVITIES: dict[str, tuple[Kind, Variant, frozenset[str], str]] = {
    "admit-emergency": (Kind.STAA, Variant.NEW, frozenset({"EMER"}), "in-progress"),
    "revise-admit-emergency": (Kind.STAA, Variant.REVISE, frozenset({"EMER"}), "in-progress"),
    "cancel-admit-emergency": (Kind.STAA, Variant.CANCEL, frozenset({"EMER"}), "entered-in-error"),
    "admit-inpatient": (Kind.STIN, Variant.NEW, frozenset({"IMP"}), "in-progress"),
    "revise-admit-inpatient": (Kind.STIN, Variant.REVISE, frozenset({"IMP"}), "in-progress"),
    "cancel-admit-inpatient": (Kind.STIN, Variant.CANCEL, frozenset({"IMP"}), "entered-in-error"),
    "start-leave-inpatient": (Kind.STOR, Variant.NEW, frozenset({"IMP"}), "onleave"),
    "revise-start-leave-inpatient": (Kind.STOR, Variant.REVISE, frozenset({"IMP"}), "onleave"),
    "cancel-start-leave-inpatient": (Kind.STOR, Variant.CANCEL, frozenset({"IMP"}), "in-progress"),
    "end-leave-inpatient": (Kind.SLOR, Variant.NEW, frozenset({"IMP"}), "in-progress"),
    "revise-end-leave-inpatient": (Kind.SLOR, Variant.REVISE, frozenset({"IMP"}), "in-progress"),
    "cancel-end-leave-inpatient": (Kind.SLOR, Variant.CANCEL, frozenset({"IMP"}), "onleave"),
    "discharge-emergency-home": (Kind.SLHJ, Variant.NEW, frozenset({"EMER"}), "finished"),
    "discharge-inpatient-home": (Kind.SLHJ, Variant.NEW, frozenset({"IMP"}), "finished"),
    "revise-discharge-emergency-home": (Kind.SLHJ, Variant.REVISE, frozenset({"EMER"}), "finished"),
    "revise-discharge-inpatient-home": (Kind.SLHJ, Variant.REVISE, frozenset({"IMP"}), "finished"),
    "cancel-discharge-emergency-home": (Kind.SLHJ, Variant.CANCEL, frozenset({"EMER"}), "in-progress"),
    "cancel-discharge-inpatient-home": (Kind.SLHJ, Variant.CANCEL, frozenset({"IMP"}), "in-progress"),
}

# The 18 event codes of interop.md §2.2.
EVENT_CODES = frozenset(variant.value + kind.value for kind in Kind for variant in Variant)


class AckCode(enum.StrEnum):
    """MessageHeader.response.code of an acknowledgement (MedCom rules KR1-KR6)."""

    OK = "ok"
    TRANSIENT_ERROR = "transient-error"
    FATAL_ERROR = "fatal-error"


class AckError(enum.StrEnum):
    """MedCom's acknowledgement error codes, spelled as published."""

    RECEIVER_UNKNOWN = "MSG_Receiver_Identifier_UNKNOWN"
    RECEIVER_MISSING = "MSG_Receiver_Identifier_MISSING"
    UNABLE_TO_RECEIVE_TYPE = "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"
    VALUE_SET_UNKNOWN = "MSG_VALUESET_VALUE_UNKNOWN"
    CODE_SYSTEM_UNKNOWN = "MSG_CodeSystem_VALUE_UNKNOWN"
    TOO_LONG = "MSG_Element_To_Long"
    DATATYPE_WRONG = "MSG_Datatype_Wrong"
    OUT_OF_OPERATION = "MSG_Mailbox_Out_Of_Operation"
    DAMAGED = "MSG_Damaged_durin_transport"
