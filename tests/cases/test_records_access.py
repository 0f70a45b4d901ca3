"""Who may write records on a case, idempotent retries, and the audit trail of every write."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.audit.models import AuditEntry
from backend.cases.models import ActionPlan, Case, Medicine, Relative, StatusNote, Wish
from backend.clock import Clock
from tests.cases.helpers import Client, Sessions, terminal_case, write_headers
from tests.factories import Login, World


def _bodies(clock: Clock) -> dict[str, dict[str, Any]]:
    today = clock.today()
    return {
        "wishes": {"dies_at_home": "yes", "discussed_on": today.isoformat(), "discussed_with": "Borger"},
        "medicine": {
            "indication": "pain",
            "drug": "Morfin",
            "strength": "10 mg/ml",
            "quantity": "5 ampuller",
            "expires_on": (today + timedelta(days=60)).isoformat(),
        },
        "relatives": {
            "name": "Inge",
            "relation": "ægtefælle",
            "primary_contact": True,
            "lives_with_citizen": True,
            "consent_to_information": True,
        },
        "status-notes": {"text": "Mere uro om natten"},
        "action-plan": {
            "needs": "Uro om natten",
            "purpose": "Ro i eget hjem",
            "place": "Eget hjem",
            "responsibilities": [{"part": "Nattevagt", "responsible": "Hjemmesygeplejen"}],
            "evaluate_on": (today + timedelta(days=7)).isoformat(),
            "evaluated_by": "Kontaktperson",
        },
    }


async def _writes(client: Client, world: World, clock: Clock, case_id: str) -> list[tuple[str, str, Any]]:
    """Every write route on a case, as (method, path, body), with a medicine and a relative to act on."""
    bodies = _bodies(clock)
    medicine = await client.post(
        f"/cases/{case_id}/medicine", json=bodies["medicine"], headers=write_headers(world.coordinator)
    )
    relative = await client.post(
        f"/cases/{case_id}/relatives", json=bodies["relatives"], headers=write_headers(world.coordinator)
    )
    assert medicine.status_code == relative.status_code == 201
    base = f"/cases/{case_id}"
    return [
        ("POST", f"{base}/wishes", bodies["wishes"]),
        ("POST", f"{base}/medicine", bodies["medicine"]),
        ("POST", f"{base}/medicine/{medicine.json()['id']}/remove", {"reason": "used"}),
        ("POST", f"{base}/relatives", bodies["relatives"]),
        ("PATCH", f"{base}/relatives/{relative.json()['id']}", {"phone": "+45 11 22 33 44"}),
        ("POST", f"{base}/relatives/{relative.json()['id']}/remove", None),
        ("PUT", f"{base}/care-team", {"gp_name": "Læge Jensen"}),
        ("PATCH", f"{base}/referral", {"first_contact_on": clock.today().isoformat()}),
        ("PUT", f"{base}/action-plan", bodies["action-plan"]),
        ("POST", f"{base}/status-notes", bodies["status-notes"]),
        ("POST", f"{base}/death", {"died_at": clock.now().isoformat(), "place": "home", "gp_informed": True}),
    ]


async def _snapshot(sessions: Sessions, case_id: str) -> tuple[Any, ...]:
    """What a refused write must leave untouched."""
    cid = uuid.UUID(case_id)
    async with sessions() as session:
        case = await session.get_one(Case, cid)
        counts = [
            await session.scalar(select(func.count()).where(model.case_id == cid))
            for model in (Wish, Medicine, Relative, StatusNote, ActionPlan)
        ]
        removed = await session.scalar(
            select(func.count()).where(Medicine.case_id == cid, Medicine.removed_at.is_not(None))
        )
        writes = await session.scalar(
            select(func.count()).where(AuditEntry.case_id == cid, AuditEntry.action.not_in(["case.read", "case.list"]))
        )
    return (case.status, case.updated_at, case.gp_name, case.first_contact_on, removed, writes, *counts)


@pytest.mark.parametrize("who", ["nurse_b", "unit", "admin"])
async def test_those_without_the_case_cannot_write_anything_on_it(
    client: Client, world: World, clock: Clock, sessions: Sessions, who: str
) -> None:
    case_id = await terminal_case(client, world, clock)
    referred = await client.post(f"/cases/{case_id}/unit-referral", headers=write_headers(world.coordinator))
    assert referred.status_code == 200, referred.text
    writes = await _writes(client, world, clock, case_id)
    before = await _snapshot(sessions, case_id)
    login: Login = getattr(world, who)
    # A nurse of another district does not learn that the case exists; the unit and admins may not write.
    expected = 404 if who == "nurse_b" else 403
    for method, path, body in writes:
        response = await client.request(method, path, json=body, headers=write_headers(login))
        assert response.status_code == expected, (who, method, path, response.text)
    assert await _snapshot(sessions, case_id) == before


async def test_the_nurse_of_the_district_may_write_everything(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    for method, path, body in await _writes(client, world, clock, case_id):
        response = await client.request(method, path, json=body, headers=write_headers(world.nurse_a))
        assert response.status_code in (200, 201), (method, path, response.text)
    page = (await client.get(f"/cases/{case_id}", headers=world.nurse_a.headers)).json()
    assert page["status"] == "deceased"
    assert page["care_team"]["gp_name"] == "Læge Jensen"
    assert page["action_plan"]["version"] == 1

    async with sessions() as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action)
                .where(
                    AuditEntry.case_id == uuid.UUID(case_id),
                    AuditEntry.user_id == world.nurse_a.user_id,
                    AuditEntry.action != "case.read",
                )
                .order_by(AuditEntry.id)
            )
        ).all()
    assert actions == [
        "case.wish.add",
        "case.medicine.add",
        "case.medicine.remove",
        "case.relative.add",
        "case.relative.update",
        "case.relative.remove",
        "case.care_team.set",
        "case.referral.update",
        "case.action_plan.create",
        "case.status_note.add",
        "case.death.register",
    ]


async def test_the_unit_reads_plan_versions_only_once_the_case_is_referred_to_it(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    plan = await client.put(
        f"/cases/{case_id}/action-plan", json=_bodies(clock)["action-plan"], headers=write_headers(world.coordinator)
    )
    assert plan.status_code == 200, plan.text
    path = f"/cases/{case_id}/action-plan/versions"
    assert (await client.get(path, headers=world.unit.headers)).status_code == 404
    assert (await client.get(path, headers=world.nurse_b.headers)).status_code == 404
    assert (await client.get(path, headers=world.admin.headers)).status_code == 403

    referred = await client.post(f"/cases/{case_id}/unit-referral", headers=write_headers(world.coordinator))
    assert referred.status_code == 200, referred.text
    versions = await client.get(path, headers=world.unit.headers)
    assert versions.status_code == 200, versions.text
    assert [v["version"] for v in versions.json()] == [1]
    async with sessions() as session:
        readers = (
            await session.scalars(
                select(AuditEntry.user_id).where(
                    AuditEntry.case_id == uuid.UUID(case_id), AuditEntry.action == "case.action_plan.read"
                )
            )
        ).all()
    assert readers == [world.unit.user_id]


@pytest.mark.parametrize(
    ("route", "model", "action"),
    [
        ("wishes", Wish, "case.wish.add"),
        ("medicine", Medicine, "case.medicine.add"),
        ("relatives", Relative, "case.relative.add"),
        ("status-notes", StatusNote, "case.status_note.add"),
        ("action-plan", ActionPlan, "case.action_plan.create"),
    ],
)
async def test_a_retried_write_returns_the_first_answer_and_writes_once(
    client: Client, world: World, clock: Clock, sessions: Sessions, route: str, model: Any, action: str
) -> None:
    case_id = await terminal_case(client, world, clock)
    body = _bodies(clock)[route]
    method = "PUT" if route == "action-plan" else "POST"
    headers = write_headers(world.nurse_a)
    first = await client.request(method, f"/cases/{case_id}/{route}", json=body, headers=headers)
    assert first.status_code in (200, 201), first.text
    retry = await client.request(method, f"/cases/{case_id}/{route}", json=body, headers=headers)
    assert retry.status_code == first.status_code
    assert retry.json() == first.json()

    changed = await client.request(
        method, f"/cases/{case_id}/{route}", json=body | {"unknown_extra": 1}, headers=headers
    )
    assert changed.status_code == 400  # an unknown field is refused before the key is looked at
    other = dict(body)
    text_field = next(k for k in ("discussed_with", "drug", "name", "text", "purpose") if k in body)
    other[text_field] = "Noget andet"
    reused = await client.request(method, f"/cases/{case_id}/{route}", json=other, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["field"] == "Idempotency-Key"

    cid = uuid.UUID(case_id)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(model.case_id == cid)) == 1
        audited = await session.scalar(
            select(func.count()).where(AuditEntry.case_id == cid, AuditEntry.action == action)
        )
    assert audited == 1


async def test_a_write_without_an_idempotency_key_is_refused(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    response = await client.post(
        f"/cases/{case_id}/status-notes", json=_bodies(clock)["status-notes"], headers=world.nurse_a.headers
    )
    assert response.status_code == 400
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(StatusNote.case_id == uuid.UUID(case_id))) == 0


async def test_a_record_marks_the_case_as_changed_in_the_list(client: Client, world: World, clock: Clock) -> None:
    case_id = await terminal_case(client, world, clock)
    before = (await client.get("/cases", headers=world.coordinator.headers)).json()["items"][0]["updated_at"]
    response = await client.post(
        f"/cases/{case_id}/status-notes", json=_bodies(clock)["status-notes"], headers=write_headers(world.nurse_a)
    )
    assert response.status_code == 201, response.text
    after = (await client.get("/cases", headers=world.coordinator.headers)).json()["items"][0]["updated_at"]
    assert datetime.fromisoformat(after) > datetime.fromisoformat(before)
