"""What goes over the wire for visit plans.

Wall-clock times travel as "HH:MM" (Copenhagen time); instants as UTC timestamps. Request
Structs refuse unknown fields and every string and list is bounded.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from backend.roster.models import ShiftKind
from backend.roster.schemas import WallTime
from backend.wire import Input

Task = Annotated[str, Meta(min_length=1, max_length=200)]

MAX_SLOTS_PER_SHIFT = 6
MAX_TASKS_PER_SLOT = 20


# ---- visit plans ------------------------------------------------------------------------------


class SlotIn(Input, kw_only=True):
    shift_kind: ShiftKind
    window_start: WallTime
    window_end: WallTime  # inside the same shift; a night window may cross midnight
    tasks: Annotated[list[Task], Meta(max_length=MAX_TASKS_PER_SLOT)] = []


class VisitPlanIn(Input, kw_only=True):
    """The whole plan: it replaces the current one from now on."""

    slots: Annotated[list[SlotIn], Meta(max_length=3 * MAX_SLOTS_PER_SHIFT)]


class SlotOut(Struct, kw_only=True):
    id: uuid.UUID
    shift_kind: ShiftKind
    window_start: str
    window_end: str
    tasks: list[str]
    valid_from: datetime


class VisitPlanOut(Struct, kw_only=True):
    case_id: uuid.UUID
    slots: list[SlotOut]


class VisitPlanSet(Struct, kw_only=True):
    """The plan after a change, and what the change did to the visits already generated."""

    case_id: uuid.UUID
    slots: list[SlotOut]
    slots_kept: int  # unchanged slots keep their visits (and the nurses assigned to them)
    visits_cancelled: int  # planned future visits of the slots that ended
    visits_created: int  # the new slots' visits for the next 48 hours
