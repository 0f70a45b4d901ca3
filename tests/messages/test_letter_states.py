"""A sent letter's state as boards and phones learn it: an event per change (sent, acknowledged,
failed) that names the case and its district and holds no personal data, and a failure that says
whether the broker never took the letter or the receiver never answered it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from backend.clock import Clock
from backend.messages.correspondence import RESEND_AFTER, resend_due
from backend.messages.models import Correspondence, LetterStatus
from backend.visits.models import Event
from tests.factories import World
from tests.messages.helpers import AckReceiver, Broker, Client, Sessions, received_acks
from tests.messages.letters import ready_to_write, write_letter
from tests.messages.test_correspondence_out import PHONE, thread_letters

LETTER = {"recipient": "gp", "category": "nursing", "text": "Status: øget uro.", "contact_phone": PHONE}


async def status_of(sessions: Sessions, letter_id: str) -> str:
    async with sessions() as session:
        found = await session.scalar(select(Correspondence.status).where(Correspondence.id == uuid.UUID(letter_id)))
    return str(found)


async def until_sent(sessions: Sessions, letter_id: str) -> None:
    async with asyncio.timeout(15):
        while True:
            if await status_of(sessions, letter_id) == LetterStatus.SENT:
                return
            await asyncio.sleep(0.05)


async def letter_events(sessions: Sessions, case_id: str) -> list[Event]:
    async with sessions() as session:
        query = select(Event).where(Event.case_id == uuid.UUID(case_id), Event.kind.like("case.correspondence%"))
        return list((await session.scalars(query.order_by(Event.id))).all())


async def fail_by_the_rules(sessions: Sessions, clock: Clock) -> None:
    """No acknowledgement: sent twice more, 30 minutes apart, then failed."""
    for sends in (1, 2, 3):
        await resend_due(sessions, clock.now() + sends * RESEND_AFTER + timedelta(seconds=sends), RESEND_AFTER)


async def test_each_state_of_a_sent_letter_is_an_event_with_its_district_and_no_personal_data(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, clock: Clock
) -> None:
    await ready_to_write(client, world, case_id)
    letter = await write_letter(client, world.nurse_a, case_id, LETTER)
    await until_sent(sessions, letter["id"])
    await fail_by_the_rules(sessions, clock)

    events = await letter_events(sessions, case_id)
    assert [e.kind for e in events] == [
        "case.correspondence_sending",
        "case.correspondence_sent",
        "case.correspondence_failed",
    ]
    for event in events[1:]:
        assert event.district_id == world.district_a  # a nurse of another district does not hear of it
        payload: dict[str, Any] = event.payload
        assert payload == {"correspondence_id": letter["id"], "status": event.kind.removeprefix("case.correspondence_")}
    (shown,) = await thread_letters(client, world, case_id)
    assert (shown["status"], shown["failure_code"], shown["refusal_code"]) == ("failed", "no_acknowledgement", None)


async def test_a_letter_the_broker_never_took_fails_as_not_delivered(
    client: Client,
    sessions: Sessions,
    world: World,
    broker: Broker,
    case_id: str,
    clock: Clock,
    ack_receiver: AckReceiver,
) -> None:
    assert broker.ack_url is not None
    ack_receiver.fail[broker.ack_url.removeprefix(ack_receiver.base)] = 1000  # the broker is down
    await ready_to_write(client, world, case_id)
    await write_letter(client, world.nurse_a, case_id, LETTER)
    async with asyncio.timeout(15):
        while ack_receiver.attempts[broker.ack_url.removeprefix(ack_receiver.base)] == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await fail_by_the_rules(sessions, clock)

    (shown,) = await thread_letters(client, world, case_id)
    assert (shown["status"], shown["failure_code"]) == ("failed", "not_delivered")
    assert shown["failure_reason"].endswith("the broker last answered HTTP 503.")
    assert await received_acks(ack_receiver, broker, 0) == []
