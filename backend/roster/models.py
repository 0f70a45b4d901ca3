"""Shifts and the roster: a municipality's shift times and who works which shift with which duty."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time

from sqlalchemy import Date, ForeignKey, Index, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, now_column, uuid_pk


class ShiftKind(enum.StrEnum):
    DAY = "day"
    EVENING = "evening"
    NIGHT = "night"


class Duty(enum.StrEnum):
    """What a person does on a shift in the roster."""

    NURSE = "nurse"  # works visits in a district
    ON_CALL_NURSE = "on_call_nurse"  # answers alerts in a district (first tier)
    COORDINATOR = "coordinator"  # the coordinator on duty for the municipality
    KEY_PERSON = "key_person"  # the key person on call for the municipality


class ShiftPattern(Base):
    """A municipality's own shift times; without rows the defaults apply (07-15, 15-23, 23-07)."""

    __tablename__ = "shift_patterns"
    __table_args__ = (
        enum_check("kind", ShiftKind),
        UniqueConstraint("municipality_id", "kind", name="uq_shift_patterns_municipality_kind"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[time] = mapped_column(Time)  # Copenhagen wall-clock time
    ends_at: Mapped[time] = mapped_column(Time)  # on the next day when not after starts_at


class RosterEntry(Base):
    """One person on one shift: the shift is named by its Copenhagen start date and kind."""

    __tablename__ = "roster_entries"
    __table_args__ = (
        enum_check("shift_kind", ShiftKind),
        enum_check("duty", Duty),
        UniqueConstraint("shift_date", "shift_kind", "user_id", "duty", name="uq_roster_entries_shift_user_duty"),
        Index("ix_roster_entries_shift", "municipality_id", "shift_date", "shift_kind"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    shift_date: Mapped[date] = mapped_column(Date)
    shift_kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    duty: Mapped[str] = mapped_column(String(32))
    # For nurses and on-call nurses: the district they cover on this shift.
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = now_column()
