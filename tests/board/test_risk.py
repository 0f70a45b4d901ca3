"""Cases at risk: each reason for a case built to have it, the case page's flags for the same
cases, most reasons first, only live cases in the reader's scope, each case shown audited.

The clock stands at Wednesday 18 November 2026, 12:00 in Copenhagen. Unless a case is built to
lack them, it has unexpired medicine for every indication and met its referral deadlines, so it
shows only the reason it was built for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from backend.audit.models import AuditEntry
from backend.cases.models import Case, Indication, Medicine, Relative
from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import Client, Sessions, create_case, write_headers
from tests.factories import World
from tests.visits.coordination_helpers import add_rows, flag, local, world_at

TODAY = date(2026, 11, 18)
NOW = local(TODAY, 12)
LATER = date(2026, 12, 31)  # an expiry well beyond the 7 days' warning
SCORES = {"severe_score", "rising_score"}  # reasons from flags, not on the case page
# The case page names a deadline due soon `<name>_due_soon`; the board says `<name>_due`.
PAGE_NAMES = {"first_contact_due_soon": "first_contact_due", "assessment_due_soon": "assessment_due"}


@dataclass
class Board:
    world: World
    other: World
    cases: dict[str, str] = field(default_factory=dict)  # what the case was built for -> its id


async def _case(
    client: Client,
    sessions: Sessions,
    world: World,
    *,
    district: str = "a",
    received: date = date(2026, 10, 1),
    phase: str = "late",
    met: bool = True,
    medicine: bool = True,
) -> str:
    district_id = world.district_a if district == "a" else world.district_b
    created = await create_case(client, world.coordinator, district_id, received, phase=phase)
    case_id = uuid.UUID(created["id"])
    if met:
        async with sessions.begin() as session:
            await session.execute(
                update(Case).where(Case.id == case_id).values(first_contact_on=received, assessment_on=received)
            )
    if medicine:
        await add_rows(sessions, *(_medicine(world, case_id, i.value, LATER) for i in Indication))
    return str(case_id)


def _medicine(world: World, case_id: uuid.UUID | str, indication: str, expires_on: date) -> Medicine:
    return Medicine(
        case_id=uuid.UUID(str(case_id)),
        indication=indication,
        drug="Morfin",
        strength="10 mg/ml",
        quantity="5 ampuller",
        expires_on=expires_on,
        recorded_by=world.nurse_a.user_id,
    )


def _relative(case_id: str, birth_year: int, support_offered: bool | None) -> Relative:
    return Relative(
        case_id=uuid.UUID(case_id),
        name="Emil",
        relation="barnebarn",
        primary_contact=False,
        lives_with_citizen=True,
        consent_to_information=False,
        birth_year=birth_year,
        support_offered=support_offered,
    )


async def build(client: Client, sessions: Sessions, settings: Settings, clock: Clock) -> Board:
    world = await world_at(sessions, settings, clock, NOW)
    other = await world_at(sessions, settings, clock, NOW)
    board = Board(world, other)
    cases = board.cases

    async def make(name: str, **options: Any) -> str:
        cases[name] = await _case(client, sessions, world, **options)
        return cases[name]

    await make("clean")
    severe = await make("severe")
    rising = await make("rising")
    old_open = await make("old_open")
    await add_rows(
        sessions,
        flag(uuid.UUID(severe), "severe_score", NOW - timedelta(hours=2)),
        flag(uuid.UUID(rising), "rising_score", NOW - timedelta(hours=3)),
        # raised two hours ago, but a coordinator has dealt with it: no longer a reason
        flag(uuid.UUID(rising), "severe_score", NOW - timedelta(hours=2), resolved_at=NOW - timedelta(hours=1)),
        # nobody has dealt with it for three days (repeats join an open flag): still a reason
        flag(uuid.UUID(old_open), "severe_score", NOW - timedelta(days=3)),
    )

    # Terminal, no medicine for the death rattle, and the pain medicine expires in 3 days.
    terminal = await make("terminal_missing", phase="terminal", medicine=False)
    await add_rows(
        sessions,
        *(_medicine(world, terminal, i, LATER) for i in ("breathlessness", "nausea", "restlessness")),
        _medicine(world, terminal, "pain", TODAY + timedelta(days=3)),
    )
    expired = await make("expired")  # everything covered, and an old ampoule left in the drawer
    await add_rows(sessions, _medicine(world, expired, "pain", date(2026, 11, 10)))
    await make("no_medicine", medicine=False)  # the case page flags a home with no medicine at all

    child = await make("child")
    await add_rows(
        sessions,
        _relative(child, 2015, False),  # 11 this year, no support offered
        _relative(child, 2012, True),  # 14, offered
        _relative(child, 1980, None),  # an adult
    )
    # Received Monday 2 November, nothing met: first contact was due on the 9th, the assessment on the 16th.
    await make("overdue", received=date(2026, 11, 2), met=False)
    # Received Thursday 12 November: first contact due Thursday 19th, within 2 working days; assessment 26th.
    await make("first_contact_due", received=date(2026, 11, 12), met=False)
    # Received Thursday 5 November, first contact made: the assessment is due Thursday 19th.
    assessment_due = await make("assessment_due", received=date(2026, 11, 5), met=False)
    async with sessions.begin() as session:
        await session.execute(
            update(Case).where(Case.id == uuid.UUID(assessment_due)).values(first_contact_on=date(2026, 11, 6))
        )

    # Everything at once: a severe score now, terminal without medicine, a child, both deadlines overdue.
    many = await make("many", phase="terminal", received=date(2026, 11, 2), met=False, medicine=False)
    await add_rows(sessions, flag(uuid.UUID(many), "severe_score", NOW), _relative(many, 2015, None))

    admitted = await make("admitted", phase="terminal", met=False, medicine=False)  # not live
    in_b = await make("in_b", district="b")
    foreign = await _case(client, sessions, other, medicine=False)
    await add_rows(
        sessions,
        flag(uuid.UUID(admitted), "severe_score", NOW),
        flag(uuid.UUID(in_b), "severe_score", NOW),
        flag(uuid.UUID(foreign), "severe_score", NOW),
    )
    async with sessions.begin() as session:
        await session.execute(update(Case).where(Case.id == uuid.UUID(admitted)).values(status="admitted"))
        await session.execute(update(Case).where(Case.id == uuid.UUID(severe)).values(status="active"))
    return board


@pytest.fixture
async def board(client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock) -> Board:
    return await build(client, sessions, settings, restore_clock)


async def _at_risk(client: Client, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    response = await client.get("/board/at-risk", params=query, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _reasons(answer: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Case id -> reason code -> the reason."""
    return {item["case_id"]: {r["code"]: r for r in item["reasons"]} for item in answer["items"]}


