"""A hospital stay, reconciled in event time from every notice received about it.

Messages arrive late and out of order. A stay is therefore never moved by "the last message
received": it is the fold (`fold`) of all its notices in the order the hospital sent them
(Provenance.recorded, then arrival). Each notice is about one kind (admission, leave start, leave
end, discharge, death):
- a correction (RE_) replaces the times and department of the notices of its kind before it;
- a cancellation (AN_) voids exactly the notices of its kind before it, and nothing else;
- a death is a correction (RE_MORS) when a death already stands, and a notice that says
  `deceasedBoolean = false` while one stands cancels it (AN_MORS).
The stay then shows the state of its latest standing notice, and each kind's times from the
latest standing notice of that kind.

What changed is handed on as a `StayChange`: the stay before and after. That is the interface the
course of a case uses to show an admission, a leave, a homecoming or a death in hospital.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from backend.messages.codes import Kind, Variant
from backend.messages.events import event_code
from backend.messages.models import StayStatus

APPLIED, CORRECTED, CANCELLED, CANCELLATION = "applied", "corrected", "cancelled", "cancellation"

_STATUS_OF = {
    Kind.STAA: StayStatus.ADMITTED,
    Kind.STIN: StayStatus.ADMITTED,
    Kind.STOR: StayStatus.ON_LEAVE,
    Kind.SLOR: StayStatus.ADMITTED,
    Kind.SLHJ: StayStatus.HOME,
    Kind.MORS: StayStatus.DIED,
}
_STARTS = (Kind.STAA, Kind.STIN)


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice as the fold reads it (a `StayNotice` row, or the one being applied)."""

    id: uuid.UUID
    kind: Kind
    variant: Variant
    recorded_at: datetime
    received_at: datetime
    encounter_class: str
    deceased: bool | None
    period_start: datetime
    period_end: datetime | None
    leave_start: datetime | None
    leave_end: datetime | None
    department: str | None
    department_sor: str | None


@dataclass(frozen=True, slots=True)
class StayView:
    """A stay as the course of a case needs it: where the citizen is since when, and where."""

    status: StayStatus
    since: datetime | None
    encounter_class: str
    department: str | None
    department_sor: str | None
    admitted_at: datetime | None = None
    leave_started_at: datetime | None = None
    leave_ended_at: datetime | None = None
    discharged_at: datetime | None = None
    died_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StayChange:
    """What one notice did to a stay, for the course of the case to act on.

    `previous` is None for a stay this notice started. `current.status` says what the case should
    show: admitted (STAA/STIN, since `admitted_at`, at `department`), on_leave (visits do not
    restart unless the municipality says so), home (resume the plan, propose a homecoming visit),
    died (place hospital, at `died_at`, the encounter's end) or void (every admission was
    cancelled: undo what the stay did). `case_id` is None when the citizen's case was closed.
    """

    stay_id: uuid.UUID
    citizen_id: uuid.UUID
    case_id: uuid.UUID | None
    event_code: str
    previous: StayView | None
    current: StayView
    report_of_admission_requested: bool

    @property
    def changed(self) -> bool:
        return self.previous != self.current


@dataclass(slots=True)
class Folded:
    """The fold's result: the stay, and per notice its event code and what it did."""

    view: StayView
    codes: dict[uuid.UUID, str] = field(default_factory=dict)
    effects: dict[uuid.UUID, str] = field(default_factory=dict)


def fold(notices: Iterable[Notice]) -> Folded:
    """The stay its notices make, in the order the hospital sent them."""
    ordered = sorted(notices, key=lambda n: (n.recorded_at, n.received_at))
    standing: dict[Kind, list[Notice]] = {kind: [] for kind in Kind}
    result = Folded(StayView(StayStatus.VOID, None, ordered[0].encounter_class if ordered else "IMP", None, None))
    for notice in ordered:
        kind, variant = _in_event_time(notice, standing)
        result.codes[notice.id] = event_code(kind, variant)
        if variant == Variant.CANCEL:
            for earlier in standing[kind]:
                result.effects[earlier.id] = CANCELLED
            standing[kind] = []
            result.effects[notice.id] = CANCELLATION
            continue
        if variant == Variant.REVISE:
            for earlier in standing[kind]:
                result.effects[earlier.id] = CORRECTED
        standing[kind].append(replace(notice, kind=kind, variant=variant))
        result.effects[notice.id] = APPLIED
    result.view = _view(standing, result.view)
    return result


def _in_event_time(notice: Notice, standing: dict[Kind, list[Notice]]) -> tuple[Kind, Variant]:
    """A death's variant depends on whether one already stands at its time (see the module)."""
    if notice.kind == Kind.MORS:
        return Kind.MORS, Variant.REVISE if standing[Kind.MORS] else Variant.NEW
    if notice.deceased is False and standing[Kind.MORS]:
        return Kind.MORS, Variant.CANCEL
    return notice.kind, notice.variant


def _view(standing: dict[Kind, list[Notice]], empty: StayView) -> StayView:
    live = sorted((n for notices in standing.values() for n in notices), key=lambda n: (n.recorded_at, n.received_at))
    if not live:
        return empty
    latest = live[-1]

    def last(kind: Kind) -> Notice | None:
        return standing[kind][-1] if standing[kind] else None

    start = next((n for n in reversed(live) if n.kind in _STARTS), None)
    leave_start, leave_end = last(Kind.STOR), last(Kind.SLOR)
    if leave_end is not None and leave_start is not None and live.index(leave_end) < live.index(leave_start):
        leave_end = None  # a later leave has begun
    discharge, death = last(Kind.SLHJ), last(Kind.MORS)
    view = StayView(
        status=_STATUS_OF[latest.kind],
        since=None,
        encounter_class=(start or latest).encounter_class,
        department=latest.department,
        department_sor=latest.department_sor,
        admitted_at=(start or live[0]).period_start,
        leave_started_at=leave_start.leave_start if leave_start else None,
        leave_ended_at=leave_end.leave_end if leave_end else None,
        discharged_at=discharge.period_end if discharge else None,
        died_at=death.period_end if death else None,
    )
    since = {
        StayStatus.ADMITTED: view.leave_ended_at if latest.kind == Kind.SLOR else view.admitted_at,
        StayStatus.ON_LEAVE: view.leave_started_at,
        StayStatus.HOME: view.discharged_at,
        StayStatus.DIED: view.died_at,
    }[view.status]
    return replace(view, since=since)
