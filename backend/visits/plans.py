"""Visit plans and the visits they generate.

A plan is a case's set of open slots: one visit per shift in a wall-clock window, with standing
tasks. A change ends the slots that changed (`valid_until`) and starts new ones (`valid_from`),
so it reaches future visits only: planned visits of ended slots that have not started are
cancelled (kept as rows, never deleted: a nurse's phone, an event or an offline operation may
point at them), visits under way, done or missed stay as they were. Slots the new plan repeats
unchanged are kept, with their visits and the nurses assigned to them.

`generate` turns open slots into concrete visits for every shift in the next 48 hours. It is
idempotent (one visit per slot and window start, INSERT ... ON CONFLICT DO NOTHING) and safe
beside a plan change: it locks the slots it fills (FOR SHARE) in id order, as a plan change
locks the slots it ends, so it never writes visits for a slot that ended meanwhile.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.cases.access import case_scope
from backend.cases.models import Case, Status
from backend.errors import Problem, not_found
from backend.events import emit
from backend.people.actor import Actor
from backend.roster.models import ShiftKind
from backend.roster.patterns import (
    KINDS,
    fmt_time,
    minutes_after,
    parse_time,
    shift_minutes,
    shift_times,
    shift_times_for,
    window_fits,
)
from backend.roster.shifts import ShiftTimes, shifts_between, window
from backend.visits import plan_schemas as s
from backend.visits.models import VisitPlanSlot

# Cases whose citizen is at home and gets visits.
LIVE_CASE_STATUSES = ("referred", "active")
HORIZON = timedelta(hours=48)
INSERT_CHUNK = 5000
ENDED_CASE_STATUSES = frozenset({Status.DECEASED, Status.CLOSED})

# ---- generation -------------------------------------------------------------------------------

_OPEN_SLOTS = """
SELECT s.id, s.shift_kind, s.window_start, s.window_end, s.valid_from, c.municipality_id
FROM visit_plan_slots s JOIN cases c ON c.id = s.case_id
WHERE s.valid_until IS NULL AND c.status = ANY(:live) {only}
"""

_MISSING = """
SELECT g.slot_id, g.window_start
FROM unnest(CAST(:slot_ids AS uuid[]), CAST(:starts AS timestamptz[])) AS g(slot_id, window_start)
WHERE NOT EXISTS (SELECT 1 FROM visits v WHERE v.slot_id = g.slot_id AND v.window_start = g.window_start)
"""

# Share locks in id order: a plan change ending one of these slots waits for this transaction
# (and then cancels what it wrote), or this waits for the change and skips the ended slot.
_LOCK_OPEN = """
SELECT id FROM visit_plan_slots WHERE id = ANY(CAST(:ids AS uuid[])) AND valid_until IS NULL
ORDER BY id FOR SHARE
"""

# Rows go in (slot, window) order so that concurrent runs meet their conflicts in the same order.
_INSERT = """
INSERT INTO visits (id, case_id, district_id, slot_id, kind, status, shift_date, shift_kind,
                    window_start, window_end, tasks, created_at, updated_at)
SELECT gen_random_uuid(), s.case_id, c.district_id, s.id, 'planned', 'planned', g.shift_date, g.shift_kind,
       g.window_start, g.window_end, s.tasks, :now, :now
