"""The coordinator's reads, each one asyncpg statement in which PostgreSQL builds the JSON: the
shift's board across the districts, the case timeline (its audit row in the same statement) and
the flags waiting for a look.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import asyncpg
import msgspec

from backend.audit import service as audit
from backend.cases.access import Positional, scope_sql
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.roster.models import ShiftKind
from backend.roster.shifts import DEFAULT_TIMES, Shift, ShiftTimes, shift, shift_at
from backend.visits import schemas as s
from backend.wire import checked

# ---- shifts -----------------------------------------------------------------------------------


class _Pattern(msgspec.Struct):
    kind: ShiftKind
    starts_at: time
    ends_at: time


def merged_times(patterns: Sequence[_Pattern] | None) -> ShiftTimes:
    """The municipality's shift times: its own patterns where it has them, the defaults elsewhere."""
    times = dict(DEFAULT_TIMES)
    for pattern in patterns or ():
        times[pattern.kind] = (pattern.starts_at, pattern.ends_at)
    return times


def pick_shift(selector: str, now: datetime, times: ShiftTimes) -> Shift:
    """`current`, `next`, `tonight` (the running night, else the night starting today) or `YYYY-MM-DD/kind`."""
    current = shift_at(now, times)
    if selector == "current":
        return current
    if selector == "next":
        return shift_at(current.ends, times)
    if selector == "tonight":
        return current if current.kind == ShiftKind.NIGHT else shift(current.day, ShiftKind.NIGHT, times)
    day, _, kind = selector.partition("/")
    try:
        return shift(checked(date.fromisoformat(day), "shift"), ShiftKind(kind), times)
    except ValueError:
        raise Problem(
            400,
            "Invalid shift",
            "Use current, next, tonight or a date and a kind, e.g. 2026-03-28/night.",
            field="shift",
        ) from None


# ---- the shift's board ------------------------------------------------------------------------

# The shift's visits, their counts by state and the municipality's shift patterns, in one statement.
# The window bounds let the (district_id, window_start) index find the rows: a visit's window starts
# inside its shift, or (a window of the small hours on a day shift's times) within 24 hours of its
# start; the 12 hours before cover a visit made under earlier shift times.
_BOARD_SQL = """
WITH districts AS (
    SELECT id FROM organisations
    WHERE parent_id = $1 AND kind = 'district' AND ($7::uuid IS NULL OR id = $7::uuid)
),
shown AS (
    SELECT v.*, CASE WHEN v.status = 'planned' AND v.window_end < $6 THEN 'overdue' ELSE v.status END AS state
    FROM visits v
    WHERE v.district_id IN (SELECT id FROM districts)
      AND v.window_start >= $4 AND v.window_start < $5
      AND v.shift_date = $2 AND v.shift_kind = $3
)
SELECT json_build_object(
    'patterns', (SELECT json_agg(json_build_object('kind', p.kind, 'starts_at', p.starts_at, 'ends_at', p.ends_at))
                 FROM shift_patterns p WHERE p.municipality_id = $1),
    'district_known', $7::uuid IS NULL OR EXISTS (SELECT 1 FROM districts),
    'counts', (SELECT json_build_object(
        'planned', count(*) FILTER (WHERE state = 'planned'), 'overdue', count(*) FILTER (WHERE state = 'overdue'),
        'under_way', count(*) FILTER (WHERE state = 'under_way'), 'done', count(*) FILTER (WHERE state = 'done'),
        'missed', count(*) FILTER (WHERE state = 'missed'), 'cancelled', count(*) FILTER (WHERE state = 'cancelled'),
        'total', count(*)) FROM shown),
    'visits', COALESCE((
        SELECT json_agg(json_build_object(
            'id', v.id, 'case_id', v.case_id, 'district_id', v.district_id, 'kind', v.kind, 'status', v.status,
            'state', v.state, 'shift_date', v.shift_date, 'shift_kind', v.shift_kind,
            'window_start', v.window_start, 'window_end', v.window_end, 'tasks', v.tasks,
            'assignee', CASE WHEN u.id IS NULL THEN NULL ELSE json_build_object('id', u.id, 'name', u.full_name) END,
            'handed_back_reason', v.handed_back_reason, 'checked_in_at', v.checked_in_at,
            'checked_out_at', v.checked_out_at, 'missed_at', v.missed_at, 'reason', v.reason,
            'alert_id', v.alert_id, 'updated_at', v.updated_at) ORDER BY v.window_start, v.id)
        FROM shown v LEFT JOIN users u ON u.id = v.assigned_to
    ), '[]')
)::text
"""


