"""Early warnings on a case, raised from what is recorded at the bedside.

A warning is an open `CaseFlag` for the coordinator: at most one open flag of a kind per case (a
partial unique index), so a second occurrence joins the open flag instead of adding another.
A new flag is announced with a `case.flagged` event in the same transaction. Flags name items
and indications only, never clinical text. Severe and rising scores and missing medicine in the
terminal phase also raise an alert (`backend.alerts.raising.raise_by_rule`).
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ARRAY, String, Uuid, func, literal, select, text, true, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import raising as alerts
from backend.alerts.models import Alert, AlertStatus, Reason, Severity
from backend.audit import service as audit
from backend.cases import page
from backend.cases import schemas as s
from backend.cases.models import Case, Medicine, Phase, Status
from backend.clock import COPENHAGEN
from backend.db import json_text
from backend.events import emit, emit_many
from backend.people.actor import Actor, SystemActor
from backend.visits.models import CaseFlag, SymptomAssessment, Visit

SEVERE = 7  # ESAS-r: 7 or more is a severe symptom
RISE = 3  # a rise of 3 or more on an item since the previous assessment
# The thresholds are ESAS-r's (0-10, higher is worse); other instruments' scales differ.
WARNING_INSTRUMENTS = frozenset({"ESAS-r"})

SEVERE_SCORE = "severe_score"
RISING_SCORE = "rising_score"
MEDICINE_MISSING_TERMINAL = "medicine_missing_terminal"


# ---- a sync batch: what it loaded and locked once, and the rows it writes once ----------------

BATCH_KEY = "lindra.sync_batch"


# A batch's new assessments and its audit rows go in one statement each: the columns as arrays that
# PostgreSQL unnests. (An executemany would run the INSERT once per row, and SQLAlchemy would
# process each row's parameters in Python.) JSON travels as text and is cast where it lands.
_ASSESSMENT_COLUMNS = ("id", "case_id", "visit_id", "instrument", "scores", "recorded_at", "received_at", "recorded_by")
_INSERT_ASSESSMENTS = text("""
    INSERT INTO symptom_assessments (id, case_id, visit_id, instrument, scores, recorded_at, received_at, recorded_by)
    SELECT r.id, r.case_id, r.visit_id, r.instrument, CAST(r.scores AS jsonb), r.recorded_at, r.received_at,
           r.recorded_by
    FROM unnest(CAST(:id AS uuid[]), CAST(:case_id AS uuid[]), CAST(:visit_id AS uuid[]),
                CAST(:instrument AS text[]), CAST(:scores AS text[]), CAST(:recorded_at AS timestamptz[]),
                CAST(:received_at AS timestamptz[]), CAST(:recorded_by AS uuid[]))
         AS r(id, case_id, visit_id, instrument, scores, recorded_at, received_at, recorded_by)
""")
_AUDIT_COLUMNS = ("user_id", "role", "action", "case_id", "subject_user_id", "request_id", "detail")
_INSERT_AUDIT = text("""
    INSERT INTO audit_log (user_id, role, action, case_id, subject_user_id, request_id, detail)
    SELECT r.user_id, r.role, r.action, r.case_id, r.subject_user_id, r.request_id, CAST(r.detail AS jsonb)
    FROM unnest(CAST(:user_id AS uuid[]), CAST(:role AS text[]), CAST(:action AS text[]), CAST(:case_id AS uuid[]),
                CAST(:subject_user_id AS uuid[]), CAST(:request_id AS text[]), CAST(:detail AS text[]))
         WITH ORDINALITY AS r(user_id, role, action, case_id, subject_user_id, request_id, detail, n)
    ORDER BY r.n
""")


def _arrays(rows: list[dict[str, Any]], columns: tuple[str, ...], json: str) -> dict[str, list[Any]]:
    """The rows as one array per column; the `json` column's values as JSON text."""
    arrays = {column: [row[column] for row in rows] for column in columns}
    arrays[json] = [None if value is None else json_text(value) for value in arrays[json]]
    return arrays


