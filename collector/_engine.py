"""The KPI engine: what the collector learns from the telemetry stream, and the results it writes back.

``Engine.feed`` takes every message the machines' ``Streams`` admitted (no I/O);
``Engine.tick`` returns the line protocol of the results due. The engine only orchestrates;
each concern has its own module:

- ``_records``: what is held of each machine (its ``MachineTimeline`` of states and counters);
- ``_clock`` and ``_windows``: each site's telemetry clock, which no one machine can move, and
  the windows a tick computes (open ones, and closed ones that received late data);
- ``_results``: the KPIs of a site's machines, lines, areas and the site over a window;
- ``_fleet``: the enterprises and the fleet, added up from the sites' shares, and the grading;
- ``_alarms``: each machine's status and its alarms;
- ``_writes``: what was written, so that only changes are written again (and what no longer
  holds is deleted);
- ``_encode``: the points, as line protocol.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

from shopfloor import Calendar, Plant, Region, Window
from shopfloor.telemetry import CounterSample, MessageKind

from ._alarms import Alarms, MachineStatus, status
from ._clock import Clocks
from ._config import KpiConfig
from ._digitization import Equipment, from_birth, indicators, register
from ._encode import (
    RATES,
    alarm_line,
    clock_line,
    fleet_status_line,
    gap_line,
    kpi_line,
    machine_status_line,
    minute,
    rates_line,
    target_lines,
)
from ._fleet import FLEET_WINDOWS, FleetStep, Grades, SiteIndicators, SiteShare, above_sites, grade, scores
from ._fleet import enterprise_indicators as _enterprise_indicators
from ._messages import Message
from ._points import Retraction
from ._records import UNPLACED, MachineRecord
from ._results import Calculator, Result, constraints
from ._stream import Streams
from ._units import SITE_LEVELS, Level, Unit
from ._windows import Changes, rolling_window, windows
from ._writes import GapWrites, ResultWrites

log = logging.getLogger(__name__)

__all__ = ["Engine", "MachineRecord", "MachineStatus", "Result", "SiteIndicators", "target_lines"]


class Engine:
    """The KPI engine of a collector (or of its partition of the fleet): ``feed`` it the admitted messages,
    ``tick`` it for the results due, as line protocol."""

    def __init__(self, config: KpiConfig, counts: Counter[str] | None = None, streams: Streams | None = None,
                 *, sites: Collection[str] | None = None, adds_up: bool | None = None) -> None:
        """``sites``: the engine's partition of the fleet (the plant files' other sites are left to theirs, and the
        partitions' fleet step adds them up from the store); None: every site. ``adds_up``: the engine adds up
        its sites as the fleet here (``FleetStep``; default: when it has every site)."""
        self.config = config
        self.counts: Counter[str] = counts if counts is not None else Counter()
        #: what the engine is fed has been admitted by these (the caller admits, the engine reads what is unknown)
        self.streams = streams if streams is not None else Streams(counts=self.counts)
        self.machines: dict[str, MachineRecord] = {}
        self.calendars: dict[str, Calendar] = {}
        #: where each site is (its targets are the national ones and its own region's), by site unit
        self.regions: dict[str, Region | None] = {}
        self.clocks = Clocks()
        self.sites = frozenset(sites) if sites is not None else None
        self.fleet = FleetStep(config) if (sites is None if adds_up is None else adds_up) else None
        self.alarms = Alarms()
        self.latest: dict[tuple[str, str, str], Result] = {}
        self._changes = Changes()
        self._calculator = Calculator(self.streams)
        self._writes = ResultWrites()
        self._gaps = GapWrites()
        for plant in config.plants:
            self.add_plant(plant)

    # ------------------------------------------------------------ the register

    def add_plant(self, plant: Plant) -> None:
        """Register a plant file's machines of the engine's sites, with their calendars, mean ideal cycle times and
        places in their lines; a machine already known (from a birth) takes the file's register entry."""
        entries = {e.path: e for e in register(plant)}
        for at in plant.machines():
            site = f"{at.enterprise.id}/{at.site.id}"
            if self.sites is not None and site not in self.sites:
                continue
            self.calendars[site] = at.site.calendar
            self.regions[site] = at.site.region
            m = self.machines.get(at.path)
            if m is None:
                m = self.machines[at.path] = MachineRecord(Unit(at.path), entries[at.path], at.site.calendar)
            else:
                m.equipment, m.calendar, m.timeline.calendar = entries[at.path], at.site.calendar, at.site.calendar
            m.ideal_s = at.line.mean_ideal_s(at.machine)
            m.order = at.line.machines.index(at.machine)

    def _machine(self, path: str) -> MachineRecord:
        m = self.machines.get(path)
        if m is None:
            unit = Unit(path)
            m = self.machines[path] = MachineRecord(unit, None, self.calendars.get(unit.site))
        return m

    def register(self) -> list[Equipment]:
        """Every machine's register entry known (the plant files', then births')."""
        return [m.equipment for m in list(self.machines.values()) if m.equipment is not None]

    # ------------------------------------------------------------ the stream

    def feed(self, msg: Message, received_ms: int) -> None:
        """A message the streams admitted as new (``Streams.admit``)."""
        path = msg.topic.path
        m = self._machine(path)
        body = msg.body
        kind = msg.topic.kind
        if kind is MessageKind.STATUS:
            self.set_online(path, body["status"] == "online", received_ms)
            return
        if kind is MessageKind.BIRTH:
            self.learn(path, from_birth(body), body["ideal_cycle_s"])
            self.set_online(path, True, received_ms)
            return
        ts = body["ts"]
        m.hear(ts)
        if kind is MessageKind.STATE:
            m.timeline.add_state(ts, body["reason_code"])
        elif kind is MessageKind.COUNTERS:
            m.timeline.add_counters(msg.counters())
        else:
            return
        self._saw(m, ts, received_ms)

    def learn(self, path: str, equipment: Equipment, ideal_cycle_s: Mapping[str, float]) -> None:
        """A register entry from a birth; the plant file, when given, stays the register."""
        m = self._machine(path)
        if m.equipment is None or m.order == UNPLACED:
            m.equipment = equipment
            m.ideal_s = sum(ideal_cycle_s.values()) / len(ideal_cycle_s) if ideal_cycle_s else 0.0

    def set_online(self, path: str, online: bool, received_ms: int | None = None) -> None:
        """``received_ms``: when it was learnt (wall clock; None: now). Being away is timed by the wall clock:
        a plant whose machines all went silent has no telemetry clock left to time it."""
        m = self._machine(path)
        if not online and m.online is not False:
            m.offline_since = received_ms if received_ms is not None else now_wall_ms()
        m.online = online

    def heard_live(self, path: str) -> bool:
        """Whether this process has learnt the machine's status or session from the stream (not from storage)."""
        m = self.machines.get(path)
        return m is not None and m.online is not None

    def restore_alarm(self, path: str, kind: str, since_ms: int) -> None:
        """An alarm still active when the previous process stopped: cleared (and written) when it ends."""
        self.alarms.restore(path, kind, since_ms)

    def restore(self, path: str, states: Iterable[tuple[int, int]], samples: Iterable[CounterSample]) -> None:
        """Telemetry read back from storage after a restart: merged with what arrives meanwhile (repeats kept once)."""
        m = self._machine(path)
        wall = now_wall_ms()
        for ts, reason in states:
            m.timeline.add_state(ts, reason)
            m.hear(ts)
            self._saw(m, ts, wall)
        for sample in samples:
            m.timeline.restore_counters(sample)
            m.hear(sample.ts_ms)
            self._saw(m, sample.ts_ms, wall)

    def restore_stored_fields(self, level: str, unit: str, window: str, start_ms: int, fields: Iterable[str]) -> None:
        """The KPI fields a result's stored point holds, read back after a restart (``ResultWrites.stored``)."""
        if level in (Level.ENTERPRISE, Level.FLEET):
            if self.fleet is not None:
                self.fleet.writes.stored((level, unit, window, start_ms), fields)
        else:
            self._writes.stored((level, unit, window, start_ms), fields)

    def _saw(self, m: MachineRecord, ts: int, received_ms: int) -> None:
        self.clocks.saw(m.site, m.path, ts, received_ms)
        self._changes.saw(m.site, ts)

    def retention(self) -> dict[str, int]:
        """What the engine keeps for ``kpi.keep``: machines, and the bytes of their telemetry (docs/collector.md)."""
        held = sum(m.timeline.retained_bytes + m.heard.itemsize * len(m.heard) for m in list(self.machines.values()))
        return {"machines": len(self.machines), "telemetry_bytes": held, "keep_s": round(self.config.keep_s)}

    @property
    def now_ms(self) -> int | None:
        """The fleet's telemetry clock (None before any timestamp)."""
        self.clocks.advance()
        return self.clocks.fleet

    def site_now_ms(self, site: str) -> int | None:
        """A site's telemetry clock: its windows go by it."""
        return self.clocks.site(site)

    def _now_of(self, m: MachineRecord) -> int | None:
        return self.clocks.site(m.site)

    # ------------------------------------------------------------ results

    def _sites(self) -> dict[Unit, list[MachineRecord]]:
        by_site: dict[Unit, list[MachineRecord]] = {}
        for m in list(self.machines.values()):  # a machine first heard meanwhile joins at the next tick
            by_site.setdefault(m.site, []).append(m)
        return by_site

    def results(self, now_ms: int, since_ms: int, not_before_ms: int | None = None) -> list[Result]:
        """KPIs of every window overlapping [since, now] for every level and every site (each site's clock taken
        as ``now``); windows starting before ``not_before_ms`` are left alone."""
        self._calculator.begin()
        lines = constraints(self.machines.values())
        out: list[Result] = []
        fleet = FleetStep(self.config)
        shares = []
        for site, machines in self._sites().items():
            part = []
            for window, ws in windows(self.calendars.get(site), since_ms, now_ms).items():
                for w in ws:
                    if not_before_ms is None or w.start * 1000 >= not_before_ms:
                        part += self._calculator.site_results(machines, window, w, now_ms, lines, SITE_LEVELS)
            part += self._calculator.site_results(machines, "rolling", self.rolling_window(now_ms), now_ms, lines,
                                                  SITE_LEVELS)
            out += part
            shares.append(SiteShare(site, now_ms, [r for r in part if r.level is Level.SITE], [], []))
        return out + fleet.results(fleet.take(shares))

    def over(self, start_ms: int, end_ms: int, label: str = "run") -> list[Result]:
        """Every level's KPIs over any window (a run, a report period), window name ``label``."""
        self._calculator.begin()
        w = Window(start_ms / 1000, end_ms / 1000, label)
        lines = constraints(self.machines.values())
        out: list[Result] = []
        for _, machines in sorted(self._sites().items()):
            out += self._calculator.site_results(machines, label, w, end_ms, lines, SITE_LEVELS)
        return out + above_sites([r for r in out if r.level is Level.SITE], label, w, end_ms)

    def rolling_window(self, now_ms: int) -> Window:
        """The rolling window up to ``now_ms`` (epoch ms): the configured ``rolling_s``, from a whole minute."""
        return rolling_window(now_ms, self.config.rolling_s)

    def digitization(self, start_ms: int, end_ms: int,
                     windows: Mapping[str, tuple[int, int]] | None = None) -> list[SiteIndicators]:
        """Per line, site and enterprise: declared rates and networking measured in [start, end) — or, for the
        lines and sites of a site in ``windows``, in that site's own window."""
        out = self._site_indicators(list(self.machines.values()), start_ms, end_ms, windows)
        return out + _enterprise_indicators(out, self.register(), self.config.basis)

    def _site_indicators(self, machines: Sequence[MachineRecord], start_ms: int, end_ms: int,
                         windows: Mapping[str, tuple[int, int]] | None = None) -> list[SiteIndicators]:
        groups: dict[tuple[Level, Unit], list[MachineRecord]] = {}
        for m in machines:
            if m.equipment is not None:
                for level in (Level.LINE, Level.SITE):
                    groups.setdefault((level, m.unit(level)), []).append(m)
        out = []
        for (level, unit), ms in sorted(groups.items()):
            a, b = (windows or {}).get(unit.site, (start_ms, end_ms))
            seen = [m.path for m in ms if m.heard_between(a, b)]
            equipment = [m.equipment for m in ms if m.equipment is not None]
            out.append(SiteIndicators(unit, level, indicators(equipment, seen, self.config.basis)))
        return out

    def grades(self, results: Sequence[Result], rates: Sequence[SiteIndicators], window: str = "rolling") -> Grades:
        """Sites and lines: composite score (weights from the configuration), colour and rank, from the
        ``window`` results."""
        return grade(self.config.grading, scores(results, rates, window))

    def status(self, now_ms: int | None = None, wall_ms: int | None = None) -> list[MachineStatus]:
        """Each machine's status by the telemetry clock ``now_ms`` (None: each machine's site clock) and the wall
        clock ``wall_ms`` (None: now); ``_alarms``."""
        wall = wall_ms if wall_ms is not None else now_wall_ms()
        alarm_ms = round(self.config.alarm_after_s * 1000)
        return [status(m, now_ms if now_ms is not None else self._now_of(m), wall, alarm_ms, self._calculator)
                for m in list(self.machines.values())]

    def tick(self, received_ms: int) -> list[str]:
        """The result points due now (empty before any state or counters arrived)."""
        return [point for part in self.tick_steps(received_ms) for point in part]

    def tick_steps(self, received_ms: int) -> Iterator[list[str]]:
        """``tick`` in parts (a window of a site at a time): with 1,000 machines a whole tick takes about a
        second, which an event loop must not spend in one go. A part counts as written when the next is asked
        for: a consumer that stops in between (cancelled while it stores one, or failed) leaves the rest of the
        tick, and the part it held, to the next tick."""
        self.clocks.advance()
        if self.clocks.fleet is None:
            return
        keep_ms = round(self.config.keep_s * 1000)
        self._writes.discard()
        self._gaps.discard()
        spans = self._changes.spans(self.clocks.sites, keep_ms)
        self._calculator.begin()

        def gone(key: tuple[str, str, str, int]) -> bool:
            span = spans.get(Unit(key[1]).site)
            return span is not None and (key[3] < span.now_ms - keep_ms or (
                key[2] == "rolling" and key[3] != round(self.rolling_window(span.now_ms).start * 1000)))

        self._writes.forget(gone)
        lines = constraints(self.machines.values())
        by_site = self._sites()
        written = 0
        shares: dict[Unit, tuple[list[Result], list[Result]]] = {}
        for site, span in spans.items():
            machines = by_site.get(Unit(site), [])
            parts = [(window, w) for window, ws in windows(self.calendars.get(site), span.since_ms,
                                                          span.now_ms).items() for w in ws if span.wants(w)]
            parts.append(("rolling", self.rolling_window(span.now_ms)))
            to_fleet, site_rolling = shares.setdefault(Unit(site), ([], []))
            for window, w in parts:
                part = self._calculator.site_results(machines, window, w, span.now_ms, lines, SITE_LEVELS)
                out = []
                for r in part:  # a result unchanged since it was last written is not written again
                    if self._writes.due(r):
                        out.append(kpi_line(r))
                    self.latest[(r.level, r.unit, r.window)] = r
                    if r.level is Level.SITE and window in FLEET_WINDOWS:
                        to_fleet.append(r)
                    if window == "rolling" and r.level in (Level.SITE, Level.LINE):
                        site_rolling.append(r)
                written += len(out)
                yield out
                self._writes.commit()
        out = []
        fleet_now = self.clocks.fleet
        statuses = [s if s.now_ms else dataclasses.replace(s, now_ms=fleet_now)
                    for s in self.status(None, received_ms)]
        conditions: dict[Unit, Counter[str]] = {}
        tally: dict[tuple[Level, Unit], Counter[str]] = {}
        raised = self.alarms.raised
        for s in statuses:
            rolling_result = self.latest.get(("machine", s.machine.path, "rolling"))
            out.append(machine_status_line(s, rolling_result.kpis.oee if rolling_result else None))
            for level, unit in ((Level.SITE, s.machine.site), (Level.LINE, s.machine.line)):
                tally.setdefault((level, unit), Counter())[s.condition] += 1
            conditions.setdefault(s.machine.site, Counter())[s.condition] += 1
        for change in self.alarms.update(statuses):
            out.append(alarm_line(change, self._now_of(self.machines[change.path]) or fleet_now))
        self.counts["alarms"] += self.alarms.raised - raised
        for (level, unit), counts in tally.items():
            out.append(fleet_status_line(level, unit, counts, self.clocks.site(unit.site) or fleet_now))
        site_windows = {site: (round(self.rolling_window(span.now_ms).start * 1000), span.now_ms + 1)
                        for site, span in spans.items()}
        rolling = self.rolling_window(fleet_now)
        rates = self._site_indicators(list(self.machines.values()), round(rolling.start * 1000), fleet_now + 1,
                                      site_windows)
        for rate in rates:
            of_site = spans.get(rate.unit.site)
            out.append(rates_line(rate.level, rate.unit, {n: getattr(rate.indicators, n) for n in RATES},
                                  self.config.basis.value, "rolling", minute(of_site.now_ms if of_site else fleet_now)))
        fleet_shares = []
        for site in sorted(set(by_site) | {Unit(s) for s in spans}):
            of_site = spans.get(site)
            to_fleet, rolling_results = shares.get(site, ([], []))
            fleet_shares.append(SiteShare(site, of_site.now_ms if of_site else None, to_fleet, rolling_results,
                                          [r for r in rates if r.unit.site == site], conditions.get(site, Counter()),
                                          live=site in self.clocks.live))
        if self.fleet is not None:
            out += self.fleet.tick(fleet_shares, self.register())
            self.latest.update(self.fleet.latest)
        extra = len(out)
        yield out
        self._writes.commit()
        if self.fleet is not None:
            self.fleet.writes.commit()
        out = [gap_line(*gap) for gap in self._gaps.due(self.streams.machines, self._site_now_of_path, keep_ms)]
        for site, span in spans.items():  # what a restart reads back as "now", and the fleet step (docs/storage.md)
            out.append(clock_line(site, span.now_ms, live=site in self.clocks.live))
        for m in list(self.machines.values()):
            now = self._now_of(m)
            keep_from = (now if now is not None else fleet_now) - keep_ms
            m.timeline.forget_before(keep_from)
            m.forget_heard_before(keep_from)
            self.streams.forget_before(m.path, keep_from)
        self.counts["kpi_points"] += written + extra + len(out)
        yield out
        self._gaps.commit()
        self._changes.done(spans)

    def _site_now_of_path(self, path: str) -> int | None:
        return self.clocks.site(Unit(path).site)

    def take_retractions(self) -> list[Retraction]:
        """Stored points to delete before the lines of the last tick part are written (see ``Retraction``)."""
        out = self._writes.retractions + self._gaps.retractions
        self._writes.retractions, self._gaps.retractions = [], []
        if self.fleet is not None:
            out += self.fleet.writes.retractions
            self.fleet.writes.retractions = []
        return out


def now_wall_ms() -> int:
    return time.time_ns() // 1_000_000
