"""Request bodies for what is recorded on a case besides its core fields.

The responses are the sub-resources' own structs in `backend.cases.schemas` (WishOut, MedicineOut,
RelativeOut, CareTeam, ReferralOut, ActionPlanOut, StatusNoteOut, DeathOut): they are stored as
idempotent answers, so none of them carries a CPR number. Strings are bounded by their columns.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated

from msgspec import UNSET, Meta, UnsetType

from backend.cases.models import HomeDeathWish, Indication, Place
from backend.cases.schemas import Input, LongText, Name, Phone, Responsibility, ShortText

# Narrower than the shared types where the column is narrower, so a long value is a 400, not a 500.
Relation = Annotated[str, Meta(min_length=1, max_length=60)]
Drug = Annotated[str, Meta(min_length=1, max_length=120)]
Amount = Annotated[str, Meta(min_length=1, max_length=60)]
Text300 = Annotated[str, Meta(min_length=1, max_length=300)]
Responsibilities = Annotated[list[Responsibility], Meta(min_length=1, max_length=20)]
Sor = Annotated[str, Meta(pattern=r"^[0-9]{6,20}$")]
Ean = Annotated[str, Meta(pattern=r"^[0-9]{13}$")]
# A time of death must say which clock it was read from.
AwareDatetime = Annotated[datetime, Meta(tz=True)]


class WishIn(Input, kw_only=True):
    """One conversation about wishes; each is kept, the newest is the one that counts."""

    dies_at_home: HomeDeathWish
    preferred_place_of_care: Place | None = None
    # When dies_at_home is "yes" and no place is given, the home is the preferred place of death.
    preferred_place_of_death: Place | None = None
    discussed_on: date
    discussed_with: Text300


class MedicineIn(Input, kw_only=True):
    indication: Indication
    drug: Drug
    strength: Amount
    quantity: Amount
    expires_on: date


class RemovalReason(enum.StrEnum):
    USED = "used"
    EXPIRED = "expired"
    DISCARDED = "discarded"
    OTHER = "other"


class MedicineRemoval(Input, kw_only=True):
    reason: RemovalReason


class RelativeIn(Input, kw_only=True):
    name: Name
    relation: Relation
    phone: Phone | None = None
    primary_contact: bool
    lives_with_citizen: bool
    consent_to_information: bool
    # 1900 up to this year (checked by the service: "this year" is the clock's).
    birth_year: int | None = None
    talks_with_child: Name | None = None
    support_offered: bool | None = None


class RelativeUpdate(Input, kw_only=True):
    """PATCH: only the fields sent change; null clears an optional field."""

    name: Name | UnsetType = UNSET
    relation: Relation | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    primary_contact: bool | UnsetType = UNSET
    lives_with_citizen: bool | UnsetType = UNSET
    consent_to_information: bool | UnsetType = UNSET
    birth_year: int | UnsetType | None = UNSET
    talks_with_child: Name | UnsetType | None = UNSET
    support_offered: bool | UnsetType | None = UNSET


class CareTeamIn(Input, kw_only=True):
    """PUT: the whole care team; a field left out is cleared."""

    contact_person_id: uuid.UUID | None = None
    key_person_id: uuid.UUID | None = None
    gp_name: Name | None = None
    gp_phone: Phone | None = None
    hospital_department: Name | None = None
    palliative_team_id: uuid.UUID | None = None
    # SOR and EAN (GLN): a letter to the GP or the department needs the SOR identifier.
    gp_sor: Sor | None = None
    gp_ean: Ean | None = None
    hospital_department_sor: Sor | None = None
    hospital_department_ean: Ean | None = None


class ReferralUpdate(Input, kw_only=True):
    """The dates the deadlines were met; null clears a date recorded by mistake."""

    first_contact_on: date | UnsetType | None = UNSET
    assessment_on: date | UnsetType | None = UNSET


class ActionPlanIn(Input, kw_only=True):
    needs: LongText
    purpose: LongText
    place: Text300
    responsibilities: Responsibilities
    other_departments: LongText | None = None
    evaluate_on: date
    evaluated_by: Name


class StatusNoteIn(Input, kw_only=True):
    text: LongText


class DeathIn(Input, kw_only=True):
    died_at: AwareDatetime
    place: Place
    present: ShortText | None = None
    gp_informed: bool