async def test_each_reason_shows_on_the_case_built_for_it(client: Client, board: Board) -> None:
    answer = await _at_risk(client, board.world.coordinator.headers)
    shown = _reasons(answer)
    cases = board.cases
    codes = {name: set(shown.get(case_id, {})) for name, case_id in cases.items()}
    assert codes["clean"] == set()
    assert codes["severe"] == {"severe_score"}
    assert codes["rising"] == {"rising_score"}
    assert codes["old_open"] == {"severe_score"}
    assert codes["terminal_missing"] == {"medicine_missing", "medicine_expiring"}
    assert codes["expired"] == {"medicine_expired"}
    assert codes["no_medicine"] == {"medicine_missing"}
    assert codes["child"] == {"child_without_support"}
    assert codes["overdue"] == {"first_contact_overdue", "assessment_overdue"}
    assert codes["first_contact_due"] == {"first_contact_due"}
    assert codes["assessment_due"] == {"assessment_due"}
    assert codes["many"] == {
        "severe_score",
        "medicine_missing",
        "child_without_support",
        "first_contact_overdue",
        "assessment_overdue",
    }
    assert codes["admitted"] == set()  # admitted: not a live case at home
    assert codes["in_b"] == {"severe_score"}

    # What each reason says.
    assert shown[cases["severe"]]["severe_score"]["raised_at"] == (NOW - timedelta(hours=2)).isoformat().replace(
        "+00:00", "Z"
    )
    assert shown[cases["old_open"]]["severe_score"]["raised_at"] == (NOW - timedelta(days=3)).isoformat().replace(
        "+00:00", "Z"
    )
    terminal = shown[cases["terminal_missing"]]
    assert terminal["medicine_missing"]["indications"] == ["death_rattle"]
    assert terminal["medicine_expiring"]["on"] == "2026-11-21"
    assert shown[cases["expired"]]["medicine_expired"]["on"] == "2026-11-10"
    assert shown[cases["no_medicine"]]["medicine_missing"]["indications"] == [i.value for i in Indication]
    overdue = shown[cases["overdue"]]
    assert (overdue["first_contact_overdue"]["on"], overdue["assessment_overdue"]["on"]) == ("2026-11-09", "2026-11-16")
    assert shown[cases["first_contact_due"]]["first_contact_due"]["on"] == "2026-11-19"
    assert shown[cases["assessment_due"]]["assessment_due"]["on"] == "2026-11-19"

    # Most reasons first; nothing of another municipality; the whole answer fits under the bound.
    counts = [len(item["reasons"]) for item in answer["items"]]
    assert counts == sorted(counts, reverse=True)
    assert answer["items"][0]["case_id"] == cases["many"]
    assert answer["total"] == len(answer["items"]) == 12
    assert answer["limit"] == 200
    first = answer["items"][0]
    assert (first["name"], first["district_id"], first["status"], first["phase"]) == (
        "Karen Testesen",
        str(board.world.district_a),
        "referred",
        "terminal",
    )


