"""Offline sync: a batch of operations the phone recorded without signal, applied once each.

Each operation is its domain's own use case (a visit's check-in at the bedside, an alert raised, a
death in the course of the case), which is why the batch lives above them all.

The contract, for the app and for the reader:
- Each operation is checked and applied on its own: a bad one fails alone (it is refused before it
  writes, or in its own SAVEPOINT), the rest apply. The batch answers 200 with one result per
  operation, in the order sent.
- Operations apply in the order they happened: by device_time, ties in the order sent. A queue
  sent out of order (a retried half, a reordered upload) therefore ends the same as one in order:
  a check-out sent before its check-in still finds the visit checked in.
- Every operation is stored in `sync_operations` under (user, client_op_id) with its body and its
  result, in the batch's transaction. An operation received again - the same batch resent, or
  sent in another batch - changes nothing and answers its stored result with `replayed: true`
  (the outcome stays the original one, so the app needs no special case). The same client_op_id
  with different content is refused (rule `client_op_id_reused`) and changes nothing.
- Outcomes: `applied`; `conflict` when the visit was reassigned, handed back or cancelled
  meanwhile - nothing is changed, but the operation and its body are kept for the coordinator,
  who is told by a `sync.conflict` event; `rejected` for bad input or a broken rule, with the
  field named (`body.<field>` inside the body, else the envelope's field), including a value
  the database could not take. Rejected operations are stored too (a body PostgreSQL cannot
  hold, e.g. with a NUL, as its digest): resending one gives the same answer; fix it and send it
  with a new id.
- Each operation applies in its own SAVEPOINT: whatever one does wrong is rolled back alone. An
  unexpected failure of one operation (a fault of ours, not of the input) answers it `failed`
  (500) and forgets it, so a resend runs it again; the others apply. The batch itself answers 200.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import raising as alerts
from backend.alerts.models import Source
from backend.alerts.schemas import AlertRaiseIn
from backend.cases.access import case_scope
from backend.cases.models import Case
from backend.course import death
from backend.errors import Problem, body_field, input_fault
from backend.people.actor import Actor
from backend.sync import store
from backend.visits import bedside, warnings
from backend.visits.models import SyncOperation, Visit
from backend.wire import faults
from mobile_api import schemas as m

log = logging.getLogger("lindra.sync")

# The target is the visit (or the medicine given); None only for the kinds that need no visit.
Runner = Callable[[AsyncSession, Actor, Any, Any, datetime], Awaitable[msgspec.Struct]]


@dataclass(frozen=True, slots=True)
class _Kind:
    body_type: type[msgspec.Struct]
    time_field: str  # the body's own time; the operation's device_time when left out
    status: int  # what the single endpoint answers
    run: Runner
    needs_visit: bool = True
    # It may end its case (a death): the next record asks `open_case` again.
    ends_case: bool = False


async def _raise_alert(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID | None, data: AlertRaiseIn, now: datetime
) -> msgspec.Struct:
    """An alert raised without signal: it keeps the time it was raised on the phone."""
    return await alerts.raise_alert(session, actor, data, Source.PHONE, now)


KINDS: dict[m.OpType, _Kind] = {
    m.OpType.CHECK_IN: _Kind(m.CheckIn, "device_time", 200, bedside.check_in),
    m.OpType.CHECK_OUT: _Kind(m.CheckOut, "device_time", 200, bedside.check_out),
    m.OpType.SCORES: _Kind(m.ScoresIn, "recorded_at", 201, bedside.record_scores),
    m.OpType.MEDICINE_GIVEN: _Kind(m.MedicineGivenIn, "given_at", 201, bedside.give_medicine),
    m.OpType.MEDICINE_EFFECT: _Kind(m.EffectIn, "recorded_at", 200, bedside.record_effect, needs_visit=False),
    m.OpType.NOTE: _Kind(m.NoteIn, "written_at", 201, bedside.add_note),
    m.OpType.DEATH: _Kind(m.DeathAtVisitIn, "device_time", 201, death.death_at_visit, ends_case=True),
    m.OpType.RAISE_ALERT: _Kind(AlertRaiseIn, "raised_at", 201, _raise_alert, needs_visit=False),
}


def _invalid(exc: msgspec.ValidationError, prefix: str = "") -> Problem:
    """A msgspec refusal as the single endpoint would answer it (400), naming the field under `prefix`."""
    field = body_field(str(exc))
    if field == "$":
        field = prefix.rstrip(".") or "$"
    else:
        field = prefix + field
    return Problem(400, "Invalid request", str(exc), field=field)


async def apply_batch(session: AsyncSession, actor: Actor, data: m.SyncIn, now: datetime) -> m.SyncOut:
    """Apply a batch in the order the operations happened; one result per operation, in the order sent.

    How, in a fixed number of statements for the batch plus a few per operation: the operations are
    claimed in `sync_operations` in one INSERT (a row already there is a replay, read back in one
    SELECT); the visits to work and then their cases are locked once, each in id order, so that two
    batches touching the same cases never wait on each other crosswise (no deadlock), and loaded
    with the previous ESAS-r scores of their cases (`warnings.Batch`); audit rows, events and the
    operations' results are written at the end, one statement each. Each operation runs in its own
    SAVEPOINT (two statements), so that whatever it does wrong is rolled back alone.
    """
    if len(data.operations) > m.MAX_OPERATIONS:
        raise Problem(
            413,
            "Batch too large",
            f"Send at most {m.MAX_OPERATIONS} operations in one batch; send the rest in the next.",
            field="operations",
            rule="max_operations",
        )
    results: list[m.SyncResult | None] = [None] * len(data.operations)
    valid: list[tuple[int, m.SyncOperationIn]] = []
    for index, raw in enumerate(data.operations):
        try:
            valid.append((index, msgspec.convert(raw, m.SyncOperationIn)))
        except msgspec.ValidationError as exc:
            problem = _invalid(exc)
            given = raw.get("client_op_id")
            error = m.SyncError(title=problem.title, detail=problem.detail, field=problem.field)
            results[index] = store.refused(given if isinstance(given, str) else None, "rejected", 400, error)
    valid.sort(key=lambda pair: (pair[1].device_time, pair[0]))
    if not valid:
        return m.SyncOut(results=[result for result in results if result is not None])

    firsts: dict[str, m.SyncOperationIn] = {}
    for _, op in valid:
        firsts.setdefault(op.client_op_id, op)
    claimed = await store.claim(session, actor, list(firsts.values()), now)
    stored = await store.stored(session, actor, [key for key in firsts if key not in claimed])
    to_run = [op for key, op in firsts.items() if key in claimed]
    batch = warnings.Batch()
    await _lock_and_load(session, actor, batch, to_run)

    done: dict[str, tuple[m.SyncResult, m.OpType]] = {}  # this batch's own results and types, by client_op_id
    replays: list[m.SyncOperationIn] = []  # applied in an earlier batch, answered again
    session.info[warnings.BATCH_KEY] = batch
    try:
        for index, op in valid:
            key = op.client_op_id
            if key in done:  # the same id twice in one batch: the second is a replay of the first
                first = firsts[key]
                same = (first.type, first.device_time, store.stored_body(first)) == (
                    op.type,
                    op.device_time,
                    store.stored_body(op),
                )
                results[index] = store.replayed(done[key][0]) if same else store.reused(op)
            elif key in claimed:
                result = await _run(session, actor, op, now, batch, done)
                results[index], done[key] = result, (result, op.type)
            else:
                results[index] = again = store.replay(stored[key], op)
                if again.replayed and again.outcome == "applied":
                    replays.append(op)
        await batch.flush(session)
        await store.audit_replays(session, actor, replays)
    finally:
        session.info.pop(warnings.BATCH_KEY, None)
    await store.store_results(session, actor, done)
    return m.SyncOut(results=[result for result in results if result is not None])


async def _lock_and_load(
    session: AsyncSession, actor: Actor, batch: warnings.Batch, ops: list[m.SyncOperationIn]
) -> None:
    """Lock the visits to work, then their cases, each in id order; load them and the cases' previous scores.

    The same order as a single endpoint's (the visit, then its case), and the same for every batch:
    two batches over the same cases queue behind each other instead of deadlocking. A visit out of
    the nurse's scope is not loaded (its operation answers 404 as before).
    """
    visit_ids = sorted({op.visit_id for op in ops if op.visit_id is not None})
    if not visit_ids:
        return
    rows = await session.execute(
        select(Visit, Case)
        .join(Case, Case.id == Visit.case_id)
        .where(Visit.id.in_(visit_ids), case_scope(actor))
        .order_by(Visit.id)
        .with_for_update(of=Visit, key_share=True)
    )
    for visit, case in rows:
        batch.visits[visit.id] = (visit, case)
    case_ids = sorted({case.id for _, case in batch.visits.values()})
    if not case_ids:
        return
    # Read again under the lock (what `open_case` would read), so that `open_case` need not query each case.
    locked = await session.scalars(
        select(Case)
        .where(Case.id.in_(case_ids))
        .order_by(Case.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    batch.cases.update((case.id, case) for case in locked)
    times = [_scores_time(op) for op in ops if op.type == m.OpType.SCORES]
    known = [at for at in times if at is not None]
    if known:
        scored = sorted(
            {
                batch.visits[op.visit_id][1].id
                for op in ops
                if op.type == m.OpType.SCORES and op.visit_id in batch.visits
            }
        )
        await batch.load_history(session, scored, min(known))
        await batch.load_open(session, scored)


def _scores_time(op: m.SyncOperationIn) -> datetime | None:
    """When a scores operation says its scores were recorded, if that can be read (else it is refused later)."""
    raw = op.body.get("recorded_at")
    if raw is None:
        return op.device_time
    try:
        at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


async def _run(
    session: AsyncSession,
    actor: Actor,
    op: m.SyncOperationIn,
    now: datetime,
    batch: warnings.Batch,
    done: dict[str, tuple[m.SyncResult, m.OpType]],
) -> m.SyncResult:
    kind = KINDS[op.type]
    defaulted = kind.time_field not in op.body
    try:
        target, data = await _prepare(session, actor, op, kind, done)
        out = await _isolated(session, batch, lambda: kind.run(session, actor, target, data, now))
        if kind.ends_case:
            batch.opened.clear()
    except Problem as exc:
        field = exc.field
        if field is not None and not field.startswith("body") and field not in ("visit_id", "type", "client_op_id"):
            field = "device_time" if defaulted and field == kind.time_field else f"body.{field}"
        error = m.SyncError(title=exc.title, detail=exc.detail, field=field, rule=exc.rule)
        if exc.rule in bedside.CONFLICT_RULES:
            await _announce_conflict(session, actor, op, exc.rule, batch)
            return store.refused(op.client_op_id, "conflict", exc.status, error)
        return store.refused(op.client_op_id, "rejected", exc.status, error)
    except Exception as exc:  # rolled back alone; the batch goes on
        if input_fault(exc) is not None:
            detail = "A value is beyond what the service can store or compute with; nothing was saved."
            error = m.SyncError(title="Invalid request", detail=detail, rule="value_out_of_range")
            return store.refused(op.client_op_id, "rejected", 400, error)
        log.error("sync operation %s failed: unhandled %s", op.type.value, type(exc).__name__)
        detail = "This operation could not be applied just now and was not kept; send it again."
        return store.refused(op.client_op_id, "failed", 500, m.SyncError(title="Internal error", detail=detail))
    return m.SyncResult(
        client_op_id=op.client_op_id, outcome="applied", status=kind.status, result=msgspec.to_builtins(out)
    )


async def _isolated(
    session: AsyncSession, batch: warnings.Batch, work: Callable[[], Awaitable[msgspec.Struct]]
) -> msgspec.Struct:
    """One operation in its own SAVEPOINT. When it fails, it is rolled back alone, with what it kept
    for the batch's INSERTs; what the batch had loaded is dropped (expired by the rollback)."""
    audit_rows, event_rows, assessments = len(batch.audit), len(batch.events), list(batch.assessments)
    try:
        async with session.begin_nested():
            return await work()
    except Exception:
        del batch.audit[audit_rows:], batch.events[event_rows:]
        # The earlier operations' assessments, queued again if the failed one wrote them inside.
        batch.assessments = assessments
        batch.forget()
        raise


