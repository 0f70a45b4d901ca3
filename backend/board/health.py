"""The red banner: the faults Lindra sees in itself now (backend/alerts/watch.py), for every board."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts.watch import OPEN_ALARMS
from backend.board import schemas as s


async def open_faults(session: AsyncSession) -> s.Faults:
    """The open alarms, oldest first: they name no person and no municipality, so every board sees them."""
    rows = await session.execute(OPEN_ALARMS)
    return s.Faults(faults=[s.FaultOut(fault=row.fault, since=row.started_at) for row in rows])
