"""The tests' own messages, built from the profile: every event, its correction and its
cancellation, and sequences that arrive out of order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.messages.models import MessageState
from tests.factories import World
from tests.messages import builder
from tests.messages.helpers import EXAMPLE_CPR, Broker, Client, Sessions, deliver_and_wait, history, stays_of

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
EPISODE = "7c2e4f00-1111-4aaa-8bbb-00000000abcd"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def notice(event: str, sent: float, **values: Any) -> dict[str, Any]:
    """A notice sent `sent` hours after T0 (its Provenance.recorded)."""
    base: dict[str, Any] = {"cpr": EXAMPLE_CPR, "episode": EPISODE, "start": at(0), "recorded": at(sent)}
    return builder.notification(event, **(base | values))


ADMITTED = notice("STIN", 0, status="in-progress")
ADMITTED_AMBULANT = notice("STAA", 0, status="in-progress", encounter_class="EMER")
ON_LEAVE = notice("STOR", 24, status="onleave", leave=(at(24), None))
BACK = notice("SLOR", 30, status="in-progress", leave=(at(24), at(30)))
HOME = notice("SLHJ", 48, status="finished", end=at(48))

# Each event after what must come before it, then its correction and its cancellation, and the
# stay's status after each of the three.
CASES = {
    "STAA": ([], ADMITTED_AMBULANT,
             notice("RE_STAA", 1, status="in-progress", encounter_class="EMER", start=at(0.5)),
             notice("AN_STAA", 2, status="entered-in-error", encounter_class="EMER"),
             ("admitted", "admitted", "void")),
    "STIN": ([], ADMITTED, notice("RE_STIN", 1, status="in-progress", start=at(0.5)),
             notice("AN_STIN", 2, status="entered-in-error"), ("admitted", "admitted", "void")),
    "STOR": ([ADMITTED], ON_LEAVE, notice("RE_STOR", 25, status="onleave", leave=(at(23), None)),
             notice("AN_STOR", 26, status="in-progress"), ("on_leave", "on_leave", "admitted")),
    "SLOR": ([ADMITTED, ON_LEAVE], BACK, notice("RE_SLOR", 31, status="in-progress", leave=(at(24), at(29))),
             notice("AN_SLOR", 32, status="onleave", leave=(at(24), None)), ("admitted", "admitted", "on_leave")),
    "SLHJ": ([ADMITTED], HOME, notice("RE_SLHJ", 49, status="finished", end=at(47)),
             notice("AN_SLHJ", 50, status="in-progress"), ("home", "home", "admitted")),
    "MORS": ([ADMITTED], notice("MORS", 48, status="finished", end=at(48), deceased=True, activity="admit-inpatient"),
             notice("RE_MORS", 49, status="finished", end=at(47), deceased=True, activity="admit-inpatient"),
             notice("AN_MORS", 50, status="in-progress", deceased=False, activity="admit-inpatient"),
             ("died", "died", "admitted")),
}  # fmt: skip


@pytest.mark.parametrize("event", sorted(CASES))
async def test_each_event_its_correction_and_its_cancellation(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, event: str
) -> None:
    before, new, revised, cancelled, statuses = CASES[event]
    for message in before:
        await deliver_and_wait(client, sessions, broker, builder.encode(message))

    seen = []
    for message, code in ((new, event), (revised, f"RE_{event}"), (cancelled, f"AN_{event}")):
        received = await deliver_and_wait(client, sessions, broker, builder.encode(message))
        assert (received.state, received.event_code) == (MessageState.APPLIED, code)
        (stay,) = await stays_of(sessions, world.municipality_id)
        seen.append(stay.status)
    assert tuple(seen) == statuses
    effects = {n.event_code: n.effect for n in await history(sessions, stay.id)}
    assert (effects[event], effects[f"RE_{event}"], effects[f"AN_{event}"]) == (
        "cancelled",
        "cancelled",
        "cancellation",
    )


async def test_a_correction_replaces_times_and_the_cancellation_takes_back_only_its_own(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    for message in (ADMITTED, ON_LEAVE, notice("RE_STOR", 25, status="onleave", leave=(at(23), None)), BACK):
        await deliver_and_wait(client, sessions, broker, builder.encode(message))
    (stay,) = await stays_of(sessions, world.municipality_id)
    assert (stay.status, stay.leave_started_at, stay.leave_ended_at) == ("admitted", at(23), at(30))

    await deliver_and_wait(
        client, sessions, broker, builder.encode(notice("AN_SLOR", 32, status="onleave", leave=(at(23), None)))
    )

    (stay,) = await stays_of(sessions, world.municipality_id)
    assert (stay.status, stay.since, stay.admitted_at) == ("on_leave", at(23), at(0))


async def test_a_discharge_that_arrives_before_its_admission_still_leaves_the_citizen_home(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    for message in (HOME, BACK, ADMITTED, ON_LEAVE):
        await deliver_and_wait(client, sessions, broker, builder.encode(message))

    (stay,) = await stays_of(sessions, world.municipality_id)
    assert (stay.status, stay.since, stay.admitted_at) == ("home", at(48), at(0))
    assert [n.event_code for n in await history(sessions, stay.id)] == ["STIN", "STOR", "SLOR", "SLHJ"]


async def test_an_admission_after_an_acute_ambulant_start_upgrades_the_stay(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    await deliver_and_wait(client, sessions, broker, builder.encode(ADMITTED_AMBULANT))
    await deliver_and_wait(
        client, sessions, broker, builder.encode(notice("STIN", 3, status="in-progress", start=at(3)))
    )

    (stay,) = await stays_of(sessions, world.municipality_id)
    assert (stay.status, stay.encounter_class, stay.admitted_at) == ("admitted", "IMP", at(3))
