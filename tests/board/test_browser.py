"""The board in a real browser: log in, follow alerts live, act on them, survive a dropped line.

Headless Chromium (Debian's) drives the page served by the real app; alerts are raised through
the API meanwhile, as phones and other boards would, and what the page did is checked in the
database. Screenshots of both themes land in tests/board/screenshots/ (ignored by git).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from backend.alerts.models import Alert
from backend.board.page import STATIC_DIR as STATIC
from backend.clock import Clock
from backend.people.models import User
from backend.visits.models import Visit
from tests.alerts.helpers import full_roster, raise_alert, raise_body
from tests.board.conftest import SCREENSHOTS, BoardServer
from tests.cases.helpers import Client, Sessions, create_case, write_headers
from tests.factories import PASSWORD, Login, World
from tests.visits.coordination_helpers import add_rows, add_visit, assessment, flag, medicine

try:
    from playwright.async_api import Page, WebSocketRoute, expect
except ImportError:  # the `browser` fixture skips every browser test, saying why
    Page = WebSocketRoute = Any
    expect = None

# ---- helpers ----------------------------------------------------------------------------------


async def log_in(page: Page, server: BoardServer, login: Login) -> None:
    """Through the login form, as a person would; done when the live feed is connected."""
    await page.goto(f"{server.url}/board")
    await page.fill("#login-email", login.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=10_000)


async def new_case(
    api: httpx.AsyncClient,
    world: World,
    clock: Clock,
    name: str,
    district: uuid.UUID | None = None,
    phase: str = "terminal",
) -> str:
    referred = clock.today() - timedelta(days=3)
    created = await create_case(api, world.coordinator, district or world.district_a, referred, name=name, phase=phase)
    return str(created["id"])


# Names for the screenshots (the factories call everyone "Test Person").
NAMES = {
    "nurse_a": ("Mette Kjærgaard", True),
    "nurse_b": ("Jonas Bech", False),
    "coordinator": ("Birgitte Krogsgaard", False),
    "key_person": ("Camilla Vestergaard", True),
    "unit": ("Anne Friis, overlæge", True),
}


async def name_people(sessions: Sessions, world: World) -> None:
    async with sessions.begin() as session:
        for key, (full_name, skilled) in NAMES.items():
            await session.execute(
                update(User)
                .where(User.id == world.users[key].user_id)
                .values(full_name=full_name, palliative_skilled=skilled)
            )


def card(page: Page, alert_id: str) -> Any:
    return page.locator(f'article.alert[data-alert-id="{alert_id}"]')


async def alert_row(sessions: Sessions, alert_id: str) -> Alert:
    async with sessions() as session:
        return await session.get_one(Alert, uuid.UUID(alert_id))


# ---- the page itself --------------------------------------------------------------------------

# A script, style sheet, image, module or call fetched from another host (the SVG namespace URI is not one).
REMOTE = re.compile(
    r"""(?:src|href)\s*=\s*["']https?:|from\s+["']https?:|url\(\s*["']?https?:|fetch\(\s*["'`]https?:"""
)


async def test_the_page_is_served_from_the_package_under_a_strict_policy(client: Client) -> None:
    for path in ("/board", "/board/"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/board/js/main.js">' in response.text
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "connect-src 'self' ws: wss:" in policy
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    script = await client.get("/board/js/main.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    # Nothing from the internet at run time, and nothing inline for the policy to refuse.
    for name in ("index.html", "board.css", *(f"js/{p.name}" for p in (STATIC / "js").glob("*.js"))):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not REMOTE.search(text), name
        assert " style=" not in text and "<script>" not in text, name
    assert (await client.get("/board/nothing-here.js")).status_code == 404


# ---- login, a live alert, its countdown, acknowledging it -----------------------------------------


async def test_an_alert_raised_elsewhere_appears_live_counts_down_and_stops_when_acknowledged(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions
) -> None:
    await full_roster(api, world, server.clock)
    case_id = await new_case(api, world, server.clock, "Inger Holm")
    await log_in(page, server, world.coordinator)
    await expect(page.locator("#alerts-title")).to_contain_text("Alarmer")
    await page.evaluate("window.notReloaded = true")

    started = time.monotonic()
    alert = await raise_alert(api, world.nurse_a, raise_body(case_id, reason="pain", severity="critical"))
    row = card(page, alert["id"])
    await expect(row).to_be_visible(timeout=2_000)
    assert time.monotonic() - started < 2.0
    await expect(row).to_contain_text("Kritisk")
    await expect(row).to_contain_text("Smerter")
    await expect(row).to_contain_text("Inger Holm")
    await expect(row).to_contain_text("Trin 1 af 3")

    # The countdown runs against the server's clock (hours ahead of the browser's here).
    countdown = row.locator(".countdown")
    await expect(countdown).to_have_text(re.compile(r"^[45]:\d\d$"))
    first = await countdown.text_content()
    await asyncio.sleep(1.5)
    second = await countdown.text_content()
    assert first != second, (first, second)

    # By keyboard: the focused button keeps its focus while another alert arrives and the list is
    # rebuilt, and Enter acknowledges.
    await row.get_by_role("button", name="Kvitter").focus()
    other = await raise_alert(api, world.nurse_a, raise_body(case_id, reason="nausea", severity="normal"))
    await expect(card(page, other["id"])).to_be_visible(timeout=2_000)
    await expect(row.get_by_role("button", name="Kvitter")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(row).to_have_attribute("data-status", "acknowledged")
    await expect(row).to_contain_text("Kvitteret af")
    # The tier's countdown is gone; the holder's own clock runs (10 minutes for a critical alert).
    await expect(row.locator(".countdown")).to_have_count(1)
    await expect(row.locator(".progress")).to_contain_text("Ikke meldt på vej – kaldes igen om")
    await expect(row.locator(".progress .countdown")).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))

    # The climb stopped: no deadline left, and the sweeps (every second) move it no further.
    stopped = await alert_row(sessions, alert["id"])
    assert stopped.status == "acknowledged"
    assert stopped.acknowledged_by == world.coordinator.user_id
    assert stopped.next_escalation_at is None
    await asyncio.sleep(1.5)
    assert (await alert_row(sessions, alert["id"])).tier == stopped.tier == 0
    assert await page.evaluate("window.notReloaded") is True


async def test_acknowledging_what_a_colleague_took_first_says_who_has_it(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World
) -> None:
    await full_roster(api, world, server.clock)
    case_id = await new_case(api, world, server.clock, "Poul Madsen")
    await log_in(page, server, world.coordinator)
    alert = await raise_alert(api, world.nurse_a, raise_body(case_id, reason="breathlessness", severity="high"))
    row = card(page, alert["id"])
    await expect(row).to_be_visible(timeout=2_000)
    # Stop the page's live updates for a moment so it still offers "Kvitter" after the nurse took it.
    await page.evaluate("window.lindraBoard.live.stop()")
    response = await api.post(f"/alerts/{alert['id']}/acknowledge", headers=write_headers(world.nurse_a))
    assert response.status_code == 200, response.text
    await row.get_by_role("button", name="Kvitter").click()
    await expect(page.locator("#toast")).to_contain_text("has this alert")
    await expect(row).to_have_attribute("data-status", "acknowledged")


async def test_an_acknowledged_alert_nobody_moves_on_shows_its_recall_clock_then_climbs_again(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions
) -> None:
    await full_roster(api, world, server.clock)
    case_id = await new_case(api, world, server.clock, "Karen Lund")
    await log_in(page, server, world.coordinator)
    alert = await raise_alert(api, world.nurse_a, raise_body(case_id, reason="pain", severity="critical"))
    taken = await api.post(f"/alerts/{alert['id']}/acknowledge", headers=write_headers(world.nurse_a))
    assert taken.status_code == 200, taken.text
    row = card(page, alert["id"])
    await expect(row.locator(".progress")).to_contain_text("Ikke meldt på vej – kaldes igen om")

    async def clock_runs_out(acknowledged_minutes_ago: int) -> None:
        """The clock's deadline is now (rows are the truth): the server's own sweep acts on it."""
        now = server.clock.now()
        async with sessions.begin() as session:
            await session.execute(
                update(Alert)
                .where(Alert.id == uuid.UUID(alert["id"]))
                .values(acknowledged_at=now - timedelta(minutes=acknowledged_minutes_ago), progress_due_at=now)
            )

    # Ten minutes without "on the way": the nurse is called again, and the board counts to the return.
    await clock_runs_out(10)
    progress = row.locator(".progress")
    await expect(progress).to_contain_text("Kaldt igen – tilbage til eskalering om", timeout=5_000)
    await expect(progress.locator(".countdown")).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))
    assert (await alert_row(sessions, alert["id"])).recalled_at is not None

    # Ten more: her acknowledgement is released and the next tier is called, live on the board.
    await clock_runs_out(20)
    await expect(row).to_have_attribute("data-status", "open", timeout=5_000)
    await expect(row).to_contain_text("Trin 2 af 3")
    await expect(row.locator(".progress")).to_have_count(0)
    await expect(row.get_by_role("button", name="Kvitter")).to_be_visible()


