"""Writing from a case: a nurse or coordinator writes to the GP or the hospital department (their
SOR and EAN from the care team), or replies in a thread; Lindra builds the CareCommunication,
validates it, keeps it and sends it through the outbox, in one transaction with the audit row.

Nothing is written when anything is wrong: a recipient without a SOR identifier, a thread that is
not the case's, a category outside MedCom's list, an attachment of a type MedCom does not carry or
larger than 512 KiB, no phone to sign with, no SOR of our own or no broker to send through.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.cases.models import Case, Citizen
from backend.cases.records import check_text, open_case
from backend.errors import Problem
from backend.events import emit
from backend.messages import care_out, codes, correspondence
from backend.messages.care_in import MAX_ATTACHMENT_BYTES, Segment
from backend.messages.care_out import Letter, Party, Step, endpoint
from backend.messages.models import (
    Correspondence,
    CorrespondenceSegment,
    Direction,
    LetterStatus,
    MessageSettings,
)
from backend.messages.schemas import LetterIn, LetterOut, Recipient
from backend.people.actor import Actor
from backend.people.models import Organisation, Role, User

ROLE_LABELS = {
    Role.NURSE: "sygeplejerske",
    Role.COORDINATOR: "koordinator",
    Role.KEY_PERSON: "nøgleperson",
}


async def write(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, data: LetterIn, now: datetime, resend_after: timedelta
) -> LetterOut:
    """Build, keep and send a letter from the case; its first send is queued at once."""
    case = await open_case(session, actor, case_id, now, after_death=True)
    check_text(data)
    us, broker = await _sender(session, case)
    answered = await _answered(session, case, data.replies_to)
    them, thread_key, category, topic = _addressed(case, data, answered)
    written = await _written(session, actor, data, now, us)
    header_id = str(uuid.uuid4())
    earlier = await _thread(session, case.id, thread_key) if answered else []
    earlier_segments = await _segments(session, case.id, thread_key) if answered else []
    steps = [
        *earlier,
        Step(
            header_id,
            "reply-message" if answered else "new-message",
            now,
            True,
            tuple(s.key for s in written),
            answered.header_id if answered else None,
        ),
    ]
    citizen = await session.get_one(Citizen, case.citizen_id)
    letter_doc = care_out.build(
        Letter(
            thread_key=thread_key,
            category=category,
            topic=topic,
            cpr=citizen.cpr,
            patient_name=citizen.name,
            us=us,
            them=them,
            segments=(*earlier_segments, *((s, True) for s in written)),
            steps=tuple(steps),
        )
    )
    letter = Correspondence(
        id=uuid.uuid4(),
        municipality_id=case.municipality_id,
        case_id=case.id,
        direction=Direction.OUT,
        thread_key=thread_key,
        header_id=header_id,
        replies_to_id=answered.id if answered else None,
        previous_header_id=answered.header_id if answered else None,
        category=category,
        topic=topic,
        kind=data.kind.value if data.kind else None,
        activity=steps[-1].activity,
        sender_name=us.name,
        sender_sor=us.sor,
        sender_endpoint=endpoint(us.sor),
        recipient_name=them.name,
        recipient_sor=them.sor,
        recipient_ean=them.ean,
        recipient_endpoint=endpoint(them.sor),
        author_id=actor.user_id,
        written_at=now,
        status=LetterStatus.SENDING,
        sends=0,
        document=msgspec.json.encode(letter_doc),
    )
    session.add(letter)
    await session.flush()
    for segment in written:
        await correspondence.keep_segment(session, letter, segment)
    await correspondence.send(session, letter, broker, now, resend_after)
    await audit.record(
        session,
        actor,
        "case.correspondence.sent",
        case_id=case.id,
        detail={"correspondence_id": str(letter.id), "category": category},
    )
    await emit(
        session,
        "case.correspondence_sending",
        case.municipality_id,
        district_id=case.district_id,
        case_id=case.id,
        actor_id=actor.user_id,
        payload={"correspondence_id": str(letter.id)},
    )
    return letter_out(letter)


async def _sender(session: AsyncSession, case: Case) -> tuple[Party, str]:
    """The municipality as the sender (its SOR and EAN), and its broker's URL to send through."""
    settings = await session.get(MessageSettings, case.municipality_id)
    if settings is None or not settings.sor:
        raise Problem(
            409,
            "No SOR identifier",
            "Set the municipality's SOR identifier in its messaging settings before writing: a letter is sent from it.",
            rule="sender_sor",
        )
    broker = await correspondence.broker_url(session, case.municipality_id)
    if broker is None:
        raise Problem(
            409, "No message broker", "The municipality has no message broker to send through.", rule="no_broker"
        )
    municipality = await session.get_one(Organisation, case.municipality_id)
    return Party(municipality.name, settings.sor, settings.ean), broker


