"""Signing in through the municipality's SAML provider (KOMBIT's Context Handler), end to end: the
pysaml2 IdP process, Lindra served on a loopback port, the mapping set by the administrator
through the API; the board in headless Chromium, a browser's requests and a phone-style client
over plain HTTP."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.people.federation.models import FederatedLink
from backend.people.models import User, UserDistrict
from backend.worker import free_port
from tests.board.conftest import browser  # noqa: F401  (the headless Chromium)
from tests.factories import World, build_world
from tests.oidc.conftest import users_of
from tests.oidc.idp import APP_REDIRECT_URI, challenge_of, returned
from tests.people.saml_stage import SCOPE, Stage, posted, running_stage
from tests.serving import serving

try:
    from playwright.async_api import expect
except ImportError:  # the `browser` fixture skips, saying why
    expect = None

Sessions = async_sessionmaker[AsyncSession]
NURSE_ROLE = "http://kombit.dk/roles/jobrole/palliation-sygeplejerske/1"
COORDINATOR_ROLE = "http://kombit.dk/roles/jobrole/palliation-koordinator/1"
ORG_UNIT = "http://sts.kombit.dk/constraints/orgenhed/1"
DISTRICT_A_UNIT = "7b0c55d2-0000-4000-8000-0000000000aa"
BOARD = {"platform": "web", "app_version": "board-1"}
PHONE = {"platform": "android", "app_version": "2.0.0"}


@dataclass
class Served:
    world: World
    stage: Stage
    url: str
    clock: Clock  # Lindra's own clock: moving it leaves the rest of the run alone
    named: list[str] = dataclasses.field(default_factory=list)  # what names the people signed in


@pytest.fixture(scope="module")
async def served(sessions: Sessions, settings: Settings) -> AsyncIterator[Served]:
    clock = Clock()
    world = await build_world(sessions, settings, clock)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_stage(world.municipality_id, url) as stage:
        app = create_app(
            dataclasses.replace(
                settings,
                housekeeping=False,
                public_url=url,
                saml_providers_file=stage.providers_file,
                oidc_app_redirect_uri=APP_REDIRECT_URI,
            ),
            clock,
        )
        async with serving(app, port=port), httpx.AsyncClient(base_url=url) as admin:
            for claim, role, districts in (
                (NURSE_ROLE, "nurse", []),
                (COORDINATOR_ROLE, "coordinator", []),
                (DISTRICT_A_UNIT, None, [str(world.district_a)]),  # a data restriction: a district
            ):
                answer = await admin.put(
                    "/admin/federation/mappings",
                    json={"provider": "saml", "claim": claim, "role": role, "district_ids": districts},
                    headers=world.admin.headers | {"Idempotency-Key": str(uuid.uuid4())},
                )
                assert answer.status_code == 200, answer.text
            yield Served(world, stage, url, clock)


@pytest.fixture(autouse=True)
def nobody_named_in_the_logs(caplog: pytest.LogCaptureFixture, served: Served) -> Iterator[None]:
    """Whatever a test does, Lindra's logs never name whom the IdP signed in."""
    caplog.set_level(logging.DEBUG)
    yield
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert [who for who in served.named if who in logged] == []


