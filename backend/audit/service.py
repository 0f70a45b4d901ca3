"""Writing and reading the access log. Rows are written in the caller's transaction, never alone."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.models import AuditEntry
from backend.people.actor import Actor


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    case_id: uuid.UUID | None = None,
    subject_user_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Log one action. `detail` holds ids and field names only, never personal data."""
    await session.execute(
        insert(AuditEntry).values(
            user_id=actor.user_id,
            role=actor.role.value,
            action=action,
            case_id=case_id,
            subject_user_id=subject_user_id,
            request_id=actor.request_id,
            detail=detail,
        )
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


async def entries(
    session: AsyncSession,
    *,
    case_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first; page with `before_id` (the last id of the previous page)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if case_id is not None:
        query = query.where(AuditEntry.case_id == case_id)
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list((await session.scalars(query)).all())