@pytest.mark.parametrize("server", [{"access_token_minutes": 1}], indirect=True)
async def test_the_token_is_renewed_before_it_expires_and_the_open_socket_keeps_going(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World
) -> None:
    await full_roster(api, world, server.clock)
    case_id = await new_case(api, world, server.clock, "Aase Berg")
    await log_in(page, server, world.coordinator)
    first = await page.evaluate("window.lindraBoard.api.access")
    # A one-minute token is renewed after 5 s (a minute early is at once); the new one goes over the socket.
    await page.wait_for_function("token => window.lindraBoard.api.access !== token", arg=first, timeout=10_000)
    alert = await raise_alert(api, world.nurse_a, raise_body(case_id, reason="bleeding"))
    await expect(card(page, alert["id"])).to_be_visible(timeout=2_000)
    stats = await page.evaluate("window.lindraBoard.live.stats")
    assert stats["connects"] == 1, stats  # the same socket all along
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected")


# ---- a dropped connection ------------------------------------------------------------------------


async def test_a_dropped_connection_shows_and_recovers_with_nothing_missed(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World
) -> None:
    await full_roster(api, world, server.clock)
    cases = [await new_case(api, world, server.clock, name) for name in ("Ella Jørgensen", "Svend Nielsen")]
    # The line between browser and server, under the test's control: cut it and refuse reconnects.
    line: dict[str, Any] = {"up": True, "routes": []}

    async def route(ws: WebSocketRoute) -> None:
        if not line["up"]:
            await ws.close(code=1011, reason="network down")
            return
        ws.connect_to_server()
        line["routes"].append(ws)

    await page.route_web_socket(re.compile(r"/ws$"), route)
    await log_in(page, server, world.coordinator)
    await page.evaluate("window.notReloaded = true")
    before = await raise_alert(api, world.nurse_a, raise_body(cases[0], reason="pain"))
    await expect(card(page, before["id"])).to_be_visible(timeout=2_000)

    line["up"] = False
    for ws in line["routes"]:
        await ws.close(code=1011, reason="network down")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    await expect(page.locator("#conn")).to_contain_text("Genopretter forbindelse")

    # Meanwhile: a new alert, and the one on the board is acknowledged by the nurse.
    missed = await raise_alert(api, world.key_person, raise_body(cases[1], reason="fall", severity="high"))
    taken = await api.post(f"/alerts/{before['id']}/acknowledge", headers=write_headers(world.nurse_a))
    assert taken.status_code == 200, taken.text
    await asyncio.sleep(1.0)
    await expect(card(page, missed["id"])).to_have_count(0)

    line["up"] = True
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=20_000)
    await expect(page.locator("#conn")).to_have_text("Forbundet")
    await expect(card(page, missed["id"])).to_be_visible(timeout=2_000)
    await expect(card(page, missed["id"])).to_contain_text("Fald")
    await expect(card(page, before["id"])).to_have_attribute("data-status", "acknowledged")
    # Replayed by the server from the last event id the page had seen, not re-read wholesale.
    stats = await page.evaluate("window.lindraBoard.live.stats")
    assert stats["connects"] >= 2 and stats["replayed"] >= 2, stats
    assert await page.evaluate("window.notReloaded") is True


