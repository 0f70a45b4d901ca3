"""What goes over the wire for coordinating visits: the shift's board, the case timeline, flags.

Requests refuse unknown fields; responses carry ids and the names of staff, never a citizen's name
(the board fetches those through the audited case reads).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from msgspec import Meta, Struct

from backend.cases.schemas import Input, PersonRef, ShortText
from backend.roster.models import ShiftKind
from backend.visits.models import VisitKind, VisitStatus

Instant = Annotated[datetime, Meta(tz=True)]


class BoardVisitState(enum.StrEnum):
    """A visit as the coordinator sees it: its status, and `overdue` for a planned visit past its window
    that the missed-visit sweep has not yet marked missed."""

    PLANNED = "planned"
    OVERDUE = "overdue"
    UNDER_WAY = "under_way"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class CancelReason(enum.StrEnum):
    """Why a visit was cancelled, as a code: events and audit rows hold codes, never free text."""

    CITIZEN_DECLINED = "citizen_declined"
    ADMITTED = "admitted"
    DECEASED = "deceased"
    CASE_CLOSED = "case_closed"
    DUPLICATE = "duplicate"
    PLAN_CHANGED = "plan_changed"
    OTHER = "other"


# ---- requests ---------------------------------------------------------------------------------


class AssignIn(Input, kw_only=True):
    user_id: uuid.UUID


class HandBackIn(Input, kw_only=True):
    reason: ShortText


class CancelIn(Input, kw_only=True):
    reason: CancelReason


class VisitCreate(Input, kw_only=True):
    """An ad-hoc or acute visit; its shift follows from the window's start."""

    kind: Annotated[VisitKind, Meta(description="ad_hoc or acute")]
    window_start: Instant
    window_end: Instant
    reason: ShortText
    assigned_to: uuid.UUID | None = None
    alert_id: uuid.UUID | None = None


# ---- responses --------------------------------------------------------------------------------


class VisitOut(Struct, kw_only=True):
    id: uuid.UUID
    case_id: uuid.UUID
    district_id: uuid.UUID
    kind: VisitKind
    status: VisitStatus
    state: BoardVisitState
    shift_date: date
    shift_kind: ShiftKind
    window_start: datetime
    window_end: datetime
    tasks: list[str]
    assignee: PersonRef | None
    handed_back_reason: str | None
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    missed_at: datetime | None
    reason: str | None
    alert_id: uuid.UUID | None
    updated_at: datetime


class BoardShiftOut(Struct, kw_only=True):
    """The shift a coordinator's visit board shows."""

    day: date  # the Copenhagen date the shift starts on
    kind: ShiftKind
    starts: datetime
    ends: datetime


class StateCounts(Struct, kw_only=True):
    """Each visit counts once: an overdue visit is not also counted as planned."""

    planned: int = 0
    overdue: int = 0
    under_way: int = 0
    done: int = 0
    missed: int = 0
    cancelled: int = 0
    total: int = 0


class ShiftBoard(Struct, kw_only=True):
    shift: BoardShiftOut
    district_id: uuid.UUID | None
    counts: StateCounts
    visits: list[VisitOut]


# ---- the case timeline: newest first, one tagged entry per thing that happened ----------------


class _Entry(Struct, kw_only=True, tag_field="type"):
    at: datetime
    id: uuid.UUID


class VisitEntry(_Entry, kw_only=True, tag="visit"):
    """At the window's start."""

    kind: VisitKind
    status: VisitStatus
    state: BoardVisitState
    window_start: datetime
    window_end: datetime
    assignee: PersonRef | None
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    missed_at: datetime | None
    reason: str | None
    handed_back_reason: str | None


class ScoresEntry(_Entry, kw_only=True, tag="scores"):
    visit_id: uuid.UUID | None
    instrument: str
    scores: dict[str, int]
    recorded_by: PersonRef


class MedicineGivenEntry(_Entry, kw_only=True, tag="medicine_given"):
    visit_id: uuid.UUID | None
    drug: str
    dose: float
    unit: str
    route: str
    reason: str
    effect: str | None
    effect_recorded_at: datetime | None
    recorded_by: PersonRef


class NoteEntry(_Entry, kw_only=True, tag="note"):
    """Notes are never changed: `corrects_id` points at the note this one corrects, `corrected_by` lists
    the notes that correct this one."""

    visit_id: uuid.UUID | None
    text: str
    interventions: list[str]
    relatives_present: str | None
    relatives_informed: str | None
    corrects_id: uuid.UUID | None
    corrected_by: list[uuid.UUID]
    author: PersonRef


class FlagEntry(_Entry, kw_only=True, tag="flag"):
    kind: str
    detail: dict[str, Any]
    resolved_at: datetime | None
    resolved_by: PersonRef | None


class DeathEntry(_Entry, kw_only=True, tag="death"):
    """`id` is the case's id."""

    place: str | None
    present: str | None
    gp_informed: bool | None


class CorrespondenceEntry(_Entry, kw_only=True, tag="correspondence"):
    """A letter to or from the GP or the hospital (MedCom CareCommunication); `thread_key` names its
    thread, whose texts and attachments `GET /cases/{id}/correspondence` shows."""

    direction: str
    thread_key: str
    category: str
    topic: str | None
    status: str
    sender_name: str | None
    recipient_name: str | None
    replies_to_id: uuid.UUID | None


TimelineEntry = VisitEntry | ScoresEntry | MedicineGivenEntry | NoteEntry | FlagEntry | DeathEntry | CorrespondenceEntry


class Timeline(Struct, kw_only=True):
    case_id: uuid.UUID
    items: list[TimelineEntry]
    next_before: str | None  # pass as `before` for the older page


# ---- flags ------------------------------------------------------------------------------------


class FlagOut(Struct, kw_only=True):
    id: uuid.UUID
    case_id: uuid.UUID
    district_id: uuid.UUID
    kind: str
    detail: dict[str, Any]
    raised_at: datetime
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None


class FlagList(Struct, kw_only=True):
    items: list[FlagOut]
