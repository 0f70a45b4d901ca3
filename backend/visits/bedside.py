"""At the bedside: check-in and check-out, symptom scores, as-needed medicine and notes.

One function per use case, shared by the phone's single endpoints and its offline sync. Each
runs in the caller's transaction: the visit is locked, the rules are checked before anything is
written, and the change, its audit row and its event row go together (or not at all).

A death at a visit is the course of the case, told by the phone: `backend.course.death`.

Only the nurse a visit is assigned to works it: a visit of a case she may not see is 404, a visit
of her district assigned to someone else (or to nobody, or cancelled) is 409 - the rules an
offline batch reports as a conflict.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.access import case_scope
from backend.cases.models import Case
from backend.cases.records import check_text, open_case
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.visits import warnings
from backend.visits.models import MedicineGiven, SymptomAssessment, Visit, VisitNote, VisitStatus
from mobile_api import schemas as m

# A phone's clock may run ahead of the server's; beyond this a time is refused as in the future.
DEVICE_CLOCK_SKEW = timedelta(minutes=10)

# Rules whose breach means the visit is no longer this nurse's to work: a sync batch calls it a conflict.
CONFLICT_RULES = frozenset({"assigned_to_other", "not_assigned", "visit_cancelled"})


# ---- instruments -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instrument:
    """A symptom instrument: its items (None: any item name) and each item's range."""

    items: frozenset[str] | None
    low: int
    high: int
    ranges: dict[str, tuple[int, int]]

    def range_of(self, item: str) -> tuple[int, int]:
        return self.ranges.get(item, (self.low, self.high))


ESAS_R_ITEMS = (
    "pain",
    "tiredness",
    "drowsiness",
    "nausea",
    "lack_of_appetite",
    "shortness_of_breath",
    "depression",
    "anxiety",
    "wellbeing",
)
INSTRUMENTS: dict[str, Instrument] = {
    # Edmonton Symptom Assessment System, revised: nine items, 0 (none) to 10 (worst possible).
    "ESAS-r": Instrument(frozenset(ESAS_R_ITEMS), 0, 10, {}),
    # Integrated Palliative care Outcome Scale: items scored 0 (not at all) to 4 (overwhelmingly).
    "IPOS": Instrument(None, 0, 4, {}),
    # EORTC QLQ-C15-PAL: questions 1-14 scored 1-4, question 15 (overall quality of life) 1-7.
    "EORTC-QLQ-C15-PAL": Instrument(frozenset(f"q{n}" for n in range(1, 16)), 1, 4, {"q15": (1, 7)}),
}


def validate_scores(data: m.ScoresIn) -> None:
    """The instrument must be known and every item one of its own, scored within its range."""
    instrument = INSTRUMENTS.get(data.instrument)
    if instrument is None:
        known = ", ".join(INSTRUMENTS)
        raise Problem(422, "Unknown instrument", f"Use one of: {known}.", field="instrument", rule="unknown_instrument")
    if not data.scores:
        raise Problem(422, "No scores", "Score at least one item.", field="scores")
    for item, score in data.scores.items():
        if instrument.items is not None and item not in instrument.items:
            raise Problem(
                422,
                "Unknown item",
                f"{data.instrument} has no item '{item}'.",
                field=f"scores.{item}",
                rule="unknown_item",
            )
        if instrument.items is None and not (item.isascii() and item.replace("_", "").isalnum()):
            raise Problem(422, "Invalid item name", "Item names are letters, digits and _.", field="scores")
        low, high = instrument.range_of(item)
        if not low <= score <= high:
            raise Problem(
                422,
                "Score out of range",
                f"{data.instrument} scores '{item}' from {low} to {high}.",
                field=f"scores.{item}",
                rule="out_of_range",
            )


# ---- shared ------------------------------------------------------------------------------------


def not_in_future(at: datetime, now: datetime, field: str) -> None:
    """A phone whose clock runs far ahead would put records in the wrong order: refuse, naming the field."""
    if at > now + DEVICE_CLOCK_SKEW:
        raise Problem(
            422,
            "Time in the future",
            "This time is ahead of the server's clock; check the phone's clock.",
            field=field,
            rule="in_future",
        )


