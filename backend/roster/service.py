"""The roster of who works which shift, and who is on duty when.

The roster names a shift by the Copenhagen date it starts on and its kind; `on_duty` turns an
instant into that shift (with the municipality's times, daylight saving included), so the alerts
can ask whom to call.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.errors import Problem
from backend.events import emit
from backend.people.actor import Actor
from backend.people.models import USER_ACTIVE, Organisation, Role, User, UserDistrict
from backend.roster import schemas as s
from backend.roster.models import Duty, RosterEntry, ShiftKind
from backend.roster.patterns import KINDS, municipality_of, shift_times
from backend.roster.shifts import ShiftTimes, shift, shift_at, shifts_between

DISTRICT_DUTIES = frozenset({Duty.NURSE, Duty.ON_CALL_NURSE})
# The role a person must have to hold a duty.
DUTY_ROLE = {
    Duty.NURSE: Role.NURSE,
    Duty.ON_CALL_NURSE: Role.NURSE,
    Duty.COORDINATOR: Role.COORDINATOR,
    Duty.KEY_PERSON: Role.KEY_PERSON,
}
ROSTER_DAYS_BACK = 7  # a past shift can still be corrected for a week
ROSTER_DAYS_AHEAD = 366
MAX_ROSTER_RANGE_DAYS = 62

# ---- the roster -------------------------------------------------------------------------------


async def districts_of(session: AsyncSession, mid: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(Organisation.id, Organisation.name)
        .where(Organisation.parent_id == mid, Organisation.kind == "district")
        .order_by(Organisation.name)
    )
    return {ident: name for ident, name in rows}


async def _people(session: AsyncSession, mid: uuid.UUID, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Active users (neither deleted nor disabled) of the municipality among `user_ids`, with role and districts."""
    districts = (
        select(func.array_agg(UserDistrict.district_id))
        .where(UserDistrict.user_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(User.id, User.role, districts.label("districts"))
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(
            User.id.in_(user_ids),
            USER_ACTIVE,
            (Organisation.id == mid) | (Organisation.parent_id == mid),
        )
    )
    return {row.id: row for row in rows}


def _entry_problem(
    entry: s.RosterEntryIn, districts: dict[uuid.UUID, str], person: Any
) -> tuple[str, str, str, str | None] | None:
    """What is wrong with one roster entry, if anything: (field, title, detail, rule)."""
    duty = entry.duty.value
    if entry.duty in DISTRICT_DUTIES:
        if entry.district_id is None:
            return "district_id", "District required", f"A {duty} covers a district: name it.", "district_required"
        if entry.district_id not in districts:
            return "district_id", "Unknown district", "The district is not one of your municipality's.", None
    elif entry.district_id is not None:
        detail = f"The {duty} on duty covers the whole municipality; leave district_id empty."
        return "district_id", "No district for this duty", detail, "no_district_for_duty"
    if person is None:
        return "user_id", "Unknown person", "No current staff member of your municipality has this id.", None
    needed = DUTY_ROLE[entry.duty].value
    if person.role != needed:
        return "user_id", "Wrong role for the duty", f"Only a {needed} can be rostered as {duty}.", "role_for_duty"
    if entry.duty in DISTRICT_DUTIES and entry.district_id not in (person.districts or ()):
        return "user_id", "Not a nurse of the district", "This nurse does not work in that district.", "not_in_district"
    return None


def _check_entries(
    entries: list[s.RosterEntryIn], districts: dict[uuid.UUID, str], people: dict[uuid.UUID, Any]
) -> None:
    seen: set[tuple[uuid.UUID, Duty]] = set()
    for i, entry in enumerate(entries):
        if (entry.user_id, entry.duty) in seen:
            found: tuple[str, str, str, str | None] | None = (
                "user_id",
                "Listed twice",
                "This person already has this duty on the shift.",
                "duplicate_entry",
            )
        else:
            found = _entry_problem(entry, districts, people.get(entry.user_id))
        if found is not None:
            field, title, detail, rule = found
            raise Problem(422, title, detail, field=f"entries[{i}].{field}", rule=rule)
        seen.add((entry.user_id, entry.duty))


async def set_roster(
    session: AsyncSession,
    actor: Actor,
    shift_date: date,
    kind: ShiftKind,
    data: s.RosterIn,
    today: date,
) -> s.RosterShiftOut:
    """Replace the roster of one shift, all or nothing."""
    mid = municipality_of(actor)
    if not today - timedelta(days=ROSTER_DAYS_BACK) <= shift_date <= today + timedelta(days=ROSTER_DAYS_AHEAD):
        raise Problem(
            422,
            "Shift date out of range",
            f"Roster shifts from {ROSTER_DAYS_BACK} days back to a year ahead.",
            field="shift_date",
        )
    districts = await districts_of(session, mid)
    people = await _people(session, mid, [entry.user_id for entry in data.entries])
    _check_entries(data.entries, districts, people)
    # Two coordinators saving the same shift at once: one after the other, never a mix of both.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"roster:{mid}:{shift_date.isoformat()}:{kind.value}"},
    )
    await session.execute(
        delete(RosterEntry).where(
            RosterEntry.municipality_id == mid, RosterEntry.shift_date == shift_date, RosterEntry.shift_kind == kind
        )
    )
    if data.entries:
        await session.execute(
            insert(RosterEntry),
            [
                {
                    "id": uuid.uuid4(),
                    "municipality_id": mid,
                    "shift_date": shift_date,
                    "shift_kind": kind.value,
                    "user_id": entry.user_id,
                    "duty": entry.duty.value,
                    "district_id": entry.district_id,
                }
                for entry in data.entries
            ],
        )
    detail = {"shift_date": shift_date.isoformat(), "shift_kind": kind.value, "entries": len(data.entries)}
    await audit.record(session, actor, "roster.set", detail=detail)
    await emit(session, "roster.changed", mid, actor_id=actor.user_id, payload=detail)
    times = await shift_times(session, mid)
    (saved,) = await _roster(session, mid, shift_date, shift_date, times, [(shift_date, kind)])
    return saved