async def _prepare(
    session: AsyncSession,
    actor: Actor,
    op: m.SyncOperationIn,
    kind: _Kind,
    done: dict[str, tuple[m.SyncResult, m.OpType]],
) -> tuple[uuid.UUID | None, msgspec.Struct]:
    """The operation's target id and its body as the single endpoint's request struct."""
    found = faults(op.body, "body")  # references included: they reach SQL before the body's struct is made
    if found:
        raise Problem(400, "Invalid request", f"`{found[0]}` {found[1]}.", field=found[0])
    raw = dict(op.body)
    raw.setdefault(kind.time_field, op.device_time.isoformat())
    if op.type == m.OpType.MEDICINE_EFFECT:
        given_id, given_op = raw.pop("medicine_given_id", None), raw.pop("medicine_given_op", None)
        target = await _reference(session, actor, done, given_id, given_op, "medicine_given", m.OpType.MEDICINE_GIVEN)
        if target is None:
            raise Problem(
                422,
                "Medicine missing",
                "Name the medicine given: medicine_given_id or medicine_given_op.",
                field="body.medicine_given_id",
            )
    elif not kind.needs_visit:
        target = op.visit_id
    elif op.visit_id is None:
        raise Problem(422, "Visit missing", f"A {op.type.value} operation names its visit.", field="visit_id")
    else:
        target = op.visit_id
    if op.type == m.OpType.NOTE and "corrects_op" in raw:
        corrects_op = raw.pop("corrects_op")
        corrects = await _reference(
            session, actor, done, raw.get("corrects_id"), corrects_op, "corrects", m.OpType.NOTE
        )
        raw["corrects_id"] = str(corrects) if corrects else None
    try:
        return target, msgspec.convert(raw, kind.body_type)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, "body.") from None


