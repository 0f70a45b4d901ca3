"""Time is explicit: services ask a clock, and tests move it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

COPENHAGEN = ZoneInfo("Europe/Copenhagen")


class Clock:
    """The wall clock in UTC; `shift` moves it (tests only ever move it forward)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def today(self) -> date:
        """Today as a Danish calendar date: deadlines and shifts are Copenhagen days."""
        return self.now().astimezone(COPENHAGEN).date()

    def shift(self, delta: timedelta) -> None:
        self.offset += delta
