"""Shifts in Copenhagen wall-clock time, turned into exact UTC instants.

A shift is named by the Copenhagen date it starts on and its kind. Its length follows the wall
clock: the night from the last Saturday of March is 7 hours long, the night from the last
Saturday of October 9. All arithmetic goes through `zoneinfo`, never by adding hours.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from backend.clock import COPENHAGEN
from backend.roster.models import ShiftKind

DEFAULT_TIMES: dict[ShiftKind, tuple[time, time]] = {
    ShiftKind.DAY: (time(7), time(15)),
    ShiftKind.EVENING: (time(15), time(23)),
    ShiftKind.NIGHT: (time(23), time(7)),
}

ShiftTimes = Mapping[ShiftKind, tuple[time, time]]


@dataclass(frozen=True, slots=True)
class Shift:
    day: date  # the Copenhagen date the shift starts on
    kind: ShiftKind
    starts: datetime  # UTC
    ends: datetime  # UTC

    @property
    def hours(self) -> float:
        return (self.ends - self.starts).total_seconds() / 3600


def local_instant(day: date, at: time) -> datetime:
    """The UTC instant of a Copenhagen wall-clock time.

    A time that does not exist (02:30 on the spring-forward night) falls after the gap, at 03:30;
    a time that exists twice (02:30 on the autumn night) means its first occurrence.
    """
    return datetime.combine(day, at, tzinfo=COPENHAGEN).astimezone(UTC)


def shift(day: date, kind: ShiftKind, times: ShiftTimes = DEFAULT_TIMES) -> Shift:
    start_time, end_time = times[kind]
    end_day = day + timedelta(days=1) if end_time <= start_time else day
    return Shift(day, kind, local_instant(day, start_time), local_instant(end_day, end_time))


def window(
    day: date, kind: ShiftKind, start: time, end: time, times: ShiftTimes = DEFAULT_TIMES
) -> tuple[datetime, datetime]:
    """A visit window inside a shift, as UTC instants.

    Window times after midnight on a night shift fall on the next day (a 02:00-03:00 window of the
    night starting on the 28th is on the 29th).
    """
    shift_start = times[kind][0]

    def on(at: time) -> datetime:
        return local_instant(day + timedelta(days=1) if at < shift_start else day, at)

    starts, ends = on(start), on(end)
    if ends <= starts:
        # Only a window swallowed by the spring gap (02:00-03:00) gets here: keep its length.
        wall = datetime.combine(day, end) - datetime.combine(day, start)
        ends = starts + (wall if wall > timedelta(0) else timedelta(hours=1))
    return starts, ends


def shifts_between(start: datetime, end: datetime, times: ShiftTimes = DEFAULT_TIMES) -> Iterator[Shift]:
    """Every shift that overlaps [start, end), in time order."""
    day = start.astimezone(COPENHAGEN).date() - timedelta(days=1)
    last = end.astimezone(COPENHAGEN).date()
    while day <= last:
        for kind in (ShiftKind.DAY, ShiftKind.EVENING, ShiftKind.NIGHT):
            candidate = shift(day, kind, times)
            if candidate.ends > start and candidate.starts < end:
                yield candidate
        day += timedelta(days=1)


def shift_at(instant: datetime, times: ShiftTimes = DEFAULT_TIMES) -> Shift:
    """The shift running at an instant."""
    return next(shifts_between(instant, instant + timedelta(microseconds=1), times))
