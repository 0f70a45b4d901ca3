"""The bedside record: symptom scores and their warnings, medicine given and its effect, notes, a death."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from backend.clock import Clock
from backend.visits.models import CaseFlag, MedicineGiven, SymptomAssessment, VisitNote
from tests.cases.helpers import Client, Sessions, case_page, case_rows, count_rows
from tests.factories import World
from tests.mobile.helpers import add_visit, at, check_in, events, new_case, phone_post, visit_row


async def _visit(client: Client, world: World, clock: Clock, sessions: Sessions, **case: Any) -> tuple[str, str]:
    """A case of district A and a visit of nurse A's that she has checked in to."""
    case_id = await new_case(client, world, clock, **case)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    await check_in(client, world.nurse_a, clock, visit_id, minutes=-20)
    return case_id, visit_id


def _esas(clock: Clock, minutes: float = 0, instrument: str = "ESAS-r", **scores: int) -> dict[str, Any]:
    return {"instrument": instrument, "scores": scores, "recorded_at": at(clock, minutes)}


async def _open_flags(sessions: Sessions, case_id: str) -> dict[str, list[str]]:
    async with sessions() as session:
        query = select(CaseFlag).where(CaseFlag.case_id == uuid.UUID(case_id), CaseFlag.resolved_at.is_(None))
        return {flag.kind: flag.detail["items"] for flag in (await session.scalars(query)).all()}


async def test_scores_are_stored_with_their_instrument(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions)
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/scores", _esas(clock, pain=3, nausea=1))
    assert response.status_code == 201, response.text
    assert response.json()["flags"] == []
    assert response.json()["scores"] == {"pain": 3, "nausea": 1}
    for instrument, scores in [
        ("IPOS", {"pain": 4, "shortness_of_breath": 0}),
        ("EORTC-QLQ-C15-PAL", {"q1": 1, "q15": 7}),
    ]:
        stored = await phone_post(
            client, world.nurse_a, f"/visits/{visit_id}/scores", _esas(clock, instrument=instrument, **scores)
        )
        assert stored.status_code == 201, stored.text
    rows = await case_rows(sessions, SymptomAssessment, case_id, SymptomAssessment.received_at)
    assert sorted(row.instrument for row in rows) == ["EORTC-QLQ-C15-PAL", "ESAS-r", "IPOS"]
    assert all(row.recorded_by == world.nurse_a.user_id for row in rows)