async def visit_for_change(session: AsyncSession, actor: Actor, visit_id: uuid.UUID) -> tuple[Visit, Case]:
    """The visit (locked) and its case, if the case is in the actor's scope and the visit is hers to work.

    In a sync batch the visit was locked and loaded with the batch's others (`warnings.Batch`).
    """
    batch = warnings.batch_of(session)
    row = batch.visits.get(visit_id) if batch is not None else None
    if row is None:
        row = (
            await session.execute(
                select(Visit, Case)
                .join(Case, Case.id == Visit.case_id)
                .where(Visit.id == visit_id, case_scope(actor))
                .with_for_update(of=Visit, key_share=True)
            )
        ).first()
    if row is None:
        raise not_found("visit")
    visit, case = row
    if visit.status == VisitStatus.CANCELLED:
        raise Problem(409, "Visit cancelled", "This visit has been cancelled.", rule="visit_cancelled")
    if visit.assigned_to is None:
        raise Problem(409, "Visit not assigned", "This visit is not assigned to anyone now.", rule="not_assigned")
    if visit.assigned_to != actor.user_id:
        raise Problem(
            409, "Assigned to someone else", "This visit is assigned to another nurse.", rule="assigned_to_other"
        )
    return visit, case


async def _open_case(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, now: datetime, *, after_death: bool = False
) -> Case:
    """`open_case`; in a sync batch, once per case (the batch holds its lock, and drops this after a death)."""
    batch = warnings.batch_of(session)
    if batch is None:
        return await open_case(session, actor, case_id, now, after_death=after_death)
    case = batch.opened.get((case_id, after_death))
    if case is None:
        case = batch.opened[(case_id, after_death)] = await open_case(
            session, actor, case_id, now, after_death=after_death, locked=batch.cases.get(case_id)
        )
    return case


def require_checked_in(visit: Visit) -> None:
    """Records belong to a visit that took place: checked in (under way) or already checked out."""
    if visit.status not in (VisitStatus.UNDER_WAY, VisitStatus.DONE):
        raise Problem(422, "Not checked in", "Check in to the visit before recording at it.", rule="not_checked_in")


def _position(position: m.Position | None) -> dict[str, float] | None:
    return msgspec.to_builtins(position) if position is not None else None


def visit_state(visit: Visit) -> m.VisitAttendance:
    """Where the visit stands, with both clocks: the server's decides, the phone's tells when it happened."""
    return m.VisitAttendance(
        id=visit.id,
        status=visit.status,
        checked_in_at=visit.checked_in_at,
        checked_in_device_at=visit.checked_in_device_at,
        checked_out_at=visit.checked_out_at,
        checked_out_device_at=visit.checked_out_device_at,
    )


# ---- check-in and check-out ----------------------------------------------------------------------


async def check_in(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: m.CheckIn, now: datetime
) -> m.VisitAttendance:
    """The nurse is at the door. A visit marked missed can still be checked in (she came late)."""
    visit, case = await visit_for_change(session, actor, visit_id)
    not_in_future(data.device_time, now, "device_time")
    if visit.status not in (VisitStatus.PLANNED, VisitStatus.MISSED):
        raise Problem(409, "Already checked in", "This visit is already checked in.", rule="already_checked_in")
    before = visit.status
    visit.status = VisitStatus.UNDER_WAY
    visit.checked_in_at = now
    visit.checked_in_device_at = data.device_time
    visit.check_in_position = _position(data.position)
    visit.updated_at = now
    await warnings.record_audit(session, actor, "visit.check_in", case_id=case.id, detail={"visit_id": str(visit.id)})
    await warnings.record_visit_event(
        session, "visit.checked_in", visit, case.municipality_id, actor.user_id, **{"from": before}
    )
    return visit_state(visit)