@dataclass(slots=True)
class Batch:
    """Kept in `session.info` while a sync batch applies; the use cases read it instead of querying again.

    `visits` are the batch's visits with their cases, locked (visits, then cases, by id) and in scope.
    `history` is, per (case, instrument), the assessments recorded at or after `since[case]` and
    the latest one before it, sorted; `open_flags` are flags known open in this transaction, and
    `open_alerts` the (case, reason) pairs with an alert open, which a score rule need not raise
    (both read once for the scored cases by `load_open`). Audit
    rows and events are kept in `audit` and `events` and written by `flush` in one INSERT each.
    After a SAVEPOINT is rolled back, `forget` drops what was loaded (the use cases query again).
    """

    visits: dict[uuid.UUID, tuple[Any, Case]] = field(default_factory=dict)
    history: dict[tuple[uuid.UUID, str], list[tuple[datetime, uuid.UUID, dict[str, Any]]]] = field(default_factory=dict)
    since: dict[uuid.UUID, datetime] = field(default_factory=dict)
    open_flags: set[tuple[uuid.UUID, str]] = field(default_factory=set)
    open_alerts: set[tuple[uuid.UUID, str]] = field(default_factory=set)
    # Cases `open_case` let a record through, by (case, after_death); dropped after anything that may end a case.
    opened: dict[tuple[uuid.UUID, bool], Case] = field(default_factory=dict)
    # The batch's cases, locked and loaded under their lock, in scope: `open_case` need not read them again.
    cases: dict[uuid.UUID, Case] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # New symptom assessments, as rows for one INSERT: written by `write_assessments` before anything
    # reads symptom_assessments again, before a SAVEPOINT (whose rollback must not drop them) and at the end.
    assessments: list[dict[str, Any]] = field(default_factory=list)

    def forget(self) -> None:
        self.visits.clear()
        self.history.clear()
        self.since.clear()
        self.open_flags.clear()
        self.open_alerts.clear()
        self.opened.clear()
        self.cases.clear()

    async def load_history(self, session: AsyncSession, case_ids: list[uuid.UUID], since: datetime) -> None:
        """The assessments the rising-score rule compares with, for scores recorded at or after `since`."""
        if not case_ids:
            return
        sa = SymptomAssessment
        columns = (sa.case_id, sa.instrument, sa.recorded_at, sa.id, sa.scores)
        instruments = sorted(WARNING_INSTRUMENTS)
        recent = select(*columns).where(
            sa.case_id.in_(case_ids), sa.instrument.in_(instruments), sa.recorded_at >= since
        )
        # The last one before, per case and instrument: one step back along ix_symptom_assessments_case_time
        # each, however long the case's history has grown.
        cases = select(func.unnest(literal(case_ids, ARRAY(Uuid()))).label("id")).subquery()
        kinds = select(func.unnest(literal(instruments, ARRAY(String()))).label("name")).subquery()
        last = (
            select(*columns)
            .where(sa.case_id == cases.c.id, sa.instrument == kinds.c.name, sa.recorded_at < since)
            .order_by(sa.recorded_at.desc(), sa.id.desc())
            .limit(1)
            .lateral()
        )
        before = select(*last.c).select_from(cases.join(kinds, true()).join(last, true()))
        rows = (await session.execute(union_all(recent, before))).all()
        for case_id in case_ids:
            self.since[case_id] = since
            for instrument in WARNING_INSTRUMENTS:
                self.history[(case_id, instrument)] = []
        for row in rows:
            self.history[(row.case_id, row.instrument)].append((row.recorded_at, row.id, row.scores))
        for entries in self.history.values():
            entries.sort(key=_in_order)

    async def load_open(self, session: AsyncSession, case_ids: list[uuid.UUID]) -> None:
        """The flags and alerts open on the scored cases, read once: a batch of rising scores asks
        about each (case, kind) and (case, reason) once instead of after every operation's savepoint."""
        flags = select(literal("flag"), CaseFlag.case_id, CaseFlag.kind).where(
            CaseFlag.case_id.in_(case_ids), CaseFlag.resolved_at.is_(None)
        )
        open_alerts = select(literal("alert"), Alert.case_id, Alert.reason).where(
            Alert.case_id.in_(case_ids), Alert.status != AlertStatus.RESOLVED.value
        )
        for what, case_id, kind in await session.execute(union_all(flags, open_alerts)):
            (self.open_flags if what == "flag" else self.open_alerts).add((case_id, kind))

    async def write_assessments(self, session: AsyncSession) -> None:
        """The batch's new assessments so far, in one INSERT."""
        if self.assessments:
            rows, self.assessments = self.assessments, []
            await session.execute(_INSERT_ASSESSMENTS, _arrays(rows, _ASSESSMENT_COLUMNS, json="scores"))

    async def flush(self, session: AsyncSession) -> None:
        await session.flush()  # the records kept pending (`raise_flag` does not flush them one query at a time)
        await self.write_assessments(session)
        if self.audit:
            await session.execute(_INSERT_AUDIT, _arrays(self.audit, _AUDIT_COLUMNS, json="detail"))
            self.audit.clear()
        if self.events:
            await emit_many(session, self.events)
            self.events.clear()


