"""The board in Chromium while the hospital writes: an admission notice arrives while an alert
climbs, and the board shows the climb stopped, for that reason, without a reload; a letter
arrives, and the key person's board shows it unread."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.alerts.helpers import full_roster, raise_alert, raise_body
from tests.board.conftest import BoardServer
from tests.board.test_browser import card, log_in
from tests.cases.helpers import Sessions, create_case, write_headers
from tests.factories import World
from tests.messages.conftest import make_broker
from tests.messages.helpers import CARE_COMMUNICATIONS, EXAMPLE_CPR, JSON, example

try:
    from playwright.async_api import expect
except ImportError:  # the `browser` fixture skips every browser test, saying why
    expect = None


async def test_an_admission_notice_stops_a_climbing_alert_on_the_board(
    page: Any, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions
) -> None:
    await full_roster(api, world, server.clock)
    referred = server.clock.today() - timedelta(days=3)
    case = await create_case(api, world.coordinator, world.district_a, referred, cpr=EXAMPLE_CPR)
    broker = await make_broker(sessions, world.municipality_id, None)
    await log_in(page, server, world.coordinator)
    alert = await raise_alert(api, world.nurse_a, raise_body(case["id"], reason="pain", severity="critical"))
    row = card(page, alert["id"])
    await expect(row).to_contain_text("Trin 1 af 3", timeout=5_000)
    await page.evaluate("window.notReloaded = true")

    delivered = await api.post(
        "/messages/inbox", content=example("a5e5b880"), headers=broker.headers | {"Content-Type": JSON}
    )
    assert delivered.status_code == 202, delivered.text

    await expect(row).to_contain_text("Kald stoppet: borgeren er indlagt", timeout=10_000)
    assert await page.evaluate("window.notReloaded") is True
    answer = await api.get(f"/cases/{case['id']}", headers=world.coordinator.headers)
    assert answer.json()["status"] == "admitted"


async def test_a_letter_from_the_hospital_shows_as_unread_on_the_key_persons_board(
    page: Any, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions
) -> None:
    referred = server.clock.today() - timedelta(days=1)  # the citizen's newest case: the letter lands here
    case = await create_case(api, world.coordinator, world.district_a, referred, cpr=EXAMPLE_CPR)
    team = {"key_person_id": str(world.key_person.user_id)}
    answer = await api.put(f"/cases/{case['id']}/care-team", json=team, headers=write_headers(world.coordinator))
    assert answer.status_code == 200, answer.text
    broker = await make_broker(sessions, world.municipality_id, None)
    await log_in(page, server, world.key_person)
    badge = page.locator("#letters")
    await expect(badge).to_be_hidden()

    letter = example("add5e7e2", CARE_COMMUNICATIONS)
    delivered = await api.post("/messages/inbox", content=letter, headers=broker.headers | {"Content-Type": JSON})
    assert delivered.status_code == 202, delivered.text

    await expect(badge).to_have_text("✉ 1", timeout=10_000)
    await expect(badge).to_have_attribute("title", "1 ulæste breve fra læge og sygehus")
