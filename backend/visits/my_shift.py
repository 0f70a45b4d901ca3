"""My shift: the calling nurse's visits of a shift, each with what she needs at the door.

Phones poll this, so it is one statement on a plain connection: PostgreSQL gathers the visits,
their cases and everything about each case, derives what the nurse is shown (medicine missing or
expiring, children in the home, the trend since the last scores), writes the answer as JSON,
and writes one audit row per case shown - unless the phone already holds this very answer
(If-None-Match), in which case nothing is sent back and nothing new was disclosed, so nothing is
logged. The JSON goes to the phone as PostgreSQL wrote it: decoding it and encoding it again cost
more than the query itself. Its shape is `mobile_api.schemas.MyShift`, which a test holds it to
field by field.

The ETag names what the answer is made of rather than hashing the answer: the version (`xmin`) of
every row it reads, the day (children's ages and medicine states follow it), the shift and the
statement's own text. Any committed change to any of those rows gives the row a new version and
the answer a new tag, so the tag is strong, yet a poll reads only the rows' versions through the
same indexes and builds nothing: a phone polling an unchanged shift costs a fraction of an
answer. For the same reason a body built once can be sent again while its tag stands: each
process keeps the last body per nurse and shift, and a full answer whose tag it holds skips the
building (never the audit rows).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from backend.cases.access import Positional, scope_sql
from backend.cases.models import Indication
from backend.cases.page import EXPIRY_WARNING
from backend.people.actor import Actor
from backend.roster.patterns import with_defaults
from backend.roster.shifts import DEFAULT_TIMES, Shift, ShiftTimes, shift_at

# The case page's rules (`page.expiry_state`, `page.missing_indications`, `page.age_this_year`),
# applied where the rows are; a test holds the two to the same answers for the same case.
# $1 nurse, $2/$3 the shift's start and end, $4 today (Copenhagen), $5 the last day counted as
# "expires soon", $6 the indications in their order, $7 the shift's day, $8 its kind, $9/$10 the
# audit's role and request id, $11 the phone's ETags, $12 the tag this process holds a body for
# (or none), $13 the statement's own version, then the scope. `mine` finds the visits through
# ix_visits_assignee_window; `tag` reads the version of every row the answer is made of; `door`
# and `doc` build the answer only when the phone lacks it and this process holds no body for it;
# `door` gathers each case once (a nurse sees most of her cases twice a shift).
_SQL = """
WITH mine AS MATERIALIZED (
    SELECT v.id, v.status, v.kind, v.window_start, v.window_end, v.tasks, v.checked_in_at, v.checked_out_at,
           cases.id AS case_id, cases.phase, cases.status AS case_status, cases.home_death_wish,
           cases.gp_name, cases.gp_phone, ci.name, ci.address, ci.phone,
           concat_ws(':', v.id, v.xmin, cases.xmin, ci.xmin) AS version
    FROM visits v JOIN cases ON cases.id = v.case_id JOIN citizens ci ON ci.id = cases.citizen_id
    WHERE v.assigned_to = $1 AND v.window_start >= $2 AND v.window_start < $3 AND ({scope})
),
seen AS MATERIALIZED (SELECT DISTINCT case_id FROM mine),
tag AS MATERIALIZED (
    SELECT md5(concat_ws('|', $13::text, $7::date, $8::text, $2::timestamptz, $3::timestamptz, $4::date,
        (SELECT string_agg(version, ',' ORDER BY version) FROM mine),
        (SELECT string_agg(concat_ws(':', seen.case_id,
            (SELECT string_agg(md.xmin::text, ',' ORDER BY md.id) FROM anticipatory_medicines md
             WHERE md.case_id = seen.case_id),
            (SELECT string_agg(r.xmin::text, ',' ORDER BY r.id) FROM relatives r WHERE r.case_id = seen.case_id),
            (SELECT string_agg(s.id || '.' || s.xmin, ',') FROM (
                SELECT id, xmin FROM symptom_assessments WHERE case_id = seen.case_id
                ORDER BY recorded_at DESC, id DESC LIMIT 2) s),
            (SELECT string_agg(f.id || '.' || f.xmin, ',' ORDER BY f.id) FROM case_flags f
             WHERE f.case_id = seen.case_id AND f.resolved_at IS NULL)
         ), ',' ORDER BY seen.case_id) FROM seen)
    )) AS etag
),
wanted AS MATERIALIZED (SELECT etag FROM tag WHERE etag <> ALL($11::text[])),
build AS MATERIALIZED (SELECT etag FROM wanted WHERE etag IS DISTINCT FROM $12::text),
door AS MATERIALIZED (
    SELECT c.case_id, json_build_object(
        'id', c.case_id, 'first_name', COALESCE(substring(c.name FROM '[^[:space:]]+'), c.name), 'name', c.name,
        'address', c.address, 'phone', c.phone, 'phase', c.phase, 'status', c.case_status,
        'home_death_wish', c.home_death_wish, 'gp_name', c.gp_name, 'gp_phone', c.gp_phone,
        'anticipatory_medicine', json_build_object(
            'complete', cardinality(med.missing) = 0, 'missing', med.missing,
            'expiring_soon', med.soon, 'items', med.items),
        'relatives_to_call', rel.adults,
        'children_in_home', rel.children,
        'last_scores', scores.last,
        'open_flags', flags.open
    ) AS door
    FROM (SELECT DISTINCT ON (case_id) * FROM mine WHERE EXISTS (SELECT FROM build) ORDER BY case_id) c
    CROSS JOIN LATERAL (
        SELECT items, soon, ARRAY(SELECT i FROM unnest($6::text[]) WITH ORDINALITY AS u(i, n)
                                  WHERE i <> ALL(covered) ORDER BY n) AS missing
        FROM (
            SELECT COALESCE(json_agg(json_build_object('indication', x.indication, 'drug', x.drug,
                                                       'strength', x.strength, 'expires_on', x.expires_on,
                                                       'state', x.state)
                                     ORDER BY x.indication, x.expires_on, x.id), '[]') AS items,
                   COALESCE(array_agg(x.indication) FILTER (WHERE x.state <> 'expired'), '{{}}') AS covered,
                   COALESCE(array_agg(DISTINCT x.indication COLLATE "C" ORDER BY x.indication COLLATE "C")
                            FILTER (WHERE x.state = 'expires_soon'), '{{}}') AS soon
            FROM (SELECT md.id, md.indication, md.drug, md.strength, md.expires_on,
                         CASE WHEN md.expires_on < $4 THEN 'expired'
                              WHEN md.expires_on <= $5 THEN 'expires_soon' ELSE 'ok' END AS state
                  FROM anticipatory_medicines md WHERE md.case_id = c.case_id AND md.removed_at IS NULL) x
        ) at_home
    ) med
    CROSS JOIN LATERAL (
        SELECT COALESCE(json_agg(json_build_object('name', r.name, 'relation', r.relation, 'phone', r.phone,
                                                   'primary_contact', r.primary_contact,
                                                   'may_be_informed', r.consent_to_information)
                                 ORDER BY r.primary_contact DESC, r.created_at, r.id)
                        FILTER (WHERE r.age IS NULL OR r.age >= 18), '[]') AS adults,
               COALESCE(json_agg(json_build_object('name', r.name, 'age', r.age)
                                 ORDER BY r.primary_contact DESC, r.created_at, r.id)
                        FILTER (WHERE r.age < 18 AND r.lives_with_citizen), '[]') AS children
        FROM (SELECT *, extract(year FROM $4::date)::int - birth_year AS age
              FROM relatives WHERE case_id = c.case_id AND removed_at IS NULL) r
    ) rel
    CROSS JOIN LATERAL (
        SELECT (SELECT json_build_object(
                    'instrument', l.instrument, 'recorded_at', api_time(l.recorded_at), 'scores', l.scores,
                    'previous_recorded_at', api_time(p.recorded_at),
                    'trend', COALESCE((
                        SELECT json_object_agg(k.key, CASE sign(k.value::numeric - (p.scores -> k.key)::numeric)
                                                      WHEN 1 THEN 'up' WHEN -1 THEN 'down' ELSE 'same' END
                                               ORDER BY k.n)
                        FROM jsonb_each(l.scores) WITH ORDINALITY AS k(key, value, n)
                        WHERE p.instrument = l.instrument AND p.scores ? k.key), '{{}}'))
                FROM (SELECT instrument, scores, recorded_at FROM symptom_assessments WHERE case_id = c.case_id
                      ORDER BY recorded_at DESC, id DESC LIMIT 1) l
                LEFT JOIN LATERAL (SELECT instrument, scores, recorded_at FROM symptom_assessments
                                   WHERE case_id = c.case_id ORDER BY recorded_at DESC, id DESC OFFSET 1 LIMIT 1) p
                       ON true) AS last
    ) scores
    CROSS JOIN LATERAL (
        SELECT COALESCE(json_agg(json_build_object(
                   'kind', f.kind, 'raised_at', api_time(f.raised_at),
                   'items', CASE WHEN jsonb_typeof(f.detail -> 'items') = 'array'
                                 THEN ARRAY(SELECT jsonb_array_elements_text(f.detail -> 'items'))
                                 ELSE '{{}}' END)
               ORDER BY f.raised_at, f.kind, f.id), '[]') AS open
        FROM case_flags f WHERE f.case_id = c.case_id AND f.resolved_at IS NULL
    ) flags
),
doc AS (
    SELECT json_build_object(
        'shift', json_build_object('day', $7::date, 'kind', $8::text, 'starts', api_time($2), 'ends', api_time($3)),
        'visits', COALESCE(json_agg(json_build_object(
            'id', mine.id, 'status', mine.status, 'kind', mine.kind,
            'window_start', api_time(mine.window_start), 'window_end', api_time(mine.window_end),
            'tasks', mine.tasks, 'checked_in_at', api_time(mine.checked_in_at),
            'checked_out_at', api_time(mine.checked_out_at), 'case', door.door
        ) ORDER BY mine.window_start, mine.id), '[]')
    )::text AS body
    FROM mine JOIN door ON door.case_id = mine.case_id
    HAVING EXISTS (SELECT FROM build)
),
audit AS (
    INSERT INTO audit_log (user_id, role, action, case_id, request_id)
    SELECT $1, $9::text, 'visit.my_shift', seen.case_id, $10::text FROM seen WHERE EXISTS (SELECT FROM wanted)
)
SELECT etag, (SELECT body FROM doc) AS body FROM tag
"""

_INDICATIONS = [i.value for i in Indication]
# Part of every tag, so that a phone's copy from before a change of the answer's shape is stale.
_VERSION = hashlib.md5((_SQL + ",".join(_INDICATIONS)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class MyShiftAnswer:
    etag: str  # quoted, as sent in the ETag header
    body: bytes | None  # JSON in the shape of `mobile_api.schemas.MyShift`; None: the phone's copy is current


def parse_if_none_match(header: str | None) -> list[str]:
    """The entity tags of an If-None-Match header, unquoted (weak ones compare by their tag, RFC 9110)."""
    if not header:
        return []
    tags = []
    for part in header.split(","):
        tag = part.strip()
        tag = tag.removeprefix("W/")
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tags.append(tag[1:-1])
    return tags[:20]


# A municipality's shift times as "my shift" polls see them: they change perhaps once a year, and
# a phone polls every few seconds, so they are remembered for a minute per process.
_TIMES_TTL_SECONDS = 60.0
_times: dict[uuid.UUID, tuple[float, ShiftTimes]] = {}


async def _shift_times(pg: asyncpg.Connection, municipality_id: uuid.UUID) -> ShiftTimes:
    known = _times.get(municipality_id)
    if known is not None and known[0] > time.monotonic():
        return known[1]
    rows = await pg.fetch(
        "SELECT kind, starts_at, ends_at FROM shift_patterns WHERE municipality_id = $1", municipality_id
    )
    times = with_defaults((r["kind"], r["starts_at"], r["ends_at"]) for r in rows)
    _times[municipality_id] = (time.monotonic() + _TIMES_TTL_SECONDS, times)
    return times


async def which_shift(pg: asyncpg.Connection, actor: Actor, now: datetime, which: str) -> Shift:
    """The shift running now, or the one after it, by the nurse's municipality's shift times."""
    times = await _shift_times(pg, actor.municipality_id) if actor.municipality_id else DEFAULT_TIMES
    current = shift_at(now, times)
    return shift_at(current.ends, times) if which == "next" else current


# The last body built per nurse and shift, with its tag, for a full answer whose tag still stands
# (a phone that started afresh, a second phone of the same nurse). A few thousand nurses at most
# ask one process, at about 15 KB each.
_BODIES_KEPT = 2000
_bodies: dict[tuple[uuid.UUID, datetime], tuple[str, bytes]] = {}


def _keep(key: tuple[uuid.UUID, datetime], etag: str, body: bytes) -> None:
    _bodies.pop(key, None)
    if len(_bodies) >= _BODIES_KEPT:
        del _bodies[next(iter(_bodies))]  # the longest unused
    _bodies[key] = (etag, body)


async def load(
    pg: asyncpg.Connection, actor: Actor, shift: Shift, today: date, if_none_match: list[str]
) -> MyShiftAnswer:
    """The actor's visits of `shift` in window order; audited per case unless the phone's copy is current."""
    key = (actor.user_id, shift.starts)
    held = _bodies.get(key)
    bind = Positional(
        actor.user_id,
        shift.starts,
        shift.ends,
        today,
        today + EXPIRY_WARNING,
        _INDICATIONS,
        shift.day,
        shift.kind.value,
        actor.role.value,
        actor.request_id,
        if_none_match,
        held[0] if held else None,
        _VERSION,
    )
    row = await pg.fetchrow(_SQL.format(scope=scope_sql(actor, bind)), *bind.values)
    assert row is not None  # the statement always answers one row
    etag, built = row["etag"], row["body"]
    if etag in if_none_match:
        return MyShiftAnswer(f'"{etag}"', None)
    if built is not None:
        body = built.encode()
    else:
        assert held is not None and held[0] == etag  # nothing is built only when the held body is current
        body = held[1]
    _keep(key, etag, body)
    return MyShiftAnswer(f'"{etag}"', body)
