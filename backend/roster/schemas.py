"""What goes over the wire for shift patterns and the roster.

Wall-clock times travel as "HH:MM" (Copenhagen time); instants as UTC timestamps. Request
Structs refuse unknown fields and every string and list is bounded.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from msgspec import Meta, Struct

from backend.roster.models import Duty, ShiftKind
from backend.wire import Input

WallTime = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="Copenhagen time, HH:MM")]

MAX_ROSTER_ENTRIES = 200


# ---- shift patterns ---------------------------------------------------------------------------


class ShiftTimesIn(Input, kw_only=True):
    kind: ShiftKind
    starts_at: WallTime
    ends_at: WallTime  # on the next day when not after starts_at


class ShiftPatternsIn(Input, kw_only=True):
    """All three shifts at once: together they must cover the day without gap or overlap."""

    shifts: Annotated[list[ShiftTimesIn], Meta(min_length=3, max_length=3)]


class ShiftTimesOut(Struct, kw_only=True):
    kind: ShiftKind
    starts_at: str
    ends_at: str
    hours: float  # on an ordinary day; daylight-saving nights are an hour shorter or longer


class ShiftPatternsOut(Struct, kw_only=True):
    municipality_id: uuid.UUID
    is_default: bool  # no times of the municipality's own: 07-15, 15-23, 23-07
    shifts: list[ShiftTimesOut]


# ---- roster -----------------------------------------------------------------------------------


class RosterEntryIn(Input, kw_only=True):
    user_id: uuid.UUID
    duty: Duty
    # Required for nurse and on_call_nurse (the district covered); empty for the other duties.
    district_id: uuid.UUID | None = None


class RosterIn(Input, kw_only=True):
    """The whole roster of one shift; whoever is not listed is off it."""

    entries: Annotated[list[RosterEntryIn], Meta(max_length=MAX_ROSTER_ENTRIES)]


class RosterEntryOut(Struct, kw_only=True):
    user_id: uuid.UUID
    full_name: str
    duty: Duty
    district_id: uuid.UUID | None
    palliative_skilled: bool


class RosterShiftOut(Struct, kw_only=True):
    shift_date: date  # the Copenhagen date the shift starts on
    shift_kind: ShiftKind
    starts: datetime
    ends: datetime
    entries: list[RosterEntryOut]


class RosterOut(Struct, kw_only=True):
    shifts: list[RosterShiftOut]  # every shift in the range, in time order, empty ones too


class DistrictCoverage(Struct, kw_only=True):
    district_id: uuid.UUID
    district_name: str
    nurses: int
    on_call_nurses: int
    palliative_skilled_on_call: int


class CoverageGap(Struct, kw_only=True):
    # nurse | on_call_nurse | palliative_skilled_on_call | coordinator | key_person
    missing: str
    district_id: uuid.UUID | None  # empty for the municipality-wide duties


class ShiftCoverage(Struct, kw_only=True):
    shift_date: date
    shift_kind: ShiftKind
    starts: datetime
    ends: datetime
    districts: list[DistrictCoverage]
    coordinators: int
    key_persons: int
    gaps: list[CoverageGap]


class CoverageOut(Struct, kw_only=True):
    starts: datetime
    ends: datetime
    gap_count: int
    shifts: list[ShiftCoverage]
