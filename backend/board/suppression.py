"""Indicators that cannot single anyone out: small counts are left out, and so are the counts that
would let a reader work a left-out count back.

A district's one death on one day, with its place, is one person once joined with the audit
trail. So every count from 1 to `min_count - 1` is suppressed (null), zeros are shown (nobody is
in them). Counts come in groups that add up to a shown total (deaths by place, alerts by outcome,
visits by state, deadlines by state, and a count with the rest of its total, e.g. deaths with a
wish and those without): subtracting the shown cells from the total would give back a single
suppressed one, so a group with any small cell, or whose total is suppressed, is suppressed whole.
Shares and durations whose counts are suppressed are suppressed with them; a median of two
alerts is two alerts.

This guards one answer. Two answers that differ by one district or one day can still be
subtracted from each other; the audit trail records who asked for which.
"""

from __future__ import annotations

from typing import Any

Figures = dict[str, Any]


class Suppressor:
    """Suppresses cells in place, counting how many counts it left out."""

    def __init__(self, min_count: int) -> None:
        self.min_count = min_count
        self.suppressed = 0

    def small(self, count: int | None) -> bool:
        return count is not None and 0 < count < self.min_count

    def hide(self, figures: Figures, keys: list[str] | tuple[str, ...]) -> None:
        for key in keys:
            if figures[key] is not None:
                figures[key] = None
                self.suppressed += 1

    def total(self, figures: Figures, key: str) -> int | None:
        """A total on its own: suppressed when small; what remains of it."""
        if self.small(figures[key]):
            self.hide(figures, [key])
        value: int | None = figures[key]
        return value

    def group(self, figures: Figures, keys: list[str] | tuple[str, ...], total: int | None) -> None:
        """`keys` and the rest of `total` (what the keys do not count) are shown all, or none."""
        counts = [figures[key] for key in keys]
        rest = None if total is None or None in counts else total - sum(counts)
        if total is None or any(self.small(count) for count in [*counts, rest]):
            self.hide(figures, keys)


def share(part: int | None, whole: int | None, computed: float | None) -> float | None:
    """The share, unless a count it is made of was suppressed."""
    return None if part is None or whole is None else computed


def protect(row: Figures, min_count: int) -> int:
    """Suppress `row`'s small counts and the counts that would reveal them, in place; how many."""
    cells = Suppressor(min_count)
    _deaths(cells, row["deaths"])
    _alerts(cells, row["alerts"])
    _visits(cells, row["visits"])
    _referrals(cells, row["referrals"])
    return cells.suppressed


def _deaths(cells: Suppressor, deaths: Figures) -> None:
    total = cells.total(deaths, "total")
    cells.group(deaths["by_place"], tuple(deaths["by_place"]), total)
    cells.group(deaths, ["with_wish"], total)
    cells.group(deaths, ["died_where_wished"], deaths["with_wish"])
    deaths["died_where_wished_share"] = share(
        deaths["died_where_wished"], deaths["with_wish"], deaths["died_where_wished_share"]
    )
    cells.group(deaths, ["confirmed_by_notice"], total)


def _alerts(cells: Suppressor, alerts: Figures) -> None:
    raised = cells.total(alerts, "raised")
    cells.group(alerts, ["resolved"], raised)
    resolved = alerts["resolved"]
    cells.group(alerts["by_outcome"], tuple(alerts["by_outcome"]), resolved)
    cells.group(alerts, ["at_home", "admitted"], resolved)
    alerts["at_home_share"] = share(alerts["at_home"], resolved, alerts["at_home_share"])
    cells.group(alerts, ["at_home_then_admitted"], alerts["at_home"])
    cells.group(alerts, ["admitted_confirmed_by_notice"], alerts["admitted"])
    for timing in ("time_to_acknowledge", "time_to_bedside"):
        durations = alerts[timing]
        cells.group(durations, ["count"], raised)
        if durations["count"] is None:
            durations["median_seconds"] = durations["p90_seconds"] = None


def _visits(cells: Suppressor, visits: Figures) -> None:
    planned = cells.total(visits, "planned")
    cells.group(visits, ["done", "missed", "cancelled", "open"], planned)
    counted = None if visits["cancelled"] is None else visits["planned"] - visits["cancelled"]
    visits["done_share"] = share(visits["done"], counted, visits["done_share"])


def _referrals(cells: Suppressor, referrals: Figures) -> None:
    total = cells.total(referrals, "total")
    cells.group(referrals["by_source"], tuple(referrals["by_source"]), total)
    for deadline in (referrals["first_contact"], referrals["assessment"]):
        cells.group(deadline, ["met", "met_late", "overdue", "not_due"], total)
        if deadline["met"] is None:  # decided is the total less not_due: it would give that back
            cells.hide(deadline, ["decided"])
        deadline["met_share"] = share(deadline["met"], deadline["decided"], deadline["met_share"])