@pytest.fixture
async def browser_at_lindra(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    """A browser's requests to Lindra, with its cookies."""
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        yield client


async def person_signs_in_next(served: Served, roles: list[str], name: str = "Karen Testesen") -> str:
    """A person of this test's own at the IdP, with these job-function roles (and the district's
    organisation unit as data restriction); her NameID."""
    subject = f"https://data.gov.dk/model/core/eid/professional/uuid/{uuid.uuid4()}"
    privileges = [{"scope": SCOPE, "roles": roles, "constraints": {ORG_UNIT: DISTRICT_A_UNIT}}]
    email = f"{uuid.uuid4().hex[:8]}@kommune.test"
    served.named += [subject, email, name]
    await served.stage.next(subject=subject, email=email, name=name, privileges=privileges)
    return subject


async def through_the_idp(at_lindra: httpx.AsyncClient, served: Served) -> tuple[httpx.Response, dict[str, str]]:
    """Start at Lindra, get the IdP's auto-posting form, post it to the ACS: the ACS's answer, and the form."""
    started = await at_lindra.get(f"/auth/saml/{served.world.municipality_id}/login")
    assert started.status_code == 302, started.text
    async with httpx.AsyncClient() as idp:
        form = posted((await idp.get(started.headers["location"])).text)
    return await at_lindra.post(f"/auth/saml/{served.world.municipality_id}/acs", data=form), form


async def collect(at_lindra: httpx.AsyncClient, device_key: str) -> httpx.Response:
    return await at_lindra.post("/auth/oidc/collect", json={"device_key": device_key, "device": BOARD})


def refusal_reason(answer: httpx.Response) -> str:
    assert answer.status_code == 403, answer.text
    assert 'id="refusal-title"' in answer.text
    return answer.text.split('data-reason="', 1)[1].split('"', 1)[0]


async def test_the_board_signs_in_through_the_municipalitys_saml_provider_in_chromium(
    browser: Any,  # noqa: F811
    served: Served,
) -> None:
    await person_signs_in_next(served, [COORDINATOR_ROLE], name="Kirsten Koordinator")
    context = await browser.new_context(locale="da-DK", timezone_id="Europe/Copenhagen")
    try:
        tab = await context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        await tab.goto(f"{served.url}/board")
        choice = tab.locator(f"#login-providers button[data-municipality='{served.world.municipality_id}']")
        await expect(choice).to_contain_text("Log ind med Kommune")

        await choice.click()  # to Lindra's /login, the IdP, its auto-posted answer to the ACS, the board

        await expect(tab.locator("#who")).to_have_text("Kirsten Koordinator", timeout=10_000)
        await expect(tab.locator("#conn")).to_have_attribute("data-state", "connected", timeout=10_000)
        assert tab.url == f"{served.url}/board"
        assert errors == []
    finally:
        await context.close()


async def test_a_first_mapped_sign_in_makes_her_with_the_role_and_districts_of_her_privileges(
    browser_at_lindra: httpx.AsyncClient, served: Served, sessions: Sessions
) -> None:
    subject = await person_signs_in_next(served, [NURSE_ROLE], name="Nina Nattesen")

    answered, _ = await through_the_idp(browser_at_lindra, served)

    assert answered.status_code == 303 and answered.headers["location"] == "/board#federated"
    device_key = secrets.token_urlsafe(32)
    tokens = await collect(browser_at_lindra, device_key)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["user"]["full_name"] == "Nina Nattesen"
    assert tokens.json()["user"]["role"] == "nurse"
    me = await browser_at_lindra.get("/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert me.status_code == 200, me.text
    async with sessions() as session:
        link = await session.scalar(select(FederatedLink).where(FederatedLink.subject == subject))
        assert link is not None and (link.provider, link.assurance) == ("saml", "Substantial")
        user = await session.get_one(User, link.user_id)
        districts = set(await session.scalars(select(UserDistrict.district_id).where(UserDistrict.user_id == user.id)))
    assert (user.organisation_id, user.role, districts) == (
        served.world.municipality_id,
        "nurse",
        {served.world.district_a},
    )
    again = await collect(browser_at_lindra, device_key)  # handed out once: the cookie is gone
    assert again.status_code == 400


async def test_a_person_with_no_mapped_role_gets_the_refusal_page_and_nothing_is_made(
    browser_at_lindra: httpx.AsyncClient, served: Served, sessions: Sessions
) -> None:
    await person_signs_in_next(served, ["http://kombit.dk/roles/jobrole/kantine/1"])
    before = await users_of(sessions, served.world)

    answered, _ = await through_the_idp(browser_at_lindra, served)

    assert refusal_reason(answered) == "unmapped"
    assert "Lindra-administrator" in answered.text
    assert await users_of(sessions, served.world) == before
    assert (await collect(browser_at_lindra, secrets.token_urlsafe(32))).status_code == 401


async def test_a_replayed_or_misdirected_answer_gets_the_refusal_page_and_signs_nobody_in(
    browser_at_lindra: httpx.AsyncClient, served: Served
) -> None:
    await person_signs_in_next(served, [COORDINATOR_ROLE])
    answered, form = await through_the_idp(browser_at_lindra, served)
    assert answered.status_code == 303
    assert (await collect(browser_at_lindra, secrets.token_urlsafe(32))).status_code == 200

    async with httpx.AsyncClient(base_url=served.url) as attacker:
        replayed = await attacker.post(f"/auth/saml/{served.world.municipality_id}/acs", data=form)
        forged_relay = await attacker.post(
            f"/auth/saml/{served.world.municipality_id}/acs", data=form | {"RelayState": "x.1.y"}
        )
        assert refusal_reason(replayed) == "failed"
        assert refusal_reason(forged_relay) == "failed"
        assert (await collect(attacker, secrets.token_urlsafe(32))).status_code in (400, 401)


async def test_a_phone_signs_in_through_saml_with_pkce_and_a_one_time_code(
    served: Served, browser_at_lindra: httpx.AsyncClient
) -> None:
    await person_signs_in_next(served, [NURSE_ROLE])
    device_key, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    started = await browser_at_lindra.post(
        f"/auth/saml/{served.world.municipality_id}/start",
        json={"device_key": device_key, "code_challenge": challenge_of(verifier)},
    )
    assert started.status_code == 200, started.text
    async with httpx.AsyncClient() as system_browser:  # the phone's browser: no cookies of Lindra's
        form = posted((await system_browser.get(started.json()["authorize_url"])).text)
        answered = await system_browser.post(f"{served.url}/auth/saml/{served.world.municipality_id}/acs", data=form)
    assert answered.status_code == 303 and answered.headers["location"].startswith(APP_REDIRECT_URI + "?")
    back = returned(answered.headers["location"])
    assert back["state"] == started.json()["state"]
    hand_over = {"state": back["state"], "code": back["code"], "device_key": device_key, "device": PHONE}

    wrong = await browser_at_lindra.post(
        "/auth/oidc/token", json=hand_over | {"code_verifier": secrets.token_urlsafe(48)}
    )
    assert wrong.status_code == 400 and wrong.json()["field"] == "code_verifier"
    signed_in = await browser_at_lindra.post("/auth/oidc/token", json=hand_over | {"code_verifier": verifier})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["role"] == "nurse"
    again = await browser_at_lindra.post("/auth/oidc/token", json=hand_over | {"code_verifier": verifier})
    assert (again.status_code, again.json()["rule"]) == (400, "oidc_state")
    refreshed = await browser_at_lindra.post(
        "/auth/refresh", json={"refresh_token": signed_in.json()["refresh_token"], "device_key": device_key}
    )
    assert refreshed.status_code == 200, refreshed.text


async def test_a_saml_session_is_refused_at_refresh_once_its_hours_are_up(
    browser_at_lindra: httpx.AsyncClient, served: Served, settings: Settings
) -> None:
    await person_signs_in_next(served, [COORDINATOR_ROLE])
    await through_the_idp(browser_at_lindra, served)
    device_key = secrets.token_urlsafe(32)
    tokens = (await collect(browser_at_lindra, device_key)).json()

    async def refresh() -> httpx.Response:
        answer = await browser_at_lindra.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"], "device_key": device_key}
        )
        if answer.status_code == 200:
            tokens.update(answer.json())
        return answer

    served.clock.shift(timedelta(hours=settings.saml_session_hours, minutes=-1))
    assert (await refresh()).status_code == 200  # within the hours, as a night shift refreshes

    served.clock.shift(timedelta(minutes=2))
    refused = await refresh()

    assert refused.status_code == 401
    assert "Sign in there again" in refused.json()["detail"]
    me = await browser_at_lindra.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401  # the device is signed out: its last access token, minutes old, stops too
