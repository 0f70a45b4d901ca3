"""Every letter Lindra sends and every acknowledgement validates, on generated cases and threads,
not a single fixture: fhir.resources (R4B) reads them and MedCom's invariants hold through
fhirpathpy (`care_out.validate`, `validated_acknowledgement`), and what we send reads back as we
meant it. Hypothesis generates the letters, the threads they answer and whole cases behind the API.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from backend.clock import Clock
from backend.messages import codes
from backend.messages.acknowledgement import build_acknowledgement, validated_acknowledgement
from backend.messages.care_in import Segment, care_message_of
from backend.messages.care_out import Letter, Party, Step, build, validate
from backend.messages.codes import AckCode, AckError
from backend.messages.fhir_parse import JSON_MEDIA_TYPE, Refusal, address_of
from backend.messages.models import AckOutbox
from backend.messages.validation import message_header
from tests.cases.helpers import create_case
from tests.factories import World
from tests.messages.helpers import Broker, Client, Sessions, deliver_and_wait
from tests.messages.letters import ready_to_write, write_letter

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
# What people type: letters of any script, digits, punctuation, markup characters and line breaks.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029") | st.just("\n"),
    min_size=1,
    max_size=400,
).filter(lambda value: value.strip() != "")
NAME = st.text(alphabet=st.characters(whitelist_categories=("L",)), min_size=1, max_size=40)
SOR = st.from_regex(r"^[1-9][0-9]{14}$", fullmatch=True)
EAN = st.from_regex(r"^57[0-9]{11}$", fullmatch=True)
CATEGORY = st.sampled_from(sorted(codes.CARE_COMMUNICATION_CATEGORIES - {"other"}))
EXAMPLES = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def segments(draw: st.DrawFn, at: datetime) -> tuple[Segment, ...]:
    """A text, perhaps followed by attachments, signed by one author."""
    author, role, phone = draw(NAME), draw(st.sampled_from(["sygeplejerske", "læge", "koordinator"])), "+45 12345678"
    found = [Segment(f"urn:uuid:{uuid.uuid4()}", 0, at, author, role, phone, draw(NAME), text=draw(TEXT))]
    for n in range(draw(st.integers(0, 2))):
        content = draw(st.binary(min_size=1, max_size=2000))
        kind = draw(st.sampled_from(sorted(codes.ATTACHMENT_TYPES)))
        found.append(
            Segment(
                f"urn:uuid:{uuid.uuid4()}",
                n + 1,
                at,
                author,
                role,
                phone,
                None,
                title=draw(TEXT)[:200],
                content_type=kind,
                data=content,
            )
        )
    return tuple(found)


@st.composite
def letters(draw: st.DrawFn) -> Letter:
    """A letter that starts a thread or answers one of up to three earlier messages, either way."""
    earlier = draw(st.integers(0, 3))
    steps: list[Step] = []
    quoted: list[tuple[Segment, bool]] = []
    for n in range(earlier + 1):
        at = START + timedelta(hours=n)
        ours = n == earlier or draw(st.booleans())
        written = draw(segments(at))
        quoted += [(s, ours) for s in written]
        previous = steps[-1].header_id if steps else None
        activity = "new-message" if not steps else draw(st.sampled_from(["reply-message", "forward-message"]))
        steps.append(Step(str(uuid.uuid4()), activity, at, ours, tuple(s.key for s in written), previous))
    category = draw(st.sampled_from(sorted(codes.CARE_COMMUNICATION_CATEGORIES)))
    topic = draw(st.one_of(st.none(), TEXT.map(lambda t: t[:60].strip() or "Emne")))
    return Letter(
        thread_key=f"urn:uuid:{uuid.uuid4()}",
        category=category,
        topic=topic or ("Emne" if category == "other" else None),
        cpr="2509479989",
        patient_name=draw(NAME),
        us=Party(draw(NAME), draw(SOR), draw(st.one_of(st.none(), EAN))),
        them=Party(draw(st.one_of(st.none(), NAME)), draw(SOR), draw(st.one_of(st.none(), EAN))),
        segments=tuple(quoted),
        steps=tuple(steps),
    )


@EXAMPLES
@given(letter=letters())
def test_every_generated_letter_and_its_acknowledgements_validate_and_read_back_as_meant(letter: Letter) -> None:
    doc = build(letter)

    validate(msgspec.json.decode(msgspec.json.encode(doc)))  # as it goes over the wire
    header, event = message_header(doc)
    read = care_message_of(doc, header)
    assert (event, read.thread_key, read.category, read.topic) == (
        codes.CARE_COMMUNICATION,
        letter.thread_key,
        letter.category,
        letter.topic,
    )
    assert read.previous_header == letter.steps[-1].previous_header
    assert [(s.key, s.text, s.data, s.content_type) for s in read.segments] == [
        (s.key, s.text, s.data, s.content_type) for s, _ours in letter.segments
    ]
    assert read.sender_sor == letter.us.sor and header["destination"][0]["endpoint"].endswith(letter.them.sor)
    address = address_of(doc)
    assert address is not None
    refusal = Refusal(AckError.TOO_LONG, "Communication.payload[0].contentString", "Too long.")
    for code, why in ((AckCode.OK, None), (AckCode.FATAL_ERROR, refusal), (AckCode.TRANSIENT_ERROR, refusal)):
        ack = msgspec.json.decode(build_acknowledgement(address, code, why, START, JSON_MEDIA_TYPE))
        validated_acknowledgement(ack)
        response = ack["entry"][0]["resource"]["response"]
        assert (response["identifier"], response["code"], "details" in response) == (
            header["id"],
            code.value,
            bool(why),
        )


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case behind the API and the letter written from it (from a draft, or free text)."""
    kind = draw(st.sampled_from(["status_note", "closing_note", None]))
    with_pdf = draw(st.booleans())
    return {
        "born": draw(st.dates(datetime(1925, 1, 1).date(), datetime(1999, 12, 31).date())),
        "name": draw(NAME),
        "diagnosis": draw(TEXT)[:200].strip() or "C34.9",
        "gp_sor": draw(SOR),
        "kind": kind,
        "category": draw(CATEGORY),
        "text": draw(TEXT),
        "pdf": draw(st.binary(min_size=1, max_size=3000)) if with_pdf else None,
    }


