"""The national data set's resources, written by PostgreSQL straight into an export's lines.

Each resource type is one `INSERT ... SELECT`: PostgreSQL reads the period's rows and writes the
NDJSON lines beside them, so no row, line or file passes through Python's memory, whatever the
period. What Python hands in is the chosen cases with their pseudonyms (`Chosen`, a few hundred
short strings for a year) and the Danish public holidays of the years concerned.

No line holds a CPR number, a name, an address, a phone number, free text or a Lindra row id:
a citizen is her pseudonym, an episode of care its own pseudonym, and every other resource an id
made from the export's id and the row's (stable within the export, meaningless outside it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from backend.alerts.models import AlertStatus
from backend.exports.vocabulary import (
    ACT_CODE,
    ALERT_CATEGORY,
    CODES,
    EPISODE_STATUS,
    EXTENSION,
    HOME_HEALTH,
    PALLIATIVE_CARE,
    PRIORITY,
    PSEUDONYM_SYSTEM,
    STAY_STATUS,
    SURVEY,
    VISIT_STATUS,
    sql_case,
)

# The order the files are written in, and listed in the manifest.
RESOURCE_TYPES = ("Patient", "EpisodeOfCare", "Encounter", "Observation", "Communication")


@dataclass(frozen=True, slots=True)
class Chosen:
    """The cases of the period's data set, with their episode and citizen pseudonyms, side by side."""

    case_ids: list[uuid.UUID]
    episodes: list[str]
    patients: list[str]
    earliest_referral: date  # the working-day counts need the holidays from that year on


def _json(value: dict[str, str]) -> str:
    """A constant coding as an SQL json object."""
    pairs = ", ".join(f"'{k}', '{v}'" for k, v in value.items())
    return f"json_build_object({pairs})"


def _ext(name: str, kind: str, expression: str) -> str:
    """An extension; without a value (`expression` NULL) only its url, which `_extensions` drops."""
    return f"jsonb_strip_nulls(jsonb_build_object('url', '{EXTENSION}{name}', 'value{kind}', {expression}))"


_HAS_VALUE = " || ".join(f"exists (@.value{kind})" for kind in ("Code", "Date", "DateTime", "Integer", "Boolean"))


def _extensions(*items: str) -> str:
    """The extensions that have a value, as an array, or NULL (FHIR allows no empty array)."""
    present = f"jsonb_path_query_array(jsonb_build_array({', '.join(items)}), '$[*] ? ({_HAS_VALUE})')"
    return f"nullif({present}, CAST('[]' AS jsonb))"


def _coded(system: str, code: str) -> str:
    return f"json_build_object('coding', json_build_array(json_build_object('system', '{system}', 'code', {code})))"


def _ref(kind: str, column: str) -> str:
    return f"json_build_object('reference', '{kind}/' || {column})"


def _row_id(column: str) -> str:
    """A resource's id in this export: made from the export's id and the row's, a UUID's shape."""
    return f"CAST(md5(CAST(CAST(:export_id AS uuid) AS text) || ':' || CAST({column} AS text)) AS uuid)::text"


def _working_days(start: str, end: str) -> str:
    """Working days after `start` up to `end` (`backend.cases.workdays.working_days_between`), NULL without `end`."""
    return f"""CASE WHEN {end} IS NOT NULL THEN (
        SELECT count(*)::int FROM generate_series({start} + 1, {end}, interval '1 day') AS d(day)
        WHERE extract(isodow FROM d.day) < 6 AND CAST(d.day AS date) <> ALL(CAST(:holidays AS date[]))) END"""


def _local_day(column: str) -> str:
    return f"({column} AT TIME ZONE 'Europe/Copenhagen')::date"


# Parameters: the export's id, the chosen cases (`Chosen`), the period as [starts, ends) and the
# holidays. Every statement numbers its lines from 1 in a stable order.
_CHOSEN = """
WITH chosen AS (
    SELECT * FROM unnest(CAST(:case_ids AS uuid[]), CAST(:episodes AS text[]), CAST(:patients AS text[]))
        AS p(case_id, episode, patient)
)"""

_INSERT = "INSERT INTO bulk_export_lines (export_id, resource_type, line_no, line)"

_PATIENT = f"""{_CHOSEN}
{_INSERT}
SELECT CAST(:export_id AS uuid), 'Patient', row_number() OVER (ORDER BY patient), line FROM (
    SELECT DISTINCT ON (p.patient) p.patient, json_strip_nulls(json_build_object(
        'resourceType', 'Patient',
        'id', p.patient,
        'identifier', json_build_array(json_build_object('system', '{PSEUDONYM_SYSTEM}', 'value', p.patient)),
        'deceasedDateTime', {_local_day("c.died_at")}
    ))::text AS line
    FROM chosen p JOIN cases c ON c.id = p.case_id
    ORDER BY p.patient, c.died_at NULLS LAST
) AS patients
"""

