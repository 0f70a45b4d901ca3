"""Visit plans, concrete visits and what is recorded at the bedside (shifts and the roster: `backend.roster`)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, now_column, uuid_pk
from backend.roster.models import ShiftKind


class VisitKind(enum.StrEnum):
    PLANNED = "planned"
    AD_HOC = "ad_hoc"
    ACUTE = "acute"


class VisitStatus(enum.StrEnum):
    PLANNED = "planned"
    UNDER_WAY = "under_way"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class VisitPlanSlot(Base):
    """One planned visit per shift in a time window, with standing tasks.

    A plan change ends the old slots (`valid_until`) and starts new ones, so it changes future
    visits only; past and started visits keep the slot they came from.
    """

    __tablename__ = "visit_plan_slots"
    __table_args__ = (enum_check("shift_kind", ShiftKind), Index("ix_visit_plan_slots_case", "case_id"))

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    shift_kind: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[time] = mapped_column(Time)  # Copenhagen wall-clock time
    window_end: Mapped[time] = mapped_column(Time)
    tasks: Mapped[list[str]] = mapped_column(JSONB, default=list)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = now_column()


class Visit(Base):
    __tablename__ = "visits"
    __table_args__ = (
        enum_check("kind", VisitKind),
        enum_check("status", VisitStatus),
        enum_check("shift_kind", ShiftKind),
        # Generation is idempotent: one visit per slot and window, however often it runs.
        UniqueConstraint("slot_id", "window_start", name="uq_visits_slot_window"),
        Index("ix_visits_assignee_window", "assigned_to", "window_start"),
        Index("ix_visits_district_window", "district_id", "window_start"),
        Index("ix_visits_case_window", "case_id", "window_start"),
        Index("ix_visits_open_window_end", "window_end", postgresql_where=text("status IN ('planned', 'under_way')")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    slot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit_plan_slots.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    shift_date: Mapped[date] = mapped_column(Date)
    shift_kind: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tasks: Mapped[list[str]] = mapped_column(JSONB, default=list)
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Why the assigned nurse handed the visit back (then it is unassigned again).
    handed_back_reason: Mapped[str | None] = mapped_column(String(500))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_device_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_in_position: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    checked_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_out_device_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_out_position: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    missed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why it was cancelled, as a code (`CancelReason`, or case_not_at_home from the missed sweep).
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    # For acute visits: the alert that caused it (alerts come later; kept as a plain id).
    alert_id: Mapped[uuid.UUID | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(500))  # why an ad-hoc or acute visit was made
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()


class SymptomAssessment(Base):
    """Scores on a named instrument (ESAS-r built in), recorded at a visit."""

    __tablename__ = "symptom_assessments"
    __table_args__ = (Index("ix_symptom_assessments_case_time", "case_id", "recorded_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))
    instrument: Mapped[str] = mapped_column(String(32))
    scores: Mapped[dict[str, int]] = mapped_column(JSONB)  # item -> 0..10
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # device time, checked
    received_at: Mapped[datetime] = now_column()
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))


class MedicineGiven(Base):
    """As-needed medicine given at the bedside; its effect is recorded later."""

    __tablename__ = "medicine_given"
    __table_args__ = (Index("ix_medicine_given_case_time", "case_id", "given_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))
    drug: Mapped[str] = mapped_column(String(120))
    dose: Mapped[float] = mapped_column(Numeric(10, 3))
    unit: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(300))
    effect: Mapped[str | None] = mapped_column(String(500))
    effect_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = now_column()


class VisitNote(Base):
    """Append-only: a correction is a new note that points at the note it corrects."""

    __tablename__ = "visit_notes"
    __table_args__ = (Index("ix_visit_notes_case_time", "case_id", "written_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))
    text: Mapped[str] = mapped_column(Text)
    interventions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    relatives_present: Mapped[str | None] = mapped_column(String(300))
    relatives_informed: Mapped[str | None] = mapped_column(String(300))
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit_notes.id"))
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = now_column()


class CaseFlag(Base):
    """Something the coordinator must look at: a severe or rising score, medicine missing, a missed visit."""

    __tablename__ = "case_flags"
    __table_args__ = (
        Index("ix_case_flags_open", "case_id", postgresql_where=text("resolved_at IS NULL")),
        # At most one open flag of a kind per case: a second occurrence joins it.
        Index("uq_case_flags_open_kind", "case_id", "kind", unique=True, postgresql_where=text("resolved_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class SyncOperation(Base):
    """One operation of an offline batch, stored with its result: a resent batch changes nothing."""

    __tablename__ = "sync_operations"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    client_op_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    op_type: Mapped[str] = mapped_column(String(32))
    device_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # applied | conflict | rejected. A conflict is kept (body included) for the coordinator.
    outcome: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = now_column()
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class Event(Base):
    """What happened, for the board and the indicators: one row per state change, NOTIFY'd on commit."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_municipality_id", "municipality_id", "id"),
        Index("ix_events_alert_id", "alert_id", postgresql_where=text("alert_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))  # e.g. visit.missed, visit.checked_in, case.flagged
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))
    # Plain id, no foreign key: an alert's event log is read by alert, never joined for integrity.
    alert_id: Mapped[uuid.UUID | None] = mapped_column()
    # Ids and codes only: boards fetch names over the authenticated API.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = now_column()
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
