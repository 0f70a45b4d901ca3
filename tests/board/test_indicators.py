"""Quality indicators checked against a small data set computed by hand.

The arithmetic is checked with no count suppressed (`indicator_min_count` 1): the data set is
small, and the default would leave most of it out. What the default leaves out is checked in
tests/security/test_aggregates.py.

The clock stands at Wednesday 18 November 2026, 12:00 in Copenhagen; the period is 2-18 November
(no Danish public holiday, standard time throughout). Every figure below is worked out in the
comments from the rows the test writes, not by the code under test.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from backend.alerts.models import Alert
from backend.app import create_app
from backend.audit.models import AuditEntry
from backend.cases.models import Wish
from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import Client, Sessions, create_case, write_headers
from tests.factories import World
from tests.visits.coordination_helpers import add_rows, add_visit, local, world_at

TODAY = date(2026, 11, 18)
NOW = local(TODAY, 12)
FROM, TO = date(2026, 11, 2), TODAY
PERIOD = {"from": FROM.isoformat(), "to": TO.isoformat()}
BEFORE_PERIOD = date(2026, 10, 1)  # referral day of the cases that only carry deaths, alerts and visits


@pytest.fixture(scope="module")
async def client(settings: Settings, clock: Clock) -> AsyncIterator[Client]:
    """The app with no indicator suppressed, for this module's hand-computed figures."""
    exact = dataclasses.replace(settings, indicator_min_count=1, housekeeping=False)
    async with AsyncTestClient(app=create_app(exact, clock)) as test_client:
        yield test_client


@dataclass
class DataSet:
    world: World
    other: World  # another municipality: none of its rows may count


async def _case(
    client: Client, world: World, district: uuid.UUID, received: date, source: str = "hospital_ref01"
) -> str:
    body = {"referral": {"received_on": received.isoformat(), "source": source}}
    created = await create_case(client, world.coordinator, district, received, **body)
    return str(created["id"])


async def _wish(sessions: Sessions, world: World, case_id: str, place: str | None, at: datetime) -> None:
    dies_at_home = "yes" if place == "home" else "no"
    await add_rows(
        sessions,
        Wish(
            case_id=uuid.UUID(case_id),
            dies_at_home=dies_at_home,
            preferred_place_of_death=place,
            discussed_on=at.date(),
            discussed_with="Borger og datter",
            recorded_by=world.nurse_a.user_id,
            recorded_at=at,
        ),
    )


async def _death(client: Client, world: World, case_id: str, at: datetime, place: str) -> None:
    body = {"died_at": at.isoformat(), "place": place, "gp_informed": True}
    response = await client.post(f"/cases/{case_id}/death", json=body, headers=write_headers(world.coordinator))
    assert response.status_code == 201, response.text


def _alert(
    world: World,
    case_id: str,
    district: uuid.UUID,
    received: datetime,
    reason: str,
    *,
    ack: int | None = None,
    bedside: int | None = None,
    outcome: str | None = None,
) -> Alert:
    """An alert row as the engine leaves it: acknowledged `ack` and at the bedside `bedside` seconds after arrival."""
    status = "resolved" if outcome else "at_bedside" if bedside is not None else "acknowledged" if ack else "open"
    return Alert(
        id=uuid.uuid4(),
        municipality_id=world.municipality_id,
        district_id=district,
        case_id=uuid.UUID(case_id),
        reason=reason,
        severity="high",
        source="phone",
        raised_at=received,
        received_at=received,
        status=status,
        tiers=[],
        first_acknowledged_at=received + timedelta(seconds=ack) if ack is not None else None,
        at_bedside_at=received + timedelta(seconds=bedside) if bedside is not None else None,
        resolved_at=received + timedelta(hours=2) if outcome else None,
        outcome=outcome,
    )


async def _met(client: Client, world: World, case_id: str, first_contact: date | None, assessment: date | None) -> None:
    body = {"first_contact_on": first_contact and first_contact.isoformat()}
    if assessment:
        body["assessment_on"] = assessment.isoformat()
    response = await client.patch(f"/cases/{case_id}/referral", json=body, headers=write_headers(world.coordinator))
    assert response.status_code == 200, response.text