class _BoardRow(msgspec.Struct):
    patterns: list[_Pattern] | None
    district_known: bool
    counts: s.StateCounts
    visits: list[s.VisitOut]


_decode_board = msgspec.json.Decoder(_BoardRow).decode

# The last shift times seen per municipality: a guess checked by the statement itself, so a
# municipality that changes its times costs one more statement, never a wrong shift.
_times_seen: dict[uuid.UUID, ShiftTimes] = {}


async def shift_board(
    pg: asyncpg.Connection, actor: Actor, selector: str, district_id: uuid.UUID | None, now: datetime
) -> s.ShiftBoard:
    """A shift's visits across the municipality's districts (or one), in window order, counted by state;
    each case shown is an audited read."""
    municipality = actor.municipality_id
    if municipality is None:
        raise not_found("municipality")
    times = _times_seen.get(municipality, DEFAULT_TIMES)
    while True:
        chosen = pick_shift(selector, now, times)
        low, high = chosen.starts - timedelta(hours=12), chosen.starts + timedelta(hours=24)
        raw = await pg.fetchval(_BOARD_SQL, municipality, chosen.day, chosen.kind.value, low, high, now, district_id)
        row = _decode_board(raw)
        actual = merged_times(row.patterns)
        _times_seen[municipality] = actual
        if actual == times:
            break
        times = actual
    if not row.district_known:
        raise Problem(422, "Unknown district", "The district is not one of your municipality's.", field="district_id")
    # After the statement, which may run twice when the shift times changed: only the cases shown.
    await audit.record_case_reads_pg(pg, actor, "visit.board", list(dict.fromkeys(v.case_id for v in row.visits)))
    return s.ShiftBoard(
        shift=s.BoardShiftOut(day=chosen.day, kind=chosen.kind, starts=chosen.starts, ends=chosen.ends),
        district_id=district_id,
        counts=row.counts,
        visits=row.visits,
    )


# ---- the case timeline ------------------------------------------------------------------------

_PERSON = "json_build_object('id', {0}.id, 'name', {0}.full_name)"