async def test_the_reasons_agree_with_the_case_page_s_flags(client: Client, board: Board) -> None:
    answer = await _at_risk(client, board.world.coordinator.headers)
    for case_id, reasons in _reasons(answer).items():
        page = await client.get(f"/cases/{case_id}", headers=board.world.coordinator.headers)
        assert page.status_code == 200, page.text
        flags = {PAGE_NAMES.get(f, f) for f in page.json()["flags"]}
        assert set(reasons) - SCORES == flags, case_id


async def test_a_nurse_sees_her_district_and_the_unit_what_was_referred_to_it(
    client: Client, sessions: Sessions, board: Board
) -> None:
    world, cases = board.world, board.cases
    everyone = {item["case_id"] for item in (await _at_risk(client, world.coordinator.headers))["items"]}

    nurse_a = {item["case_id"] for item in (await _at_risk(client, world.nurse_a.headers))["items"]}
    assert nurse_a == everyone - {cases["in_b"]}
    nurse_b = {item["case_id"] for item in (await _at_risk(client, world.nurse_b.headers))["items"]}
    assert nurse_b == {cases["in_b"]}
    in_b = await _at_risk(client, world.key_person.headers, district_id=str(world.district_b))
    assert [item["case_id"] for item in in_b["items"]] == [cases["in_b"]]
    elsewhere = await _at_risk(client, board.other.coordinator.headers)
    assert not everyone & {item["case_id"] for item in elsewhere["items"]}

    assert (await _at_risk(client, world.unit.headers))["items"] == []
    response = await client.post(f"/cases/{cases['severe']}/unit-referral", headers=write_headers(world.coordinator))
    assert response.status_code == 200, response.text
    unit = await _at_risk(client, world.unit.headers)
    assert [item["case_id"] for item in unit["items"]] == [cases["severe"]]

    refused = await client.get("/board/at-risk", headers=world.admin.headers)
    assert refused.status_code == 403, refused.text


async def test_every_case_shown_is_an_audited_read(client: Client, sessions: Sessions, board: Board) -> None:
    world = board.world
    answer = await _at_risk(client, world.nurse_b.headers)
    async with sessions() as session:
        read = await session.scalars(
            select(AuditEntry.case_id).where(
                AuditEntry.user_id == world.nurse_b.user_id, AuditEntry.action == "board.at_risk"
            )
        )
        assert (
            sorted(str(c) for c in read) == sorted(item["case_id"] for item in answer["items"]) == [board.cases["in_b"]]
        )