# ---- language ------------------------------------------------------------------------------------


async def test_the_english_switch_changes_every_label_and_back(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World
) -> None:
    await full_roster(api, world, server.clock)
    case_id = await new_case(api, world, server.clock, "Birthe Larsen")
    await raise_alert(api, world.nurse_a, raise_body(case_id, reason="nausea", severity="normal"))
    await log_in(page, server, world.coordinator)
    await expect(page.locator("article.alert")).to_contain_text("Kvalme/opkast")

    await page.get_by_role("button", name="Switch to English").click()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(page.locator("#alerts-title")).to_contain_text("Alerts")
    await expect(page.locator("article.alert")).to_contain_text("Nausea/vomiting")
    await expect(page.locator("article.alert").get_by_role("button", name="Acknowledge")).to_be_visible()
    await expect(page.locator("#visits-title")).to_have_text("Tonight's visits")
    await expect(page.locator("#oncall-title")).to_have_text("On call now")
    await expect(page.locator("#risk-title")).to_contain_text("Cases at risk")
    await expect(page.locator("#conn")).to_have_text("Connected")
    await expect(page.locator("#logout")).to_have_text("Log out")

    await page.get_by_role("button", name="Skift til dansk").click()
    await expect(page.locator("#alerts-title")).to_contain_text("Alarmer")
    await expect(page.locator("article.alert").get_by_role("button", name="Kvitter")).to_be_visible()