async def _written(session: AsyncSession, actor: Actor, data: LetterIn, now: datetime, us: Party) -> list[Segment]:
    """The new segments (the text, then the attachments), signed by the author with her phone."""
    author = await session.get_one(User, actor.user_id)
    phone = data.contact_phone or author.phone
    if not phone:
        raise Problem(
            422, "No phone", "A letter is signed with a phone number the receiver can call.", field="contact_phone"
        )
    signature = (author.full_name, ROLE_LABELS.get(actor.role), phone, us.name)
    return [_text_segment(data.text, now, *signature), *_attachments(data, now, *signature)]


def letter_out(letter: Correspondence, unread: bool = False) -> LetterOut:
    return LetterOut(
        id=letter.id,
        case_id=letter.case_id,
        direction=letter.direction,
        thread_key=letter.thread_key,
        category=letter.category,
        topic=letter.topic,
        kind=letter.kind,
        activity=letter.activity,
        status=letter.status,
        sender_name=letter.sender_name,
        recipient_name=letter.recipient_name,
        written_at=letter.written_at,
        sends=letter.sends,
        acknowledged_at=letter.acknowledged_at,
        failed_at=letter.failed_at,
        failure_reason=letter.failure_reason,
        replies_to_id=letter.replies_to_id,
        unread=unread,
        failure_code=letter.failure_code,
        refusal_code=letter.refusal_code,
    )


async def _answered(session: AsyncSession, case: Case, replies_to: uuid.UUID | None) -> Correspondence | None:
    if replies_to is None:
        return None
    found = await session.scalar(
        select(Correspondence).where(Correspondence.id == replies_to, Correspondence.case_id == case.id)
    )
    if found is None:
        raise Problem(422, "Unknown thread", "Reply to a letter of this case's correspondence.", field="replies_to")
    return found


def _addressed(case: Case, data: LetterIn, answered: Correspondence | None) -> tuple[Party, str, str, str | None]:
    """The receiver, the thread, its category and topic."""
    if answered is not None:
        if answered.direction == Direction.IN:
            them = Party(answered.sender_name, answered.sender_sor or "", None)
        else:
            them = Party(answered.recipient_name, answered.recipient_sor or "", answered.recipient_ean)
        if not them.sor:
            raise Problem(
                422,
                "Recipient without SOR",
                "The letter answered names no SOR identifier to reply to.",
                field="replies_to",
                rule="recipient_sor",
            )
        return them, answered.thread_key, answered.category, data.topic or answered.topic
    if data.recipient is None:
        raise Problem(
            422, "No recipient", "Choose the GP or the hospital department, or reply to a letter.", field="recipient"
        )
    if data.recipient == Recipient.GP:
        them = Party(case.gp_name, case.gp_sor or "", case.gp_ean)
        who = "The GP"
    else:
        them = Party(case.hospital_department, case.hospital_department_sor or "", case.hospital_department_ean)
        who = "The hospital department"
    if not them.sor:
        raise Problem(
            422,
            "Recipient without SOR",
            f"{who} has no SOR identifier in the case's care team; add it before writing.",
            field="recipient",
            rule="recipient_sor",
        )
    category = data.category or ""
    if category not in codes.CARE_COMMUNICATION_CATEGORIES:
        raise Problem(422, "Unknown category", "Choose one of MedCom's CareCommunication categories.", field="category")
    if category == "other" and not data.topic:
        raise Problem(422, "Topic needed", "A letter in the category other needs a topic.", field="topic")
    return them, f"urn:uuid:{uuid.uuid4()}", category, data.topic


