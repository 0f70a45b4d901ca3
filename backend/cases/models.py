"""The citizen, the case and everything recorded around it."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, now_column, uuid_pk


class Phase(enum.StrEnum):
    EARLY = "early"
    LATE = "late"
    TERMINAL = "terminal"


class Status(enum.StrEnum):
    REFERRED = "referred"
    ACTIVE = "active"
    ADMITTED = "admitted"
    DECEASED = "deceased"
    CLOSED = "closed"


class HomeDeathWish(enum.StrEnum):
    YES = "yes"
    NO = "no"
    UNDECIDED = "undecided"


class Place(enum.StrEnum):
    HOME = "home"
    NURSING_HOME = "nursing_home"
    HOSPICE = "hospice"
    HOSPITAL = "hospital"
    PALLIATIVE_UNIT = "palliative_unit"


class ReferralSource(enum.StrEnum):
    HOSPITAL_REF01 = "hospital_ref01"
    GP_REF01 = "gp_ref01"
    MUNICIPAL = "municipal"
    CITIZEN = "citizen"
    RELATIVE = "relative"


class Application(enum.StrEnum):
    """Where an application (terminal medicine grant, carer's leave) stands."""

    NOT_APPLIED = "not_applied"
    APPLIED = "applied"
    GRANTED = "granted"
    REFUSED = "refused"


class Indication(enum.StrEnum):
    """What anticipatory medicine in the home is for; each should be covered in the terminal phase."""

    PAIN = "pain"
    BREATHLESSNESS = "breathlessness"
    NAUSEA = "nausea"
    RESTLESSNESS = "restlessness"
    DEATH_RATTLE = "death_rattle"


class Citizen(Base):
    """The person as one municipality knows her. The CPR number is stored here and nowhere else.

    A citizen belongs to the municipality that registered her: the same CPR in two municipalities
    is two citizens, so that a lookup by CPR never finds, reveals or changes another's record.
    """

    __tablename__ = "citizens"
    __table_args__ = (UniqueConstraint("municipality_id", "cpr", name="uq_citizens_municipality_id_cpr"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    cpr: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = now_column()


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        enum_check("phase", Phase),
        enum_check("status", Status),
        enum_check("referral_source", ReferralSource),
        enum_check("terminal_grant", Application),
        enum_check("carers_leave", Application),
        enum_check("death_place", Place),
        # A citizen has at most one case that is not closed.
        Index("uq_cases_open_citizen", "citizen_id", unique=True, postgresql_where=text("status <> 'closed'")),
        Index("ix_cases_municipality_list", "municipality_id", "referral_received_on", "id"),
        Index("ix_cases_district_list", "district_id", "referral_received_on", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id"))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    diagnosis: Mapped[str] = mapped_column(String(500))
    icd10: Mapped[str | None] = mapped_column(String(8))
    phase: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    # The latest recorded wish, kept here so lists can filter on it; history is in case_wishes.
    home_death_wish: Mapped[str | None] = mapped_column(String(16))

    terminal_declared_on: Mapped[date | None] = mapped_column(Date)
    terminal_grant: Mapped[str] = mapped_column(String(16), server_default="not_applied")
    carers_leave: Mapped[str] = mapped_column(String(16), server_default="not_applied")

    # The care team.
    contact_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    key_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    gp_name: Mapped[str | None] = mapped_column(String(200))
    gp_phone: Mapped[str | None] = mapped_column(String(32))
    hospital_department: Mapped[str | None] = mapped_column(String(200))
    # Their SOR and EAN (GLN) identifiers: where correspondence to them is addressed.
    gp_sor: Mapped[str | None] = mapped_column(String(20))
    gp_ean: Mapped[str | None] = mapped_column(String(13))
    hospital_department_sor: Mapped[str | None] = mapped_column(String(20))
    hospital_department_ean: Mapped[str | None] = mapped_column(String(13))
    palliative_team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))

    # The referral and its deadlines, in Danish working days (computed when the referral is set).
    referral_received_on: Mapped[date] = mapped_column(Date)
    referral_source: Mapped[str] = mapped_column(String(32))
    first_contact_due: Mapped[date] = mapped_column(Date)
    assessment_due: Mapped[date] = mapped_column(Date)
    first_contact_on: Mapped[date | None] = mapped_column(Date)
    assessment_on: Mapped[date | None] = mapped_column(Date)

    # When the case was referred to the specialised palliative unit; opens it to that unit.
    unit_referred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Death.
    died_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    death_place: Mapped[str | None] = mapped_column(String(32))
    death_present: Mapped[str | None] = mapped_column(String(500))
    gp_informed: Mapped[bool | None] = mapped_column(Boolean)

    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()


class Wish(Base):
    """One recorded conversation about wishes. Never updated: a change is a new row."""

    __tablename__ = "case_wishes"
    __table_args__ = (
        enum_check("dies_at_home", HomeDeathWish),
        enum_check("preferred_place_of_care", Place),
        enum_check("preferred_place_of_death", Place),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    dies_at_home: Mapped[str] = mapped_column(String(16))
    preferred_place_of_care: Mapped[str | None] = mapped_column(String(32))
    preferred_place_of_death: Mapped[str | None] = mapped_column(String(32))
    discussed_on: Mapped[date] = mapped_column(Date)
    discussed_with: Mapped[str] = mapped_column(String(300))
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = now_column()


class Medicine(Base):
    """Anticipatory (as-needed) medicine kept in the home."""

    __tablename__ = "anticipatory_medicines"
    __table_args__ = (enum_check("indication", Indication),)

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    indication: Mapped[str] = mapped_column(String(32))
    drug: Mapped[str] = mapped_column(String(120))
    strength: Mapped[str] = mapped_column(String(60))
    quantity: Mapped[str] = mapped_column(String(60))
    expires_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = now_column()
    # Used up, discarded or taken away: kept for the record, no longer in the home.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Relative(Base):
    """A relative; a child is a relative with a birth year that makes them under 18."""

    __tablename__ = "relatives"
    __table_args__ = (
        Index(
            "uq_relatives_one_primary_contact",
            "case_id",
            unique=True,
            postgresql_where=text("primary_contact AND removed_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(32))
    primary_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    lives_with_citizen: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_to_information: Mapped[bool] = mapped_column(Boolean, default=False)
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    # For children: who talks with the child, and whether support has been offered.
    talks_with_child: Mapped[str | None] = mapped_column(String(200))
    support_offered: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = now_column()
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ActionPlan(Base):
    """The handleplan. Each revision is a new row with the next version number."""

    __tablename__ = "action_plans"
    __table_args__ = (UniqueConstraint("case_id", "version", name="uq_action_plans_case_version"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    needs: Mapped[str] = mapped_column(Text)  # the difficulties and needs
    purpose: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(String(300))  # where the effort takes place
    # Who is responsible for each part: [{"part": ..., "responsible": ...}]
    responsibilities: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    other_departments: Mapped[str | None] = mapped_column(Text)
    evaluate_on: Mapped[date] = mapped_column(Date)
    evaluated_by: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = now_column()


class StatusNote(Base):
    """Written when the citizen's health changes significantly."""

    __tablename__ = "status_notes"

    id: Mapped[uuid.UUID] = uuid_pk()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = now_column()