async def leave_visit(
    session: AsyncSession,
    actor: Actor,
    visit: Visit,
    case: Case,
    device_time: datetime,
    position: m.Position | None,
    now: datetime,
) -> m.VisitAttendance:
    """Check out a visit already locked: the nurse leaves (after a check-out, or a death at the visit)."""
    not_in_future(device_time, now, "device_time")
    if visit.status == VisitStatus.DONE:
        raise Problem(409, "Already checked out", "This visit is already checked out.", rule="already_checked_out")
    if visit.status != VisitStatus.UNDER_WAY or visit.checked_in_device_at is None:
        raise Problem(422, "Not checked in", "A visit is checked out after it is checked in.", rule="not_checked_in")
    if device_time < visit.checked_in_device_at:
        raise Problem(
            422,
            "Before the check-in",
            "The check-out time is before the check-in time.",
            field="device_time",
            rule="before_check_in",
        )
    visit.status = VisitStatus.DONE
    visit.checked_out_at = now
    visit.checked_out_device_at = device_time
    visit.check_out_position = _position(position)
    visit.updated_at = now
    await warnings.record_audit(session, actor, "visit.check_out", case_id=case.id, detail={"visit_id": str(visit.id)})
    await warnings.record_visit_event(session, "visit.checked_out", visit, case.municipality_id, actor.user_id)
    await warnings.check_terminal_medicine(session, actor, case.id, now, visit.id)
    return visit_state(visit)


async def check_out(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: m.CheckOut, now: datetime
) -> m.VisitAttendance:
    """The nurse leaves; a terminal case without its anticipatory medicine is flagged on the way out."""
    visit, case = await visit_for_change(session, actor, visit_id)
    return await leave_visit(session, actor, visit, case, data.device_time, data.position, now)


# ---- the bedside record ------------------------------------------------------------------------


async def record_scores(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: m.ScoresIn, now: datetime
) -> m.ScoresOut:
    """Symptom scores with their instrument; a severe or steeply rising score flags the case."""
    visit, _ = await visit_for_change(session, actor, visit_id)
    require_checked_in(visit)
    validate_scores(data)
    not_in_future(data.recorded_at, now, "recorded_at")
    case = await _open_case(session, actor, visit.case_id, now)
    batch = warnings.batch_of(session)
    assessment: SymptomAssessment | warnings.Scored
    if batch is None:
        assessment = SymptomAssessment(
            id=uuid.uuid4(),
            case_id=case.id,
            visit_id=visit.id,
            instrument=data.instrument,
            scores=dict(data.scores),
            recorded_at=data.recorded_at,
            received_at=now,
            recorded_by=actor.user_id,
        )
        session.add(assessment)
        await session.flush()
    else:
        # A batch's assessments are kept as rows and go in one INSERT (`warnings.Batch.write_assessments`).
        assessment = warnings.Scored(
            id=uuid.uuid4(),
            case_id=case.id,
            visit_id=visit.id,
            instrument=data.instrument,
            scores=dict(data.scores),
            recorded_at=data.recorded_at,
        )
        batch.assessments.append(
            {
                "id": assessment.id,
                "case_id": case.id,
                "visit_id": visit.id,
                "instrument": assessment.instrument,
                "scores": assessment.scores,
                "recorded_at": assessment.recorded_at,
                "received_at": now,
                "recorded_by": actor.user_id,
            }
        )
    await warnings.record_audit(
        session, actor, "visit.scores.add", case_id=case.id, detail={"assessment_id": str(assessment.id)}
    )
    flags = await warnings.check_scores(session, actor, case, assessment, now)
    return m.ScoresOut(
        id=assessment.id,
        visit_id=visit.id,
        instrument=assessment.instrument,
        scores=assessment.scores,
        recorded_at=assessment.recorded_at,
        flags=flags,
    )


def medicine_given_out(given: MedicineGiven) -> m.MedicineGivenOut:
    """The dose as the phone shows it (a float: the column's exact numeric is for the record)."""
    return m.MedicineGivenOut(
        id=given.id,
        visit_id=given.visit_id,
        drug=given.drug,
        dose=float(given.dose),
        unit=given.unit,
        route=given.route,
        given_at=given.given_at,
        reason=given.reason,
        effect=given.effect,
        effect_recorded_at=given.effect_recorded_at,
    )


