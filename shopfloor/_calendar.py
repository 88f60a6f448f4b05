"""Shift calendars: when a site plans to work, pause and maintain.

All instants are POSIX epoch seconds; clock times are local to the calendar's
time zone. The planned busy time (PBT) of ISO 22400 comes from here, never
from the machines.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarState(StrEnum):
    """What the calendar plans at an instant: work, a break, planned maintenance within a shift, or no shift."""

    WORKING = "working"
    BREAK = "break"
    MAINTENANCE = "maintenance"
    NO_SHIFT = "no_shift"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockRange:
    """A local clock range; ``end`` at or before ``start`` runs past midnight."""

    start: dt.time
    #: None stands for 24:00
    end: dt.time | None

    def on(self, day: dt.date, tz: ZoneInfo) -> tuple[float, float]:
        start = dt.datetime.combine(day, self.start, tzinfo=tz)
        end_day = day if self.end is not None and self.end > self.start else day + dt.timedelta(days=1)
        end = dt.datetime.combine(end_day, self.end or dt.time(0), tzinfo=tz)
        return start.timestamp(), end.timestamp()

    def minutes(self) -> tuple[float, float]:
        """Start and end in minutes after the start day's midnight (end may pass 1440)."""
        s = self.start.hour * 60 + self.start.minute + self.start.second / 60
        if self.end is None:
            return s, 1440.0
        e = self.end.hour * 60 + self.end.minute + self.end.second / 60
        return s, e if e > s else e + 1440


