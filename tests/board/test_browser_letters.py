"""Writing to the GP from the board, in Chromium: a coordinator opens a case's correspondence,
takes the closing note Lindra drafts from the case, edits it and sends it; the letter shows 'sent'
when the broker takes it and 'acknowledged' when the GP's acknowledgement arrives, without a
reload. A letter the receiver refuses shows as failed with the reason in words, and a GP without
a SOR number is said beside the recipient, with where to set it."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import msgspec

from backend.messages.codes import AckCode, AckError
from backend.messages.fhir_parse import Refusal
from tests.board.conftest import BoardServer
from tests.board.test_browser import log_in, shoot
from tests.cases.helpers import Sessions, create_case
from tests.factories import World
from tests.messages.conftest import make_broker
from tests.messages.helpers import CARE_COMMUNICATIONS, EXAMPLE_CPR, JSON, AckReceiver, Broker, example, received_acks
from tests.messages.letters import communication, ready_to_write
from tests.messages.test_correspondence_out import acknowledgement_of

try:
    from playwright.async_api import expect
except ImportError:  # the `browser` fixture skips every browser test, saying why
    expect = None

NAME = "Ellen Brevskriver"
PHONE = "+45 33 66 33 66"


async def acknowledge(
    api: httpx.AsyncClient, broker: Broker, sent: bytes, code: AckCode, refusal: Refusal | None = None
) -> None:
    """The GP's system answers the letter, through the municipality's broker."""
    body = acknowledgement_of(msgspec.json.decode(sent), code, refusal)
    delivered = await api.post("/messages/inbox", content=body, headers=broker.headers | {"Content-Type": JSON})
    assert delivered.status_code == 202, delivered.text


async def test_a_closing_note_is_drafted_edited_sent_and_acknowledged_on_the_board(
    page: Any, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions, ack_receiver: AckReceiver
) -> None:
    referred = server.clock.today() - timedelta(days=3)
    case = await create_case(
        api, world.coordinator, world.district_a, referred, cpr=EXAMPLE_CPR, name=NAME, phase="terminal"
    )
    broker = await make_broker(sessions, world.municipality_id, f"{ack_receiver.base}/acks/{uuid.uuid4()}")
    await ready_to_write(api, world, case["id"], gp_sor=None)
    await log_in(page, server, world.coordinator)
    await page.evaluate("window.notReloaded = true")

    await page.locator("#risk-body li.risk", has_text=NAME).get_by_role("button", name=NAME).click()
    await page.get_by_role("button", name="Korrespondance").click()
    body = page.locator("#case-body")
    await expect(body).to_contain_text("Ingen breve med læge eller sygehus endnu.")

    # The closing note, filled in from the case; edited before sending.
    await page.get_by_role("button", name="Skriv til egen læge").click()
    await page.get_by_label("Udkast").select_option("closing_note")
    text = page.get_by_label("Tekst")
    await expect(text).to_have_value(re.compile(f"^Afslutningsnotat vedr. {NAME}"))
    await expect(page.get_by_label("Emne")).to_have_value("Afslutningsnotat")
    edited = await text.input_value() + "\nTak for et godt samarbejde."
    await text.fill(edited)
    await page.get_by_label("Dit telefonnummer").fill(PHONE)

    # The care team has no SOR number for the GP: said beside the recipient, with where to set it.
    await page.get_by_role("button", name="Send").click()
    refusal = page.locator("#letter-recipient-error")
    await expect(refusal).to_contain_text("Plejeteamet mangler egen læges SOR-nummer")
    await expect(refusal).to_contain_text("Omkring borgeren → Egen læge → SOR-nummer")
    await shoot(page, "case-letter-form-dark", full_page=False)
    await expect(body.locator(".thread")).to_have_count(0)

    await ready_to_write(api, world, case["id"])
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#letter-form")).to_have_count(0)
    thread = body.locator(".thread", has_text="Afslutningsnotat")
    await expect(thread.locator("summary .letter-state")).to_have_text("sendt, venter på kvittering", timeout=10_000)

    (sent,) = await received_acks(ack_receiver, broker, 1)
    assert communication(msgspec.json.decode(sent))["payload"][0]["contentString"] == edited
    await acknowledge(api, broker, sent, AckCode.OK)
    await expect(thread.locator("summary .letter-state")).to_have_text("kvitteret", timeout=10_000)

    # A status note the receiver refuses: failed, and why, in words.
    await page.get_by_role("button", name="Skriv til egen læge").click()
    await page.get_by_label("Udkast").select_option("status_note")
    await expect(page.get_by_label("Tekst")).to_have_value(re.compile("^Statusnotat"))
    await page.get_by_label("Dit telefonnummer").fill(PHONE)
    await page.get_by_role("button", name="Send").click()
    refused = body.locator(".thread", has_text="Statusnotat")
    await expect(refused.locator("summary .letter-state")).to_have_text("sendt, venter på kvittering", timeout=10_000)
    (_, second) = await received_acks(ack_receiver, broker, 2)
    unknown = Refusal(AckError.RECEIVER_UNKNOWN, "Communication.subject", "No course of care for this citizen.")
    await acknowledge(api, broker, second, AckCode.FATAL_ERROR, unknown)

    await expect(refused.locator("summary .letter-state")).to_have_text("fejlet", timeout=10_000)
    await refused.locator("summary").click()
    await expect(refused.locator(".letter-failure")).to_have_text(
        "⚠ Modtageren afviste brevet: modtageren kender ikke borgeren eller adressen."
    )
    await shoot(page, "case-letters-dark", full_page=False)
    assert await page.evaluate("window.notReloaded") is True
    letters = await api.get(f"/cases/{case['id']}/correspondence", headers=world.coordinator.headers)
    states = sorted(letter["status"] for th in letters.json()["threads"] for letter in th["letters"])
    assert states == ["acknowledged", "failed"]


async def test_a_letter_from_the_gp_is_unread_until_opened_and_answered_in_its_thread(
    page: Any, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions, ack_receiver: AckReceiver
) -> None:
    referred = server.clock.today() - timedelta(days=1)  # the citizen's newest case: the letter lands here
    case = await create_case(
        api, world.coordinator, world.district_a, referred, cpr=EXAMPLE_CPR, name=NAME, phase="terminal"
    )
    broker = await make_broker(sessions, world.municipality_id, f"{ack_receiver.base}/acks/{uuid.uuid4()}")
    await ready_to_write(api, world, case["id"])  # the key person is in the care team
    await log_in(page, server, world.key_person)
    await page.locator("#risk-body li.risk", has_text=NAME).get_by_role("button", name=NAME).click()
    await page.get_by_role("button", name="Korrespondance").click()

    letter = example("add5e7e2", CARE_COMMUNICATIONS)
    delivered = await api.post("/messages/inbox", content=letter, headers=broker.headers | {"Content-Type": JSON})
    assert delivered.status_code == 202, delivered.text

    await expect(page.locator("#case-letters-unread")).to_have_text("✉ 1", timeout=10_000)
    thread = page.locator("#case-body .thread")
    await expect(thread.locator("summary .unread")).to_have_text("1 ulæst")
    await thread.locator("summary").click()  # opening the thread reads it
    await expect(thread.locator(".unread")).to_have_count(0)
    await expect(page.locator("#case-letters-unread")).to_have_text("")
    await expect(page.locator("#letters")).to_be_hidden()
    unread = await api.get("/correspondence/unread", headers=world.key_person.headers)
    assert unread.json()["total"] == 0

    await thread.get_by_role("button", name="Svar").click()
    await page.get_by_label("Tekst").fill("Prøverne er sendt i går.")
    await page.get_by_label("Dit telefonnummer").fill(PHONE)
    await page.get_by_role("button", name="Send").click()
    await expect(thread.locator("summary .letter-state")).to_have_text("sendt, venter på kvittering", timeout=10_000)
    await expect(thread.locator(".letter-out")).to_contain_text("Prøverne er sendt i går.")