_TIMELINE_SQL = """
WITH visible AS (SELECT cases.id, cases.died_at, cases.death_place, cases.death_present, cases.gp_informed
                 FROM cases WHERE cases.id = $1 AND ({scope})),
     audit AS (INSERT INTO audit_log (user_id, role, action, case_id, request_id)
               SELECT $2, $3, 'case.timeline.read', id, $4 FROM visible),
     entries AS (
    (SELECT v.window_start AS at, v.id, json_build_object(
        'type', 'visit', 'at', v.window_start, 'id', v.id, 'kind', v.kind, 'status', v.status,
        'state', CASE WHEN v.status = 'planned' AND v.window_end < $5 THEN 'overdue' ELSE v.status END,
        'window_start', v.window_start, 'window_end', v.window_end,
        'assignee', CASE WHEN u.id IS NULL THEN NULL ELSE {person_u} END,
        'checked_in_at', v.checked_in_at, 'checked_out_at', v.checked_out_at, 'missed_at', v.missed_at,
        'reason', v.reason, 'handed_back_reason', v.handed_back_reason) AS body
     FROM visits v LEFT JOIN users u ON u.id = v.assigned_to
     WHERE v.case_id = (SELECT id FROM visible) {before_v}
     ORDER BY v.window_start DESC, v.id DESC LIMIT $6)
    UNION ALL
    (SELECT a.recorded_at, a.id, json_build_object(
        'type', 'scores', 'at', a.recorded_at, 'id', a.id, 'visit_id', a.visit_id, 'instrument', a.instrument,
        'scores', a.scores, 'recorded_by', {person_u})
     FROM symptom_assessments a JOIN users u ON u.id = a.recorded_by
     WHERE a.case_id = (SELECT id FROM visible) {before_a}
     ORDER BY a.recorded_at DESC, a.id DESC LIMIT $6)
    UNION ALL
    (SELECT m.given_at, m.id, json_build_object(
        'type', 'medicine_given', 'at', m.given_at, 'id', m.id, 'visit_id', m.visit_id, 'drug', m.drug,
        'dose', m.dose, 'unit', m.unit, 'route', m.route, 'reason', m.reason, 'effect', m.effect,
        'effect_recorded_at', m.effect_recorded_at, 'recorded_by', {person_u})
     FROM medicine_given m JOIN users u ON u.id = m.recorded_by
     WHERE m.case_id = (SELECT id FROM visible) {before_m}
     ORDER BY m.given_at DESC, m.id DESC LIMIT $6)
    UNION ALL
    (SELECT n.written_at, n.id, json_build_object(
        'type', 'note', 'at', n.written_at, 'id', n.id, 'visit_id', n.visit_id, 'text', n.text,
        'interventions', n.interventions, 'relatives_present', n.relatives_present,
        'relatives_informed', n.relatives_informed, 'corrects_id', n.corrects_id,
        'corrected_by', ARRAY(SELECT c.id FROM visit_notes c WHERE c.case_id = n.case_id AND c.corrects_id = n.id
                              ORDER BY c.written_at, c.id),
        'author', {person_u})
     FROM visit_notes n JOIN users u ON u.id = n.author_id
     WHERE n.case_id = (SELECT id FROM visible) {before_n}
     ORDER BY n.written_at DESC, n.id DESC LIMIT $6)
    UNION ALL
    (SELECT f.raised_at, f.id, json_build_object(
        'type', 'flag', 'at', f.raised_at, 'id', f.id, 'kind', f.kind, 'detail', f.detail,
        'resolved_at', f.resolved_at, 'resolved_by', CASE WHEN u.id IS NULL THEN NULL ELSE {person_u} END)
     FROM case_flags f LEFT JOIN users u ON u.id = f.resolved_by
     WHERE f.case_id = (SELECT id FROM visible) {before_f}
     ORDER BY f.raised_at DESC, f.id DESC LIMIT $6)
    UNION ALL
    (SELECT k.written_at, k.id, json_build_object(
        'type', 'correspondence', 'at', k.written_at, 'id', k.id, 'direction', k.direction,
        'thread_key', k.thread_key, 'category', k.category, 'topic', k.topic, 'status', k.status,
        'sender_name', k.sender_name, 'recipient_name', k.recipient_name, 'replies_to_id', k.replies_to_id)
     FROM correspondence k
     WHERE k.case_id = (SELECT id FROM visible) {before_k}
     ORDER BY k.written_at DESC, k.id DESC LIMIT $6)
    UNION ALL
    (SELECT d.died_at, d.id, json_build_object(
        'type', 'death', 'at', d.died_at, 'id', d.id, 'place', d.death_place, 'present', d.death_present,
        'gp_informed', d.gp_informed)
     FROM visible d WHERE d.died_at IS NOT NULL {before_d})
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM visible) THEN COALESCE(
    (SELECT json_agg(e.body ORDER BY e.at DESC, e.id DESC)
     FROM (SELECT * FROM entries ORDER BY at DESC, id DESC LIMIT $6) AS e), '[]')::text END
"""

_TIMELINE_SOURCES = {
    "v": "v.window_start",
    "a": "a.recorded_at",
    "m": "m.given_at",
    "n": "n.written_at",
    "f": "f.raised_at",
    "k": "k.written_at",
    "d": "d.died_at",
}

