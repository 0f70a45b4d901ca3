"""Quality indicators for a period: deaths and wishes, alerts, visits, referral deadlines.

The figures the city reports (domain.md, quality indicators): computed by PostgreSQL in one
statement over the municipality's rows (or one district's), never by walking cases in Python.
Aggregates name no case, so the administrator may read them too; the read is still audited.
Small counts are suppressed before they leave (backend.board.suppression).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend import row_scope
from backend.alerts.models import AlertStatus, Outcome
from backend.alerts.reading import ADMITTED, AT_HOME
from backend.audit import service as audit
from backend.board import schemas as s
from backend.board.suppression import protect
from backend.cases.models import Place, ReferralSource
from backend.clock import COPENHAGEN
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.visits.models import VisitKind, VisitStatus

MAX_DAYS = 366
# 90 % of referred citizens get their needs assessed within the deadline (003, section 11).
ASSESSMENT_TARGET = 0.9


def _counts(column: str, values: Iterable[StrEnum]) -> str:
    """A JSON object with a count for every value of the enum, zero included (the keys are constants)."""
    return ", ".join(f"'{v.value}', count(*) FILTER (WHERE {column} = '{v.value}')" for v in values)


def _deadline(due: str, met_on: str) -> str:
    """The deadline's states as the case page names them (`backend.cases.rules.deadline_state`)."""
    return f"""json_build_object(
        'met', count(*) FILTER (WHERE {met_on} <= {due}),
        'met_late', count(*) FILTER (WHERE {met_on} > {due}),
        'overdue', count(*) FILTER (WHERE {met_on} IS NULL AND {due} < :today),
        'not_due', count(*) FILTER (WHERE {met_on} IS NULL AND {due} >= :today),
        'decided', count(*) FILTER (WHERE {met_on} IS NOT NULL OR {due} < :today),
        'met_share', count(*) FILTER (WHERE {met_on} <= {due})::float8
                     / nullif(count(*) FILTER (WHERE {met_on} IS NOT NULL OR {due} < :today), 0))"""


def _durations(seconds: str) -> str:
    return f"""json_build_object(
        'count', count({seconds}),
        'median_seconds', percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}),
        'p90_seconds', percentile_cont(0.9) WITHIN GROUP (ORDER BY {seconds}))"""