# ---- the palliative unit -------------------------------------------------------------------------


async def test_the_palliative_unit_sees_the_escalation_live_and_records_its_decision(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions
) -> None:
    await full_roster(api, world, server.clock)
    case_id = await new_case(api, world, server.clock, "Henning Dahl")
    await log_in(page, server, world.unit)
    await expect(page.locator("#alerts-title")).to_contain_text("Eskaleringer til os")
    await expect(page.locator("#raise")).to_be_hidden()

    alert = await raise_alert(api, world.nurse_a, raise_body(case_id, reason="restlessness", severity="critical"))
    for _ in range(2):  # the coordinator escalates by hand: key person, then the unit and the team
        response = await api.post(f"/alerts/{alert['id']}/escalate", headers=write_headers(world.coordinator))
        assert response.status_code == 200, response.text
    row = card(page, alert["id"])
    await expect(row).to_be_visible(timeout=2_000)
    await expect(row).to_contain_text("Trin 3 af 3")
    await expect(row).to_contain_text("Afdeling for Lindring")

    await row.get_by_role("button", name="Borger").click()
    await expect(page.locator("#case-title")).to_have_text("Henning Dahl")
    await expect(page.locator("#case-body")).to_contain_text("Medicin i hjemmet")
    await page.keyboard.press("Escape")
    await expect(page.locator("#case-panel")).to_be_hidden()

    await row.get_by_role("button", name="Registrér beslutning").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_label("Beslutning").select_option("outreach_visit")
    await dialog.get_by_label("Note (valgfri)").fill("Udgående læge kører ud kl. 03")
    await dialog.get_by_role("button", name="Registrér beslutning").click()
    await expect(dialog).to_have_count(0)
    await expect(row).to_have_attribute("data-status", "resolved")

    decided = await alert_row(sessions, alert["id"])
    assert (decided.status, decided.unit_decision, decided.outcome) == (
        "resolved",
        "outreach_visit",
        "managed_at_home",
    )
    assert decided.resolved_by == world.unit.user_id


