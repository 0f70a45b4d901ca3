"""What goes over the wire for cases. Structs refuse unknown fields; every string is bounded."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from backend.cases.models import Application, HomeDeathWish, Indication, Phase, Place, ReferralSource, Status
from backend.wire import Input

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Address = Annotated[str, Meta(min_length=1, max_length=300)]
Phone = Annotated[str, Meta(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()-]+$")]
ShortText = Annotated[str, Meta(min_length=1, max_length=500)]
LongText = Annotated[str, Meta(min_length=1, max_length=10_000)]
Icd10 = Annotated[str, Meta(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$", max_length=8)]
# Room for the spaces and hyphen people type; `backend.cases.cpr.normalise` decides what it holds.
CprInput = Annotated[str, Meta(min_length=10, max_length=20)]


# ---- requests ---------------------------------------------------------------------------------


class ReferralIn(Input, kw_only=True):
    received_on: date
    source: ReferralSource


class CaseCreate(Input, kw_only=True):
    cpr: CprInput
    name: Name
    address: Address
    phone: Phone | None = None
    district_id: uuid.UUID
    diagnosis: ShortText
    icd10: Icd10 | None = None
    phase: Phase
    referral: ReferralIn


class CaseUpdate(Input, kw_only=True):
    """PATCH: only the fields sent change."""

    name: Name | UnsetType = UNSET
    address: Address | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    district_id: uuid.UUID | UnsetType = UNSET
    diagnosis: ShortText | UnsetType = UNSET
    icd10: Icd10 | UnsetType | None = UNSET
    phase: Phase | UnsetType = UNSET
    terminal_declared_on: date | UnsetType | None = UNSET
    terminal_grant: Application | UnsetType = UNSET
    carers_leave: Application | UnsetType = UNSET


class StatusChange(Input, kw_only=True):
    status: Status


# ---- responses --------------------------------------------------------------------------------


class CaseListItem(Struct, kw_only=True):
    id: uuid.UUID
    cpr_masked: str
    name: str
    district_id: uuid.UUID
    status: Status
    phase: Phase
    home_death_wish: HomeDeathWish | None
    referral_received_on: date
    first_contact_due: date
    assessment_due: date
    deadline: str | None  # "overdue" | "due_soon" | None
    updated_at: datetime


class CaseList(Struct, kw_only=True):
    items: list[CaseListItem]
    next_cursor: str | None


class CitizenOut(Struct, kw_only=True):
    cpr: str  # in full: only the case page shows it
    name: str
    address: str
    phone: str | None
    birth_date: date
    age: int


class WishOut(Struct, kw_only=True):
    id: uuid.UUID
    dies_at_home: HomeDeathWish
    preferred_place_of_care: Place | None
    preferred_place_of_death: Place | None
    discussed_on: date
    discussed_with: str
    recorded_by: uuid.UUID
    recorded_at: datetime


class MedicineOut(Struct, kw_only=True):
    id: uuid.UUID
    indication: Indication
    drug: str
    strength: str
    quantity: str
    expires_on: date
    recorded_at: datetime
    state: str = "ok"  # "ok" | "expires_soon" (within 7 days) | "expired"


class MedicineStatus(Struct, kw_only=True):
    items: list[MedicineOut]
    # Indications with no unexpired medicine in the home.
    missing: list[Indication]
    expiring_soon: list[uuid.UUID]
    expired: list[uuid.UUID]


class RelativeOut(Struct, kw_only=True):
    id: uuid.UUID
    name: str
    relation: str
    phone: str | None
    primary_contact: bool
    lives_with_citizen: bool
    consent_to_information: bool
    birth_year: int | None
    age: int | None
    is_child: bool
    talks_with_child: str | None
    support_offered: bool | None
    # A child under 18 for whom no support has been offered yet.
    needs_support_offer: bool


class PersonRef(Struct, kw_only=True):
    id: uuid.UUID
    name: str


class CareTeam(Struct, kw_only=True):
    contact_person: PersonRef | None
    key_person: PersonRef | None
    gp_name: str | None
    gp_phone: str | None
    hospital_department: str | None
    palliative_team: PersonRef | None
    # SOR and EAN (GLN) identifiers: where correspondence to the GP and the department goes.
    gp_sor: str | None = None
    gp_ean: str | None = None
    hospital_department_sor: str | None = None
    hospital_department_ean: str | None = None


class Deadline(Struct, kw_only=True):
    due: date
    met_on: date | None
    state: str  # "met" | "met_late" | "open" | "due_soon" | "overdue"


class ReferralOut(Struct, kw_only=True):
    received_on: date
    source: ReferralSource
    first_contact: Deadline
    needs_assessment: Deadline


class Responsibility(Struct, forbid_unknown_fields=True, kw_only=True):
    part: ShortText
    responsible: Name


class ActionPlanOut(Struct, kw_only=True):
    id: uuid.UUID
    version: int
    needs: str
    purpose: str
    place: str
    responsibilities: list[Responsibility]
    other_departments: str | None
    evaluate_on: date
    evaluated_by: str
    created_by: uuid.UUID
    created_at: datetime


class StatusNoteOut(Struct, kw_only=True):
    id: uuid.UUID
    text: str
    author_id: uuid.UUID
    created_at: datetime


class TerminalOut(Struct, kw_only=True):
    declared_on: date | None
    terminal_grant: Application
    carers_leave: Application


class DeathOut(Struct, kw_only=True):
    died_at: datetime
    place: Place
    present: str | None
    gp_informed: bool
    preferred_place: Place | None
    died_where_wished: bool | None


class CasePage(Struct, kw_only=True):
    id: uuid.UUID
    citizen: CitizenOut
    municipality_id: uuid.UUID
    district_id: uuid.UUID
    diagnosis: str
    icd10: str | None
    phase: Phase
    status: Status
    next_statuses: list[Status]
    wish: WishOut | None
    wish_history: list[WishOut]
    terminal: TerminalOut
    medicine: MedicineStatus
    relatives: list[RelativeOut]
    care_team: CareTeam
    referral: ReferralOut
    action_plan: ActionPlanOut | None
    status_notes: list[StatusNoteOut]
    death: DeathOut | None
    unit_referred_at: datetime | None
    # Plain words for what needs attention: medicine_missing, medicine_expiring, medicine_expired,
    # child_without_support, first_contact_overdue, assessment_due_soon, ...
    flags: list[str]
    created_at: datetime
    updated_at: datetime
