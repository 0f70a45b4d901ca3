"""One case's FHIR R4 resources, built from what Lindra records (the mapping of interop.md, section 8).

Pure functions from rows to JSON-ready dicts; `backend.exports.fhir_case` reads the rows and
gathers the Bundle. References are `urn:uuid:` ids of resources in the same Bundle; the ids are
Lindra's own (or made from them, `derived_id`), so a second export names the same things alike.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from backend.cases import schemas as cs
from backend.exports.vocabulary import (
    ACT_CODE,
    ALERT_CATEGORY,
    CODES,
    CPR_SYSTEM,
    EPISODE_STATUS,
    EPISODE_SYSTEM,
    EXTENSION,
    HOME_HEALTH,
    PALLIATIVE_CARE,
    PRIORITY,
    ROLE_CODE,
    SOR_SYSTEM,
    STAY_STATUS,
    SURVEY,
    VISIT_STATUS,
)

Resource = dict[str, Any]
DK_CORE_PATIENT = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-patient"
DK_CORE_RELATED = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-related-person"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
# What the wish to die at home says, in the Danish the staff read.
WISH_TEXT = {"yes": "Ønsker at dø hjemme", "no": "Ønsker ikke at dø hjemme", "undecided": "Uafklaret om at dø hjemme"}
INDICATION_TEXT = {
    "pain": "smerter",
    "breathlessness": "åndenød",
    "nausea": "kvalme",
    "restlessness": "uro",
    "death_rattle": "dødsrallen",
}


def derived_id(owner: uuid.UUID, part: str) -> str:
    """A stable id for a resource Lindra keeps no row of its own for (an item of an assessment, a tier)."""
    return str(uuid.uuid5(owner, part))


def ref(resource_id: uuid.UUID | str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource_id}"}


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, **({"display": display} if display else {})}]}


def extension(name: str, kind: str, value: Any) -> dict[str, Any]:
    return {"url": f"{EXTENSION}{name}", f"value{kind}": value}


def patient(page: cs.CasePage, patient_id: str) -> Resource:
    citizen = page.citizen
    resource: Resource = {
        "resourceType": "Patient",
        "id": patient_id,
        "meta": {"profile": [DK_CORE_PATIENT]},
        "identifier": [{"use": "official", "system": CPR_SYSTEM, "value": citizen.cpr}],
        "name": [{"use": "official", "text": citizen.name}],
        "birthDate": citizen.birth_date.isoformat(),
        "address": [{"text": citizen.address}],
    }
    if citizen.phone:
        resource["telecom"] = [{"system": "phone", "value": citizen.phone}]
    if page.death is not None:
        resource["deceasedDateTime"] = instant(page.death.died_at)
    return resource


def related_person(relative: cs.RelativeOut, patient_id: str) -> Resource:
    """A relative; a child with her birth year, and who talks with her and whether support was offered."""
    relationship: dict[str, Any] = {"text": relative.relation}
    if relative.is_child:
        relationship["coding"] = [{"system": ROLE_CODE, "code": "CHILD", "display": "child"}]
    resource: Resource = {
        "resourceType": "RelatedPerson",
        "id": str(relative.id),
        "meta": {"profile": [DK_CORE_RELATED]},
        "patient": ref(patient_id),
        "relationship": [relationship],
        "name": [{"text": relative.name}],
    }
    if relative.birth_year is not None:
        resource["birthDate"] = str(relative.birth_year)
    if relative.phone:
        resource["telecom"] = [{"system": "phone", "value": relative.phone}]
    extensions = [extension("primary-contact", "Boolean", relative.primary_contact)]
    if relative.talks_with_child:
        extensions.append(extension("talks-with-child", "String", relative.talks_with_child))
    if relative.support_offered is not None:
        extensions.append(extension("child-support-offered", "Boolean", relative.support_offered))
    resource["extension"] = extensions
    return resource


def care_team(page: cs.CasePage, patient_id: str, municipality: str) -> Resource:
    """The contact person, the key person, the GP, the hospital department and the regional team."""
    team = page.care_team
    members: list[tuple[str, dict[str, Any]]] = []
    if team.contact_person:
        members.append(("kontaktperson", {"display": team.contact_person.name}))
    if team.key_person:
        members.append(("nøgleperson", {"display": team.key_person.name}))
    if team.gp_name:
        members.append(("egen læge", {"display": team.gp_name}))
    if team.hospital_department:
        members.append(("hospitalsafdeling", {"display": team.hospital_department}))
    if team.palliative_team:
        members.append(("palliativt team", {"display": team.palliative_team.name}))
    resource: Resource = {
        "resourceType": "CareTeam",
        "id": derived_id(page.id, "care-team"),
        "status": "active",
        "subject": ref(patient_id),
        "managingOrganization": [{"display": municipality}],
    }
    if members:
        resource["participant"] = [{"role": [{"text": role}], "member": member} for role, member in members]
    return resource


def episode_of_care(
    page: cs.CasePage, patient_id: str, municipality: str, history: list[tuple[str, datetime, datetime | None]]
) -> Resource:
    """The case: its status now and the statuses it went through (`history`: status, from, until)."""
    referral = page.referral
    extensions = [extension("referral-source", "Code", referral.source.value)]
    for name, deadline in (("first-contact", referral.first_contact), ("assessment", referral.needs_assessment)):
        extensions.append(extension(f"{name}-due", "Date", deadline.due.isoformat()))
        if deadline.met_on:
            extensions.append(extension(name, "Date", deadline.met_on.isoformat()))
    resource: Resource = {
        "resourceType": "EpisodeOfCare",
        "id": str(page.id),
        "extension": extensions,
        "status": EPISODE_STATUS[page.status],
        "statusHistory": [
            {"status": status, "period": {"start": instant(since), **({"end": instant(until)} if until else {})}}
            for status, since, until in history
        ],
        "type": [{"coding": [PALLIATIVE_CARE]}],
        "patient": ref(patient_id),
        "managingOrganization": {"display": municipality},
        "period": {"start": referral.received_on.isoformat()},
        "team": [ref(derived_id(page.id, "care-team"))],
    }
    if page.care_team.key_person:
        resource["careManager"] = {"display": page.care_team.key_person.name}
    if page.death is not None:
        resource["period"]["end"] = instant(page.death.died_at)
    return resource


def visit_encounter(visit: dict[str, Any], patient_id: str, case_id: uuid.UUID) -> Resource:
    """A visit; a missed one is cancelled, and says missed (`visit-outcome`)."""
    resource: Resource = {
        "resourceType": "Encounter",
        "id": str(visit["id"]),
        "extension": [extension("visit-outcome", "Code", visit["status"])],
        "status": VISIT_STATUS[visit["status"]],
        "class": HOME_HEALTH,
        "type": [coding(f"{CODES}visit-kind", visit["kind"])],
        "subject": ref(patient_id),
        "episodeOfCare": [ref(case_id)],
        "period": {
            "start": instant(visit["checked_in_at"] or visit["window_start"]),
            "end": instant(visit["checked_out_at"] or visit["window_end"]),
        },
    }
    if visit["nurse"]:
        resource["participant"] = [{"individual": {"display": visit["nurse"]}}]
    if visit["cancel_reason"]:
        resource["extension"].append(extension("cancel-reason", "Code", visit["cancel_reason"]))
    return resource


def stay_encounter(stay: dict[str, Any], patient_id: str, case_id: uuid.UUID) -> Resource:
    """A hospital stay from MedCom's notices, with the hospital's episode-of-care identifiers kept."""
    keys = [stay["episode_key"], *[key for key in stay["other_keys"] if key != stay["episode_key"]]]
    resource: Resource = {
        "resourceType": "Encounter",
        "id": str(stay["id"]),
        "identifier": [{"system": EPISODE_SYSTEM, "value": key} for key in keys],
        "extension": [extension("stay-outcome", "Code", stay["status"])],
        "status": STAY_STATUS[stay["status"]],
        "class": {"system": ACT_CODE, "code": stay["encounter_class"]},
        "subject": ref(patient_id),
        "episodeOfCare": [ref(case_id)],
        "period": {"start": instant(stay["admitted_at"])},
    }
    ended = stay["discharged_at"] or stay["died_at"]
    if ended:
        resource["period"]["end"] = instant(ended)
    if stay["department"] or stay["department_sor"]:
        provider: dict[str, Any] = {"display": stay["department"] or stay["department_sor"]}
        if stay["department_sor"]:
            provider["identifier"] = {"system": SOR_SYSTEM, "value": stay["department_sor"]}
        resource["serviceProvider"] = provider
    return resource


def symptom_observations(assessment: dict[str, Any], patient_id: str) -> list[Resource]:
    """One Observation per item scored, each naming its instrument (ESAS-r, IPOS, EORTC QLQ-C15-PAL)."""
    instrument = assessment["instrument"]
    found = []
    for item, score in sorted(assessment["scores"].items()):
        resource: Resource = {
            "resourceType": "Observation",
            "id": derived_id(assessment["id"], item),
            "status": "final",
            "category": [{"coding": [SURVEY]}],
            "code": {"coding": [{"system": f"{CODES}symptom-item", "code": item}], "text": f"{instrument}: {item}"},
            "method": {"coding": [{"system": f"{CODES}instrument", "code": instrument}], "text": instrument},
            "subject": ref(patient_id),
            "effectiveDateTime": instant(assessment["recorded_at"]),
            "valueInteger": int(score),
        }
        if assessment["visit_id"]:
            resource["encounter"] = ref(assessment["visit_id"])
        found.append(resource)
    return found


def wish_flag(wish: cs.WishOut, patient_id: str) -> Resource:
    """The latest wish about dying at home (its history is in the case page's wish history)."""
    text = WISH_TEXT[wish.dies_at_home.value]
    if wish.preferred_place_of_death:
        text += f" (foretrukket dødssted: {wish.preferred_place_of_death.value})"
    return {
        "resourceType": "Flag",
        "id": str(wish.id),
        "status": "active",
        "category": [coding(FLAG_CATEGORY, "advance-directive", "Advance Directive")],
        "code": {"coding": [{"system": f"{CODES}wish-to-die-at-home", "code": wish.dies_at_home.value}], "text": text},
        "subject": ref(patient_id),
        "period": {"start": wish.discussed_on.isoformat()},
    }


def missing_medicine_flag(page: cs.CasePage, patient_id: str, today: date) -> Resource:
    """Anticipatory medicine missing from the home, as the case page flags it."""
    missing = [m.value for m in page.medicine.missing]
    return {
        "resourceType": "Flag",
        "id": derived_id(page.id, "medicine-missing"),
        "status": "active",
        "category": [coding(FLAG_CATEGORY, "safety", "Safety")],
        "code": {
            "coding": [{"system": f"{CODES}case-flag", "code": "medicine_missing"}],
            "text": "Mangler PN-medicin: " + ", ".join(INDICATION_TEXT[m] for m in missing),
        },
        "subject": ref(patient_id),
        "period": {"start": today.isoformat()},
    }


def alert_communication(alert: dict[str, Any], patient_id: str) -> Resource:
    """An alert: sent when it arrived, received when first acknowledged, with its outcome."""
    extensions = [extension("tiers-fired", "Integer", len(alert["tiers"]))]
    if alert["outcome"]:
        extensions.append(extension("alert-outcome", "Code", alert["outcome"]))
    for name, column in (("at-bedside", "at_bedside_at"), ("resolved", "resolved_at")):
        if alert[column]:
            extensions.append(extension(name, "DateTime", instant(alert[column])))
    resource: Resource = {
        "resourceType": "Communication",
        "id": str(alert["id"]),
        "extension": extensions,
        "status": "completed" if alert["status"] == "resolved" else "in-progress",
        "category": [{"coding": [ALERT_CATEGORY]}],
        "priority": PRIORITY[alert["severity"]],
        "subject": ref(patient_id),
        "sent": instant(alert["received_at"]),
        "reasonCode": [coding(f"{CODES}alert-reason", alert["reason"])],
    }
    if alert["first_acknowledged_at"]:
        resource["received"] = instant(alert["first_acknowledged_at"])
    return resource


def tier_communications(alert: dict[str, Any], patient_id: str) -> list[Resource]:
    """Each tier that fired: whom it called, in response to the alert or the tier before it."""
    found: list[Resource] = []
    previous = str(alert["id"])
    for tier in alert["tiers"]:
        resource: Resource = {
            "resourceType": "Communication",
            "id": derived_id(alert["id"], f"tier-{tier['climb']}-{tier['tier']}"),
            "extension": [extension("escalation-tier", "Integer", tier["tier"] + 1)],
            "inResponseTo": [ref(previous)],
            "status": "completed",
            "category": [{"coding": [ALERT_CATEGORY]}],
            "priority": PRIORITY[alert["severity"]],
            "subject": ref(patient_id),
            "sent": tier["fired_at"],
            "reasonCode": [coding(f"{CODES}escalation-rule", rule) for rule in tier["rules"]] or None,
        }
        if tier["called"]:
            resource["recipient"] = [{"display": name} for name in tier["called"]]
        found.append({k: v for k, v in resource.items() if v is not None})
        previous = resource["id"]
    return found
