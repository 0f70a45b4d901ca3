"""What the board's indicator and at-risk reads send.

Indicators are aggregates only: counts, shares and seconds, never a case id or a name, so an
administrator may read them. Every count keyed by an enum (places, outcomes, sources) has every
key, zero when nothing fell there, so a chart needs no gaps filled in. A count is null when it
was suppressed: under `min_count`, or able to give such a count back (backend.board.suppression);
so is a share or a duration made of it.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import msgspec
from msgspec import Struct

from backend.alerts.models import Outcome
from backend.cases.models import Indication, Phase, Place, ReferralSource, Status

# ---- indicators -------------------------------------------------------------------------------


class DeathFigures(Struct, kw_only=True):
    total: int | None
    by_place: dict[Place, int | None]
    # Whose newest recorded wish names a preferred place of death.
    with_wish: int | None
    died_where_wished: int | None
    # died_where_wished / with_wish; null when nobody had a wish.
    died_where_wished_share: float | None
    # Deaths the hospital's notice (MORS) reported; the others were typed at the bedside or board.
    confirmed_by_notice: int | None = None


class Durations(Struct, kw_only=True):
    """Seconds from the alert's arrival; median and p90 by linear interpolation, null when count is 0."""

    count: int | None
    median_seconds: float | None
    p90_seconds: float | None


class AlertFigures(Struct, kw_only=True):
    raised: int | None
    resolved: int | None
    by_outcome: dict[Outcome, int | None]
    at_home: int | None  # managed at home, died at home, or a false alarm
    admitted: int | None  # a palliative stay or a hospital admission
    at_home_share: float | None  # at_home / resolved
    # Of `at_home`, those a hospital notice shows were admitted within 24 hours after all.
    at_home_then_admitted: int | None = None
    # Of `admitted`, those a hospital notice confirms (an admission from the alert to a day after).
    admitted_confirmed_by_notice: int | None = None
    time_to_acknowledge: Durations
    time_to_bedside: Durations


class VisitFigures(Struct, kw_only=True):
    """Planned-kind visits only (ad-hoc and acute visits were never planned)."""

    planned: int | None  # every planned-kind visit whose window starts in the period
    done: int | None
    missed: int | None
    cancelled: int | None
    open: int | None  # still planned or under way
    done_share: float | None  # done / (planned - cancelled)


class DeadlineFigures(Struct, kw_only=True):
    met: int | None  # on or before the due day
    met_late: int | None
    overdue: int | None  # not met and the due day has passed
    not_due: int | None  # not met, due today or later
    decided: int | None  # met + met_late + overdue
    met_share: float | None  # met / decided


class ReferralFigures(Struct, kw_only=True):
    total: int | None
    by_source: dict[ReferralSource, int | None]
    first_contact: DeadlineFigures
    assessment: DeadlineFigures
    # The national aim: 90 % get their needs assessed within the deadline (assessment.met_share).
    target: float
    meets_target: bool | None  # null while no assessment deadline is decided


class Indicators(Struct, kw_only=True):
    first_day: date = msgspec.field(name="from")
    last_day: date = msgspec.field(name="to")
    district_id: uuid.UUID | None
    # The Copenhagen day deadlines were judged on (overdue or not yet due).
    as_of: date
    # Counts under this are suppressed, with the counts that would give them back: `suppressed` of them.
    min_count: int
    suppressed: int
    deaths: DeathFigures
    alerts: AlertFigures
    visits: VisitFigures
    referrals: ReferralFigures


# ---- cases at risk ----------------------------------------------------------------------------


class RiskCode(enum.StrEnum):
    SEVERE_SCORE = "severe_score"
    RISING_SCORE = "rising_score"
    MEDICINE_MISSING = "medicine_missing"
    MEDICINE_EXPIRING = "medicine_expiring"
    MEDICINE_EXPIRED = "medicine_expired"
    CHILD_WITHOUT_SUPPORT = "child_without_support"
    FIRST_CONTACT_DUE = "first_contact_due"
    FIRST_CONTACT_OVERDUE = "first_contact_overdue"
    ASSESSMENT_DUE = "assessment_due"
    ASSESSMENT_OVERDUE = "assessment_overdue"


class RiskReason(Struct, kw_only=True):
    code: RiskCode
    # Scores: when the open flag of the kind was raised (it stays open until a coordinator resolves it).
    raised_at: datetime | None = None
    # Deadlines: the due day; medicine: the earliest expiry day concerned.
    on: date | None = None
    # medicine_missing: the indications with no unexpired medicine in the home.
    indications: list[Indication] | None = None


class RiskCase(Struct, kw_only=True):
    case_id: uuid.UUID
    name: str
    district_id: uuid.UUID
    status: Status
    phase: Phase
    reasons: list[RiskReason]


class AtRisk(Struct, kw_only=True):
    as_of: datetime
    total: int  # cases at risk in scope; at most `limit` of them are in `items`
    limit: int
    items: list[RiskCase]


class FaultOut(Struct, kw_only=True):
    fault: str  # worker_silent | push_failing | sms_gateway_down
    since: datetime


class Faults(Struct, kw_only=True):
    faults: list[FaultOut]
