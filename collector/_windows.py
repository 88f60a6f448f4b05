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
    return (calendar or UTC).windows(since_ms / 1000, (now_ms + 1) / 1000, clip=False)


def rolling_window(now_ms: int, rolling_s: float) -> Window:
    """The last ``rolling_s`` up to ``now``, from a whole minute."""
    start = (now_ms - round(rolling_s * 1000)) // _MINUTE_MS * _MINUTE_MS
    return Window(start / 1000, now_ms / 1000, "rolling")


class Changes:
    """Since when each site's windows must be computed again: the oldest timestamp received since the last tick
    whose results were all handed on (``done``), and at least the site's clock at that tick (a window that ended
    in between is written once more, final). A tick not done — its consumer stopped or failed half-way — leaves
    its changes to the next."""

    def __init__(self) -> None:
        self._dirty_from: dict[str, int] = {}
        #: the changes taken by ticks not yet done
        self._taken: dict[str, int] = {}
        self._done_now: dict[str, int] = {}

    def saw(self, site: str, ts_ms: int) -> None:
        # a counters sample at a window's end is that window's last count: the window ending at it is computed too
        _earliest(self._dirty_from, site, ts_ms - 1)

    def spans(self, clocks: Mapping[str, int], keep_ms: int) -> dict[str, Span]:
        """Each site's span for this tick (the changes are taken: what arrives from now on is the next tick's)."""
        for site, ts in self._dirty_from.items():
            _earliest(self._taken, site, ts)
        self._dirty_from.clear()
        spans = {}
        for site, now in clocks.items():
            since = min(x for x in (self._taken.get(site), self._done_now.get(site), now) if x is not None)
            spans[site] = Span(now, max(since, now - keep_ms), now - keep_ms)
        return spans

    def done(self, spans: Mapping[str, Span]) -> None:
        """The tick of ``spans`` handed all its results on."""
        self._taken.clear()
        for site, span in spans.items():
            self._done_now[site] = span.now_ms


def _earliest(into: dict[str, int], site: str, ts_ms: int) -> None:
    held = into.get(site)
    if held is None or ts_ms < held:
        into[site] = ts_ms