async def build(client: Client, sessions: Sessions, settings: Settings, clock: Clock) -> DataSet:
    world = await world_at(sessions, settings, clock, NOW)
    other = await world_at(sessions, settings, clock, NOW)
    a, b = world.district_a, world.district_b

    # ---- deaths: four in the period (three in A, one in B) --------------------------------------
    d1 = await _case(client, world, a, BEFORE_PERIOD)  # wished home, died at home
    await _wish(sessions, world, d1, "home", local(date(2026, 10, 5), 10))
    await _death(client, world, d1, local(date(2026, 11, 2), 0, 0), "home")  # the period's first instant
    d2 = await _case(client, world, a, BEFORE_PERIOD)  # wished home, died in hospital
    await _wish(sessions, world, d2, "home", local(date(2026, 10, 5), 10))
    await _death(client, world, d2, local(date(2026, 11, 10), 3), "hospital")
    d3 = await _case(client, world, b, BEFORE_PERIOD)  # no wish recorded, died in a hospice
    await _death(client, world, d3, local(date(2026, 11, 12), 14), "hospice")
    d4 = await _case(client, world, a, BEFORE_PERIOD)  # wished home once, then a nursing home: the newest counts
    await _wish(sessions, world, d4, "home", local(date(2026, 10, 5), 10))
    await _wish(sessions, world, d4, "nursing_home", local(date(2026, 10, 20), 10))
    await _death(client, world, d4, local(date(2026, 11, 18), 11, 30), "nursing_home")
    early = await _case(client, world, a, BEFORE_PERIOD)  # a minute before the period: not counted
    await _wish(sessions, world, early, "home", local(date(2026, 10, 5), 10))
    await _death(client, world, early, local(date(2026, 11, 1), 23, 59), "home")
    foreign = await _case(client, other, other.district_a, BEFORE_PERIOD)
    await _death(client, other, foreign, local(date(2026, 11, 5), 9), "hospital")

    # ---- alerts: seven in the period (six in A, one in B) ---------------------------------------
    live_a = await _case(client, world, a, BEFORE_PERIOD)
    live_b = await _case(client, world, b, BEFORE_PERIOD)
    foreign_live = await _case(client, other, other.district_a, BEFORE_PERIOD)
    day = date(2026, 11, 9)
    await add_rows(
        sessions,
        _alert(world, live_a, a, local(FROM, 0, 0), "pain", ack=60, bedside=600, outcome="managed_at_home"),
        _alert(world, live_a, a, local(day, 1), "pain", ack=120, bedside=900, outcome="admitted_to_hospital"),
        _alert(world, live_a, a, local(day, 2), "pain", ack=300, bedside=1200, outcome="died_at_home"),
        _alert(world, live_a, a, local(day, 3), "pain", ack=45, outcome="false_alarm"),
        _alert(world, live_b, b, local(day, 4), "pain", ack=30, bedside=1500, outcome="palliative_stay"),
        _alert(world, live_a, a, local(TO, 11), "fall"),  # open, nobody has taken it
        _alert(world, live_a, a, local(TO, 10), "breathlessness", ack=240, bedside=2000),  # still at the bedside
        _alert(world, live_a, a, local(date(2026, 11, 1), 23, 59), "pain", ack=1, bedside=1, outcome="false_alarm"),
        _alert(other, foreign_live, other.district_a, local(day, 5), "pain", ack=5, outcome="managed_at_home"),
    )

    # ---- planned visits: nine in the period (seven in A, two in B) ------------------------------
    for hour, status in ((8, "done"), (9, "done"), (10, "done"), (11, "missed"), (12, "cancelled"), (13, "under_way")):
        await add_visit(sessions, uuid.UUID(live_a), a, local(day, hour), status=status)
    await add_visit(sessions, uuid.UUID(live_a), a, local(TO, 20), status="planned")  # later on the last day
    await add_visit(sessions, uuid.UUID(live_b), b, local(day, 8), status="done")
    await add_visit(sessions, uuid.UUID(live_b), b, local(day, 9), status="done")
    await add_visit(sessions, uuid.UUID(live_a), a, local(day, 14), status="done", kind="ad_hoc")  # not planned
    await add_visit(sessions, uuid.UUID(live_a), a, local(day, 15), status="done", kind="acute")  # not planned
    await add_visit(sessions, uuid.UUID(live_a), a, local(date(2026, 11, 19), 8), status="planned")  # after
    await add_visit(sessions, uuid.UUID(live_a), a, local(date(2026, 11, 1), 23), status="done")  # before
    await add_visit(sessions, uuid.UUID(foreign_live), other.district_a, local(day, 8), status="missed")

    # ---- referrals: six received in the period (five in A, one in B) ---------------------------
    # Deadlines are 5 and 10 working days after the referral day.
    r1 = await _case(client, world, a, date(2026, 11, 2), "hospital_ref01")  # due 9 Nov / 16 Nov
    await _met(client, world, r1, date(2026, 11, 4), date(2026, 11, 12))  # both met
    r2 = await _case(client, world, a, date(2026, 11, 2), "gp_ref01")  # due 9 Nov / 16 Nov
    await _met(client, world, r2, date(2026, 11, 10), date(2026, 11, 13))  # first contact late, assessment met
    r3 = await _case(client, world, a, date(2026, 11, 3), "municipal")  # due 10 Nov / 17 Nov
    await _met(client, world, r3, date(2026, 11, 5), None)  # first contact met; assessment overdue since 18 Nov
    await _case(client, world, a, date(2026, 11, 4), "citizen")  # due 11 Nov (overdue) / 18 Nov (today: not due)
    await _case(client, world, a, date(2026, 11, 16), "relative")  # due 23 Nov / 30 Nov: neither due
    r6 = await _case(client, world, b, date(2026, 11, 9), "hospital_ref01")  # due 16 Nov / 23 Nov
    await _met(client, world, r6, date(2026, 11, 10), date(2026, 11, 17))  # both met
    await _case(client, world, a, date(2026, 10, 30), "gp_ref01")  # received before the period
    await _case(client, other, other.district_a, date(2026, 11, 5), "gp_ref01")
    return DataSet(world, other)