_LATEST_WISH = """LEFT JOIN LATERAL (
        SELECT w.dies_at_home, w.preferred_place_of_death FROM case_wishes w WHERE w.case_id = c.id
        ORDER BY w.recorded_at DESC, w.id LIMIT 1) AS w ON true"""

_CLOSED_ON = f"""(SELECT {_local_day("max(coalesce(CAST(l.detail->>'at' AS timestamptz), l.at))")} FROM audit_log l
        WHERE l.case_id = c.id AND l.action = 'case.status' AND l.detail->>'to' = 'closed')"""

_ADMISSIONS_30 = """CASE WHEN c.died_at IS NOT NULL THEN (
        SELECT count(*)::int FROM hospital_stays h WHERE h.case_id = c.id AND h.status <> 'void'
          AND h.admitted_at >= c.died_at - interval '30 days' AND h.admitted_at < c.died_at) END"""

_EPISODE = f"""{_CHOSEN}
{_INSERT}
SELECT CAST(:export_id AS uuid), 'EpisodeOfCare', row_number() OVER (ORDER BY p.episode),
       json_strip_nulls(json_build_object(
    'resourceType', 'EpisodeOfCare',
    'id', p.episode,
    'extension', {
    _extensions(
        _ext("referral-source", "Code", "c.referral_source"),
        _ext("first-contact", "Date", "c.first_contact_on"),
        _ext("first-contact-due", "Date", "c.first_contact_due"),
        _ext("first-contact-calendar-days", "Integer", "c.first_contact_on - c.referral_received_on"),
        _ext("first-contact-working-days", "Integer", _working_days("c.referral_received_on", "c.first_contact_on")),
        _ext("assessment", "Date", "c.assessment_on"),
        _ext("assessment-due", "Date", "c.assessment_due"),
        _ext("assessment-calendar-days", "Integer", "c.assessment_on - c.referral_received_on"),
        _ext("assessment-working-days", "Integer", _working_days("c.referral_received_on", "c.assessment_on")),
        _ext("wish-to-die-at-home", "Code", "w.dies_at_home"),
        _ext("wished-place-of-death", "Code", "w.preferred_place_of_death"),
        _ext("place-of-death", "Code", "c.death_place"),
        _ext("died-where-wished", "Boolean", "w.preferred_place_of_death = c.death_place"),
        _ext("admissions-last-30-days", "Integer", _ADMISSIONS_30),
    )
},
    'status', {sql_case("c.status", EPISODE_STATUS)},
    'type', json_build_array(json_build_object('coding', json_build_array({_json(PALLIATIVE_CARE)}))),
    'patient', {_ref("Patient", "p.patient")},
    'period', json_build_object(
        'start', c.referral_received_on,
        'end', coalesce({_local_day("c.died_at")}, CASE WHEN c.status = 'closed' THEN {_CLOSED_ON} END))
))::text
FROM chosen p JOIN cases c ON c.id = p.case_id
{_LATEST_WISH}
"""

_IN_PERIOD = "{column} >= :starts AND {column} < :ends"

_ENCOUNTER = f"""{_CHOSEN},
visits_in AS (
    SELECT p.episode, p.patient, v.id, json_strip_nulls(json_build_object(
        'resourceType', 'Encounter',
        'id', {_row_id("v.id")},
        'extension', json_build_array(json_build_object('url', '{EXTENSION}visit-outcome', 'valueCode', v.status)),
        'status', {sql_case("v.status", VISIT_STATUS)},
        'class', {_json(HOME_HEALTH)},
        'type', json_build_array({_coded(CODES + "visit-kind", "v.kind")}),
        'subject', {_ref("Patient", "p.patient")},
        'episodeOfCare', json_build_array({_ref("EpisodeOfCare", "p.episode")}),
        'period', json_build_object('start', coalesce(v.checked_in_at, v.window_start),
                                    'end', coalesce(v.checked_out_at, v.window_end))
    ))::text AS line, v.window_start AS starts
    FROM chosen p JOIN visits v ON v.case_id = p.case_id
    WHERE {_IN_PERIOD.format(column="v.window_start")}
),
stays_in AS (
    SELECT p.episode, p.patient, h.id, json_strip_nulls(json_build_object(
        'resourceType', 'Encounter',
        'id', {_row_id("h.id")},
        'extension', json_build_array(json_build_object('url', '{EXTENSION}stay-outcome', 'valueCode', h.status)),
        'status', {sql_case("h.status", STAY_STATUS)},
        'class', json_build_object('system', '{ACT_CODE}', 'code', h.encounter_class),
        'subject', {_ref("Patient", "p.patient")},
        'episodeOfCare', json_build_array({_ref("EpisodeOfCare", "p.episode")}),
        'period', json_build_object('start', h.admitted_at, 'end', coalesce(h.discharged_at, h.died_at))
    ))::text AS line, h.admitted_at AS starts
    FROM chosen p JOIN hospital_stays h ON h.case_id = p.case_id
    WHERE h.status <> 'void' AND h.admitted_at < :ends
      AND coalesce(h.discharged_at, h.died_at, 'infinity') >= :starts
)
{_INSERT}
SELECT CAST(:export_id AS uuid), 'Encounter', row_number() OVER (ORDER BY starts, id), line
FROM (SELECT * FROM visits_in UNION ALL SELECT * FROM stays_in) AS encounters
"""