async def give_medicine(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: m.MedicineGivenIn, now: datetime
) -> m.MedicineGivenOut:
    """As-needed medicine given; its effect comes later. What is left in the home is checked again."""
    visit, _ = await visit_for_change(session, actor, visit_id)
    require_checked_in(visit)
    check_text(data)
    not_in_future(data.given_at, now, "given_at")
    case = await _open_case(session, actor, visit.case_id, now)
    given = MedicineGiven(
        case_id=case.id,
        visit_id=visit.id,
        drug=data.drug,
        dose=data.dose,
        unit=data.unit,
        route=data.route,
        given_at=data.given_at,
        reason=data.reason,
        recorded_by=actor.user_id,
        created_at=now,
    )
    session.add(given)
    await session.flush()
    await warnings.record_audit(
        session, actor, "visit.medicine_given.add", case_id=case.id, detail={"medicine_given_id": str(given.id)}
    )
    await warnings.check_terminal_medicine(session, actor, case.id, now, visit.id)
    return medicine_given_out(given)


async def record_effect(
    session: AsyncSession, actor: Actor, medicine_given_id: uuid.UUID, data: m.EffectIn, now: datetime
) -> m.MedicineGivenOut:
    """The effect of medicine given, recorded once, by any nurse who may see the case (often at the next visit)."""
    given = (
        await session.scalars(
            select(MedicineGiven)
            .join(Case, Case.id == MedicineGiven.case_id)
            .where(MedicineGiven.id == medicine_given_id, case_scope(actor))
            .with_for_update(of=MedicineGiven)
        )
    ).first()
    if given is None:
        raise not_found("medicine given")
    check_text(data)
    recorded_at = data.recorded_at or now
    not_in_future(recorded_at, now, "recorded_at")
    if recorded_at < given.given_at:
        raise Problem(
            422,
            "Before the medicine was given",
            "The effect is recorded after the medicine was given.",
            field="recorded_at",
            rule="before_given",
        )
    if given.effect is not None:
        raise Problem(409, "Effect already recorded", "The effect of this dose is recorded.", rule="effect_recorded")
    await _open_case(session, actor, given.case_id, now, after_death=True)
    given.effect = data.effect
    given.effect_recorded_at = recorded_at
    await warnings.record_audit(
        session, actor, "visit.medicine_effect.add", case_id=given.case_id, detail={"medicine_given_id": str(given.id)}
    )
    return medicine_given_out(given)


async def add_note(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, data: m.NoteIn, now: datetime
) -> m.NoteOut:
    """Notes are append-only: a correction is a new note pointing at the one it corrects, which stays."""
    visit, _ = await visit_for_change(session, actor, visit_id)
    require_checked_in(visit)
    check_text(data)
    written_at = data.written_at or now
    not_in_future(written_at, now, "written_at")
    # A note about the death, or bereavement, is written after the death is registered.
    case = await _open_case(session, actor, visit.case_id, now, after_death=True)
    if data.corrects_id is not None:
        corrected = await session.scalar(
            select(VisitNote.id).where(VisitNote.id == data.corrects_id, VisitNote.case_id == case.id)
        )
        if corrected is None:
            raise Problem(422, "Unknown note", "The note to correct is not one of this case's.", field="corrects_id")
    note = VisitNote(
        case_id=case.id,
        visit_id=visit.id,
        text=data.text,
        interventions=list(data.interventions),
        relatives_present=data.relatives_present,
        relatives_informed=data.relatives_informed,
        corrects_id=data.corrects_id,
        written_at=written_at,
        author_id=actor.user_id,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    detail = {"note_id": str(note.id)} | ({"corrects_id": str(note.corrects_id)} if note.corrects_id else {})
    await warnings.record_audit(session, actor, "visit.note.add", case_id=case.id, detail=detail)
    return msgspec.convert(note, m.NoteOut, from_attributes=True)