# Each row counts in its own district: a death or a referral where the case is, an alert or a visit
# where it happened (a case may have moved since).
_INDICATORS_SQL = f"""
WITH districts AS (
    SELECT id FROM organisations
    WHERE parent_id = :municipality AND kind = 'district'
      AND (CAST(:district AS uuid) IS NULL OR id = CAST(:district AS uuid))
),
died AS (
    SELECT c.death_place,
           EXISTS (SELECT 1 FROM hospital_stays h WHERE h.case_id = c.id AND h.status = 'died') AS by_notice,
           (SELECT w.preferred_place_of_death FROM case_wishes w WHERE w.case_id = c.id
            ORDER BY w.recorded_at DESC, w.id LIMIT 1) AS wished
    FROM cases c
    WHERE c.municipality_id = :municipality AND c.district_id IN (SELECT id FROM districts)
      AND c.died_at >= :starts AND c.died_at < :ends
),
raised AS (
    SELECT a.status, a.outcome, a.followed_by_admission_at,
           EXISTS (SELECT 1 FROM hospital_stays h
                   WHERE h.case_id = a.case_id AND h.status <> 'void' AND h.admitted_at >= a.received_at
                     AND h.admitted_at <= coalesce(a.resolved_at, a.received_at) + interval '24 hours')
               AS admitted_by_notice,
           EXTRACT(EPOCH FROM a.first_acknowledged_at - a.received_at)::float8 AS ack,
           EXTRACT(EPOCH FROM a.at_bedside_at - a.received_at)::float8 AS bedside
    FROM alerts a
    WHERE a.municipality_id = :municipality AND a.district_id IN (SELECT id FROM districts)
      AND a.received_at >= :starts AND a.received_at < :ends
),
planned AS (
    SELECT v.status FROM visits v
    WHERE v.district_id IN (SELECT id FROM districts) AND v.kind = '{VisitKind.PLANNED.value}'
      AND v.window_start >= :starts AND v.window_start < :ends
),
referred AS (
    SELECT c.referral_source, c.first_contact_due, c.first_contact_on, c.assessment_due, c.assessment_on
    FROM cases c
    WHERE c.municipality_id = :municipality AND c.district_id IN (SELECT id FROM districts)
      AND c.referral_received_on BETWEEN :first_day AND :last_day
)
SELECT json_build_object(
    'district_known', CAST(:district AS uuid) IS NULL OR EXISTS (SELECT 1 FROM districts),
    'deaths', (SELECT json_build_object(
        'total', count(*),
        'by_place', json_build_object({_counts("death_place", Place)}),
        'with_wish', count(wished),
        'died_where_wished', count(*) FILTER (WHERE wished = death_place),
        'died_where_wished_share', count(*) FILTER (WHERE wished = death_place)::float8 / nullif(count(wished), 0),
        'confirmed_by_notice', count(*) FILTER (WHERE by_notice))
        FROM died),
    'alerts', (SELECT json_build_object(
        'raised', count(*),
        'resolved', count(*) FILTER (WHERE status = '{AlertStatus.RESOLVED.value}'),
        'by_outcome', json_build_object({_counts("outcome", Outcome)}),
        'at_home', count(*) FILTER (WHERE outcome = ANY(:at_home)),
        'admitted', count(*) FILTER (WHERE outcome = ANY(:admitted)),
        'at_home_share', count(*) FILTER (WHERE outcome = ANY(:at_home))::float8
                         / nullif(count(*) FILTER (WHERE status = '{AlertStatus.RESOLVED.value}'), 0),
        'at_home_then_admitted', count(*) FILTER (WHERE outcome = ANY(:at_home)
                                                  AND followed_by_admission_at IS NOT NULL),
        'admitted_confirmed_by_notice', count(*) FILTER (WHERE outcome = ANY(:admitted) AND admitted_by_notice),
        'time_to_acknowledge', {_durations("ack")},
        'time_to_bedside', {_durations("bedside")})
        FROM raised),
    'visits', (SELECT json_build_object(
        'planned', count(*),
        'done', count(*) FILTER (WHERE status = '{VisitStatus.DONE.value}'),
        'missed', count(*) FILTER (WHERE status = '{VisitStatus.MISSED.value}'),
        'cancelled', count(*) FILTER (WHERE status = '{VisitStatus.CANCELLED.value}'),
        'open', count(*) FILTER (WHERE status IN ('{VisitStatus.PLANNED.value}', '{VisitStatus.UNDER_WAY.value}')),
        'done_share', count(*) FILTER (WHERE status = '{VisitStatus.DONE.value}')::float8
                      / nullif(count(*) FILTER (WHERE status <> '{VisitStatus.CANCELLED.value}'), 0))
        FROM planned),
    'referrals', (SELECT json_build_object(
        'total', count(*),
        'by_source', json_build_object({_counts("referral_source", ReferralSource)}),
        'first_contact', {_deadline("first_contact_due", "first_contact_on")},
        'assessment', {_deadline("assessment_due", "assessment_on")})
        FROM referred)
)::text
"""


class _Referrals(msgspec.Struct):
    total: int | None
    by_source: dict[ReferralSource, int | None]
    first_contact: s.DeadlineFigures
    assessment: s.DeadlineFigures


class _Row(msgspec.Struct):
    district_known: bool
    deaths: s.DeathFigures
    alerts: s.AlertFigures
    visits: s.VisitFigures
    referrals: _Referrals


_decode = msgspec.json.Decoder(_Row).decode


def period(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """The Copenhagen calendar days `first_day`..`last_day`, both included, as a half-open UTC range."""
    if last_day < first_day:
        raise Problem(422, "Invalid period", "`to` must not be before `from`.", field="to")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise Problem(422, "Invalid period", f"The period is at most {MAX_DAYS} days.", field="to")

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), COPENHAGEN).astimezone(UTC)

    return midnight(first_day), midnight(last_day + timedelta(days=1))