async def test_letters_written_from_generated_cases_validate_and_are_acknowledged(
    client: Client, sessions: Sessions, world: World, broker: Broker, clock: Clock
) -> None:
    """Whole cases behind the API: a citizen, a care team with its SOR and EAN, a letter (with an
    attachment or not) from a draft or free text; what the outbox sends validates, and its
    acknowledgement lands."""
    loop = asyncio.get_running_loop()
    serials = iter(range(1000, 9999))

    async def one_case(spec: dict[str, Any]) -> None:
        cpr = f"{spec['born']:%d%m%y}{next(serials):04d}"
        received = clock.today() - timedelta(days=4)
        case = await create_case(
            client,
            world.coordinator,
            world.district_a,
            received,
            cpr=cpr,
            name=spec["name"],
            diagnosis=spec["diagnosis"],
        )
        case_id = str(case["id"])
        await ready_to_write(client, world, case_id, gp_sor=spec["gp_sor"])
        body: dict[str, Any] = {
            "recipient": "gp",
            "category": spec["category"],
            "text": spec["text"],
            "contact_phone": "+45 70 20 30 40",
        }
        if spec["kind"]:
            draft = await client.get(
                f"/cases/{case_id}/correspondence/draft",
                params={"kind": spec["kind"], "recipient": "gp"},
                headers=world.coordinator.headers,
            )
            filled = draft.json()
            body |= {"kind": spec["kind"], "text": filled["text"] + "\n" + spec["text"], "topic": filled["topic"]}
        if spec["pdf"]:
            pdf = base64.b64encode(spec["pdf"]).decode()
            body["attachments"] = [{"title": "Bilag", "content_type": "application/pdf", "data": pdf}]
        letter = await write_letter(client, world.coordinator, case_id, body)
        async with sessions() as session:
            kept = await session.scalar(
                select(AckOutbox.body).where(AckOutbox.correspondence_id == uuid.UUID(letter["id"]))
            )
        assert kept is not None
        sent = msgspec.json.decode(kept)
        validate(sent)
        address = address_of(sent)
        assert address is not None
        ack = build_acknowledgement(address, AckCode.OK, None, clock.now(), JSON_MEDIA_TYPE)
        validated_acknowledgement(msgspec.json.decode(ack))
        await deliver_and_wait(client, sessions, broker, ack)
        shown = await client.get(f"/cases/{case_id}/correspondence", headers=world.coordinator.headers)
        assert shown.json()["threads"][0]["letters"][0]["status"] == "acknowledged"

    @settings(
        max_examples=6,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(spec=cases())
    def generated(spec: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(one_case(spec), loop).result()

    await asyncio.to_thread(generated)