async def _reference(
    session: AsyncSession,
    actor: Actor,
    done: dict[str, tuple[m.SyncResult, m.OpType]],
    given_id: Any,
    given_op: Any,
    name: str,
    op_type: m.OpType,
) -> uuid.UUID | None:
    """An id sent as `<name>_id`, or as `<name>_op`: the client_op_id of this user's applied operation that made it.

    Offline, the phone does not know the server's id of what it recorded; it knows its own operation id.
    """
    if given_op is None:
        if given_id is None:
            return None
        try:
            return uuid.UUID(str(given_id))
        except ValueError:
            raise Problem(400, "Invalid request", "Expected a UUID.", field=f"body.{name}_id") from None
    if given_id is not None:
        raise Problem(422, "Two references", f"Send {name}_id or {name}_op, not both.", field=f"body.{name}_op")
    here = done.get(str(given_op))  # run earlier in this batch: its row's result is written at the end
    if here is not None:
        result, made_by = here
        stored: Any = msgspec.to_builtins(result) if result.outcome == "applied" and made_by == op_type else None
    else:
        stored = await session.scalar(
            select(SyncOperation.result).where(
                SyncOperation.user_id == actor.user_id,
                SyncOperation.client_op_id == str(given_op),
                SyncOperation.op_type == op_type.value,
                SyncOperation.outcome == "applied",
            )
        )
    made = stored.get("result") if isinstance(stored, dict) else None
    if not isinstance(made, dict) or "id" not in made:
        raise Problem(
            422,
            "Unknown operation",
            f"No applied {op_type.value} operation of yours has this client_op_id.",
            field=f"body.{name}_op",
        )
    return uuid.UUID(made["id"])


async def _announce_conflict(
    session: AsyncSession, actor: Actor, op: m.SyncOperationIn, rule: str | None, batch: warnings.Batch
) -> None:
    """Tell the coordinator that work done offline no longer fits the plan; the operation is kept."""
    loaded = batch.visits.get(op.visit_id) if op.visit_id is not None else None
    if loaded is not None:
        visit: Any = loaded[0]
    else:
        visit = (await session.execute(select(Visit.case_id, Visit.district_id).where(Visit.id == op.visit_id))).first()
    if actor.municipality_id is None:
        return
    await warnings.record_event(
        session,
        "sync.conflict",
        actor.municipality_id,
        district_id=visit.district_id if visit else None,
        case_id=visit.case_id if visit else None,
        visit_id=op.visit_id if visit else None,
        actor_id=actor.user_id,
        payload={"client_op_id": op.client_op_id, "op_type": op.type.value, "rule": rule or ""},
    )