_OBSERVATION = f"""{_CHOSEN}
{_INSERT}
SELECT CAST(:export_id AS uuid), 'Observation', row_number() OVER (ORDER BY s.recorded_at, s.id),
       json_strip_nulls(json_build_object(
    'resourceType', 'Observation',
    'id', {_row_id("s.id")},
    'status', 'final',
    'category', json_build_array(json_build_object('coding', json_build_array({_json(SURVEY)}))),
    'code', json_build_object('coding', json_build_array(
        json_build_object('system', '{CODES}instrument', 'code', s.instrument)), 'text', s.instrument),
    'subject', {_ref("Patient", "p.patient")},
    'encounter', CASE WHEN s.visit_id IS NOT NULL THEN {_ref("Encounter", _row_id("s.visit_id"))} END,
    'effectiveDateTime', s.recorded_at,
    'component', (SELECT json_agg(json_build_object('code', {_coded(CODES + "symptom-item", "e.item")},
                                                    'valueInteger', CAST(e.score AS int)) ORDER BY e.item)
                  FROM jsonb_each_text(s.scores) AS e(item, score))
))::text
FROM chosen p JOIN symptom_assessments s ON s.case_id = p.case_id
WHERE {_IN_PERIOD.format(column="s.recorded_at")}
"""

_COMMUNICATION = f"""{_CHOSEN}
{_INSERT}
SELECT CAST(:export_id AS uuid), 'Communication', row_number() OVER (ORDER BY a.received_at, a.id),
       json_strip_nulls(json_build_object(
    'resourceType', 'Communication',
    'id', {_row_id("a.id")},
    'extension', {
    _extensions(
        _ext("alert-outcome", "Code", "a.outcome"),
        _ext("tiers-fired", "Integer", "(SELECT count(*)::int FROM alert_tiers t WHERE t.alert_id = a.id)"),
        _ext("at-bedside", "DateTime", "a.at_bedside_at"),
        _ext("resolved", "DateTime", "a.resolved_at"),
        _ext("admitted-after-resolved-at-home", "Boolean", "a.followed_by_admission_at IS NOT NULL"),
    )
},
    'status', CASE WHEN a.status = '{AlertStatus.RESOLVED.value}' THEN 'completed' ELSE 'in-progress' END,
    'category', json_build_array(json_build_object('coding', json_build_array({_json(ALERT_CATEGORY)}))),
    'priority', {sql_case("a.severity", PRIORITY)},
    'subject', {_ref("Patient", "p.patient")},
    'sent', a.received_at,
    'received', a.first_acknowledged_at,
    'reasonCode', json_build_array({_coded(CODES + "alert-reason", "a.reason")})
))::text
FROM chosen p JOIN alerts a ON a.case_id = p.case_id
WHERE {_IN_PERIOD.format(column="a.received_at")}
"""

STATEMENTS: dict[str, str] = {
    "Patient": _PATIENT,
    "EpisodeOfCare": _EPISODE,
    "Encounter": _ENCOUNTER,
    "Observation": _OBSERVATION,
    "Communication": _COMMUNICATION,
}

# The cases of the period: referred, died, visited, alerted or admitted within it.
CHOSEN_CASES = """
SELECT c.id FROM cases c
WHERE c.municipality_id = :municipality AND (
    c.referral_received_on BETWEEN :first_day AND :last_day
    OR (c.died_at >= :starts AND c.died_at < :ends)
    OR EXISTS (SELECT 1 FROM visits v WHERE v.case_id = c.id
               AND v.window_start >= :starts AND v.window_start < :ends)
    OR EXISTS (SELECT 1 FROM alerts a WHERE a.case_id = c.id
               AND a.received_at >= :starts AND a.received_at < :ends)
    OR EXISTS (SELECT 1 FROM hospital_stays h WHERE h.case_id = c.id AND h.status <> 'void'
               AND h.admitted_at >= :starts AND h.admitted_at < :ends))
ORDER BY c.id
"""
