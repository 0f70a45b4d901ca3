"""What goes over the wire to and from the nurse's phone, version 1.

Apps in the field keep talking to /mobile/v1 for years: a field is never renamed or removed here,
only added (with a default on requests). A breaking change is a /mobile/v2 with its own structs.
Request structs refuse unknown fields; every string is bounded by its column.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from msgspec import Meta, Struct

from backend.cases.record_schemas import AwareDatetime, Drug, Text300
from backend.cases.schemas import Input, LongText, ShortText

# ---- my shift ---------------------------------------------------------------------------------


class MyShiftTimes(Struct, kw_only=True):
    """The shift my-shift answers for: its Copenhagen date and kind, and when it starts and ends."""

    day: date  # the Copenhagen date the shift starts on
    kind: str  # day | evening | night
    starts: datetime
    ends: datetime


class MedicineAtHome(Struct, kw_only=True):
    indication: str  # pain | breathlessness | nausea | restlessness | death_rattle
    drug: str
    strength: str
    expires_on: date
    state: str  # ok | expires_soon | expired


class AnticipatoryMedicine(Struct, kw_only=True):
    """The 'just in case' medicine in the home: what is there and which indications are not covered."""

    complete: bool  # every indication covered by unexpired medicine
    missing: list[str]  # indications without unexpired medicine
    expiring_soon: list[str]  # indications whose medicine expires within 7 days
    items: list[MedicineAtHome]


class RelativeToCall(Struct, kw_only=True):
    name: str
    relation: str
    phone: str | None
    primary_contact: bool
    may_be_informed: bool  # the citizen consented to this relative being informed


class ChildInHome(Struct, kw_only=True):
    name: str
    age: int


class LastScores(Struct, kw_only=True):
    instrument: str
    recorded_at: datetime
    scores: dict[str, int]
    previous_recorded_at: datetime | None
    # Per item against the assessment before (same instrument): up | down | same.
    trend: dict[str, str]


class OpenFlag(Struct, kw_only=True):
    kind: str  # severe_score | rising_score | medicine_missing_terminal | missed_visit | ...
    raised_at: datetime
    items: list[str]  # the score items or medicine indications concerned


class DoorCase(Struct, kw_only=True):
    """What the nurse needs at the door. Never the CPR number."""

    id: uuid.UUID
    first_name: str
    name: str
    address: str
    phone: str | None
    phase: str
    status: str
    home_death_wish: str | None  # yes | no | undecided | None (not yet discussed)
    gp_name: str | None
    gp_phone: str | None
    anticipatory_medicine: AnticipatoryMedicine
    relatives_to_call: list[RelativeToCall]
    children_in_home: list[ChildInHome]
    last_scores: LastScores | None
    open_flags: list[OpenFlag]


class ShiftVisit(Struct, kw_only=True):
    id: uuid.UUID
    status: str  # planned | under_way | done | missed | cancelled
    kind: str  # planned | ad_hoc | acute
    window_start: datetime
    window_end: datetime
    tasks: list[str]
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    case: DoorCase


class MyShift(Struct, kw_only=True):
    shift: MyShiftTimes
    visits: list[ShiftVisit]  # in window order


# ---- check-in and check-out -------------------------------------------------------------------


class Position(Input, kw_only=True):
    lat: Annotated[float, Meta(ge=-90, le=90)]
    lon: Annotated[float, Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, Meta(ge=0, le=100_000)] | None = None


class CheckIn(Input, kw_only=True):
    device_time: AwareDatetime  # the phone's clock when the nurse arrived
    position: Position | None = None


class CheckOut(Input, kw_only=True):
    device_time: AwareDatetime
    position: Position | None = None


class VisitAttendance(Struct, kw_only=True):
    """A visit after a check-in or check-out: its status and when the nurse came and left."""

    id: uuid.UUID
    status: str
    checked_in_at: datetime | None  # server time
    checked_in_device_at: datetime | None
    checked_out_at: datetime | None
    checked_out_device_at: datetime | None


# ---- the bedside record -----------------------------------------------------------------------

ItemName = Annotated[str, Meta(min_length=1, max_length=40)]


class ScoresIn(Input, kw_only=True):
    # "ESAS-r" (nine items, 0-10), "IPOS" (items 0-4) or "EORTC-QLQ-C15-PAL" (q1-q14 1-4, q15 1-7).
    instrument: Annotated[str, Meta(min_length=1, max_length=32)]
    scores: Annotated[dict[ItemName, int], Meta(max_length=40)]
    recorded_at: AwareDatetime


class ScoresOut(Struct, kw_only=True):
    id: uuid.UUID
    visit_id: uuid.UUID
    instrument: str
    scores: dict[str, int]
    recorded_at: datetime
    # The case flags these scores raised or joined (severe_score, rising_score): the coordinator sees them.
    flags: list[str]


class Route(enum.StrEnum):
    SUBCUTANEOUS = "subcutaneous"
    ORAL = "oral"
    SUBLINGUAL = "sublingual"
    BUCCAL = "buccal"
    INTRANASAL = "intranasal"
    RECTAL = "rectal"
    TRANSDERMAL = "transdermal"
    INTRAVENOUS = "intravenous"
    INTRAMUSCULAR = "intramuscular"
    INHALATION = "inhalation"


class MedicineGivenIn(Input, kw_only=True):
    drug: Drug
    dose: Annotated[float, Meta(gt=0, le=1_000_000)]
    unit: Annotated[str, Meta(min_length=1, max_length=16)]
    route: Route
    given_at: AwareDatetime
    reason: Text300


class EffectIn(Input, kw_only=True):
    effect: ShortText
    recorded_at: AwareDatetime | None = None  # the phone's clock; the server's when left out


class MedicineGivenOut(Struct, kw_only=True):
    id: uuid.UUID
    visit_id: uuid.UUID | None
    drug: str
    dose: float
    unit: str
    route: str
    given_at: datetime
    reason: str
    effect: str | None
    effect_recorded_at: datetime | None


Intervention = Annotated[str, Meta(min_length=1, max_length=200)]


class NoteIn(Input, kw_only=True):
    text: LongText
    interventions: Annotated[list[Intervention], Meta(max_length=50)] = []
    relatives_present: Text300 | None = None  # who was present
    relatives_informed: Text300 | None = None  # who was informed, and of what
    corrects_id: uuid.UUID | None = None  # the note this one corrects (it stays as it was)
    written_at: AwareDatetime | None = None  # the phone's clock; the server's when left out


class NoteOut(Struct, kw_only=True):
    id: uuid.UUID
    visit_id: uuid.UUID | None
    text: str
    interventions: list[str]
    relatives_present: str | None
    relatives_informed: str | None
    corrects_id: uuid.UUID | None
    written_at: datetime
    author_id: uuid.UUID


class DeathAtVisitIn(Input, kw_only=True):
    """A death at home found or witnessed at the visit; the visit is checked out with it."""

    died_at: AwareDatetime
    present: ShortText | None = None
    gp_informed: bool
    device_time: AwareDatetime | None = None  # the check-out time; the server's when left out
    position: Position | None = None


class DeathRecorded(Struct, kw_only=True):
    died_at: datetime
    place: str
    present: str | None
    gp_informed: bool
    preferred_place: str | None
    died_where_wished: bool | None


class DeathAtVisitOut(Struct, kw_only=True):
    death: DeathRecorded
    visit: VisitAttendance


# ---- offline sync -----------------------------------------------------------------------------

MAX_OPERATIONS = 500


class OpType(enum.StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    SCORES = "scores"
    MEDICINE_GIVEN = "medicine_given"
    MEDICINE_EFFECT = "medicine_effect"
    NOTE = "note"
    DEATH = "death"
    RAISE_ALERT = "raise_alert"  # no visit needed; the body is the raise, its raised_at the device time


ClientOpId = Annotated[str, Meta(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]


class SyncOperationIn(Input, kw_only=True):
    """One operation recorded offline. `body` is the single endpoint's request body.

    The body's own time (device_time, recorded_at, given_at, written_at) defaults to the
    operation's device_time. `medicine_effect` names its medicine in the body: `medicine_given_id`,
    or `medicine_given_op` (the client_op_id of a `medicine_given` operation sent before or in
    the same batch); a `note` may name the note it corrects by `corrects_op` likewise.
    """

    client_op_id: ClientOpId
    type: OpType
    device_time: AwareDatetime
    visit_id: uuid.UUID | None = None  # every type but medicine_effect
    body: dict[str, Any] = {}


class SyncIn(Input, kw_only=True):
    # Informational: the device that delivers the batch is the one in the access token.
    device_id: uuid.UUID | None = None
    # SyncOperationIn objects, at most 500. Each is checked on its own: a bad one is rejected alone.
    operations: list[dict[str, Any]]


class SyncError(Struct, kw_only=True):
    title: str
    detail: str
    field: str | None = None  # e.g. "body.scores.pain"
    rule: str | None = None


class SyncResult(Struct, kw_only=True):
    client_op_id: str | None
    # applied: done. conflict: the visit was reassigned, handed back or cancelled meanwhile; kept
    # for the coordinator, nothing changed. rejected: bad input or a broken rule; nothing changed.
    # failed (status 500): our fault, nothing changed and nothing kept; send it again.
    outcome: str
    status: int  # the HTTP status the single endpoint would have answered
    # True when this operation was received before: the stored first result is returned, nothing changes.
    replayed: bool = False
    error: SyncError | None = None
    result: dict[str, Any] | None = None


class SyncOut(Struct, kw_only=True):
    results: list[SyncResult]  # in the order the operations were sent
