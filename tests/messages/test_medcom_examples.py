"""MedCom's own HospitalNotification examples, read from ../shared/medcom-examples as CI has them:
each is received, validated, derives its documented event and is acknowledged ok."""

from __future__ import annotations

from datetime import datetime

import pytest

from backend.messages.acknowledgement import validated_acknowledgement
from backend.messages.models import MessageState
from tests.cases.helpers import create_case
from tests.factories import World
from tests.messages.conftest import make_broker
from tests.messages.helpers import (
    EXAMPLE_CPR,
    HOSPITAL_NOTIFICATIONS,
    XML,
    Broker,
    Client,
    Sessions,
    ack_header,
    ack_of,
    deliver_and_wait,
    example,
    history,
    stays_of,
)

# interop.md §4: which file is which event.
DOCUMENTED = {
    "a5e5b880": "STIN",
    "bfab3e80": "RE_STIN",
    "c83671a4": "AN_STIN",
    "d3128d9b": "STOR",
    "e94de8ee": "SLOR",
    "f4aa42a4": "SLHJ",
    "g099bbf3": "MORS",
    "h1c8e4a8": "STAA",
    "kcab461b": "SLHJ",
    "ld31e08a": "MORS",
    "m908i967": "STIN",
    "n73ccf30": "STIN",
}


def test_every_saved_example_is_named_here() -> None:
    saved = {p.name[len("Bundle-") :][:8] for p in HOSPITAL_NOTIFICATIONS.glob("Bundle-*.json")}
    assert saved == set(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
async def test_an_example_is_acknowledged_ok_with_its_documented_event(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, name: str
) -> None:
    message = await deliver_and_wait(client, sessions, broker, example(name))

    assert message.state == MessageState.APPLIED
    assert message.event_code == DOCUMENTED[name]
    ack = ack_of(message)
    validated_acknowledgement(ack)
    header = ack_header(ack)
    assert header["response"] == {"identifier": message.header_id, "code": "ok"}
    assert header["destination"][0]["endpoint"] == "https://sor2.sum.dsdn.dk/#id=265161000016000"
    (stay,) = await stays_of(sessions, world.municipality_id)
    assert str(stay.case_id) == case_id


async def test_the_xml_example_gives_the_same_stay_as_its_json_twin(
    client: Client, sessions: Sessions, world: World, neighbour: World, broker: Broker, case_id: str
) -> None:
    await create_case(client, neighbour.coordinator, neighbour.district_a, datetime.now().date(), cpr=EXAMPLE_CPR)
    neighbours_broker = await make_broker(sessions, neighbour.municipality_id, None)

    as_json = await deliver_and_wait(client, sessions, broker, example("a5e5b880"))
    as_xml = await deliver_and_wait(client, sessions, neighbours_broker, example("a5e5b880.xml"), XML)

    assert (as_json.state, as_xml.state) == (MessageState.APPLIED, MessageState.APPLIED)
    assert as_xml.event_code == as_json.event_code == "STIN"
    assert as_xml.ack_media_type == XML and as_xml.ack_body is not None
    assert b'<code value="ok"/>' in as_xml.ack_body
    (json_stay,) = await stays_of(sessions, world.municipality_id)
    (xml_stay,) = await stays_of(sessions, neighbour.municipality_id)
    fields = ("episode_key", "status", "since", "encounter_class", "department", "department_sor", "admitted_at")
    assert [getattr(xml_stay, f) for f in fields] == [getattr(json_stay, f) for f in fields]


CHAIN = ["a5e5b880", "bfab3e80", "d3128d9b", "e94de8ee", "f4aa42a4"]  # STIN, RE_STIN, STOR, SLOR, SLHJ


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("order", [CHAIN, list(reversed(CHAIN)), [CHAIN[i] for i in (2, 4, 0, 3, 1)]])
async def test_admitted_corrected_on_leave_back_and_home_is_one_stay_in_any_order_of_arrival(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str, order: list[str]
) -> None:
    for name in order:
        assert (await deliver_and_wait(client, sessions, broker, example(name))).state == MessageState.APPLIED

    (stay,) = await stays_of(sessions, world.municipality_id)
    assert stay.status == "home"
    assert stay.admitted_at == moment("2022-12-07T13:00:00+02:00")  # RE_STIN moved 12:00 to 13:00
    assert stay.leave_started_at == moment("2022-12-13T14:00:10+02:00")
    assert stay.leave_ended_at == moment("2022-12-14T15:30:00+02:00")
    assert stay.discharged_at == stay.since == moment("2022-12-18T09:45:30+02:00")
    notices = await history(sessions, stay.id)
    assert [(n.event_code, n.effect) for n in notices] == [
        ("STIN", "corrected"),
        ("RE_STIN", "applied"),
        ("STOR", "applied"),
        ("SLOR", "applied"),
        ("SLHJ", "applied"),
    ]


async def test_the_cancellation_of_the_admission_voids_the_stay(
    client: Client, sessions: Sessions, world: World, broker: Broker, case_id: str
) -> None:
    await deliver_and_wait(client, sessions, broker, example("a5e5b880"))
    cancel = await deliver_and_wait(client, sessions, broker, example("c83671a4"))

    assert cancel.event_code == "AN_STIN"
    (stay,) = await stays_of(sessions, world.municipality_id)
    assert stay.status == "void" and stay.since is None
    assert [(n.event_code, n.effect) for n in await history(sessions, stay.id)] == [
        ("STIN", "cancelled"),
        ("AN_STIN", "cancellation"),
    ]


@pytest.mark.parametrize(("admission", "death", "died_at"), [
    ("a5e5b880", "g099bbf3", "2022-12-09T09:45:30+02:00"),
    ("h1c8e4a8", "ld31e08a", "2022-12-02T07:00:00+02:00"),
])  # fmt: skip
async def test_a_death_in_hospital_is_at_the_encounters_end(
    client: Client,
    sessions: Sessions,
    world: World,
    broker: Broker,
    case_id: str,
    admission: str,
    death: str,
    died_at: str,
) -> None:
    await deliver_and_wait(client, sessions, broker, example(admission))
    await deliver_and_wait(client, sessions, broker, example(death))

    (stay,) = await stays_of(sessions, world.municipality_id)
    assert stay.status == "died"
    assert stay.died_at == stay.since == moment(died_at)
