"""Indicators cannot single anyone out: a small count is not shown, nor can it be worked back."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

from backend.clock import Clock
from tests.cases.helpers import Client, create_case, write_headers
from tests.factories import World


async def _died(client: Client, world: World, clock: Clock, district: uuid.UUID, place: str) -> None:
    case = await create_case(client, world.coordinator, district, clock.today() - timedelta(days=10))
    body = {"died_at": (clock.now() - timedelta(minutes=5)).isoformat(), "place": place, "gp_informed": True}
    response = await client.post(f"/cases/{case['id']}/death", json=body, headers=write_headers(world.coordinator))
    assert response.status_code == 201, response.text


async def _today(client: Client, world: World, clock: Clock, path: str = "/indicators", **query: Any) -> Any:
    day = clock.today().isoformat()
    response = await client.get(path, params={"from": day, "to": day, **query}, headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    return response


async def test_a_district_s_one_death_of_the_day_is_not_shown_with_its_place(
    client: Client, world: World, clock: Clock
) -> None:
    await _died(client, world, clock, world.district_b, "hospice")
    figures = (await _today(client, world, clock, district_id=str(world.district_b))).json()
    assert figures["deaths"]["total"] is None
    assert set(figures["deaths"]["by_place"].values()) == {None}
    assert figures["min_count"] == 5 and figures["suppressed"] >= 2

    csv_text = (await _today(client, world, clock, "/indicators.csv", district_id=str(world.district_b))).text
    table = {(indicator, key): value for indicator, key, value in csv.reader(io.StringIO(csv_text))}
    assert table[("deaths", "total")] == "" and table[("deaths", "by_place.hospice")] == ""
    assert table[("suppression", "min_count")] == "5"
    assert table[("suppression", "note")].startswith("Tal under 5 er udeladt")


async def test_a_small_place_count_cannot_be_worked_back_from_the_total(
    client: Client, world: World, clock: Clock
) -> None:
    for _ in range(5):
        await _died(client, world, clock, world.district_a, "home")
    await _died(client, world, clock, world.district_a, "hospital")
    deaths = (await _today(client, world, clock)).json()["deaths"]
    # Six deaths may be shown; but five at home beside the total would give the one in hospital back.
    assert deaths["total"] == 6
    assert set(deaths["by_place"].values()) == {None}

    for _ in range(4):
        await _died(client, world, clock, world.district_b, "hospital")
    deaths = (await _today(client, world, clock)).json()["deaths"]
    assert deaths["total"] == 10
    assert deaths["by_place"] == {"home": 5, "hospital": 5, "nursing_home": 0, "hospice": 0, "palliative_unit": 0}
