"""Changing a municipality's shift times, which the visit plans of its live cases must still fit.

The times are the roster's (`backend.roster.patterns`); the refusal is the visits': a plan's
window outside its shift would make visits nobody is rostered for.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend import row_scope
from backend.errors import Problem
from backend.people.actor import Actor
from backend.roster import schemas as rs
from backend.roster.models import ShiftKind
from backend.roster.patterns import check_patterns, municipality_of, save_patterns, window_fits
from backend.roster.shifts import ShiftTimes
from backend.visits.plans import LIVE_CASE_STATUSES

_OPEN_SLOTS_OF_LIVE_CASES = text(
    "SELECT s.shift_kind, s.window_start, s.window_end FROM visit_plan_slots s "
    "JOIN cases c ON c.id = s.case_id "
    "WHERE c.municipality_id = :mid AND s.valid_until IS NULL AND c.status = ANY(:live)"
)


async def set_shift_times(session: AsyncSession, actor: Actor, data: rs.ShiftPatternsIn) -> rs.ShiftPatternsOut:
    """Set the municipality's shift times, unless a live case's visit plan would fall outside them."""
    mid = municipality_of(actor)
    times = check_patterns(data)
    async with row_scope.counting(session, mid):  # the administrator sets them and sees no visit plan
        outside = await _slots_outside(session, mid, times)
    if outside:
        raise Problem(
            409,
            "Visit plans outside the new shifts",
            f"{outside} planned visit windows of live cases would fall outside the new shift times; "
            "change those visit plans first.",
            field="shifts",
            rule="slots_outside_shift",
        )
    return await save_patterns(session, actor, mid, times)


async def _slots_outside(session: AsyncSession, mid: uuid.UUID, times: ShiftTimes) -> int:
    rows = await session.execute(_OPEN_SLOTS_OF_LIVE_CASES, {"mid": mid, "live": list(LIVE_CASE_STATUSES)})
    return sum(1 for kind, start, end in rows if not window_fits(ShiftKind(kind), start, end, times))
