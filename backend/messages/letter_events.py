"""A letter we sent changed state: the event boards and phones follow to show it without a reload.

Its kind is `case.correspondence_<status>` (sent, acknowledged, failed; `sending` is announced by
the writing itself), with the case and its district, so a nurse's board hears only of her
districts' letters; the payload holds ids and codes only, never a name or the text.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.events import emit

_LETTER_EVENT = text(
    """
    SELECT c.municipality_id, c.case_id, c.status, k.district_id
    FROM correspondence c JOIN cases k ON k.id = c.case_id WHERE c.id = :letter
    """
)


async def announce(session: AsyncSession, letter_id: uuid.UUID) -> None:
    """Tell boards and phones that a letter we sent changed state: `case.correspondence_<status>`
    (sent, acknowledged, failed), its case and district, and ids and codes only."""
    await session.flush()
    municipality_id, case_id, status, district_id = (await session.execute(_LETTER_EVENT, {"letter": letter_id})).one()
    await emit(
        session,
        f"case.correspondence_{status}",
        municipality_id,
        district_id=district_id,
        case_id=case_id,
        payload={"correspondence_id": str(letter_id), "status": status},
    )