async def indicators(
    session: AsyncSession,
    actor: Actor,
    first_day: date,
    last_day: date,
    district_id: uuid.UUID | None,
    today: date,
    min_count: int,
) -> s.Indicators:
    """The period's figures for the actor's municipality, or one of its districts; one audit row.
    Counts under `min_count`, and those that would give one back, are null (`protect`).

    Times to acknowledge and to the bedside are seconds from the alert's arrival at the server.
    Median and 90th percentile are PostgreSQL's `percentile_cont`: the sorted values' linear
    interpolation at position p * (n - 1), counting from 0 (p90 of [60, 120, 300] is
    120 + 0.8 * 180 = 264). Deadlines are judged on `today`: a deadline not met is overdue
    once its day has passed; `met_share` is met on time among those met or overdue.
    """
    if actor.municipality_id is None:
        raise not_found("municipality")
    starts, ends = period(first_day, last_day)
    params = {
        "municipality": actor.municipality_id,
        "district": district_id,
        "starts": starts,
        "ends": ends,
        "first_day": first_day,
        "last_day": last_day,
        "today": today,
        "at_home": list(AT_HOME),
        "admitted": list(ADMITTED),
    }
    async with row_scope.counting(session, actor.municipality_id):  # the administrator sees no case, counts them
        row = _decode(await session.scalar(text(_INDICATORS_SQL), params))
    if not row.district_known:
        raise Problem(422, "Unknown district", "The district is not one of your municipality's.", field="district_id")
    detail = {
        "from": first_day.isoformat(),
        "to": last_day.isoformat(),
        "district_id": str(district_id) if district_id else None,
    }
    await audit.record(session, actor, "indicators.read", detail=detail)
    figures = msgspec.to_builtins(row)
    suppressed = protect(figures, min_count)
    referrals = msgspec.convert(figures["referrals"], _Referrals)
    share = referrals.assessment.met_share
    return s.Indicators(
        first_day=first_day,
        last_day=last_day,
        district_id=district_id,
        as_of=today,
        min_count=min_count,
        suppressed=suppressed,
        deaths=msgspec.convert(figures["deaths"], s.DeathFigures),
        alerts=msgspec.convert(figures["alerts"], s.AlertFigures),
        visits=msgspec.convert(figures["visits"], s.VisitFigures),
        referrals=s.ReferralFigures(
            total=referrals.total,
            by_source=referrals.by_source,
            first_contact=referrals.first_contact,
            assessment=referrals.assessment,
            target=ASSESSMENT_TARGET,
            meets_target=None if share is None else share >= ASSESSMENT_TARGET,
        ),
    )


def _rows(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    """(key, value) for every figure under `value`, nested keys joined with dots."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _rows(f"{prefix}.{key}" if prefix else str(key), inner)
    else:
        yield prefix, "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


# The CSV's own words on what is left out (Danish: the city's staff read it).
SUPPRESSION_NOTE = (
    "Tal under {n} er udeladt (tom værdi), og det samme er tal, som de udeladte kunne regnes ud fra, "
    "så ingen enkelt borger kan genkendes."
)


def as_csv(figures: s.Indicators) -> str:
    """`indicator,key,value`: one row per figure, e.g. `deaths,died_where_wished_share,0.5`; a
    suppressed figure has an empty value, and the `suppression` rows say so."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["indicator", "key", "value"])
    data = msgspec.to_builtins(figures)
    for name in ("from", "to", "district_id", "as_of"):
        writer.writerow(["period", name, "" if data[name] is None else data[name]])
    writer.writerow(["suppression", "min_count", figures.min_count])
    writer.writerow(["suppression", "suppressed", figures.suppressed])
    writer.writerow(["suppression", "note", SUPPRESSION_NOTE.format(n=figures.min_count)])
    for indicator in ("deaths", "alerts", "visits", "referrals"):
        for key, value in _rows("", data[indicator]):
            writer.writerow([indicator, key, value])
    return out.getvalue()