def batch_of(session: AsyncSession) -> Batch | None:
    found = session.info.get(BATCH_KEY)
    return found if isinstance(found, Batch) else None


async def record_audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    case_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """`audit.record`, kept for the batch's one INSERT when a sync batch applies."""
    batch = batch_of(session)
    if batch is None:
        await audit.record(session, actor, action, case_id=case_id, detail=detail)
        return
    batch.audit.append(
        {
            "user_id": actor.user_id,
            "role": actor.role.value,
            "action": action,
            "case_id": case_id,
            "subject_user_id": None,
            "request_id": actor.request_id,
            "detail": detail,
        }
    )


async def record_event(session: AsyncSession, kind: str, municipality_id: uuid.UUID, **fields: Any) -> None:
    """`emit`, kept for the batch's one INSERT when a sync batch applies."""
    batch = batch_of(session)
    if batch is None:
        await emit(session, kind, municipality_id, **fields)
        return
    batch.events.append({"kind": kind, "municipality_id": municipality_id} | fields)


async def record_visit_event(
    session: AsyncSession,
    kind: str,
    visit: Visit,
    municipality_id: uuid.UUID,
    actor_id: uuid.UUID,
    **payload: str | None,
) -> None:
    """A visit's board event: ids and codes only."""
    await record_event(
        session,
        kind,
        municipality_id,
        district_id=visit.district_id,
        case_id=visit.case_id,
        visit_id=visit.id,
        actor_id=actor_id,
        payload=payload,
    )


@dataclass(slots=True)
class Scored:
    """A batch's new assessment as the warning rules read it (its row is kept in `Batch.assessments`)."""

    id: uuid.UUID
    case_id: uuid.UUID
    visit_id: uuid.UUID | None
    instrument: str
    scores: dict[str, int]
    recorded_at: datetime


def _previous_known(batch: Batch | None, assessment: SymptomAssessment | Scored) -> tuple[bool, dict[str, Any] | None]:
    """The previous assessment from the batch's history, when the history covers it: (covered, scores)."""
    if batch is None:
        return False, None
    entries = batch.history.get((assessment.case_id, assessment.instrument))
    since = batch.since.get(assessment.case_id)
    if entries is None or since is None or assessment.recorded_at < since:
        return False, None
    # Kept in (recorded_at, id) order: the previous is the last one recorded earlier.
    before = bisect.bisect_left(entries, assessment.recorded_at, key=_recorded_at)
    previous = entries[before - 1][2] if before else None
    bisect.insort(entries, (assessment.recorded_at, assessment.id, dict(assessment.scores)), key=_in_order)
    return True, previous


def _recorded_at(entry: tuple[datetime, uuid.UUID, dict[str, Any]]) -> datetime:
    return entry[0]


def _in_order(entry: tuple[datetime, uuid.UUID, dict[str, Any]]) -> tuple[datetime, uuid.UUID]:
    return entry[0], entry[1]


async def raise_flag(
    session: AsyncSession,
    actor: Actor | SystemActor,
    case: Case,
    kind: str,
    detail: dict[str, Any],
    now: datetime,
    visit_id: uuid.UUID | None = None,
) -> bool:
    """Open a flag of `kind` on the case unless one is open already; True when a new one was raised.

    A system (a hospital notice) raises flags too: its event names no person."""
    batch = batch_of(session)
    if batch is not None and (case.id, kind) in batch.open_flags:
        return False
    statement = (
        insert(CaseFlag)
        .values(id=uuid.uuid4(), case_id=case.id, kind=kind, detail=detail, raised_at=now)
        .on_conflict_do_nothing(index_elements=["case_id", "kind"], index_where=text("resolved_at IS NULL"))
        .returning(CaseFlag.id)
    )
    if batch is None:
        raised = await session.execute(statement)
    else:
        # The flag needs none of the batch's pending records: they go in one INSERT at the batch's end.
        with session.no_autoflush:
            raised = await session.execute(statement)
    flag_id = raised.scalar_one_or_none()
    if batch is not None:
        batch.open_flags.add((case.id, kind))
    if flag_id is None:
        return False
    await record_event(
        session,
        "case.flagged",
        case.municipality_id,
        district_id=case.district_id,
        case_id=case.id,
        visit_id=visit_id,
        actor_id=actor.user_id if isinstance(actor, Actor) else None,
        payload={"flag_id": str(flag_id), "kind": kind},
    )
    return True