@pytest.fixture
async def data(client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock) -> DataSet:
    return await build(client, sessions, settings, restore_clock)


async def _get(client: Client, headers: dict[str, str], path: str = "/indicators", **query: Any) -> Any:
    response = await client.get(path, params=PERIOD | query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json() if path == "/indicators" else response


async def test_the_municipality_s_figures_equal_the_hand_computed_ones(client: Client, data: DataSet) -> None:
    got = await _get(client, data.world.coordinator.headers)
    assert (got["from"], got["to"], got["district_id"], got["as_of"]) == (
        "2026-11-02",
        "2026-11-18",
        None,
        "2026-11-18",
    )

    # Deaths d1..d4: places home, hospital, hospice, nursing home. Wishes: d1 home, d2 home, d4 nursing
    # home (its newest wish), d3 none -> 3 with a wish; d1 and d4 died where they wished: 2/3.
    assert got["deaths"] == {
        "total": 4,
        "by_place": {"home": 1, "nursing_home": 1, "hospice": 1, "hospital": 1, "palliative_unit": 0},
        "with_wish": 3,
        "died_where_wished": 2,
        "died_where_wished_share": pytest.approx(2 / 3),
        "confirmed_by_notice": 0,  # all typed: no hospital notice in this data set
    }

    # Alerts: 7 raised, 5 resolved; at home = managed + died at home + false alarm = 3, admitted = 2.
    alerts = got["alerts"]
    figures = ("raised", "resolved", "at_home", "admitted", "at_home_share", "at_home_then_admitted")
    assert {k: alerts[k] for k in (*figures, "admitted_confirmed_by_notice")} == {
        "raised": 7,
        "resolved": 5,
        "at_home": 3,
        "admitted": 2,
        "at_home_share": 3 / 5,
        "at_home_then_admitted": 0,
        "admitted_confirmed_by_notice": 0,
    }
    assert alerts["by_outcome"] == {
        "managed_at_home": 1,
        "palliative_stay": 1,
        "admitted_to_hospital": 1,
        "died_at_home": 1,
        "false_alarm": 1,
    }
    # percentile_cont: sorted values, linear interpolation at position p * (n - 1) from 0.
    # Acknowledged after [60, 120, 300, 45, 30, 240] s, sorted [30, 45, 60, 120, 240, 300], n = 6:
    # median at 2.5 -> 60 + 0.5 * (120 - 60) = 90; p90 at 4.5 -> 240 + 0.5 * (300 - 240) = 270.
    assert alerts["time_to_acknowledge"] == {
        "count": 6,
        "median_seconds": pytest.approx(60 + 0.5 * (120 - 60)),
        "p90_seconds": pytest.approx(240 + 0.5 * (300 - 240)),
    }
    # At the bedside after [600, 900, 1200, 1500, 2000] s, n = 5: median at 2 -> 1200;
    # p90 at 3.6 -> 1500 + 0.6 * (2000 - 1500) = 1800.
    assert alerts["time_to_bedside"] == {
        "count": 5,
        "median_seconds": pytest.approx(1200),
        "p90_seconds": pytest.approx(1500 + 0.6 * (2000 - 1500)),
    }

    # Planned visits: A done 3, missed 1, cancelled 1, under way 1, planned 1; B done 2.
    # 9 planned; done share = 5 / (9 - 1 cancelled) = 0.625.
    assert got["visits"] == {"planned": 9, "done": 5, "missed": 1, "cancelled": 1, "open": 2, "done_share": 0.625}

    # Referrals r1..r6. First contact: met r1, r3, r6; late r2; overdue r4; not due r5 -> 3 / 5.
    # Assessment: met r1, r2, r6; overdue r3; not due r4 (due today), r5 -> 3 / 4 = 0.75 < 0.9.
    assert got["referrals"] == {
        "total": 6,
        "by_source": {"hospital_ref01": 2, "gp_ref01": 1, "municipal": 1, "citizen": 1, "relative": 1},
        "first_contact": {"met": 3, "met_late": 1, "overdue": 1, "not_due": 1, "decided": 5, "met_share": 0.6},
        "assessment": {"met": 3, "met_late": 0, "overdue": 1, "not_due": 2, "decided": 4, "met_share": 0.75},
        "target": 0.9,
        "meets_target": False,
    }


async def test_a_district_counts_only_its_own_rows(client: Client, data: DataSet) -> None:
    world = data.world
    got = await _get(client, world.key_person.headers, district_id=str(world.district_a))
    assert got["district_id"] == str(world.district_a)
    # Deaths d1, d2, d4 (d3 was in B): all three had a wish, d1 and d4 died where they wished.
    assert got["deaths"]["total"] == 3
    assert got["deaths"]["by_place"]["hospice"] == 0
    assert (got["deaths"]["with_wish"], got["deaths"]["died_where_wished"]) == (3, 2)
    # Alerts without B's palliative stay: 6 raised, 4 resolved, 3 at home, 1 admitted.
    # Acknowledged [45, 60, 120, 240, 300]: median 120, p90 at 3.6 -> 240 + 0.6 * 60 = 276.
    # At the bedside [600, 900, 1200, 2000]: median at 1.5 -> 900 + 0.5 * 300 = 1050;
    # p90 at 2.7 -> 1200 + 0.7 * 800 = 1760.
    alerts = got["alerts"]
    assert (alerts["raised"], alerts["resolved"], alerts["at_home"], alerts["admitted"]) == (6, 4, 3, 1)
    assert alerts["at_home_share"] == 0.75
    assert alerts["time_to_acknowledge"] == {
        "count": 5,
        "median_seconds": pytest.approx(120),
        "p90_seconds": pytest.approx(240 + 0.6 * 60),
    }
    assert alerts["time_to_bedside"] == {
        "count": 4,
        "median_seconds": pytest.approx(900 + 0.5 * 300),
        "p90_seconds": pytest.approx(1200 + 0.7 * 800),
    }
    # Visits: 7 planned, 3 done, 1 missed, 1 cancelled, 2 open: 3 / 6 = 0.5.
    assert got["visits"] == {"planned": 7, "done": 3, "missed": 1, "cancelled": 1, "open": 2, "done_share": 0.5}
    # Referrals r1..r5: first contact met r1, r3 of decided r1..r4 -> 0.5; assessment met r1, r2 of r1..r3.
    referrals = got["referrals"]
    assert referrals["total"] == 5
    assert referrals["by_source"]["hospital_ref01"] == 1
    assert referrals["first_contact"]["met_share"] == 0.5
    assert referrals["assessment"]["met_share"] == pytest.approx(2 / 3)

    # District B: r6 met both deadlines, so B meets the 90 % target; its only death had no wish.
    b = await _get(client, world.coordinator.headers, district_id=str(world.district_b))
    assert b["referrals"]["assessment"]["met_share"] == 1.0
    assert b["referrals"]["meets_target"] is True
    assert b["deaths"] == {
        "total": 1,
        "by_place": {"home": 0, "nursing_home": 0, "hospice": 1, "hospital": 0, "palliative_unit": 0},
        "with_wish": 0,
        "died_where_wished": 0,
        "died_where_wished_share": None,
        "confirmed_by_notice": 0,
    }


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found |= _flatten(f"{prefix}.{key}" if prefix else key, inner)
        return found
    return {prefix: value}


async def test_the_csv_holds_the_same_figures(client: Client, data: DataSet) -> None:
    headers = data.world.coordinator.headers
    got = await _get(client, headers)
    response = await _get(client, headers, "/indicators.csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        response.headers["content-disposition"] == 'attachment; filename="lindra-indicators-2026-11-02-2026-11-18.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["indicator", "key", "value"]
    table = {(indicator, key): value for indicator, key, value in rows[1:]}
    assert len(table) == len(rows) - 1  # one row per figure
    assert table[("period", "from")] == "2026-11-02"
    assert table[("period", "district_id")] == ""
    assert table[("deaths", "died_where_wished_share")] == str(2 / 3)
    assert table[("deaths", "by_place.home")] == "1"
    assert table[("alerts", "time_to_bedside.median_seconds")] == "1200.0"
    assert table[("visits", "done_share")] == "0.625"
    assert table[("referrals", "meets_target")] == "false"
    expected = {
        (indicator, key): "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        for indicator in ("deaths", "alerts", "visits", "referrals")
        for key, value in _flatten("", got[indicator]).items()
    }
    assert {k: v for k, v in table.items() if k[0] not in ("period", "suppression")} == expected
    assert (table[("suppression", "min_count")], table[("suppression", "suppressed")]) == ("1", "0")


async def test_reading_indicators_writes_one_audit_row_naming_no_case(
    client: Client, sessions: Sessions, data: DataSet
) -> None:
    world = data.world
    await _get(client, world.coordinator.headers, district_id=str(world.district_a))
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.user_id == world.coordinator.user_id, AuditEntry.action == "indicators.read"
                )
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].case_id is None
    assert rows[0].detail == {"from": "2026-11-02", "to": "2026-11-18", "district_id": str(world.district_a)}


