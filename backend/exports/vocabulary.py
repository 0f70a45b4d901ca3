"""The FHIR systems, extensions and code mappings both exports share: one place, so the case's
Bundle and the national data set say the same thing the same way."""

from __future__ import annotations

from backend.cases.models import Status

BASE = "https://lindra.dk/fhir"
EXTENSION = f"{BASE}/StructureDefinition/"
CODES = f"{BASE}/CodeSystem/"
PSEUDONYM_SYSTEM = f"{BASE}/NamingSystem/citizen-pseudonym"
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
SNOMED = "http://snomed.info/sct"
PALLIATIVE_CARE = {"system": SNOMED, "code": "103735009", "display": "Palliative care"}
SURVEY = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}
ALERT_CATEGORY = {"system": "http://terminology.hl7.org/CodeSystem/communication-category", "code": "alert"}
HOME_HEALTH = {"system": ACT_CODE, "code": "HH", "display": "home health"}
# The episode-of-care identifiers of a hospital stay as MedCom's notices gave them (the hospital's
# local one first, else the LPR3 one), under a system of Lindra's: the notices' own systems are not kept.
EPISODE_SYSTEM = f"{BASE}/NamingSystem/hospital-episode-of-care"

# A case's status as the episode of care's: referred is planned, in hospital the municipality's
# care waits (on hold), deceased and closed have finished.
EPISODE_STATUS: dict[str, str] = {
    Status.REFERRED: "planned",
    Status.ACTIVE: "active",
    Status.ADMITTED: "onhold",
    Status.DECEASED: "finished",
    Status.CLOSED: "finished",
}
# A visit's status as its Encounter's (a missed visit did not take place: cancelled, and the
# `visit-outcome` extension says missed).
VISIT_STATUS = {
    "planned": "planned",
    "under_way": "in-progress",
    "done": "finished",
    "missed": "cancelled",
    "cancelled": "cancelled",
}
STAY_STATUS = {"admitted": "in-progress", "on_leave": "onleave", "home": "finished", "died": "finished"}
# An alert's severity as a Communication's priority.
PRIORITY = {"critical": "stat", "high": "asap", "normal": "urgent"}


def sql_case(column: str, mapping: dict[str, str]) -> str:
    """`mapping` as an SQL CASE over `column` (the keys and values are constants of this module)."""
    arms = " ".join(f"WHEN '{key}' THEN '{value}'" for key, value in mapping.items())
    return f"CASE {column} {arms} END"