# ---- the whole board: visits, reassigning, the case panel, risk, indicators, screenshots ----------


async def night_scene(api: httpx.AsyncClient, world: World, clock: Clock, sessions: Sessions) -> dict[str, Any]:
    """A night as a coordinator meets it: alerts of every severity, visits in every state, a case
    with everything a caller needs, a death at home, and roster gaps."""
    await name_people(sessions, world)
    await full_roster(api, world, clock)
    now = clock.now()
    inger = await new_case(api, world, clock, "Inger Holm")
    poul = await new_case(api, world, clock, "Poul Madsen", district=world.district_b)
    birthe = await new_case(api, world, clock, "Birthe Larsen", phase="late")
    svend = await new_case(api, world, clock, "Svend Nielsen")

    async def record(case_id: str, route: str, body: dict[str, Any], method: str = "POST") -> None:
        response = await api.request(
            method, f"/cases/{case_id}/{route}", json=body, headers=write_headers(world.coordinator)
        )
        assert response.status_code in (200, 201), response.text

    today = clock.today()
    await record(
        inger,
        "wishes",
        {
            "dies_at_home": "yes",
            "preferred_place_of_death": "home",
            "discussed_on": today.isoformat(),
            "discussed_with": "Inger og datteren Lene",
        },
    )
    for indication, drug, days in (
        ("pain", "Morfin 10 mg/ml", 60),
        ("breathlessness", "Morfin 5 mg/ml", 60),
        ("nausea", "Haloperidol 5 mg/ml", 4),
    ):
        await record(
            inger,
            "medicine",
            {
                "indication": indication,
                "drug": drug,
                "strength": "1 ml",
                "quantity": "5 ampuller",
                "expires_on": (today + timedelta(days=days)).isoformat(),
            },
        )
    await record(
        inger,
        "relatives",
        {
            "name": "Lene Holm",
            "relation": "datter",
            "phone": "+45 20 30 40 50",
            "primary_contact": True,
            "lives_with_citizen": False,
            "consent_to_information": True,
        },
    )
    await record(
        inger,
        "relatives",
        {
            "name": "Oscar Holm",
            "relation": "barnebarn",
            "primary_contact": False,
            "lives_with_citizen": True,
            "consent_to_information": True,
            "birth_year": today.year - 9,
        },
    )
    team = {
        "key_person_id": str(world.key_person.user_id),
        "contact_person_id": str(world.coordinator.user_id),
        "gp_name": "Lægerne på Nørrebrogade",
        "gp_phone": "+45 35 35 35 35",
    }
    response = await api.put(f"/cases/{inger}/care-team", json=team, headers=write_headers(world.coordinator))
    assert response.status_code == 200, response.text
    inger_id = uuid.UUID(inger)
    await add_rows(
        sessions,
        assessment(inger_id, world.nurse_a.user_id, now - timedelta(hours=3), pain=8, shortness_of_breath=6),
        medicine(inger_id, world.nurse_a.user_id, now - timedelta(hours=2, minutes=40)),
        flag(inger_id, "severe_score", now - timedelta(hours=3), detail={"items": ["pain"]}),
    )
    await record(
        svend,
        "wishes",
        {
            "dies_at_home": "yes",
            "discussed_on": (today - timedelta(days=2)).isoformat(),
            "discussed_with": "Svend og hustruen",
        },
    )
    await record(
        svend, "death", {"died_at": (now - timedelta(hours=1)).isoformat(), "place": "home", "gp_informed": True}
    )
    referred = today - timedelta(days=3)
    met = {"first_contact_on": (referred + timedelta(days=1)).isoformat()}
    await record(inger, "referral", met | {"assessment_on": today.isoformat()}, method="PATCH")
    await record(poul, "referral", met, method="PATCH")

    # Tonight's visits (the night shift started at 23:00; it is 02:00).
    start = now.replace(minute=0, second=0, microsecond=0)
    district_a, nurse = world.district_a, world.nurse_a.user_id
    visits = {
        "missed": await add_visit(
            sessions,
            uuid.UUID(birthe),
            district_a,
            start - timedelta(hours=2, minutes=30),
            30,
            status="missed",
            assigned_to=nurse,
            missed_at=now - timedelta(minutes=80),
        ),
        "overdue": await add_visit(
            sessions, uuid.UUID(birthe), district_a, start - timedelta(minutes=90), 45, assigned_to=nurse
        ),
        "under_way": await add_visit(
            sessions,
            inger_id,
            district_a,
            start - timedelta(minutes=20),
            60,
            status="under_way",
            assigned_to=nurse,
            checked_in_at=now - timedelta(minutes=15),
        ),
        "unassigned": await add_visit(sessions, uuid.UUID(birthe), district_a, start + timedelta(hours=2), 60),
        "planned": await add_visit(sessions, inger_id, district_a, start + timedelta(hours=3), 60, assigned_to=nurse),
    }

    alerts = {
        "critical": await raise_alert(
            api,
            world.nurse_a,
            raise_body(inger, reason="pain", severity="critical", note="Gennembrudssmerter trods PN-morfin"),
        ),
        "high": await raise_alert(api, world.nurse_b, raise_body(poul, reason="breathlessness", severity="high")),
        "resolved": await raise_alert(api, world.nurse_a, raise_body(birthe, reason="fall", severity="normal")),
    }
    taken = await api.post(f"/alerts/{alerts['high']['id']}/acknowledge", headers=write_headers(world.nurse_b))
    assert taken.status_code == 200, taken.text
    resolved = await api.post(
        f"/alerts/{alerts['resolved']['id']}/resolve",
        json={"outcome": "managed_at_home"},
        headers=write_headers(world.coordinator),
    )
    assert resolved.status_code == 200, resolved.text
    return {"cases": {"inger": inger, "poul": poul, "birthe": birthe}, "visits": visits, "alerts": alerts}