async def test_the_administrator_reads_aggregates_only_and_a_nurse_or_the_unit_is_refused(
    client: Client, sessions: Sessions, data: DataSet
) -> None:
    world = data.world
    response = await client.get("/indicators", params=PERIOD, headers=world.admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["deaths"]["total"] == 4
    async with sessions() as session:
        names = await session.scalars(select(Alert.case_id).where(Alert.municipality_id == world.municipality_id))
        case_ids = {str(case_id) for case_id in names}
    assert case_ids and not any(case_id in response.text for case_id in case_ids)
    assert "Karen" not in response.text
    for login in (world.nurse_a, world.unit):
        for path in ("/indicators", "/indicators.csv"):
            refused = await client.get(path, params=PERIOD, headers=login.headers)
            assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ({"from": "2026-11-18", "to": "2026-11-17"}, 422, "to"),  # to before from: a rule, not a form
        ({"from": "2025-11-17", "to": "2026-11-18"}, 422, "to"),  # 367 days; 366 is the most
        ({"to": "2026-11-18"}, 400, "from"),
        ({"from": "2026-11-31", "to": "2026-12-01"}, 400, "from"),  # no such day: named as the caller wrote it
    ],
)
async def test_a_bad_period_is_refused_naming_the_field(
    client: Client, world: World, query: dict[str, str], status: int, field: str
) -> None:
    response = await client.get("/indicators", params=query, headers=world.coordinator.headers)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


async def test_a_year_of_366_days_is_allowed_and_a_foreign_district_is_refused(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    world = await world_at(sessions, settings, restore_clock, NOW)
    other = await world_at(sessions, settings, restore_clock, NOW)
    longest = {"from": "2027-01-01", "to": "2028-01-01"}  # 365 + 1 days
    response = await client.get("/indicators", params=longest, headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    response = await client.get(
        "/indicators.csv", params=PERIOD | {"district_id": str(other.district_a)}, headers=world.coordinator.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "district_id"