@dataclass(frozen=True, slots=True, kw_only=True)
class Shift:
    id: str
    zh: str
    en: str
    hours: ClockRange
    breaks: tuple[ClockRange, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintenanceWindow:
    weekdays: frozenset[int]
    dates: frozenset[dt.date]
    hours: ClockRange

    def applies(self, day: dt.date) -> bool:
        return day in self.dates or day.weekday() in self.weekdays


@dataclass(frozen=True, slots=True, kw_only=True)
class ShiftInstance:
    """One occurrence of a shift: shift ``id`` starting on local ``day``."""

    id: str
    day: dt.date
    start: float
    end: float

    @property
    def label(self) -> str:
        """``<local day>/<shift id>``, e.g. ``2026-01-05/A``: the label of its shift window."""
        return f"{self.day.isoformat()}/{self.id}"


@dataclass(frozen=True, slots=True)
class Window:
    """A reporting window (hour, shift or day), epoch seconds; ``label`` is its local start or shift label."""

    start: float
    end: float
    label: str


WINDOW_KINDS = ("hour", "shift", "day")


@dataclass(frozen=True, slots=True)
class CalendarInterval:
    """A span [start, end) in one calendar state, epoch seconds; ``shift`` is the shift it lies in (None outside
    shifts)."""

    start: float
    end: float
    state: CalendarState
    shift: ShiftInstance | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    """A site's shift calendar: shifts, days off and maintenance windows, on the clock of ``timezone``."""

    timezone: str
    shifts: tuple[Shift, ...]
    #: weekdays (0 = Monday) with no shifts
    off_weekdays: frozenset[int]
    #: holidays: dates with no shifts
    off_dates: frozenset[dt.date]
    maintenance: tuple[MaintenanceWindow, ...]

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances by key

    def is_working_day(self, day: dt.date) -> bool:
        """Whether shifts run on local ``day``: neither a holiday nor an off weekday."""
        return day not in self.off_dates and day.weekday() not in self.off_weekdays

    def local_date(self, epoch_s: float) -> dt.date:
        """The local date at an instant, epoch seconds."""
        return dt.datetime.fromtimestamp(epoch_s, self.tz).date()

    def _days(self, start: float, end: float) -> list[dt.date]:
        # a shift that starts the day before may still be running at ``start``
        first = self.local_date(start) - dt.timedelta(days=1)
        last = self.local_date(end)
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def shift_instances(self, start: float, end: float) -> list[ShiftInstance]:
        """Shift occurrences overlapping [start, end), in time order."""
        out = []
        for day in self._days(start, end):
            if not self.is_working_day(day):
                continue
            for shift in self.shifts:
                s, e = shift.hours.on(day, self.tz)
                if e > start and s < end:
                    out.append(ShiftInstance(id=shift.id, day=day, start=s, end=e))
        out.sort(key=lambda i: i.start)
        return out

    def intervals(self, start: float, end: float) -> list[CalendarInterval]:
        """Partition [start, end) into calendar intervals, adjacent equal ones merged.

        Outside shifts there is no shift; inside, planned maintenance takes
        precedence over a break, and a break over work. Maintenance outside
        shifts takes nothing from the plan, so it is not planned downtime.
        """
        tz = self.tz
        days = self._days(start, end)
        works: list[tuple[float, float, ShiftInstance]] = []
        breaks: list[tuple[float, float, ShiftInstance]] = []
        for inst in self.shift_instances(start, end):
            works.append((inst.start, inst.end, inst))
            shift = next(s for s in self.shifts if s.id == inst.id)
            shift_start_min = shift.hours.minutes()[0]
            for brk in shift.breaks:
                # a break clocked before the shift start belongs to the next day
                day = inst.day if brk.minutes()[0] >= shift_start_min else inst.day + dt.timedelta(days=1)
                bs, be = brk.on(day, tz)
                breaks.append((bs, be, inst))
        maint = [w.hours.on(day, tz) for day in days for w in self.maintenance if w.applies(day)]
        cuts = {start, end}
        for s, e, _ in works + breaks:
            cuts.update((s, e))
        for s, e in maint:
            cuts.update((s, e))
        edges = sorted(c for c in cuts if start <= c <= end)
        out: list[CalendarInterval] = []
        for a, b in itertools.pairwise(edges):
            mid = (a + b) / 2
            owner = next((i for s, e, i in works if s <= mid < e), None)
            if owner is None:
                state = CalendarState.NO_SHIFT
            elif any(s <= mid < e for s, e in maint):
                state = CalendarState.MAINTENANCE
            elif any(s <= mid < e for s, e, _ in breaks):
                state = CalendarState.BREAK
            else:
                state = CalendarState.WORKING
            if out and out[-1].state is state and out[-1].shift == owner:
                out[-1] = CalendarInterval(out[-1].start, b, state, owner)
            else:
                out.append(CalendarInterval(a, b, state, owner))
        return out


    def iso(self, epoch_s: float) -> str:
        """An instant as local ISO 8601 time with its UTC offset."""
        return dt.datetime.fromtimestamp(epoch_s, self.tz).isoformat()

    def _local_edges(self, start: float, end: float, step: dt.timedelta) -> list[float]:
        """Local-clock hour or day boundaries strictly inside (start, end)."""
        tz = self.tz
        local = dt.datetime.fromtimestamp(start, tz)
        if step == dt.timedelta(days=1):
            cursor = dt.datetime.combine(local.date(), dt.time(0), tzinfo=tz)
        else:
            cursor = local.replace(minute=0, second=0, microsecond=0)
        edges: list[float] = []
        while True:
            cursor = (cursor + step) if step < dt.timedelta(days=1) else dt.datetime.combine(
                cursor.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
            t = cursor.timestamp()
            if t >= end:
                return edges
            if t > start:
                edges.append(t)

    def windows(self, start: float, end: float, *, clip: bool = True) -> dict[str, list[Window]]:
        """Hour, shift and day windows (local clock) overlapping [start, end); ``clip`` cuts them to it."""
        out: dict[str, list[Window]] = {}
        for kind, step in (("hour", dt.timedelta(hours=1)), ("day", dt.timedelta(days=1))):
            if clip:
                edges = [start, *self._local_edges(start, end, step), end]
            else:  # whole windows: from the edge at or before start to the first edge at or after end
                first = self._floor(start, step)
                edges = [first, *self._local_edges(first, end, step)]
                edges += self._local_edges(edges[-1], end + 2 * step.total_seconds(), step)[:1]
                while len(edges) > 2 and edges[-2] >= end:
                    edges.pop()
            out[kind] = [Window(a, b, self.iso(a)) for a, b in itertools.pairwise(edges) if b > a]
        out["shift"] = [
            Window(max(i.start, start), min(i.end, end), i.label) if clip else Window(i.start, i.end, i.label)
            for i in self.shift_instances(start, end)
        ]
        return out

    def _floor(self, t: float, step: dt.timedelta) -> float:
        local = dt.datetime.fromtimestamp(t, self.tz)
        if step == dt.timedelta(days=1):
            return dt.datetime.combine(local.date(), dt.time(0), tzinfo=self.tz).timestamp()
        return local.replace(minute=0, second=0, microsecond=0).timestamp()
