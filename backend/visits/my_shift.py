"""My shift: the calling nurse's visits of a shift, each with what she needs at the door.

Phones poll this, so it is one statement on a plain connection: PostgreSQL gathers the visits,
their cases and everything about each case as JSON, hashes it for the ETag, and writes one audit
row per case shown - unless the phone already holds this very answer (If-None-Match), in which
case nothing is sent back and nothing new was disclosed, so nothing is logged.

The ETag is strong: the body is a pure function of the JSON PostgreSQL returns, the Copenhagen
date (children's ages, medicine expiry) and this module's VERSION, and all three are hashed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import msgspec

from backend.cases import page
from backend.cases.access import Positional, scope_sql
from backend.people.actor import Actor
from backend.visits.models import ShiftKind
from backend.visits.shifts import DEFAULT_TIMES, Shift, ShiftTimes, shift_at
from mobile_api import schemas as m

# Bump when the body built from the same rows changes shape, so phones do not keep a stale copy.
VERSION = "my-shift-1"

# `mine` finds the visits through ix_visits_assignee_window and their case and citizen by primary key;
# `facts` gathers each case's medicine, relatives, last two scores and open flags once per case, not
# once per visit (a nurse sees most of her cases twice a shift). The JSON is the same text as when it
# was gathered per visit, so ETags phones hold stay valid.
_SQL = """
WITH mine AS MATERIALIZED (
    SELECT v.id, v.status, v.kind, v.window_start, v.window_end, v.tasks, v.checked_in_at, v.checked_out_at,
           cases.id AS case_id, cases.phase, cases.status AS case_status, cases.home_death_wish,
           cases.gp_name, cases.gp_phone, ci.name, ci.address, ci.phone
    FROM visits v JOIN cases ON cases.id = v.case_id JOIN citizens ci ON ci.id = cases.citizen_id
    WHERE v.assigned_to = $1 AND v.window_start >= $2 AND v.window_start < $3 AND ({scope})
),
facts AS MATERIALIZED (
    SELECT c.case_id,
        COALESCE((
            SELECT json_agg(json_build_object('id', md.id, 'indication', md.indication, 'drug', md.drug,
                                              'strength', md.strength, 'quantity', md.quantity,
                                              'expires_on', md.expires_on, 'recorded_at', md.recorded_at)
                            ORDER BY md.indication, md.expires_on, md.id)
            FROM anticipatory_medicines md WHERE md.case_id = c.case_id AND md.removed_at IS NULL), '[]') AS medicines,
        COALESCE((
            SELECT json_agg(json_build_object('name', r.name, 'relation', r.relation, 'phone', r.phone,
                                              'primary_contact', r.primary_contact,
                                              'lives_with_citizen', r.lives_with_citizen,
                                              'consent_to_information', r.consent_to_information,
                                              'birth_year', r.birth_year)
                            ORDER BY r.primary_contact DESC, r.created_at, r.id)
            FROM relatives r WHERE r.case_id = c.case_id AND r.removed_at IS NULL), '[]') AS relatives,
        COALESCE((
            SELECT json_agg(json_build_object('instrument', a.instrument, 'scores', a.scores,
                                              'recorded_at', a.recorded_at) ORDER BY a.recorded_at DESC, a.id DESC)
            FROM (SELECT id, instrument, scores, recorded_at FROM symptom_assessments
                  WHERE case_id = c.case_id ORDER BY recorded_at DESC, id DESC LIMIT 2) a), '[]') AS assessments,
        COALESCE((
            SELECT json_agg(json_build_object('kind', f.kind, 'raised_at', f.raised_at, 'detail', f.detail)
                            ORDER BY f.raised_at, f.kind, f.id)
            FROM case_flags f WHERE f.case_id = c.case_id AND f.resolved_at IS NULL), '[]') AS flags
    FROM (SELECT DISTINCT case_id FROM mine) c
),
doc AS (
    SELECT COALESCE(json_agg(json_build_object(
        'visit', json_build_object('id', mine.id, 'status', mine.status, 'kind', mine.kind,
                                   'window_start', mine.window_start, 'window_end', mine.window_end,
                                   'tasks', mine.tasks, 'checked_in_at', mine.checked_in_at,
                                   'checked_out_at', mine.checked_out_at),
        'case', json_build_object('id', mine.case_id, 'phase', mine.phase, 'status', mine.case_status,
                                  'home_death_wish', mine.home_death_wish, 'gp_name', mine.gp_name,
                                  'gp_phone', mine.gp_phone, 'name', mine.name, 'address', mine.address,
                                  'phone', mine.phone),
        'medicines', facts.medicines,
        'relatives', facts.relatives,
        'assessments', facts.assessments,
        'flags', facts.flags
    ) ORDER BY mine.window_start, mine.id), '[]')::text AS body
    FROM mine JOIN facts ON facts.case_id = mine.case_id
),
tagged AS (SELECT md5(body || $4) AS etag, body FROM doc),
audit AS (
    INSERT INTO audit_log (user_id, role, action, case_id, request_id)
    SELECT $5::uuid, $6::text, 'visit.my_shift', facts.case_id, $7::text
    FROM facts, tagged WHERE tagged.etag <> ALL($8::text[])
)
SELECT etag, CASE WHEN etag = ANY($8::text[]) THEN NULL ELSE body END AS body FROM tagged
"""


class _Visit(msgspec.Struct):
    id: uuid.UUID
    status: str
    kind: str
    window_start: datetime
    window_end: datetime
    tasks: list[str]
    checked_in_at: datetime | None
    checked_out_at: datetime | None


class _Case(msgspec.Struct):
    id: uuid.UUID
    phase: str
    status: str
    home_death_wish: str | None
    gp_name: str | None
    gp_phone: str | None
    name: str
    address: str
    phone: str | None


class _Relative(msgspec.Struct):
    name: str
    relation: str
    phone: str | None
    primary_contact: bool
    lives_with_citizen: bool
    consent_to_information: bool
    birth_year: int | None


class _Assessment(msgspec.Struct):
    instrument: str
    scores: dict[str, int]
    recorded_at: datetime


class _Flag(msgspec.Struct):
    kind: str
    raised_at: datetime
    detail: dict[str, Any]


class _Medicine(msgspec.Struct):
    # Only what the phone is shown; the id, quantity and recorded_at in the JSON count for the ETag.
    indication: str
    drug: str
    strength: str
    expires_on: date


class _Row(msgspec.Struct):
    visit: _Visit
    case: _Case
    medicines: list[_Medicine]
    relatives: list[_Relative]
    assessments: list[_Assessment]
    flags: list[_Flag]


_decode = msgspec.json.Decoder(list[_Row]).decode


@dataclass(frozen=True, slots=True)
class MyShiftAnswer:
    etag: str  # quoted, as sent in the ETag header
    body: m.MyShift | None  # None: the phone's copy (If-None-Match) is current


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
    times = {**DEFAULT_TIMES, **{ShiftKind(r["kind"]): (r["starts_at"], r["ends_at"]) for r in rows}}
    _times[municipality_id] = (time.monotonic() + _TIMES_TTL_SECONDS, times)
    return times


async def which_shift(pg: asyncpg.Connection, actor: Actor, now: datetime, which: str) -> Shift:
    """The shift running now, or the one after it, by the nurse's municipality's shift times."""
    times = await _shift_times(pg, actor.municipality_id) if actor.municipality_id else DEFAULT_TIMES
    current = shift_at(now, times)
    return shift_at(current.ends, times) if which == "next" else current


async def load(
    pg: asyncpg.Connection, actor: Actor, shift: Shift, today: date, if_none_match: list[str]
) -> MyShiftAnswer:
    """The actor's visits of `shift` in window order; audited per case unless the phone's copy is current."""
    salt = f"|{today.isoformat()}|{shift.day.isoformat()}|{shift.kind.value}|{VERSION}"
    bind = Positional(
        actor.user_id, shift.starts, shift.ends, salt, actor.user_id, actor.role.value, actor.request_id, if_none_match
    )
    row = await pg.fetchrow(_SQL.format(scope=scope_sql(actor, bind)), *bind.values)
    assert row is not None  # the statement always answers one row
    etag = f'"{row["etag"]}"'
    if row["body"] is None:
        return MyShiftAnswer(etag, None)
    visits = [_visit(item, today) for item in _decode(row["body"])]
    shift_out = m.ShiftOut(day=shift.day, kind=shift.kind.value, starts=shift.starts, ends=shift.ends)
    return MyShiftAnswer(etag, m.MyShift(shift=shift_out, visits=visits))


def _medicine(items: list[_Medicine], today: date) -> m.AnticipatoryMedicine:
    """The case page's rules (`page.expiry_state`, `page.missing_indications`) on the phone's fields only."""
    at_home = [
        m.MedicineAtHome(
            indication=item.indication,
            drug=item.drug,
            strength=item.strength,
            expires_on=item.expires_on,
            state=page.expiry_state(item.expires_on, today),
        )
        for item in items
    ]
    missing = [i.value for i in page.missing_indications({a.indication for a in at_home if a.state != "expired"})]
    soon = sorted({a.indication for a in at_home if a.state == "expires_soon"})
    return m.AnticipatoryMedicine(complete=not missing, missing=missing, expiring_soon=soon, items=at_home)


def _last_scores(assessments: list[_Assessment]) -> m.LastScores | None:
    if not assessments:
        return None
    latest = assessments[0]
    previous = assessments[1] if len(assessments) > 1 else None
    trend: dict[str, str] = {}
    if previous is not None and previous.instrument == latest.instrument:
        for item, score in latest.scores.items():
            if item in previous.scores:
                before = previous.scores[item]
                trend[item] = "up" if score > before else "down" if score < before else "same"
    return m.LastScores(
        instrument=latest.instrument,
        recorded_at=latest.recorded_at,
        scores=latest.scores,
        previous_recorded_at=previous.recorded_at if previous is not None else None,
        trend=trend,
    )


def _visit(row: _Row, today: date) -> m.ShiftVisit:
    case = row.case
    adults: list[m.RelativeToCall] = []
    children: list[m.ChildInHome] = []
    for relative in row.relatives:
        age = page.age_this_year(relative.birth_year, today)
        if age is not None and age < 18:
            if relative.lives_with_citizen:
                children.append(m.ChildInHome(name=relative.name, age=age))
            continue
        adults.append(
            m.RelativeToCall(
                name=relative.name,
                relation=relative.relation,
                phone=relative.phone,
                primary_contact=relative.primary_contact,
                may_be_informed=relative.consent_to_information,
            )
        )
    flags = [
        m.OpenFlag(kind=flag.kind, raised_at=flag.raised_at, items=[str(i) for i in flag.detail.get("items", [])])
        for flag in row.flags
    ]
    door = m.DoorCase(
        id=case.id,
        first_name=case.name.split()[0] if case.name.split() else case.name,
        name=case.name,
        address=case.address,
        phone=case.phone,
        phase=case.phase,
        status=case.status,
        home_death_wish=case.home_death_wish,
        gp_name=case.gp_name,
        gp_phone=case.gp_phone,
        anticipatory_medicine=_medicine(row.medicines, today),
        relatives_to_call=adults,
        children_in_home=children,
        last_scores=_last_scores(row.assessments),
        open_flags=flags,
    )
    visit = row.visit
    return m.ShiftVisit(
        id=visit.id,
        status=visit.status,
        kind=visit.kind,
        window_start=visit.window_start,
        window_end=visit.window_end,
        tasks=visit.tasks,
        checked_in_at=visit.checked_in_at,
        checked_out_at=visit.checked_out_at,
        case=door,
    )