async def get_roster(session: AsyncSession, actor: Actor, first: date, last: date) -> s.RosterOut:
    """Every shift from `first` to `last` (inclusive), empty ones too, so a gap shows as a gap."""
    mid = municipality_of(actor)
    if last < first or (last - first).days >= MAX_ROSTER_RANGE_DAYS:
        raise Problem(
            422,
            "Invalid date range",
            f"`to` must be on or after `from`, at most {MAX_ROSTER_RANGE_DAYS} days in all.",
            field="to",
        )
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    wanted = [(day, kind) for day in days for kind in KINDS]
    return s.RosterOut(shifts=await _roster(session, mid, first, last, await shift_times(session, mid), wanted))


_DUTY_ORDER = {duty: n for n, duty in enumerate(Duty)}


async def roster_rows(session: AsyncSession, mid: uuid.UUID, first: date, last: date) -> list[Any]:
    """Roster rows of active people for shifts starting between two dates: a disabled person's
    shifts drop out (coverage shows the gap; the alerts call whoever else is rostered) until she
    is enabled again."""
    rows = await session.execute(
        select(
            RosterEntry.shift_date,
            RosterEntry.shift_kind,
            RosterEntry.user_id,
            RosterEntry.duty,
            RosterEntry.district_id,
            User.full_name,
            User.palliative_skilled,
        )
        .join(User, User.id == RosterEntry.user_id)
        .where(
            RosterEntry.municipality_id == mid,
            RosterEntry.shift_date.between(first, last),
            USER_ACTIVE,
        )
    )
    return list(rows)


async def _roster(
    session: AsyncSession,
    mid: uuid.UUID,
    first: date,
    last: date,
    times: ShiftTimes,
    wanted: list[tuple[date, ShiftKind]],
) -> list[s.RosterShiftOut]:
    by_shift: dict[tuple[date, str], list[s.RosterEntryOut]] = {}
    for row in await roster_rows(session, mid, first, last):
        by_shift.setdefault((row.shift_date, row.shift_kind), []).append(
            s.RosterEntryOut(
                user_id=row.user_id,
                full_name=row.full_name,
                duty=Duty(row.duty),
                district_id=row.district_id,
                palliative_skilled=row.palliative_skilled,
            )
        )
    out = []
    for day, kind in wanted:
        entries = by_shift.get((day, kind.value), [])
        entries.sort(key=lambda e: (_DUTY_ORDER[e.duty], str(e.district_id), e.full_name))
        running = shift(day, kind, times)
        out.append(
            s.RosterShiftOut(shift_date=day, shift_kind=kind, starts=running.starts, ends=running.ends, entries=entries)
        )
    return out