async def check_scores(
    session: AsyncSession, actor: Actor, case: Case, assessment: SymptomAssessment | Scored, now: datetime
) -> list[str]:
    """Flag a severe score or a steep rise; the kinds of flag these scores raised or joined.

    The previous assessment is the case's latest one on the same instrument recorded before this
    one (by the phone's clock), so scores synced late are compared with what came before them.
    """
    if assessment.instrument not in WARNING_INSTRUMENTS:
        return []
    flags: list[str] = []
    severe = sorted(item for item, score in assessment.scores.items() if score >= SEVERE)
    if severe:
        detail = {"items": severe, "assessment_id": str(assessment.id)}
        await raise_flag(session, actor, case, SEVERE_SCORE, detail, now, assessment.visit_id)
        await _score_alert(session, case, severe, Severity.HIGH, SEVERE_SCORE, assessment.id, now)
        flags.append(SEVERE_SCORE)
    covered, previous = _previous_known(batch_of(session), assessment)
    if not covered:
        previous = await _previous(session, case, assessment)
    if previous:
        rising = sorted(
            item
            for item, score in assessment.scores.items()
            if item in previous and score - int(previous[item]) >= RISE
        )
        if rising:
            detail = {"items": rising, "assessment_id": str(assessment.id)}
            await raise_flag(session, actor, case, RISING_SCORE, detail, now, assessment.visit_id)
            await _score_alert(session, case, rising, Severity.NORMAL, RISING_SCORE, assessment.id, now)
            flags.append(RISING_SCORE)
    return flags


async def _score_alert(
    session: AsyncSession,
    case: Case,
    items: list[str],
    severity: Severity,
    rule: str,
    assessment_id: uuid.UUID,
    now: datetime,
) -> None:
    """A severe or steeply rising score raises an alert (or joins the one open for its reason)."""
    reason = alerts.score_reason(items)
    batch = batch_of(session)
    if batch is not None and (case.id, reason.value) in batch.open_alerts:
        return  # open already: the people it called know, and the flag counts the repeats
    with session.no_autoflush:
        raised = await alerts.raise_by_rule(
            session, case, reason=reason, severity=severity, rule=rule, trigger_id=assessment_id, now=now
        )
    if batch is not None and raised is not None:
        batch.open_alerts.add((case.id, reason.value))


async def _previous(session: AsyncSession, case: Case, assessment: SymptomAssessment | Scored) -> dict[str, Any] | None:
    batch = batch_of(session)
    if batch is not None:  # the batch's assessments so far (this one too) are read with the others
        await batch.write_assessments(session)
    previous: dict[str, Any] | None = await session.scalar(
        select(SymptomAssessment.scores)
        .where(
            SymptomAssessment.case_id == case.id,
            SymptomAssessment.instrument == assessment.instrument,
            SymptomAssessment.recorded_at < assessment.recorded_at,
            SymptomAssessment.id != assessment.id,
        )
        .order_by(SymptomAssessment.recorded_at.desc(), SymptomAssessment.id.desc())
        .limit(1)
    )
    return previous


async def check_terminal_medicine(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, now: datetime, visit_id: uuid.UUID | None = None
) -> bool:
    """Flag a terminal-phase case whose anticipatory medicine is missing or expired; True when flagged.

    A night crisis can be handled at home only if the medicine is in the house. Called after
    medicine is given and at check-out; the case page's own rule decides what counts as missing.
    """
    case = await session.get_one(Case, case_id)
    if case.phase != Phase.TERMINAL or case.status in (Status.DECEASED, Status.CLOSED):
        return False
    rows = await session.scalars(select(Medicine).where(Medicine.case_id == case_id, Medicine.removed_at.is_(None)))
    items = [msgspec.convert(row, s.MedicineOut, from_attributes=True) for row in rows]
    status = page.medicine_status(items, now.astimezone(COPENHAGEN).date())
    if not status.missing:
        return False
    expired = sorted({item.indication.value for item in items if item.state == "expired"})
    detail = {"items": [indication.value for indication in status.missing], "expired": expired}
    if await raise_flag(session, actor, case, MEDICINE_MISSING_TERMINAL, detail, now, visit_id):
        # A new flag (not one already open): the night may come before the medicine does.
        flag_id = await session.scalar(
            select(CaseFlag.id).where(
                CaseFlag.case_id == case.id, CaseFlag.kind == MEDICINE_MISSING_TERMINAL, CaseFlag.resolved_at.is_(None)
            )
        )
        await alerts.raise_by_rule(
            session,
            case,
            reason=Reason.MEDICINE_MISSING,
            severity=Severity.HIGH,
            rule=MEDICINE_MISSING_TERMINAL,
            trigger_id=flag_id or case.id,
            now=now,
        )
    return True
