"""Offline sync: the whole contract - in order, once, each its own result, conflicts kept, bad ones alone."""

from __future__ import annotations

import random
import uuid
from typing import Any

from httpx import Response
from sqlalchemy import select

from backend.audit.models import AuditEntry
from backend.clock import Clock
from backend.visits.models import CaseFlag, Event, MedicineGiven, SymptomAssessment, SyncOperation, VisitNote
from tests.cases.helpers import Client, Sessions, case_page, count_rows
from tests.factories import Login, World
from tests.mobile.helpers import add_visit, at, change_visit, count, events, new_case, visit_row


def op(kind: str, clock: Clock, minutes: float, visit_id: str | None, **body: Any) -> dict[str, Any]:
    """One operation as the phone queues it, `minutes` from now by its clock."""
    operation: dict[str, Any] = {
        "client_op_id": f"op-{uuid.uuid4()}",
        "type": kind,
        "device_time": at(clock, minutes),
        "body": body,
    }
    if visit_id is not None:
        operation["visit_id"] = visit_id
    return operation


async def send(client: Client, login: Login, operations: list[dict[str, Any]]) -> Response:
    return await client.post(
        "/mobile/v1/sync", json={"device_id": str(login.device_id), "operations": operations}, headers=login.headers
    )


async def results(client: Client, login: Login, operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await send(client, login, operations)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["results"]
    assert [r["client_op_id"] for r in found] == [o.get("client_op_id") for o in operations]
    return found


def visit_batch(clock: Clock, visit_id: str) -> list[dict[str, Any]]:
    """A whole visit recorded without signal, in the order it happened."""
    given = op(
        "medicine_given",
        clock,
        -20,
        visit_id,
        drug="Midazolam",
        dose=2.5,
        unit="mg",
        route="subcutaneous",
        reason="Terminal uro",
    )
    return [
        op("check_in", clock, -30, visit_id, position={"lat": 55.7, "lon": 12.5}),
        op("scores", clock, -25, visit_id, instrument="ESAS-r", scores={"pain": 3, "anxiety": 8}),
        given,
        op("medicine_effect", clock, -10, None, medicine_given_op=given["client_op_id"], effect="Faldt til ro"),
        op("note", clock, -8, visit_id, text="Urolig ved ankomst, rolig ved afgang.", interventions=["Lejring"]),
        op("check_out", clock, -5, visit_id),
    ]


async def _case_with_visit(
    client: Client, world: World, clock: Clock, sessions: Sessions, phase: str = "late"
) -> tuple[str, str]:
    case_id = await new_case(client, world, clock, phase=phase)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    return case_id, visit_id


async def _footprint(sessions: Sessions, case_id: str, user_id: uuid.UUID) -> dict[str, int]:
    """How many rows the batch left: the same after a resend, or something was done twice."""
    case = uuid.UUID(case_id)
    return {
        "assessments": await count_rows(sessions, SymptomAssessment, case_id),
        "medicine": await count_rows(sessions, MedicineGiven, case_id),
        "notes": await count_rows(sessions, VisitNote, case_id),
        "events": await count(sessions, Event, case_id=case),
        "audit": await count(sessions, AuditEntry, case_id=case)
        - await count(sessions, AuditEntry, action="sync.replay"),
        "operations": await count(sessions, SyncOperation, user_id=user_id),
    }


async def test_a_visit_recorded_offline_is_applied_and_each_operation_gets_its_result(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    batch = visit_batch(clock, visit_id)
    found = await results(client, world.nurse_a, batch)
    assert [(r["outcome"], r["status"], r["replayed"]) for r in found] == [
        ("applied", 200, False),
        ("applied", 201, False),
        ("applied", 201, False),
        ("applied", 200, False),
        ("applied", 201, False),
        ("applied", 200, False),
    ]
    assert found[1]["result"]["flags"] == ["severe_score"]
    assert found[3]["result"]["effect"] == "Faldt til ro"
    assert found[3]["result"]["id"] == found[2]["result"]["id"]  # the effect found the dose by its operation

    visit = await visit_row(sessions, visit_id)
    assert visit.status == "done"
    assert visit.check_in_position == {"lat": 55.7, "lon": 12.5, "accuracy_m": None}
    assert visit.checked_in_device_at is not None and visit.checked_out_device_at is not None
    assert visit.checked_out_device_at > visit.checked_in_device_at
    assert await count_rows(sessions, SymptomAssessment, case_id) == 1
    assert await count_rows(sessions, VisitNote, case_id) == 1
    async with sessions() as session:
        stored = (
            await session.scalars(select(SyncOperation).where(SyncOperation.user_id == world.nurse_a.user_id))
        ).all()
    assert sorted(s.outcome for s in stored) == ["applied"] * 6
    assert {s.device_id for s in stored} == {world.nurse_a.device_id}


async def test_scores_synced_later_are_compared_with_the_last_assessment_before_them(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    """A rise of three since the last assessment flags the case, also when that assessment came in an
    earlier batch: pain 3, then 1, then 4 is a rise of three (from 1), not of one (from 3)."""
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    earlier = [
        op("check_in", clock, -90, visit_id),
        op("scores", clock, -60, visit_id, instrument="ESAS-r", scores={"pain": 3}),
        op("scores", clock, -30, visit_id, instrument="ESAS-r", scores={"pain": 1}),
    ]
    assert [r["outcome"] for r in await results(client, world.nurse_a, earlier)] == ["applied"] * 3
    [later] = await results(
        client, world.nurse_a, [op("scores", clock, -10, visit_id, instrument="ESAS-r", scores={"pain": 4})]
    )
    assert later["outcome"] == "applied"
    assert later["result"]["flags"] == ["rising_score"]
    async with sessions() as session:
        flag = await session.scalar(select(CaseFlag).where(CaseFlag.case_id == uuid.UUID(case_id)))
    assert flag is not None and flag.detail["items"] == ["pain"]


async def test_sending_the_same_batch_again_changes_nothing_and_answers_the_same(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    batch = visit_batch(clock, visit_id)
    first = await results(client, world.nurse_a, batch)
    before = await _footprint(sessions, case_id, world.nurse_a.user_id)

    second = await results(client, world.nurse_a, batch)
    assert all(r["replayed"] for r in second)
    assert [r | {"replayed": False} for r in second] == first
    assert await _footprint(sessions, case_id, world.nurse_a.user_id) == before

    # Half of it again, mixed with one new operation: only the new one is applied.
    note = op("note", clock, -1, visit_id, text="Tilføjet efter afgang.")
    third = await results(client, world.nurse_a, [*batch[3:], note])
    assert [r["replayed"] for r in third] == [True, True, True, False]
    assert third[-1]["outcome"] == "applied"
    assert await count_rows(sessions, VisitNote, case_id) == 2


async def test_a_batch_sent_out_of_order_applies_in_the_order_things_happened(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    _, visit_id = await _case_with_visit(client, world, clock, sessions)
    batch = visit_batch(clock, visit_id)
    shuffled = list(reversed(batch))  # check-out first, check-in last
    found = await results(client, world.nurse_a, shuffled)
    assert [r["outcome"] for r in found] == ["applied"] * 6
    visit = await visit_row(sessions, visit_id)
    assert visit.status == "done"
    assert visit.checked_out_device_at > visit.checked_in_device_at

    # Another nurse's phone sends the same kind of batch in a random order: the same end state.
    other_case, other_visit = await _case_with_visit(client, world, clock, sessions)
    jumbled = visit_batch(clock, other_visit)
    random.Random(7).shuffle(jumbled)
    assert [r["outcome"] for r in await results(client, world.nurse_a, jumbled)] == ["applied"] * 6
    assert (await visit_row(sessions, other_visit)).status == "done"
    assert await count_rows(sessions, MedicineGiven, other_case) == 1


async def test_work_on_a_visit_reassigned_meanwhile_is_a_conflict_kept_for_the_coordinator(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    await change_visit(sessions, visit_id, assigned_to=world.key_person.user_id)
    batch = [
        op("check_in", clock, -30, visit_id),
        op("scores", clock, -25, visit_id, instrument="ESAS-r", scores={"pain": 9}),
    ]
    found = await results(client, world.nurse_a, batch)
    assert [(r["outcome"], r["status"], r["error"]["rule"]) for r in found] == [
        ("conflict", 409, "assigned_to_other"),
        ("conflict", 409, "assigned_to_other"),
    ]
    # Nothing was changed, but nothing was dropped either: the body is kept and the coordinator told.
    assert (await visit_row(sessions, visit_id)).status == "planned"
    assert await count_rows(sessions, SymptomAssessment, case_id) == 0
    async with sessions() as session:
        kept = (
            await session.scalars(
                select(SyncOperation).where(
                    SyncOperation.user_id == world.nurse_a.user_id, SyncOperation.outcome == "conflict"
                )
            )
        ).all()
    assert sorted(k.op_type for k in kept) == ["check_in", "scores"]
    scores = next(k for k in kept if k.op_type == "scores")
    assert scores.body == {"visit_id": visit_id, "body": {"instrument": "ESAS-r", "scores": {"pain": 9}}}
    assert scores.reviewed is False
    conflicts = await events(sessions, case_id, "sync.conflict")
    assert [(e.payload["op_type"], e.payload["rule"]) for e in conflicts] == [
        ("check_in", "assigned_to_other"),
        ("scores", "assigned_to_other"),
    ]
    assert {e.visit_id for e in conflicts} == {uuid.UUID(visit_id)}

    # Resent: the same conflict, no second event.
    again = await results(client, world.nurse_a, batch)
    assert [(r["outcome"], r["replayed"]) for r in again] == [("conflict", True), ("conflict", True)]
    assert len(await events(sessions, case_id, "sync.conflict")) == 2


async def test_work_on_a_visit_cancelled_meanwhile_is_a_conflict(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    await change_visit(sessions, visit_id, status="cancelled")
    found = await results(client, world.nurse_a, [op("check_in", clock, -3, visit_id)])
    assert (found[0]["outcome"], found[0]["error"]["rule"]) == ("conflict", "visit_cancelled")
    assert len(await events(sessions, case_id, "sync.conflict")) == 1


async def test_one_bad_operation_fails_alone_and_the_good_ones_apply(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    missing_id = op("note", clock, -9, visit_id, text="Uden id")
    del missing_id["client_op_id"]
    batch = [
        op("check_in", clock, -30, visit_id),
        op("scores", clock, -25, visit_id, instrument="ESAS-r", scores={"pain": 11}),
        op("teleport", clock, -20, visit_id),
        op("note", clock, -15, None, text="Hvilket besøg?"),
        op("scores", clock, -12, visit_id, instrument="ESAS-r", scores={"pain": 4}, mood="fine"),
        missing_id,
        op("note", clock, -10, visit_id, text="God samtale med datteren.", relatives_present="Datter"),
        op("check_out", clock, 30, visit_id),
        op("scores", clock, -5, visit_id, instrument="ESAS-r", scores={"pain": 5}),
    ]
    found = await results(client, world.nurse_a, batch)
    summary = [(r["outcome"], r["status"], (r["error"] or {}).get("field")) for r in found]
    assert summary == [
        ("applied", 200, None),
        ("rejected", 422, "body.scores.pain"),
        ("rejected", 400, "type"),
        ("rejected", 422, "visit_id"),
        ("rejected", 400, "body.mood"),
        ("rejected", 400, "client_op_id"),
        ("applied", 201, None),
        ("rejected", 422, "device_time"),  # the check-out's own time is its operation's, 30 minutes ahead
        ("applied", 201, None),
    ]
    assert found[1]["error"]["rule"] == "out_of_range"
    assert await count_rows(sessions, SymptomAssessment, case_id) == 1
    assert await count_rows(sessions, VisitNote, case_id) == 1
    assert (await visit_row(sessions, visit_id)).status == "under_way"


async def test_an_oversized_batch_is_refused_whole(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    _, visit_id = await _case_with_visit(client, world, clock, sessions)
    batch = [op("note", clock, -1, visit_id, text=f"Note {n}") for n in range(501)]
    response = await send(client, world.nurse_a, batch)
    assert response.status_code == 413
    assert response.json()["field"] == "operations"
    assert await count(sessions, SyncOperation, user_id=world.nurse_a.user_id) == 0


async def test_an_operation_id_reused_for_something_else_is_refused(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    check_in = op("check_in", clock, -10, visit_id)
    note = op("note", clock, -5, visit_id, text="Første")
    await results(client, world.nurse_a, [check_in, note])
    changed = note | {"body": {"text": "Anden"}}
    found = await results(client, world.nurse_a, [changed])
    assert (found[0]["outcome"], found[0]["error"]["rule"]) == ("rejected", "client_op_id_reused")
    async with sessions() as session:
        texts = (await session.scalars(select(VisitNote.text).where(VisitNote.case_id == uuid.UUID(case_id)))).all()
    assert texts == ["Første"]


async def test_a_death_recorded_offline_makes_the_case_deceased(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions, phase="terminal")
    batch = [
        op("check_in", clock, -40, visit_id),
        op("death", clock, -20, visit_id, died_at=at(clock, -35), present="Ægtefælle", gp_informed=True),
        op("note", clock, -15, visit_id, text="Død i eget hjem som ønsket."),
    ]
    found = await results(client, world.nurse_a, batch)
    assert [r["outcome"] for r in found] == ["applied"] * 3
    assert found[1]["result"]["visit"]["status"] == "done"
    page = await case_page(client, world, case_id)
    assert page["status"] == "deceased" and page["death"]["place"] == "home"


async def test_a_nurse_cannot_sync_work_on_another_districts_visit(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    batch = [op("check_in", clock, -10, visit_id), op("note", clock, -5, visit_id, text="Forkert distrikt")]
    found = await results(client, world.nurse_b, batch)
    assert [(r["outcome"], r["status"]) for r in found] == [("rejected", 404), ("rejected", 404)]
    assert (await visit_row(sessions, visit_id)).status == "planned"
    assert await count_rows(sessions, VisitNote, case_id) == 0
    assert await events(sessions, case_id, "sync.conflict") == []


async def test_a_death_whose_check_out_fails_is_not_half_written(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions, phase="terminal")
    batch = [
        op("check_in", clock, -40, visit_id),
        # The check-out time inside the body is before the check-in: the whole operation fails.
        op("death", clock, -20, visit_id, died_at=at(clock, -35), gp_informed=True, device_time=at(clock, -45)),
        op("note", clock, -15, visit_id, text="Skal ringe til lægen."),
    ]
    found = await results(client, world.nurse_a, batch)
    assert [(r["outcome"], (r["error"] or {}).get("field")) for r in found] == [
        ("applied", None),
        ("rejected", "body.device_time"),
        ("applied", None),
    ]
    assert (await case_page(client, world, case_id))["status"] == "referred"
    assert (await visit_row(sessions, visit_id)).status == "under_way"