def _text_segment(
    text: str, now: datetime, name: str, role: str | None, phone: str, organisation: str | None
) -> Segment:
    return Segment(f"urn:uuid:{uuid.uuid4()}", 0, now, name, role, phone, organisation, text=text)


def _attachments(
    data: LetterIn, now: datetime, name: str, role: str | None, phone: str, organisation: str | None
) -> list[Segment]:
    found = []
    for n, attachment in enumerate(data.attachments):
        where = f"attachments[{n}]"
        if attachment.content_type not in codes.ATTACHMENT_TYPES:
            raise Problem(
                422,
                "Attachment type not accepted",
                "Attach PDF, GIF, JPEG, PNG or TIFF.",
                field=f"{where}.content_type",
            )
        try:
            content = base64.b64decode(attachment.data, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(422, "Not base64", "Send the attachment's bytes as base64.", field=f"{where}.data") from None
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise Problem(
                413,
                "Attachment too large",
                f"An attachment may be at most {MAX_ATTACHMENT_BYTES} bytes.",
                field=f"{where}.data",
            )
        found.append(
            Segment(
                f"urn:uuid:{uuid.uuid4()}",
                n + 1,
                now,
                name,
                role,
                phone,
                organisation,
                title=attachment.title,
                content_type=attachment.content_type,
                data=content,
            )
        )
    return found


async def _thread(session: AsyncSession, case_id: uuid.UUID, thread_key: str) -> list[Step]:
    """The thread's messages as Provenance steps, oldest first."""
    letters = (
        await session.scalars(
            select(Correspondence)
            .where(Correspondence.case_id == case_id, Correspondence.thread_key == thread_key)
            .order_by(Correspondence.written_at, Correspondence.id)
        )
    ).all()
    segment_keys: dict[uuid.UUID, list[str]] = {}
    for row in (
        await session.execute(
            select(CorrespondenceSegment.correspondence_id, CorrespondenceSegment.segment_key).where(
                CorrespondenceSegment.case_id == case_id, CorrespondenceSegment.thread_key == thread_key
            )
        )
    ).all():
        segment_keys.setdefault(row[0], []).append(row[1])
    return [
        Step(
            letter.header_id,
            letter.activity,
            letter.written_at,
            letter.direction == Direction.OUT,
            tuple(segment_keys.get(letter.id, [])),
            letter.previous_header_id,
        )
        for letter in letters
    ]


async def _segments(session: AsyncSession, case_id: uuid.UUID, thread_key: str) -> list[tuple[Segment, bool]]:
    """The thread's segments so far, each with whether it is ours: a reply repeats them all."""
    rows = (
        await session.execute(
            select(CorrespondenceSegment, Correspondence.direction)
            .join(Correspondence, Correspondence.id == CorrespondenceSegment.correspondence_id)
            .where(CorrespondenceSegment.case_id == case_id, CorrespondenceSegment.thread_key == thread_key)
            .order_by(CorrespondenceSegment.written_at, CorrespondenceSegment.position, CorrespondenceSegment.id)
        )
    ).all()
    return [
        (
            Segment(
                s.segment_key,
                s.position,
                s.written_at,
                s.author_name,
                s.author_role,
                s.author_phone,
                s.organisation_name,
                text=s.text,
                title=s.title,
                content_type=s.content_type,
                data=s.data,
                url=s.url,
            ),
            direction == Direction.OUT,
        )
        for s, direction in rows
    ]