FROM unnest(CAST(:slot_ids AS uuid[]), CAST(:dates AS date[]), CAST(:kinds AS text[]),
            CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
     AS g(slot_id, shift_date, shift_kind, window_start, window_end)
JOIN visit_plan_slots s ON s.id = g.slot_id
JOIN cases c ON c.id = s.case_id
ORDER BY g.slot_id, g.window_start
ON CONFLICT (slot_id, window_start) DO NOTHING
"""

Candidate = tuple[uuid.UUID, date, str, datetime, datetime]  # slot, shift date, kind, window start, end


def _candidates(slots: list[Any], all_times: dict[uuid.UUID, ShiftTimes], now: datetime) -> list[Candidate]:
    """The visits the open slots call for: every shift of the slot's kind overlapping [now, now + 48 h).

    A window that has ended, or that started before its slot existed (a plan set mid-window),
    is not generated: the plan reaches forward only.
    """
    shifts_of: dict[uuid.UUID, dict[str, list[date]]] = {}
    for mid, times in all_times.items():
        by_kind: dict[str, list[date]] = {kind.value: [] for kind in KINDS}
        for running in shifts_between(now, now + HORIZON, times):
            by_kind[running.kind.value].append(running.day)
        shifts_of[mid] = by_kind
    windows: dict[tuple[uuid.UUID, date, str, time, time], tuple[datetime, datetime]] = {}
    out: list[Candidate] = []
    for slot in slots:
        mid = slot.municipality_id
        for day in shifts_of[mid][slot.shift_kind]:
            key = (mid, day, slot.shift_kind, slot.window_start, slot.window_end)
            found = windows.get(key)
            if found is None:
                kind = ShiftKind(slot.shift_kind)
                found = windows[key] = window(day, kind, slot.window_start, slot.window_end, all_times[mid])
            starts, ends = found
            if ends > now and starts > slot.valid_from:
                out.append((slot.id, day, slot.shift_kind, starts, ends))
    return out


async def generate(session: AsyncSession, now: datetime, case_ids: list[uuid.UUID] | None = None) -> int:
    """Create the missing visits of live cases' open slots for the next 48 hours; how many were created."""
    only = "AND s.case_id = ANY(CAST(:cases AS uuid[]))" if case_ids is not None else ""
    params: dict[str, Any] = {"live": list(LIVE_CASE_STATUSES)}
    if case_ids is not None:
        params["cases"] = case_ids
    slots = list(await session.execute(text(_OPEN_SLOTS.format(only=only)), params))
    if not slots:
        return 0
    all_times = await shift_times_for(session, {slot.municipality_id for slot in slots})
    wanted = _candidates(slots, all_times, now)
    if not wanted:
        return 0
    missing = {
        (row.slot_id, row.window_start)
        for row in await session.execute(
            text(_MISSING), {"slot_ids": [c[0] for c in wanted], "starts": [c[3] for c in wanted]}
        )
    }
    if not missing:
        return 0
    wanted = [c for c in wanted if (c[0], c[3]) in missing]
    still_open = set((await session.scalars(text(_LOCK_OPEN), {"ids": sorted({c[0] for c in wanted})})).all())
    wanted = sorted((c for c in wanted if c[0] in still_open), key=lambda c: (c[0], c[3]))
    created = 0
    for at in range(0, len(wanted), INSERT_CHUNK):
        chunk = wanted[at : at + INSERT_CHUNK]
        result = await session.execute(
            text(_INSERT),
            {
                "now": now,
                "slot_ids": [c[0] for c in chunk],
                "dates": [c[1] for c in chunk],
                "kinds": [c[2] for c in chunk],
                "starts": [c[3] for c in chunk],
                "ends": [c[4] for c in chunk],
            },
        )
        created += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return created


# ---- the plan ---------------------------------------------------------------------------------


def _slot_out(slot: Any) -> s.SlotOut:
    return s.SlotOut(
        id=slot.id,
        shift_kind=ShiftKind(slot.shift_kind),
        window_start=fmt_time(slot.window_start),
        window_end=fmt_time(slot.window_end),
        tasks=list(slot.tasks),
        valid_from=slot.valid_from,
    )


async def _open_slots(session: AsyncSession, case_id: uuid.UUID, times: ShiftTimes, lock: bool = False) -> list[Any]:
    """The case's open slots in shift order, each shift's windows in time order."""
    query = select(VisitPlanSlot).where(VisitPlanSlot.case_id == case_id, VisitPlanSlot.valid_until.is_(None))
    if lock:  # in id order, like `generate`, so the two never wait on each other in a circle
        query = query.order_by(VisitPlanSlot.id).with_for_update(key_share=True)
    slots = list((await session.scalars(query)).all())
    order = {kind.value: n for n, kind in enumerate(KINDS)}

    def position(slot: VisitPlanSlot) -> tuple[int, int, int]:
        start = times[ShiftKind(slot.shift_kind)][0]
        return order[slot.shift_kind], minutes_after(slot.window_start, start), minutes_after(slot.window_end, start)

    return slots if lock else sorted(slots, key=position)


async def get_plan(session: AsyncSession, actor: Actor, case_id: uuid.UUID) -> s.VisitPlanOut:
    """The current plan of a case the actor may see (a read of the case, so it is audited)."""
    municipality_id = await session.scalar(select(Case.municipality_id).where(Case.id == case_id, case_scope(actor)))
    if municipality_id is None:
        raise not_found("case")
    times = await shift_times(session, municipality_id)
    slots = await _open_slots(session, case_id, times)
    await audit.record(session, actor, "case.visit_plan.read", case_id=case_id)
    return s.VisitPlanOut(case_id=case_id, slots=[_slot_out(slot) for slot in slots])


SlotKey = tuple[str, time, time, tuple[str, ...]]


def check_slots(data: s.VisitPlanIn, times: ShiftTimes) -> list[SlotKey]:
    """Each window inside its shift by the municipality's times; at most six visits per shift."""
    per_kind = Counter(slot.shift_kind for slot in data.slots)
    for kind, count in per_kind.items():
        if count > s.MAX_SLOTS_PER_SHIFT:
            raise Problem(
                422,
                "Too many visits in a shift",
                f"At most {s.MAX_SLOTS_PER_SHIFT} visits per {kind.value} shift; this plan has {count}.",
                field="slots",
                rule="max_slots_per_shift",
            )
    keys: list[SlotKey] = []
    for i, slot in enumerate(data.slots):
        start, end = parse_time(slot.window_start), parse_time(slot.window_end)
        if not window_fits(slot.shift_kind, start, end, times):
            shift_start, shift_end = times[slot.shift_kind]
            starts_outside = minutes_after(start, shift_start) >= shift_minutes(slot.shift_kind, times)
            raise Problem(
                422,
                "Window outside the shift",
                f"A {slot.shift_kind.value} visit window must lie within "
                f"{fmt_time(shift_start)}-{fmt_time(shift_end)} and end after it starts.",
                field=f"slots[{i}].window_start" if starts_outside else f"slots[{i}].window_end",
                rule="window_in_shift",
            )
        tasks = tuple(task.strip() for task in slot.tasks)
        for j, task in enumerate(tasks):
            if not task:
                raise Problem(422, "Empty task", "A task needs words.", field=f"slots[{i}].tasks[{j}]")
        keys.append((slot.shift_kind.value, start, end, tasks))
    return keys


_CANCEL = """
UPDATE visits SET status = 'cancelled', cancel_reason = 'plan_changed', updated_at = :now
WHERE slot_id = ANY(CAST(:slots AS uuid[])) AND status = 'planned' AND checked_in_at IS NULL AND window_start > :now
RETURNING window_start, window_end, assigned_to
"""

# A replaced visit's nurse stays on the new visit for the very same window (say, only the tasks changed).
_CARRY_OVER = """
UPDATE visits v SET assigned_to = g.assigned_to
FROM unnest(CAST(:ids AS uuid[]), CAST(:assignees AS uuid[])) AS g(id, assigned_to)
WHERE v.id = g.id AND v.assigned_to IS NULL
"""


# A visit already under way or done early for a window the new plan repeats stands for it: the new
# slot's visit for that window is cancelled at once (kept as a row, so generation does not make it again).
_DROP_COVERED = """
UPDATE visits n SET status = 'cancelled', cancel_reason = 'duplicate', updated_at = :now
FROM visits o
WHERE o.slot_id = ANY(CAST(:ended AS uuid[])) AND o.status IN ('under_way', 'done') AND o.window_start > :now
  AND n.slot_id = ANY(CAST(:new AS uuid[])) AND n.status = 'planned'
  AND n.case_id = o.case_id AND n.window_start = o.window_start AND n.window_end = o.window_end
"""


async def _drop_covered(session: AsyncSession, ended: list[uuid.UUID], new_ids: list[uuid.UUID], now: datetime) -> int:
    if not ended or not new_ids:
        return 0
    result = await session.execute(text(_DROP_COVERED), {"ended": ended, "new": new_ids, "now": now})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _carry_over(
    session: AsyncSession, case_id: uuid.UUID, new_slots: list[uuid.UUID], cancelled: list[Any]
) -> None:
    assigned = Counter((row.window_start, row.window_end) for row in cancelled)
    nurse = {(row.window_start, row.window_end): row.assigned_to for row in cancelled if row.assigned_to}
    if not nurse or not new_slots:
        return
    fresh = list(
        await session.execute(
            text(
                "SELECT id, window_start, window_end FROM visits "
                "WHERE case_id = :case AND slot_id = ANY(CAST(:slots AS uuid[]))"
            ),
            {"case": case_id, "slots": new_slots},
        )
    )
    fresh_count = Counter((row.window_start, row.window_end) for row in fresh)
    pairs = [
        (row.id, nurse[key])
        for row in fresh
        if (key := (row.window_start, row.window_end)) in nurse and assigned[key] == 1 and fresh_count[key] == 1
    ]
    if pairs:
        await session.execute(text(_CARRY_OVER), {"ids": [p[0] for p in pairs], "assignees": [p[1] for p in pairs]})


async def set_plan(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: s.VisitPlanIn, now: datetime
) -> s.VisitPlanSet:
    """Replace a case's plan from now on; its new visits for the next 48 hours exist when this returns."""
    case = (
        await session.scalars(select(Case).where(Case.id == case_id, case_scope(actor)).with_for_update(key_share=True))
    ).first()
    if case is None:
        raise not_found("case")
    if case.status in ENDED_CASE_STATUSES:
        raise Problem(
            422, "Case has ended", "A deceased or closed case gets no visits.", field="status", rule="case_ended"
        )
    times = await shift_times(session, case.municipality_id)
    wanted = check_slots(data, times)

    old = await _open_slots(session, case_id, times, lock=True)
    unmatched = list(wanted)
    kept: list[VisitPlanSlot] = []
    ended: list[uuid.UUID] = []
    for slot in old:
        key = (slot.shift_kind, slot.window_start, slot.window_end, tuple(slot.tasks))
        if key in unmatched:
            unmatched.remove(key)
            kept.append(slot)
        else:
            ended.append(slot.id)

    cancelled: list[Any] = []
    if ended:
        await session.execute(
            text("UPDATE visit_plan_slots SET valid_until = :now WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"now": now, "ids": ended},
        )
        cancelled = list(await session.execute(text(_CANCEL), {"now": now, "slots": ended}))
    new_ids = [uuid.uuid4() for _ in unmatched]
    if unmatched:
        await session.execute(
            insert(VisitPlanSlot),
            [
                {
                    "id": ident,
                    "case_id": case_id,
                    "shift_kind": kind,
                    "window_start": start,
                    "window_end": end,
                    "tasks": list(tasks),
                    "valid_from": now,
                    "created_by": actor.user_id,
                }
                for ident, (kind, start, end, tasks) in zip(new_ids, unmatched, strict=True)
            ],
        )
    created = await generate(session, now, [case_id])
    created -= await _drop_covered(session, ended, new_ids, now)
    await _carry_over(session, case_id, new_ids, cancelled)

    summary = {"slots": len(wanted), "kept": len(kept), "visits_cancelled": len(cancelled), "visits_created": created}
    await audit.record(session, actor, "case.visit_plan.set", case_id=case_id, detail=summary)
    await emit(
        session,
        "visit_plan.changed",
        case.municipality_id,
        district_id=case.district_id,
        case_id=case_id,
        actor_id=actor.user_id,
        payload=summary,
    )
    current = await _open_slots(session, case_id, times)
    return s.VisitPlanSet(
        case_id=case_id,
        slots=[_slot_out(slot) for slot in current],
        slots_kept=len(kept),
        visits_cancelled=len(cancelled),
        visits_created=created,
    )
