"""Reading correspondence: a case's threads, an attachment's content, what the key person and the
contact person have not read, marking a letter read, and the drafts filled in from the case.

Every read of a case's letters, each case an unread count names, and every mark is audited; an
attachment's bytes are read only by its own request, never with the threads.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.cases.access import case_scope
from backend.cases.models import Case
from backend.errors import not_found
from backend.messages.letters import letter_out
from backend.messages.models import Correspondence, CorrespondenceRead, CorrespondenceSegment, Direction
from backend.messages.schemas import (
    AttachmentOut,
    CorrespondenceOut,
    ReadOut,
    SegmentOut,
    ThreadOut,
    UnreadCase,
    UnreadOut,
)
from backend.people.actor import Actor


async def visible_case(session: AsyncSession, actor: Actor, case_id: uuid.UUID) -> Case:
    case = await session.scalar(select(Case).where(Case.id == case_id, case_scope(actor)))
    if case is None:
        raise not_found("case")
    return case


async def threads(session: AsyncSession, actor: Actor, case_id: uuid.UUID) -> CorrespondenceOut:
    """The case's correspondence as threads, the latest active first; an audited read."""
    case = await visible_case(session, actor, case_id)
    read_ids = set(
        (
            await session.scalars(
                select(CorrespondenceRead.correspondence_id)
                .join(Correspondence, Correspondence.id == CorrespondenceRead.correspondence_id)
                .where(Correspondence.case_id == case.id, CorrespondenceRead.user_id == actor.user_id)
            )
        ).all()
    )
    letters = (
        await session.scalars(
            select(Correspondence)
            .where(Correspondence.case_id == case.id)
            .order_by(Correspondence.written_at, Correspondence.id)
        )
    ).all()
    segments = (
        await session.execute(
            select(
                *(c for c in CorrespondenceSegment.__table__.c if c.name != "data"),
                (CorrespondenceSegment.data.is_not(None)).label("has_content"),
            )
            .where(CorrespondenceSegment.case_id == case.id)
            .order_by(CorrespondenceSegment.written_at, CorrespondenceSegment.position, CorrespondenceSegment.id)
        )
    ).all()
    found: dict[str, ThreadOut] = {}
    for letter in letters:
        thread = found.setdefault(
            letter.thread_key,
            ThreadOut(
                thread_key=letter.thread_key, category=letter.category, topic=letter.topic, letters=[], segments=[]
            ),
        )
        unread = letter.direction == Direction.IN and letter.id not in read_ids
        thread.letters.append(letter_out(letter, unread))
    for s in segments:
        attachment = None
        if s.text is None:
            attachment = AttachmentOut(
                title=s.title, content_type=s.content_type, size=s.size, url=s.url, has_content=s.has_content
            )
        found[s.thread_key].segments.append(
            SegmentOut(
                id=s.id,
                letter_id=s.correspondence_id,
                written_at=s.written_at,
                author_name=s.author_name,
                author_role=s.author_role,
                author_phone=s.author_phone,
                organisation_name=s.organisation_name,
                text=s.text,
                attachment=attachment,
            )
        )
    ordered = sorted(found.values(), key=lambda t: t.letters[-1].written_at, reverse=True)
    await audit.record(session, actor, "case.correspondence.read", case_id=case.id)
    return CorrespondenceOut(case_id=case.id, threads=ordered)


async def attachment(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, segment_id: uuid.UUID
) -> tuple[str, str, bytes]:
    """An attachment's title, type and bytes; an audited read."""
    case = await visible_case(session, actor, case_id)
    segment = await session.scalar(
        select(CorrespondenceSegment).where(
            CorrespondenceSegment.id == segment_id,
            CorrespondenceSegment.case_id == case.id,
            CorrespondenceSegment.data.is_not(None),
        )
    )
    if segment is None or segment.data is None:
        raise not_found("attachment")
    await audit.record(
        session, actor, "case.correspondence.attachment.read", case_id=case.id, detail={"segment_id": str(segment.id)}
    )
    return segment.title or "bilag", segment.content_type or "application/octet-stream", segment.data


def _mine(actor: Actor) -> ColumnElement[bool]:
    return (Case.key_person_id == actor.user_id) | (Case.contact_person_id == actor.user_id)


async def unread(session: AsyncSession, actor: Actor) -> UnreadOut:
    """Received letters I have not read, on cases where I am key person or contact person."""
    not_read = (
        ~select(CorrespondenceRead.correspondence_id)
        .where(CorrespondenceRead.correspondence_id == Correspondence.id, CorrespondenceRead.user_id == actor.user_id)
        .exists()
    )
    rows = (
        await session.execute(
            select(Correspondence.case_id, func.count())
            .join(Case, Case.id == Correspondence.case_id)
            .where(and_(Correspondence.direction == Direction.IN, _mine(actor), case_scope(actor), not_read))
            .group_by(Correspondence.case_id)
            .order_by(Correspondence.case_id)
        )
    ).all()
    await audit.record_case_reads(session, actor, "case.correspondence.unread", [row[0] for row in rows])
    cases = [UnreadCase(case_id=row[0], unread=int(row[1])) for row in rows]
    return UnreadOut(total=sum(c.unread for c in cases), cases=cases)


async def mark_read(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, letter_id: uuid.UUID, now: datetime
) -> ReadOut:
    """Mark a received letter read by me (again: the first time stands); audited."""
    case = await visible_case(session, actor, case_id)
    letter = await session.scalar(
        select(Correspondence).where(Correspondence.id == letter_id, Correspondence.case_id == case.id)
    )
    if letter is None:
        raise not_found("letter")
    statement = insert(CorrespondenceRead).values(correspondence_id=letter.id, user_id=actor.user_id, read_at=now)
    await session.execute(statement.on_conflict_do_nothing())
    read_at = await session.scalar(
        select(CorrespondenceRead.read_at).where(
            CorrespondenceRead.correspondence_id == letter.id, CorrespondenceRead.user_id == actor.user_id
        )
    )
    await audit.record(
        session, actor, "case.correspondence.mark_read", case_id=case.id, detail={"correspondence_id": str(letter.id)}
    )
    return ReadOut(id=letter.id, read_at=read_at or now)