_decode_timeline = msgspec.json.Decoder(list[s.TimelineEntry]).decode


def encode_before(at: datetime, ident: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{ident}".encode()).decode().rstrip("=")


def decode_before(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        instant = datetime.fromisoformat(at)
        return checked(instant, "before"), uuid.UUID(ident)
    except ValueError:
        raise Problem(
            400, "Invalid cursor", "Use the next_before of the previous page as it is.", field="before"
        ) from None


async def timeline(
    pg: asyncpg.Connection, actor: Actor, case_id: uuid.UUID, before: str | None, limit: int, now: datetime
) -> s.Timeline:
    """Everything that happened on a case at the bedside, newest first, a page at a time; an audited read."""
    bind = Positional(case_id, actor.user_id, actor.role.value, actor.request_id, now, limit + 1)
    scope = scope_sql(actor, bind)
    conditions = dict.fromkeys(_TIMELINE_SOURCES, "")
    if before:
        after_at, after_id = decode_before(before)
        at, ident = bind(after_at), bind(after_id)
        conditions = {
            alias: f"AND ({column}, {alias}.id) < ({at}, {ident})" for alias, column in _TIMELINE_SOURCES.items()
        }
    sql = _TIMELINE_SQL.format(
        scope=scope, person_u=_PERSON.format("u"), **{f"before_{alias}": c for alias, c in conditions.items()}
    )
    raw = await pg.fetchval(sql, *bind.values)
    if raw is None:
        raise not_found("case")
    items = _decode_timeline(raw)
    more = len(items) > limit
    items = items[:limit]
    return s.Timeline(
        case_id=case_id,
        items=items,
        next_before=encode_before(items[-1].at, items[-1].id) if more else None,
    )


# ---- flags ------------------------------------------------------------------------------------

# The flags shown and their audit rows (one per case) are one statement.
_FLAGS_SQL = """
WITH f AS (SELECT case_flags.*, cases.district_id,
                  row_number() OVER (ORDER BY {order}) AS n
           FROM case_flags JOIN cases ON cases.id = case_flags.case_id
           WHERE ({scope}) AND {where}
           ORDER BY {order} LIMIT {limit}),
     audit AS (INSERT INTO audit_log (user_id, role, action, case_id, request_id)
               SELECT DISTINCT {user_id}::uuid, {role}, 'case.flags.list', f.case_id, {request_id} FROM f)
SELECT COALESCE(json_agg(json_build_object(
    'id', f.id, 'case_id', f.case_id, 'district_id', f.district_id, 'kind', f.kind, 'detail', f.detail,
    'raised_at', f.raised_at, 'resolved_at', f.resolved_at, 'resolved_by', f.resolved_by) ORDER BY f.n), '[]')::text
FROM f
"""

_decode_flags = msgspec.json.Decoder(list[s.FlagOut]).decode


async def list_flags(
    pg: asyncpg.Connection, actor: Actor, open_only: bool, district_id: uuid.UUID | None, limit: int
) -> s.FlagList:
    """Open flags, oldest first (the longest waiting on top); or resolved ones, the latest resolved first.
    Each case shown is an audited read."""
    bind = Positional()
    where = ["case_flags.resolved_at IS NULL" if open_only else "case_flags.resolved_at IS NOT NULL"]
    if district_id is not None:
        where.append(f"cases.district_id = {bind(district_id)}")
    order = "case_flags.raised_at, case_flags.id" if open_only else "case_flags.resolved_at DESC, case_flags.id DESC"
    sql = _FLAGS_SQL.format(
        scope=scope_sql(actor, bind),
        where=" AND ".join(where),
        order=order,
        limit=int(limit),
        user_id=bind(actor.user_id),
        role=bind(actor.role.value),
        request_id=bind(actor.request_id),
    )
    return s.FlagList(items=_decode_flags(await pg.fetchval(sql, *bind.values)))