async def test_bad_scores_are_refused_naming_the_item_and_nothing_is_stored(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions)
    path = f"/visits/{visit_id}/scores"
    refusals = [
        (_esas(clock, pain=11), 422, "scores.pain", "out_of_range"),
        (_esas(clock, nausea=-1), 422, "scores.nausea", "out_of_range"),
        (_esas(clock, itching=3), 422, "scores.itching", "unknown_item"),
        (_esas(clock, instrument="VAS", pain=3), 422, "instrument", "unknown_instrument"),
        (_esas(clock, instrument="IPOS", pain=5), 422, "scores.pain", "out_of_range"),
        (_esas(clock, instrument="EORTC-QLQ-C15-PAL", q1=0), 422, "scores.q1", "out_of_range"),
        (_esas(clock), 422, "scores", None),
        (_esas(clock, 30, pain=3), 422, "recorded_at", "in_future"),
        ({**_esas(clock), "scores": {"pain": "high"}}, 400, "scores[...]", None),  # msgspec's name for a value
        ({**_esas(clock, pain=2), "recorded_at": "yesterday"}, 400, "recorded_at", None),
    ]
    for body, status, field, rule in refusals:
        response = await phone_post(client, world.nurse_a, path, body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field
        assert response.json().get("rule") == rule
    assert await count_rows(sessions, SymptomAssessment, case_id) == 0


async def test_scores_need_a_check_in_first(client: Client, world: World, clock: Clock, sessions: Sessions) -> None:
    case_id = await new_case(client, world, clock)
    visit_id = await add_visit(sessions, clock, case_id, world.district_a, world.nurse_a.user_id)
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/scores", _esas(clock, pain=3))
    assert response.status_code == 422
    assert response.json()["rule"] == "not_checked_in"


async def test_a_severe_score_flags_the_case_once_for_the_coordinator(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions)
    first = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/scores", _esas(clock, -10, pain=8, anxiety=7))
    assert first.json()["flags"] == ["severe_score"]
    assert await _open_flags(sessions, case_id) == {"severe_score": ["anxiety", "pain"]}
    flagged = await events(sessions, case_id, "case.flagged")
    assert [e.payload["kind"] for e in flagged] == ["severe_score"]
    assert flagged[0].visit_id == uuid.UUID(visit_id)

    # Still severe a little later: the open flag is joined, not repeated.
    again = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/scores", _esas(clock, -5, pain=8, anxiety=7))
    assert again.json()["flags"] == ["severe_score"]
    assert len(await events(sessions, case_id, "case.flagged")) == 1
    async with sessions() as session:
        kinds = (await session.scalars(select(CaseFlag.kind).where(CaseFlag.case_id == uuid.UUID(case_id)))).all()
    assert kinds == ["severe_score"]


async def test_a_rise_of_three_since_the_last_assessment_flags_the_case(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions)
    path = f"/visits/{visit_id}/scores"
    await phone_post(client, world.nurse_a, path, _esas(clock, -15, nausea=2, pain=1, shortness_of_breath=4))
    small = await phone_post(client, world.nurse_a, path, _esas(clock, -10, nausea=4, pain=3, shortness_of_breath=4))
    assert small.json()["flags"] == []  # a rise of 2 is no warning
    steep = await phone_post(client, world.nurse_a, path, _esas(clock, -5, nausea=4, pain=6, shortness_of_breath=5))
    assert steep.json()["flags"] == ["rising_score"]
    assert await _open_flags(sessions, case_id) == {"rising_score": ["pain"]}
    # Another instrument is not compared with ESAS-r, and its own scale is not ESAS-r's.
    ipos = await phone_post(client, world.nurse_a, path, _esas(clock, instrument="IPOS", pain=4))
    assert ipos.json()["flags"] == []


async def test_medicine_given_and_its_effect_later(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions, phase="late")
    body = {
        "drug": "Morfin",
        "dose": 2.5,
        "unit": "mg",
        "route": "subcutaneous",
        "given_at": at(clock, -10),
        "reason": "Gennembrudssmerter",
    }
    given = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/medicine-given", body)
    assert given.status_code == 201, given.text
    assert given.json()["dose"] == 2.5 and given.json()["effect"] is None
    medicine_id = given.json()["id"]

    effect = await phone_post(
        client, world.nurse_a, f"/medicine-given/{medicine_id}/effect", {"effect": "Smertefri efter 20 min"}
    )
    assert effect.status_code == 200, effect.text
    assert effect.json()["effect"] == "Smertefri efter 20 min"
    assert effect.json()["effect_recorded_at"] is not None
    twice = await phone_post(client, world.nurse_a, f"/medicine-given/{medicine_id}/effect", {"effect": "Igen"})
    assert twice.status_code == 409
    assert twice.json()["rule"] == "effect_recorded"
    rows = await case_rows(sessions, MedicineGiven, case_id, MedicineGiven.given_at)
    assert [(r.drug, float(r.dose), r.route, r.effect) for r in rows] == [
        ("Morfin", 2.5, "subcutaneous", "Smertefri efter 20 min")
    ]

    for bad, field in [({"dose": 0}, "dose"), ({"route": "by magic"}, "route"), ({"drug": ""}, "drug")]:
        refused = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/medicine-given", body | bad)
        assert refused.status_code == 400
        assert refused.json()["field"] == field
    future = await phone_post(
        client, world.nurse_a, f"/visits/{visit_id}/medicine-given", body | {"given_at": at(clock, 60)}
    )
    assert future.status_code == 422 and future.json()["field"] == "given_at"
    assert await count_rows(sessions, MedicineGiven, case_id) == 1


async def test_a_note_is_corrected_by_a_new_note_and_the_old_one_stays(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions)
    path = f"/visits/{visit_id}/notes"
    first = await phone_post(
        client,
        world.nurse_a,
        path,
        {
            "text": "Urolig, fik 5 mg midazolam.",
            "interventions": ["Mundpleje", "Lejring"],
            "relatives_present": "Ægtefælle",
        },
    )
    assert first.status_code == 201, first.text
    correction = await phone_post(
        client,
        world.nurse_a,
        path,
        {"text": "Rettelse: 2,5 mg midazolam.", "corrects_id": first.json()["id"], "relatives_informed": "Datter"},
    )
    assert correction.status_code == 201, correction.text
    assert correction.json()["corrects_id"] == first.json()["id"]

    notes = await case_rows(sessions, VisitNote, case_id, VisitNote.created_at)
    by_id = {str(note.id): note for note in notes}
    assert by_id[first.json()["id"]].text == "Urolig, fik 5 mg midazolam."
    assert by_id[first.json()["id"]].corrects_id is None
    assert by_id[first.json()["id"]].interventions == ["Mundpleje", "Lejring"]
    assert by_id[correction.json()["id"]].text == "Rettelse: 2,5 mg midazolam."

    other_case, other_visit = await _visit(client, world, clock, sessions)
    foreign = await phone_post(
        client, world.nurse_a, f"/visits/{other_visit}/notes", {"text": "x", "corrects_id": first.json()["id"]}
    )
    assert foreign.status_code == 422 and foreign.json()["field"] == "corrects_id"
    blank = await phone_post(client, world.nurse_a, path, {"text": "   "})
    assert blank.status_code == 422 and blank.json()["field"] == "text"
    assert await count_rows(sessions, VisitNote, case_id) == 2
    assert await count_rows(sessions, VisitNote, other_case) == 0


async def test_a_death_at_the_visit_registers_it_on_the_case_and_checks_the_visit_out(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions)
    body = {"died_at": at(clock, -15), "present": "Ægtefælle", "gp_informed": True}
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/death", body)
    assert response.status_code == 201, response.text
    assert response.json()["death"]["place"] == "home"
    assert response.json()["visit"]["status"] == "done"

    page = await case_page(client, world, case_id)
    assert page["status"] == "deceased"
    assert page["death"]["place"] == "home"
    assert page["death"]["present"] == "Ægtefælle"
    assert (await visit_row(sessions, visit_id)).status == "done"
    assert len(await events(sessions, case_id, "visit.checked_out")) == 1
    assert len(await events(sessions, case_id, "case.flagged")) == 0  # no medicine chase after death

    again = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/death", body)
    assert again.status_code == 409 and again.json()["rule"] == "already_deceased"
    # A note about the death is still welcome; scores are not.
    note = await phone_post(
        client, world.nurse_a, f"/visits/{visit_id}/notes", {"text": "Rolig død, familien til stede."}
    )
    assert note.status_code == 201
    scores = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/scores", _esas(clock, pain=2))
    assert scores.status_code == 422 and scores.json()["rule"] == "case_ended"


async def test_a_death_time_in_the_future_is_refused_and_the_case_stays_alive(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions)
    body = {"died_at": at(clock, 30), "gp_informed": False}
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/death", body)
    assert response.status_code == 422 and response.json()["field"] == "died_at"
    assert (await case_page(client, world, case_id))["status"] == "referred"
    assert (await visit_row(sessions, visit_id)).status == "under_way"


async def test_medicine_given_on_a_terminal_case_without_its_medicine_flags_the_case(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _visit(client, world, clock, sessions, phase="terminal")
    body = {
        "drug": "Morfin",
        "dose": 5,
        "unit": "mg",
        "route": "subcutaneous",
        "given_at": at(clock, -1),
        "reason": "Smerter",
    }
    response = await phone_post(client, world.nurse_a, f"/visits/{visit_id}/medicine-given", body)
    assert response.status_code == 201, response.text
    flags = await _open_flags(sessions, case_id)
    assert flags == {"medicine_missing_terminal": ["pain", "breathlessness", "nausea", "restlessness", "death_rattle"]}
    flagged = await events(sessions, case_id, "case.flagged")
    assert [e.payload["kind"] for e in flagged] == ["medicine_missing_terminal"]
