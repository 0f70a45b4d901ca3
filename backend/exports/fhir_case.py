"""A case as a FHIR R4 Bundle of type `collection`: for the citizen's right of access (the
coordinator hands it over) and for a care-record system (a system client of the municipality) to read.

The case page (`backend.cases.page`) gives the citizen, wishes, medicine, relatives and care
team, and writes the export's audit row in the same statement; four more reads give the visits,
the assessments, the alerts with their tiers and the hospital stays. The episode's status
history comes from the audit log, where the course of a case records every step with its time
(`backend.course`): the referral opens it (planned), each `case.status` step, a registered or
cancelled death follow. A status reached without such a row (data loaded in bulk) starts at the
case's last change.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any

import asyncpg
import msgspec

from backend.cases import page as case_page
from backend.cases import schemas as cs
from backend.cases.models import Status
from backend.clock import COPENHAGEN
from backend.exports import fhir_resources as fr
from backend.exports.vocabulary import EPISODE_STATUS
from backend.people.actor import Actor, SystemActor

AUDIT_ACTION = "case.export.fhir"

_FACTS = """
SELECT c.citizen_id, c.referral_received_on, c.updated_at, o.name AS municipality
FROM cases c JOIN organisations o ON o.id = c.municipality_id WHERE c.id = $1
"""
_VISITS = """
SELECT v.id, v.kind, v.status, v.window_start, v.window_end, v.checked_in_at, v.checked_out_at, v.cancel_reason,
       u.full_name AS nurse
FROM visits v LEFT JOIN users u ON u.id = v.assigned_to WHERE v.case_id = $1 ORDER BY v.window_start, v.id
"""
_ASSESSMENTS = """
SELECT id, visit_id, instrument, scores::text AS scores, recorded_at FROM symptom_assessments
WHERE case_id = $1 ORDER BY recorded_at, id
"""
_ALERTS = """
SELECT a.id, a.reason, a.severity, a.status, a.outcome, a.received_at, a.first_acknowledged_at, a.at_bedside_at,
       a.resolved_at,
       (SELECT coalesce(json_agg(json_build_object(
                   'climb', t.climb, 'tier', t.tier, 'fired_at', t.fired_at, 'rules', t.rules,
                   'called', ARRAY(SELECT u.full_name FROM users u
                                   WHERE u.id::text IN (SELECT jsonb_array_elements_text(t.target_ids))
                                   ORDER BY u.full_name))
               ORDER BY t.climb, t.tier), '[]')::text
        FROM alert_tiers t WHERE t.alert_id = a.id) AS tiers
FROM alerts a WHERE a.case_id = $1 ORDER BY a.received_at, a.id
"""
_STAYS = """
SELECT id, episode_key, other_keys, status, encounter_class, department, department_sor, admitted_at,
       discharged_at, died_at
FROM hospital_stays WHERE case_id = $1 AND status <> 'void' AND admitted_at IS NOT NULL ORDER BY admitted_at, id
"""
_STEPS = """
SELECT action, detail::text AS detail, at FROM audit_log
WHERE case_id = $1 AND action IN ('case.status', 'case.death.register', 'case.death.cancel') ORDER BY at, id
"""


def status_history(
    referred_on: date, steps: list[asyncpg.Record], current: Status, last_change: datetime
) -> list[tuple[str, datetime, datetime | None]]:
    """(FHIR status, from, until) for every status the case went through, the current one open.

    Steps are put in the order of their event times (a hospital's notice may tell of an admission
    hours after a later step was recorded); a step to the status the case already had is no change.
    """
    referred_at = datetime.combine(referred_on, time(0), COPENHAGEN).astimezone(UTC)
    steps_at: list[tuple[datetime, str]] = []
    for step in steps:
        detail = msgspec.json.decode(step["detail"]) if step["detail"] else {}
        to = Status.DECEASED if step["action"] == "case.death.register" else detail.get("to")
        if to is not None:
            steps_at.append((datetime.fromisoformat(detail["at"]) if "at" in detail else step["at"], to))
    moves: list[tuple[str, datetime]] = [(EPISODE_STATUS[Status.REFERRED], referred_at)]
    for at, to in sorted(steps_at, key=lambda step: step[0]):
        if EPISODE_STATUS[to] != moves[-1][0]:
            moves.append((EPISODE_STATUS[to], max(at, moves[-1][1])))
    if moves[-1][0] != EPISODE_STATUS[current]:
        moves.append((EPISODE_STATUS[current], max(last_change, moves[-1][1])))
    return [
        (status, since, moves[index + 1][1] if index + 1 < len(moves) else None)
        for index, (status, since) in enumerate(moves)
    ]


async def case_bundle(pg: asyncpg.Connection, actor: Actor, case_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """The case as a Bundle the actor may take out (404 if she may not see it); audited as an export."""
    today = now.astimezone(COPENHAGEN).date()
    page = await case_page.load_page(pg, actor, case_id, today, action=AUDIT_ACTION)
    return await _bundle(pg, page, now)


async def case_bundle_for_system(
    pg: asyncpg.Connection, who: SystemActor, municipality_id: uuid.UUID, case_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """The same Bundle for a care-record system of the case's municipality, audited under the client."""
    today = now.astimezone(COPENHAGEN).date()
    page = await case_page.load_page_for_system(pg, who, municipality_id, case_id, today, AUDIT_ACTION)
    return await _bundle(pg, page, now)


async def _bundle(pg: asyncpg.Connection, page: cs.CasePage, now: datetime) -> dict[str, Any]:
    case_id, today = page.id, now.astimezone(COPENHAGEN).date()
    facts = await pg.fetchrow(_FACTS, case_id)
    patient_id = str(facts["citizen_id"])
    municipality = facts["municipality"]
    steps = await pg.fetch(_STEPS, case_id)
    history = status_history(facts["referral_received_on"], steps, page.status, facts["updated_at"])

    resources: list[dict[str, Any]] = [
        fr.patient(page, patient_id),
        *(fr.related_person(relative, patient_id) for relative in page.relatives),
        fr.care_team(page, patient_id, municipality),
        fr.episode_of_care(page, patient_id, municipality, history),
    ]
    resources += [fr.visit_encounter(dict(v), patient_id, case_id) for v in await pg.fetch(_VISITS, case_id)]
    resources += [fr.stay_encounter(dict(s), patient_id, case_id) for s in await pg.fetch(_STAYS, case_id)]
    for row in await pg.fetch(_ASSESSMENTS, case_id):
        assessment = dict(row) | {"scores": msgspec.json.decode(row["scores"])}
        resources += fr.symptom_observations(assessment, patient_id)
    if page.wish is not None:
        resources.append(fr.wish_flag(page.wish, patient_id))
    if "medicine_missing" in page.flags:
        resources.append(fr.missing_medicine_flag(page, patient_id, today))
    for row in await pg.fetch(_ALERTS, case_id):
        alert = dict(row) | {"tiers": msgspec.json.decode(row["tiers"])}
        resources.append(fr.alert_communication(alert, patient_id))
        resources += fr.tier_communications(alert, patient_id)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": fr.instant(now)},
        "type": "collection",
        "timestamp": fr.instant(now),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
