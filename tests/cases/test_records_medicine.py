"""Anticipatory medicine in the home: what is missing, what expires, what was taken away."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from backend.audit.models import AuditEntry
from backend.cases.models import Medicine
from backend.clock import Clock
from tests.cases.helpers import (
    Client,
    Sessions,
    add_record,
    audit_details,
    case_page,
    case_rows,
    terminal_case,
    write_headers,
)
from tests.factories import World


def _medicine(clock: Clock, indication: str, days: int = 90, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "indication": indication,
        "drug": "Morfin",
        "strength": "10 mg/ml",
        "quantity": "5 ampuller",
        "expires_on": (clock.today() + timedelta(days=days)).isoformat(),
    }
    return body | overrides


async def test_a_terminal_case_missing_three_indications_is_flagged_until_all_five_are_in_the_home(
    client: Client, world: World, clock: Clock
) -> None:
    case_id = await terminal_case(client, world, clock)
    await add_record(client, world, case_id, "medicine", _medicine(clock, "pain"))
    await add_record(client, world, case_id, "medicine", _medicine(clock, "nausea", drug="Haloperidol"))

    page = await case_page(client, world, case_id)
    assert "medicine_missing" in page["flags"]
    assert page["medicine"]["missing"] == ["breathlessness", "restlessness", "death_rattle"]
    assert sorted(m["indication"] for m in page["medicine"]["items"]) == ["nausea", "pain"]

    for indication in ("breathlessness", "restlessness", "death_rattle"):
        await add_record(client, world, case_id, "medicine", _medicine(clock, indication))
    page = await case_page(client, world, case_id)
    assert page["medicine"]["missing"] == []
    assert "medicine_missing" not in page["flags"]


async def test_medicine_expiring_in_three_days_is_flagged(client: Client, world: World, clock: Clock) -> None:
    case_id = await terminal_case(client, world, clock)
    added = await add_record(client, world, case_id, "medicine", _medicine(clock, "pain", days=3))
    assert added["state"] == "expires_soon"

    page = await case_page(client, world, case_id)
    assert page["medicine"]["expiring_soon"] == [added["id"]]
    assert page["medicine"]["items"][0]["state"] == "expires_soon"
    assert "medicine_expiring" in page["flags"]


async def test_removed_medicine_leaves_the_page_but_stays_on_record(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    pain = await add_record(client, world, case_id, "medicine", _medicine(clock, "pain"))

    removed = await client.post(
        f"/cases/{case_id}/medicine/{pain['id']}/remove", json={"reason": "used"}, headers=write_headers(world.nurse_a)
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["id"] == pain["id"]

    page = await case_page(client, world, case_id)
    assert page["medicine"]["items"] == []
    assert "pain" in page["medicine"]["missing"]
    [row] = await case_rows(sessions, Medicine, case_id)
    assert row.removed_at is not None

    again = await client.post(
        f"/cases/{case_id}/medicine/{pain['id']}/remove", json={"reason": "used"}, headers=write_headers(world.nurse_a)
    )
    assert again.status_code == 409
    assert again.json()["rule"] == "already_removed"
    unknown = await client.post(
        f"/cases/{case_id}/medicine/{uuid.uuid4()}/remove",
        json={"reason": "used"},
        headers=write_headers(world.nurse_a),
    )
    assert unknown.status_code == 404

    details = await audit_details(sessions, case_id, "case.medicine.remove")
    assert details == [{"medicine_id": pain["id"], "reason": "used"}]


async def test_medicine_of_another_case_cannot_be_removed_through_this_one(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    other_id = await terminal_case(client, world, clock)
    theirs = await add_record(client, world, other_id, "medicine", _medicine(clock, "pain"))
    response = await client.post(
        f"/cases/{case_id}/medicine/{theirs['id']}/remove",
        json={"reason": "other"},
        headers=write_headers(world.nurse_a),
    )
    assert response.status_code == 404
    [row] = await case_rows(sessions, Medicine, other_id)
    assert row.removed_at is None


async def test_medicine_can_be_cleared_from_the_home_after_death_but_not_added(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    pain = await add_record(client, world, case_id, "medicine", _medicine(clock, "pain"))
    died = await client.post(
        f"/cases/{case_id}/death",
        json={"died_at": clock.now().isoformat(), "place": "home", "gp_informed": True},
        headers=write_headers(world.nurse_a),
    )
    assert died.status_code == 201, died.text

    added = await client.post(
        f"/cases/{case_id}/medicine", json=_medicine(clock, "nausea"), headers=write_headers(world.nurse_a)
    )
    assert added.status_code == 422
    assert added.json()["rule"] == "case_ended"
    removed = await client.post(
        f"/cases/{case_id}/medicine/{pain['id']}/remove",
        json={"reason": "discarded"},
        headers=write_headers(world.nurse_a),
    )
    assert removed.status_code == 200, removed.text
    [row] = await case_rows(sessions, Medicine, case_id)
    assert row.indication == "pain" and row.removed_at is not None


async def test_bad_medicine_is_refused_naming_the_field_and_nothing_is_written(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id = await terminal_case(client, world, clock)
    bad_inputs = [
        (_medicine(clock, "sleeplessness"), 400, "indication"),
        (_medicine(clock, "pain", drug="M" * 121), 400, "drug"),
        (_medicine(clock, "pain", strength=""), 400, "strength"),
        (_medicine(clock, "pain", expires_on="31-12-2030"), 400, "expires_on"),
        (_medicine(clock, "pain", route="sc"), 400, "route"),
        (_medicine(clock, "pain", days=-1), 422, "expires_on"),
        (_medicine(clock, "pain", quantity="  "), 422, "quantity"),
        (_medicine(clock, "pain", drug="Morfin\x00"), 400, "drug"),  # a control character: not a form
    ]
    for body, status, field in bad_inputs:
        response = await client.post(f"/cases/{case_id}/medicine", json=body, headers=write_headers(world.nurse_a))
        assert response.status_code == status, (field, response.text)
        assert response.json()["field"] == field, response.text
    assert await case_rows(sessions, Medicine, case_id) == []
    bad_reason = await client.post(
        f"/cases/{case_id}/medicine/{uuid.uuid4()}/remove",
        json={"reason": "lost"},
        headers=write_headers(world.nurse_a),
    )
    assert bad_reason.status_code == 400
    assert bad_reason.json()["field"] == "reason"
    async with sessions() as session:
        audited = await session.scalar(
            select(func.count()).where(
                AuditEntry.case_id == uuid.UUID(case_id), AuditEntry.action.like("case.medicine.%")
            )
        )
    assert audited == 0
