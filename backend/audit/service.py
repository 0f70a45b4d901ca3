"""Writing and reading the access log. Rows are written in the caller's transaction, never alone."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, and_, bindparam, func, insert, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.models import AuditEntry
from backend.audit.schemas import AuditEntryOut, AuditPage
from backend.errors import not_found
from backend.people.actor import Actor, SystemActor
from backend.people.administered import Administered, administered
from backend.people.models import User

# Built once: every change writes a row through it.
_RECORD = text(
    """
    INSERT INTO audit_log (user_id, role, action, case_id, subject_user_id, request_id, detail)
    VALUES (:user_id, :role, :action, :case_id, :subject_user_id, :request_id, :detail)
    """
).bindparams(bindparam("detail", type_=JSONB(none_as_null=True)))  # no detail: SQL NULL, not JSON null


async def record(
    session: AsyncSession,
    actor: Actor | SystemActor,
    action: str,
    *,
    case_id: uuid.UUID | None = None,
    subject_user_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Log one action, by a person or by a system (`SystemActor`, logged under its client's id and role).

    `detail` holds ids and field names only, never personal data.
    """
    await session.execute(
        _RECORD,
        {
            "user_id": actor.client_id if isinstance(actor, SystemActor) else actor.user_id,
            "role": actor.role.value,
            "action": action,
            "case_id": case_id,
            "subject_user_id": subject_user_id,
            "request_id": actor.request_id,
            "detail": detail,
        },
    )


async def record_case_reads(session: AsyncSession, actor: Actor, action: str, case_ids: Sequence[uuid.UUID]) -> None:
    """One row per case shown (a list shows names): the auditor asks per case who saw it."""
    if not case_ids:
        return
    await session.execute(
        insert(AuditEntry),
        [
            {
                "user_id": actor.user_id,
                "role": actor.role.value,
                "action": action,
                "case_id": case_id,
                "request_id": actor.request_id,
            }
            for case_id in case_ids
        ],
    )


def _visible(reach: Administered) -> ColumnElement[bool]:
    """The entries an administrator may read.

    A municipality's administrator: every entry about one of its cases, whoever wrote it (her
    citizens' records read by the palliative unit's staff are hers to know of), and entries about
    no case that are by, and about, its own users. A provider's administrator: the entries by her
    own staff (in every municipality they serve), about nobody else; she has no cases.
    """
    ours = reach.user_ids()
    people = and_(
        AuditEntry.user_id.in_(ours),
        or_(AuditEntry.subject_user_id.is_(None), AuditEntry.subject_user_id.in_(ours)),
    )
    if reach.municipality_id is None:
        return people
    # Row security shows her no case: the database names her municipality's case ids, nothing more.
    our_cases = select(func.municipality_case_ids(reach.municipality_id))
    return or_(AuditEntry.case_id.in_(our_cases), and_(AuditEntry.case_id.is_(None), people))


# The same rows from a plain asyncpg connection (the hot reads that skip the ORM).
_CASE_READS_PG = """
    INSERT INTO audit_log (user_id, role, action, case_id, request_id)
    SELECT $1, $2, $3, shown.case_id, $4 FROM unnest($5::uuid[]) AS shown(case_id)
"""


async def record_case_reads_pg(
    pg: asyncpg.Connection, actor: Actor, action: str, case_ids: Sequence[uuid.UUID]
) -> None:
    """`record_case_reads` in one statement on a plain connection; awaited before the answer leaves."""
    if case_ids:
        await pg.execute(_CASE_READS_PG, actor.user_id, actor.role.value, action, actor.request_id, list(case_ids))


async def entries(
    session: AsyncSession,
    actor: Actor,
    *,
    case_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> AuditPage:
    """An administrator reads who did what to a case of her municipality, or what one of the
    people she manages did (`backend.people.administered`); another's case or person is a 404.

    Newest first, a page at a time, only entries within her reach (`_visible`), a system's entries
    about her cases too (named by their role). Reading the log is itself logged.
    """
    reach = administered(actor)
    if case_id is not None:
        found = await session.scalar(select(func.case_municipality(case_id)))
        if found is None or found != reach.municipality_id:
            raise not_found("case")
    if user_id is not None and await session.scalar(reach.user_ids().where(User.id == user_id)) is None:
        raise not_found("user")
    query = (
        select(AuditEntry, User.full_name)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .where(_visible(reach))
        .order_by(AuditEntry.id.desc())
        .limit(limit + 1)
    )
    if case_id is not None:
        query = query.where(AuditEntry.case_id == case_id)
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = (await session.execute(query)).all()
    items = [
        AuditEntryOut(
            id=entry.id,
            at=entry.at,
            user_id=entry.user_id,
            user_name=name or entry.role,  # a system (a hospital notice) is named by its role
            role=entry.role,
            action=entry.action,
            case_id=entry.case_id,
            subject_user_id=entry.subject_user_id,
            request_id=entry.request_id,
            detail=entry.detail,
        )
        for entry, name in rows[:limit]
    ]
    await record(session, actor, "audit.read", case_id=case_id, subject_user_id=user_id)
    return AuditPage(items=items, next_before_id=items[-1].id if len(rows) > limit else None)