# Built once: every alert tier asks it.
_ON_DUTY = (
    select(RosterEntry.user_id)
    .join(User, User.id == RosterEntry.user_id)
    .where(
        RosterEntry.municipality_id == bindparam("municipality_id"),
        RosterEntry.shift_date == bindparam("day"),
        RosterEntry.shift_kind == bindparam("kind"),
        RosterEntry.duty == bindparam("duty"),
        USER_ACTIVE,
    )
    .order_by(User.palliative_skilled.desc(), RosterEntry.created_at, RosterEntry.user_id)
)
_ON_DUTY_IN_DISTRICT = _ON_DUTY.where(RosterEntry.district_id == bindparam("district_id"))


async def on_duty(
    session: AsyncSession,
    municipality_id: uuid.UUID,
    instant: datetime,
    duty: Duty,
    district_id: uuid.UUID | None = None,
    times: ShiftTimes | None = None,
) -> list[uuid.UUID]:
    """Who holds a duty at an instant: the people rostered on the shift running then.

    Palliative-skilled people come first (at night the alert should reach them first), then in
    the order they were rostered. For a district duty pass the district; without it, every district.
    Pass the municipality's shift `times` when already known.
    """
    running = shift_at(instant, times or await shift_times(session, municipality_id))
    shift = {"municipality_id": municipality_id, "day": running.day, "kind": running.kind.value, "duty": duty.value}
    if district_id is None:
        found = await session.scalars(_ON_DUTY, shift)
    else:
        found = await session.scalars(_ON_DUTY_IN_DISTRICT, {**shift, "district_id": district_id})
    return list(dict.fromkeys(found.all()))


async def coverage(session: AsyncSession, actor: Actor, now: datetime, hours: int) -> s.CoverageOut:
    """For every shift in the next `hours`: is each district covered, and the municipality-wide duties?"""
    mid = municipality_of(actor)
    end = now + timedelta(hours=hours)
    times = await shift_times(session, mid)
    shifts = list(shifts_between(now, end, times))
    districts = await districts_of(session, mid)
    counts: Counter[tuple[date, str, str, uuid.UUID | None, bool]] = Counter()
    for row in await roster_rows(session, mid, shifts[0].day, shifts[-1].day):
        counts[(row.shift_date, row.shift_kind, row.duty, row.district_id, row.palliative_skilled)] += 1

    def count(day: date, kind: ShiftKind, duty: Duty, district: uuid.UUID | None, skilled_only: bool = False) -> int:
        skills = (True,) if skilled_only else (True, False)
        return sum(counts[(day, kind.value, duty.value, district, skill)] for skill in skills)

    out: list[s.ShiftCoverage] = []
    for running in shifts:
        day, kind = running.day, running.kind
        gaps: list[s.CoverageGap] = []
        covered: list[s.DistrictCoverage] = []
        for district_id, name in districts.items():
            item = s.DistrictCoverage(
                district_id=district_id,
                district_name=name,
                nurses=count(day, kind, Duty.NURSE, district_id),
                on_call_nurses=count(day, kind, Duty.ON_CALL_NURSE, district_id),
                palliative_skilled_on_call=count(day, kind, Duty.ON_CALL_NURSE, district_id, skilled_only=True),
            )
            covered.append(item)
            if not item.nurses:
                gaps.append(s.CoverageGap(missing="nurse", district_id=district_id))
            if not item.on_call_nurses:
                gaps.append(s.CoverageGap(missing="on_call_nurse", district_id=district_id))
            elif not item.palliative_skilled_on_call:
                gaps.append(s.CoverageGap(missing="palliative_skilled_on_call", district_id=district_id))
        coordinators = count(day, kind, Duty.COORDINATOR, None)
        key_persons = count(day, kind, Duty.KEY_PERSON, None)
        if not coordinators:
            gaps.append(s.CoverageGap(missing="coordinator", district_id=None))
        if not key_persons:
            gaps.append(s.CoverageGap(missing="key_person", district_id=None))
        out.append(
            s.ShiftCoverage(
                shift_date=day,
                shift_kind=kind,
                starts=running.starts,
                ends=running.ends,
                districts=covered,
                coordinators=coordinators,
                key_persons=key_persons,
                gaps=gaps,
            )
        )
    return s.CoverageOut(starts=now, ends=end, gap_count=sum(len(item.gaps) for item in out), shifts=out)