async def shoot(page: Page, name: str, full_page: bool = True) -> None:
    """A screenshot to look at (the whole page, or what a 1920x1080 screen shows)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def test_the_night_board_with_visits_risk_case_panel_and_indicators(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions
) -> None:
    scene = await night_scene(api, world, server.clock, sessions)
    await log_in(page, server, world.coordinator)
    critical = card(page, scene["alerts"]["critical"]["id"])
    await expect(critical).to_be_visible()
    await expect(critical.locator(".called")).to_contain_text("T1")
    await expect(page.locator("#alert-list article.alert").first).to_have_attribute(
        "data-alert-id", scene["alerts"]["critical"]["id"]
    )

    # A relative calls: the coordinator raises an alert from the board.
    await page.get_by_role("button", name="Ny alarm (pårørende ringer)").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("searchbox").fill("Birthe")
    await dialog.get_by_label("Årsag").select_option("carer_exhaustion")
    await dialog.get_by_label("Alvor").select_option("normal")
    await dialog.get_by_role("button", name="Rejs alarm").click()
    await expect(dialog).to_have_count(0)
    raised = page.locator("article.alert", has_text="Udmattet pårørende")
    await expect(raised).to_contain_text("Pårørende ringede")
    await expect(raised).to_contain_text("Birthe Larsen")

    # Tonight's visits, and reassigning the one nobody has.
    visits = page.locator("#visits")
    for state in ("missed", "overdue", "under_way"):
        await expect(visits.locator(f'li.visit[data-state="{state}"]')).to_have_count(1)
    await expect(visits.locator('.tile[data-state="missed"] .tile-number')).to_have_text("1")
    unassigned = visits.locator(f'li.visit[data-visit-id="{scene["visits"]["unassigned"]}"]')
    await expect(unassigned).to_contain_text("Ikke fordelt")
    await unassigned.get_by_role("button", name="Omfordel").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_label("Sygeplejerske").select_option(str(world.nurse_a.user_id))
    await dialog.get_by_role("button", name="Omfordel").click()
    await expect(dialog).to_have_count(0)
    # Assigned now: it leaves the list of what needs action (for the folded list of the rest).
    needing_action = visits.locator(f'#visits-body > ul.visit-list li[data-visit-id="{scene["visits"]["unassigned"]}"]')
    await expect(needing_action).to_have_count(0)
    async with sessions() as session:
        assigned = await session.scalar(select(Visit.assigned_to).where(Visit.id == scene["visits"]["unassigned"]))
    assert assigned == world.nurse_a.user_id

    # On call now, the gaps, and the cases at risk.
    await expect(page.locator("#oncall-body")).to_contain_text("Trin 1")
    await expect(page.locator("#gaps-body")).to_contain_text("ingen palliativt uddannet")
    risk = page.locator("#risk-body li.risk", has_text="Inger Holm")
    await expect(risk).to_contain_text("Svær score")
    await expect(risk).to_contain_text("Barn uden støtte")
    await shoot(page, "board-dark")

    # The case panel: what a caller needs.
    await risk.get_by_role("button", name="Inger Holm").click()
    body = page.locator("#case-body")
    await expect(body).to_contain_text("Ønsker at dø hjemme: Ja")
    await expect(body).to_contain_text("Morfin 10 mg/ml")
    await expect(body).to_contain_text("Mangler: uro, dødsrallen")
    await expect(body).to_contain_text("⚠ 8")
    await expect(body).to_contain_text("Lene Holm")
    await expect(body).to_contain_text("støtte ikke tilbudt")
    await expect(body).to_contain_text("Lægerne på Nørrebrogade")
    await expect(body.locator(".timeline li").first).to_be_visible()
    await shoot(page, "case-panel-dark", full_page=False)
    await page.get_by_role("button", name="Luk").click()

    await page.get_by_role("button", name="Lyst tema").click()
    assert await page.evaluate("document.documentElement.dataset.theme") == "light"
    await shoot(page, "board-light")

    # Indicators, drawn by the page; and the CSV download.
    await page.get_by_role("button", name="Nøgletal").click()
    figures = page.locator("#ind-body")
    await expect(figures.locator("svg.chart")).to_have_count(6)
    await expect(figures).to_contain_text("Dødssted")
    await expect(figures).to_contain_text("Tal under 5 vises ikke")  # small counts are left out, and it says so
    await expect(figures.locator("figure", has_text="Dødssted")).to_contain_text("hjemme")
    await expect(figures.locator("figure", has_text="Udfald af alarmer")).to_contain_text("Klaret hjemme")
    await shoot(page, "indicators-light")
    await page.get_by_role("button", name="Mørkt tema").click()
    await shoot(page, "indicators-dark")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Hent CSV").click()
    download = await download_info.value
    path = await download.path()
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    assert text.splitlines()[0] == "indicator,key,value"

    # Back on the board: the taken alert is handed over and resolved, the open one escalated by hand.
    await page.get_by_role("button", name="Tavle").click()
    high_id = scene["alerts"]["high"]["id"]
    high = card(page, high_id)
    await high.get_by_role("button", name="Overdrag").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("searchbox").fill("Mette")
    await dialog.get_by_role("button", name="Overdrag").click()
    await expect(dialog).to_have_count(0)
    await expect(high).to_contain_text("Kvitteret af Mette Kjærgaard")
    await high.get_by_role("button", name="Afslut").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_label("Udfald").select_option("managed_at_home")
    await dialog.get_by_role("button", name="Afslut").click()
    await expect(dialog).to_have_count(0)
    await expect(page.locator(f'#resolved-list article[data-alert-id="{high_id}"]')).to_have_count(1)
    resolved = await alert_row(sessions, high_id)
    assert (resolved.acknowledged_by, resolved.outcome) == (world.nurse_a.user_id, "managed_at_home")

    await critical.get_by_role("button", name="Eskaler nu").click()
    await expect(critical).to_contain_text("Trin 2 af 3")
    assert (await alert_row(sessions, scene["alerts"]["critical"]["id"])).tier == 1
