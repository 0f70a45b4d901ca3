"""Shift times per municipality: its own, or the defaults 07-15, 15-23, 23-07.

Everything that names a shift (the roster, the alerts' on-call lookups, visit plans, generation)
asks `shift_times` for the municipality's times and hands them to `shifts`, which turns wall-clock
times into exact UTC instants across daylight saving. Here too: whether a visit window lies inside
its shift. Changing the times is `backend.visits.shift_change`'s: the visit plans must still fit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import time
from typing import Any

from sqlalchemy import ScalarSelect, SQLColumnExpression, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.errors import Problem
from backend.people.actor import Actor
from backend.roster import schemas as s
from backend.roster.models import ShiftKind, ShiftPattern
from backend.roster.shifts import DEFAULT_TIMES, ShiftTimes

KINDS = (ShiftKind.DAY, ShiftKind.EVENING, ShiftKind.NIGHT)
MIN_SHIFT_MINUTES = 60


def parse_time(raw: str) -> time:
    """An "HH:MM" already checked by the schema's pattern."""
    return time(int(raw[:2]), int(raw[3:5]))


def fmt_time(at: time) -> str:
    """Wall-clock times go over the wire as "HH:MM", as they were sent."""
    return at.strftime("%H:%M")


def minutes_after(at: time, start: time) -> int:
    """Wall-clock minutes from `start` to `at`, going forward round the clock."""
    return ((at.hour * 60 + at.minute) - (start.hour * 60 + start.minute)) % 1440


def shift_minutes(kind: ShiftKind, times: ShiftTimes) -> int:
    """A shift's length on an ordinary day (daylight-saving nights are an hour shorter or longer)."""
    start, end = times[kind]
    return minutes_after(end, start) or 1440


def window_fits(kind: ShiftKind, start: time, end: time, times: ShiftTimes) -> bool:
    """Whether a visit window lies inside its shift, by the wall clock (a night window may cross midnight)."""
    shift_start = times[kind][0]
    return minutes_after(start, shift_start) < minutes_after(end, shift_start) <= shift_minutes(kind, times)


def municipality_of(actor: Actor) -> uuid.UUID:
    """Shifts and rosters belong to a municipality: staff of one only (not the palliative unit)."""
    if actor.municipality_id is None:
        raise Problem(403, "Forbidden", "Only staff of a municipality may do this.", rule="municipality")
    return actor.municipality_id


# ---- shift patterns ---------------------------------------------------------------------------


_PATTERNS = select(ShiftPattern.municipality_id, ShiftPattern.kind, ShiftPattern.starts_at, ShiftPattern.ends_at).where(
    ShiftPattern.municipality_id.in_(bindparam("ids", expanding=True))
)


# A municipality's own times as one JSON value ([[kind, "HH:MM:SS", "HH:MM:SS"], ...]), for a
# statement that reads them along with other things; `times_from_json` reads it back.
def patterns_json(municipality_id: SQLColumnExpression[uuid.UUID]) -> ScalarSelect[Any]:
    return (
        select(func.json_agg(func.json_build_array(ShiftPattern.kind, ShiftPattern.starts_at, ShiftPattern.ends_at)))
        .where(ShiftPattern.municipality_id == municipality_id)
        .scalar_subquery()
    )


def with_defaults(own: Iterable[tuple[str, time, time]]) -> ShiftTimes:
    """A municipality's own times over the defaults."""
    return {**DEFAULT_TIMES, **{ShiftKind(kind): (starts, ends) for kind, starts, ends in own}}


def times_from_json(own: list[list[str]] | None) -> ShiftTimes:
    return with_defaults((kind, time.fromisoformat(start), time.fromisoformat(end)) for kind, start, end in own or ())


async def shift_times_for(session: AsyncSession, municipality_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ShiftTimes]:
    """Every municipality's shift times in one query; the defaults fill what a municipality has not set."""
    ids = list(set(municipality_ids))
    own: dict[uuid.UUID, list[tuple[str, time, time]]] = {mid: [] for mid in ids}
    if ids:
        for mid, kind, starts, ends in await session.execute(_PATTERNS, {"ids": ids}):
            own[mid].append((kind, starts, ends))
    return {mid: with_defaults(rows) for mid, rows in own.items()}


async def shift_times(session: AsyncSession, municipality_id: uuid.UUID) -> ShiftTimes:
    """The municipality's shift times: its own, or 07-15, 15-23, 23-07."""
    return (await shift_times_for(session, [municipality_id]))[municipality_id]


async def get_patterns(session: AsyncSession, actor: Actor) -> s.ShiftPatternsOut:
    """The actor's municipality's times, and whether they are only the defaults."""
    mid = municipality_of(actor)
    own = await session.scalar(select(func.count()).where(ShiftPattern.municipality_id == mid))
    return _patterns_out(mid, await shift_times(session, mid), is_default=not own)


def _patterns_out(mid: uuid.UUID, times: ShiftTimes, *, is_default: bool) -> s.ShiftPatternsOut:
    shifts = [
        s.ShiftTimesOut(
            kind=kind,
            starts_at=fmt_time(times[kind][0]),
            ends_at=fmt_time(times[kind][1]),
            hours=shift_minutes(kind, times) / 60,
        )
        for kind in KINDS
    ]
    return s.ShiftPatternsOut(municipality_id=mid, is_default=is_default, shifts=shifts)


def check_patterns(data: s.ShiftPatternsIn) -> dict[ShiftKind, tuple[time, time]]:
    """Three shifts, one of each kind, each at least an hour, following each other round the clock."""
    index = {item.kind: i for i, item in enumerate(data.shifts)}
    if set(index) != set(KINDS):
        raise Problem(
            422, "All three shifts", "Send the day, evening and night shift, once each.", field="shifts", rule="three"
        )
    times = {item.kind: (parse_time(item.starts_at), parse_time(item.ends_at)) for item in data.shifts}
    for kind in KINDS:
        start, end = times[kind]
        if minutes_after(end, start) < MIN_SHIFT_MINUTES:
            raise Problem(
                422,
                "Shift too short",
                f"The {kind.value} shift must last at least an hour.",
                field=f"shifts[{index[kind]}].ends_at",
                rule="shift_length",
            )
    for before, after in zip(KINDS, (*KINDS[1:], KINDS[0]), strict=True):
        if times[before][1] != times[after][0]:
            raise Problem(
                422,
                "Shifts must follow each other",
                f"The {after.value} shift must start when the {before.value} shift ends "
                f"({fmt_time(times[before][1])}).",
                field=f"shifts[{index[after]}].starts_at",
                rule="shifts_contiguous",
            )
    if sum(shift_minutes(kind, times) for kind in KINDS) != 1440:
        raise Problem(
            422, "Shifts must cover the day", "Together the shifts must last 24 hours.", field="shifts", rule="cover"
        )
    return times


async def save_patterns(
    session: AsyncSession, actor: Actor, mid: uuid.UUID, times: dict[ShiftKind, tuple[time, time]]
) -> s.ShiftPatternsOut:
    """Store the municipality's checked shift times (`check_patterns`) over its earlier ones, audited."""
    statement = pg_insert(ShiftPattern).values(
        [
            {"id": uuid.uuid4(), "municipality_id": mid, "kind": kind.value, "starts_at": start, "ends_at": end}
            for kind, (start, end) in times.items()
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            constraint="uq_shift_patterns_municipality_kind",
            set_={"starts_at": statement.excluded.starts_at, "ends_at": statement.excluded.ends_at},
        )
    )
    await audit.record(session, actor, "shift_patterns.set")
    return _patterns_out(mid, times, is_default=False)
