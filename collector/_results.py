"""The KPIs of a site's units over one window: machines, lines (their constraint), areas and the site.

A machine's KPIs are its own; a **line's** are its constraint's (the station with the
longest ideal cycle time sets the line's output); an area and the site combine their lines'
constraint periods (time-weighted sums, ``collector.combine``). The levels above a site add
up the sites' periods (``FleetStep``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shopfloor import CalendarState, Window

from ._kpi import Kpis, Period, combine, kpis
from ._records import MachineRecord
from ._stream import Interval, Streams
from ._units import Level, Unit


@dataclass(frozen=True, slots=True)
class Result:
    """One unit's KPIs over one window."""

    level: Level
    unit: Unit
    window: str
    start_ms: int
    end_ms: int
    label: str
    final: bool
    period: Period
    kpis: Kpis

    @property
    def key(self) -> tuple[Level, Unit, str, int]:
        """What a stored result point is known by (a result written again overwrites it)."""
        return self.level, self.unit, self.window, self.start_ms


def result(level: Level, unit: Unit, window: str, w: Window, now_ms: int, period: Period) -> Result:
    start, end = round(w.start * 1000), round(w.end * 1000)
    return Result(level, unit, window, start, end, w.label, end <= now_ms, period, kpis(period))


def constraints(machines: Iterable[MachineRecord]) -> dict[Unit, MachineRecord]:
    """Each line's constraint: the station with the longest mean ideal cycle time (the last of equals)."""
    lines: dict[Unit, MachineRecord] = {}
    for m in sorted(machines, key=lambda m: (m.line, m.order, m.path)):
        best = lines.get(m.line)
        if best is None or m.ideal_s >= best.ideal_s:
            lines[m.line] = m
    return lines


class Calculator:
    """Periods of machines over windows, each computed once per tick (a site's window is often the fleet's too),
    outside the machines' unknown intervals (from their ``Streams``)."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams
        self._plans: dict[tuple[str, int, int], list[tuple[int, int, CalendarState]]] = {}
        self._periods: dict[tuple[str, int, int], Period] = {}
        self._unknown: dict[str, tuple[int, list[Interval], list[Interval]]] = {}

    def begin(self) -> None:
        """Forget what was computed before new data arrived."""
        self._periods.clear()
        self._plans.clear()

    def plan(self, m: MachineRecord, start_ms: int, end_ms: int) -> list[tuple[int, int, CalendarState]]:
        key = (m.site if m.calendar is not None else "", start_ms, end_ms)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = m.timeline.planned(start_ms, end_ms)
        return plan

    def period(self, m: MachineRecord, start_ms: int, end_ms: int) -> Period:
        key = (m.path, start_ms, end_ms)
        period = self._periods.get(key)
        if period is None:
            unknown, unobserved = self._unknown_of(m)
            period = self._periods[key] = m.timeline.period(start_ms, end_ms, self.plan(m, start_ms, end_ms),
                                                          unknown, unobserved)
        return period

    def _unknown_of(self, m: MachineRecord) -> tuple[list[Interval], list[Interval]]:
        """The machine's unknown and unobserved intervals, made again only when they changed."""
        stream = self.streams.machines.get(m.path)
        if stream is None:
            return [], []
        cached = self._unknown.get(m.path)
        if cached is None or cached[0] != stream.version:
            cached = self._unknown[m.path] = (stream.version, stream.unknown(), stream.unobserved())
        return cached[1], cached[2]

    def site_results(self, machines: Sequence[MachineRecord], window: str, w: Window, now_ms: int,
                     lines: Mapping[Unit, MachineRecord], levels: Iterable[Level]) -> list[Result]:
        """The results of ``levels`` (within a site) of the machines of one site over one window, up to ``now``.
        ``lines``: each line's constraint."""
        start, end = round(w.start * 1000), round(w.end * 1000)
        upto = min(end, now_ms)
        wanted = set(levels)
        own_lines = sorted({m.line for m in machines})
        needed = machines if Level.MACHINE in wanted else [lines[ln] for ln in own_lines if ln in lines]
        periods = {m.path: self.period(m, start, upto) for m in needed}
        line_periods = {ln: periods[lines[ln].path] for ln in own_lines if ln in lines and lines[ln].path in periods}
        out: list[Result] = []
        if Level.MACHINE in wanted:
            for m in machines:
                if m.timeline.last_ts_ms is not None:  # a machine that never reported has no KPIs (it still counts
                    out.append(result(Level.MACHINE, m.path, window, w, now_ms, periods[m.path]))  # in 两化融合)
        if Level.LINE in wanted:
            out += [result(Level.LINE, ln, window, w, now_ms, p) for ln, p in line_periods.items()]
        for level in (Level.AREA, Level.SITE):
            if level in wanted:
                groups: dict[Unit, list[Period]] = {}
                for ln, p in line_periods.items():
                    groups.setdefault(ln.up(level), []).append(p)
                out += [result(level, unit, window, w, now_ms, combine(ps)) for unit, ps in groups.items()]
        return out
