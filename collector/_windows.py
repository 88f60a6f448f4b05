"""Which windows a KPI tick computes: each site's hours, shifts and days by its calendar, and the rolling window.

A site's windows go by its own telemetry clock (``Clocks``). A tick computes every window
that is still open or that received data since the last tick (``Changes``): closed windows
are computed once more, ``final``, when late data arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shopfloor import Calendar, Window

#: counters are kept per minute, so the rolling window begins on a minute
_MINUTE_MS = 60_000
UTC = Calendar(timezone="UTC", shifts=(), off_weekdays=frozenset(), off_dates=frozenset(), maintenance=())


@dataclass(frozen=True, slots=True)
class Span:
    """The windows to compute for a site: those overlapping [since, now], none starting before ``not_before``."""

    now_ms: int
    since_ms: int
    not_before_ms: int | None = None

    def wants(self, w: Window) -> bool:
        return self.not_before_ms is None or w.start * 1000 >= self.not_before_ms


def windows(calendar: Calendar | None, since_ms: int, now_ms: int) -> dict[str, list[Window]]:
    """The calendar's hours, shifts and days overlapping [since, now] (UTC days without a calendar)."""
    return (calendar or UTC).windows(since_ms / 1000, max(now_ms, since_ms + 1) / 1000, clip=False)


def rolling_window(now_ms: int, rolling_s: float) -> Window:
    """The last ``rolling_s`` up to ``now``, from a whole minute."""
    start = (now_ms - round(rolling_s * 1000)) // _MINUTE_MS * _MINUTE_MS
    return Window(start / 1000, now_ms / 1000, "rolling")


class Changes:
    """Since when each site's windows must be computed again: the oldest timestamp received since the last tick,
    and at least the site's clock at the last tick (a window that ended in between is written once more, final)."""

    def __init__(self) -> None:
        self._dirty_from: dict[str, int] = {}
        self._last_now: dict[str, int] = {}

    def saw(self, site: str, ts_ms: int) -> None:
        dirty = self._dirty_from.get(site)
        if dirty is None or ts_ms < dirty:
            self._dirty_from[site] = ts_ms

    def spans(self, clocks: Mapping[str, int], keep_ms: int) -> dict[str, Span]:
        """Each site's span for this tick (and the changes taken)."""
        spans = {}
        for site, now in clocks.items():
            since = min(x for x in (self._dirty_from.get(site), self._last_now.get(site), now) if x is not None)
            spans[site] = Span(now, max(since, now - keep_ms), now - keep_ms)
            self._last_now[site] = now
        self._dirty_from.clear()
        return spans
