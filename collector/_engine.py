"""The KPI engine: what the collector learns from the telemetry stream, and the results it writes back.

``Engine.feed`` takes every valid message (no I/O); ``Engine.tick`` returns the line
protocol of the results due: KPIs of every window that is open or received data since
the last tick (closed windows are rewritten, ``final``, when late data arrives — the
points overwrite themselves), 两化融合 indicators, the five-colour grading, the fleet
status and alarms. Time is the telemetry's: each site has a clock that follows its machines'
timestamps and that no one machine can move (``Clocks``), so a simulation running at 60×
closes its hours at 60× too. What the engine is fed has passed the machines' ``Streams``,
which also say where a machine's state is not known (those times are left out of the time
elements and show in each KPI's ``coverage``).

Levels: a machine's KPIs are its own; a **line's** are its constraint's (the station with
the longest ideal cycle time sets the line's output); an area, a site, an enterprise and
the fleet combine their lines' constraint periods (time-weighted sums, ``collector.combine``).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import logging
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from shopfloor import REASONS, Calendar, CalendarState, Plant, StopReason, TimeElement, Window
from shopfloor.telemetry import CounterSample, MessageKind

from ._clock import Clocks
from ._config import KpiConfig
from ._digitization import Equipment, Indicators, Rate, fleet, from_birth, indicators, register
from ._grading import Colour, by_rank, by_thresholds
from ._kpi import Kpis, Period, combine, kpis
from ._ledger import SAMPLE_BUCKET_MS, MachineLedger
from ._messages import Message
from ._points import FieldValue, Retraction, line
from ._stream import OPEN, Interval, Streams
from ._targets import targets

log = logging.getLogger(__name__)

#: what a machine is doing, for a status grid: its reason's power class, or offline (or unknown before any state)
CONDITIONS = ("executing", "setup", "idle", "down", "standby", "offline", "unknown")
_MINUTE_MS = 60_000
_UNPLACED = 1_000_000  # station order of a machine known from its birth only
_STOPPED = {TimeElement.ADET, TimeElement.ADOT}
_RATES = ("nc_rate", "digitization", "networking_declared", "networking_measured", "digital_networking_declared",
          "digital_networking_measured")
#: the KPI fields of a ``kpi`` point (each left out while undefined)
KPI_FIELDS = ("availability", "effectiveness", "quality", "oee", "nee", "technical_efficiency", "setup_rate",
               "scrap_ratio", "rework_ratio", "mtbf_s", "mttr_s", "energy_per_good_kwh", "teep", "coverage")
_PERIOD_FIELDS = tuple(f.name for f in dataclasses.fields(Period))


@dataclass(slots=True)
class Machine:
    """One machine as the engine knows it: place, register entry, telemetry and live status."""

    path: str
    equipment: Equipment | None
    calendar: Calendar | None
    #: mean ideal cycle time (for finding a line's constraint) and position in the line
    ideal_s: float = 0.0
    order: int = _UNPLACED
    ledger: MachineLedger = field(init=False)
    online: bool | None = None
    #: the telemetry clock when the machine went offline
    offline_since: int | None = None
    #: minute buckets in which anything arrived (measured networking), kept for ``kpi.keep``: an array, not objects
    heard: array[int] = field(default_factory=lambda: array("q"))
    alarm: tuple[str, int] | None = None  # (kind, since)

    def __post_init__(self) -> None:
        self.ledger = MachineLedger(self.calendar)

    @property
    def enterprise(self) -> str:
        return self.path.split("/")[0]

    @property
    def site(self) -> str:
        return "/".join(self.path.split("/")[:2])

    @property
    def area(self) -> str:
        return "/".join(self.path.split("/")[:3])

    @property
    def line(self) -> str:
        return "/".join(self.path.split("/")[:4])

    def hear(self, ts_ms: int) -> None:
        bucket = ts_ms // _MINUTE_MS
        if self.heard and self.heard[-1] == bucket:  # the common case: this minute already heard
            return
        i = bisect.bisect_left(self.heard, bucket)
        if i == len(self.heard) or self.heard[i] != bucket:
            self.heard.insert(i, bucket)

    def heard_between(self, start_ms: int, end_ms: int) -> bool:
        i = bisect.bisect_left(self.heard, start_ms // _MINUTE_MS)
        return i < len(self.heard) and self.heard[i] * _MINUTE_MS < end_ms


@dataclass(frozen=True, slots=True)
class Result:
    """One unit's KPIs over one window."""

    level: str
    unit: str
    window: str
    start_ms: int
    end_ms: int
    label: str
    final: bool
    period: Period
    kpis: Kpis


@dataclass(frozen=True, slots=True)
class SiteIndicators:
    unit: str
    level: str
    indicators: Indicators


@dataclass(frozen=True, slots=True)
class _Span:
    """Which windows to compute for a site (or the fleet): those overlapping [since, now], none starting before
    ``not_before``."""

    now_ms: int
    since_ms: int
    not_before_ms: int | None = None


class Engine:
    def __init__(self, config: KpiConfig, counts: Counter[str] | None = None, streams: Streams | None = None) -> None:
        self.config = config
        self.counts: Counter[str] = counts if counts is not None else Counter()
        #: what the engine is fed has been admitted by these (the caller admits, the engine reads what is unknown)
        self.streams = streams if streams is not None else Streams(counts=self.counts)
        self.machines: dict[str, Machine] = {}
        self.calendars: dict[str, Calendar] = {}
        self.clocks = Clocks()
        #: per site: the oldest timestamp received since the last tick, and the site's clock at the last tick
        self._dirty_from: dict[str, int] = {}
        self._last_now: dict[str, int] = {}
        self._last_fleet_now: int | None = None
        self._plans: dict[tuple[str, int, int], list[tuple[int, int, CalendarState]]] = {}
        self._periods: dict[tuple[str, int, int], Period] = {}
        self._unknown: dict[str, tuple[int, list[Interval], list[Interval]]] = {}
        self.latest: dict[tuple[str, str, str], Result] = {}
        self._written: dict[tuple[str, str, str, int], tuple[Period, bool]] = {}
        #: which KPI fields (bits of KPI_FIELDS) each result's stored point holds
        self._stored_fields: dict[tuple[str, str, str, int], int] = {}
        self._retractions: list[Retraction] = []
        #: the intervals written as ``gap`` points, per machine: (what, start) → (end, cause)
        self._gaps_written: dict[str, tuple[int, dict[tuple[str, int], tuple[int, str]]]] = {}
        for plant in config.plants:
            self.add_plant(plant)

    # ------------------------------------------------------------ the register

    def add_plant(self, plant: Plant) -> None:
        entries = {e.path: e for e in register(plant)}
        for at in plant.machines():
            site = f"{at.enterprise.id}/{at.site.id}"
            self.calendars[site] = at.site.calendar
            m = self.machines.get(at.path)
            if m is None:
                m = self.machines[at.path] = Machine(at.path, entries[at.path], at.site.calendar)
            else:
                m.equipment, m.calendar, m.ledger.calendar = entries[at.path], at.site.calendar, at.site.calendar
            m.ideal_s = at.line.mean_ideal_s(at.machine)
            m.order = at.line.machines.index(at.machine)

    def _machine(self, path: str) -> Machine:
        m = self.machines.get(path)
        if m is None:
            site = "/".join(path.split("/")[:2])
            m = self.machines[path] = Machine(path, None, self.calendars.get(site))
        return m

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
            m.ledger.add_state(ts, body["reason_code"])
        elif kind is MessageKind.COUNTERS:
            m.ledger.add_counters(msg.counters())
        else:
            return
        self._saw(m, ts, received_ms)

    def learn(self, path: str, equipment: Equipment, ideal_cycle_s: Mapping[str, float]) -> None:
        """A register entry from a birth; the plant file, when given, stays the register."""
        m = self._machine(path)
        if m.equipment is None or m.order == _UNPLACED:
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
        m = self._machine(path)
        if m.alarm is None:
            m.alarm = (kind, since_ms)

    def restore(self, path: str, states: Iterable[tuple[int, int]], samples: Iterable[CounterSample]) -> None:
        """Telemetry read back from storage after a restart: merged with what arrives meanwhile (repeats kept once)."""
        m = self._machine(path)
        wall = now_wall_ms()
        for ts, reason in states:
            m.ledger.add_state(ts, reason)
            m.hear(ts)
            self._saw(m, ts, wall)
        for sample in samples:
            m.ledger.add_counters(sample)
            m.hear(sample.ts_ms)
            self._saw(m, sample.ts_ms, wall)

    def _saw(self, m: Machine, ts: int, received_ms: int) -> None:
        site = m.site
        self.clocks.saw(site, m.path, ts, received_ms)
        dirty = self._dirty_from.get(site)
        if dirty is None or ts < dirty:
            self._dirty_from[site] = ts

    def retention(self) -> dict[str, int]:
        """What the engine keeps for ``kpi.keep``: machines, and the bytes of their telemetry (docs/collector.md)."""
        held = sum(m.ledger.retained_bytes + m.heard.itemsize * len(m.heard) for m in list(self.machines.values()))
        return {"machines": len(self.machines), "telemetry_bytes": held, "keep_s": round(self.config.keep_s)}

    @property
    def now_ms(self) -> int | None:
        """The fleet's telemetry clock (None before any timestamp): enterprise and fleet windows go by it."""
        self.clocks.advance()
        return self.clocks.fleet

    def site_now_ms(self, site: str) -> int | None:
        """A site's telemetry clock: its windows go by it."""
        return self.clocks.site(site)

    def _now_of(self, unit: str) -> int | None:
        """The clock a unit's windows go by: its site's, the fleet's for an enterprise and the fleet."""
        site = "/".join(unit.split("/")[:2])
        return self.clocks.site(site) if "/" in unit else self.clocks.fleet

    # ------------------------------------------------------------ results

    def _plan(self, m: Machine, start_ms: int, end_ms: int) -> list[tuple[int, int, CalendarState]]:
        key = (m.site if m.calendar is not None else "", start_ms, end_ms)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = m.ledger.planned(start_ms, end_ms)
        return plan

    def _period(self, m: Machine, start_ms: int, end_ms: int) -> Period:
        """A machine's period, once per tick (a fleet window is often a site's window too)."""
        key = (m.path, start_ms, end_ms)
        period = self._periods.get(key)
        if period is None:
            unknown, unobserved = self._unknown_of(m)
            period = self._periods[key] = m.ledger.period(start_ms, end_ms, self._plan(m, start_ms, end_ms),
                                                          unknown, unobserved)
        return period

    def _unknown_of(self, m: Machine) -> tuple[list[Interval], list[Interval]]:
        """The machine's unknown and unobserved intervals (from its stream), made again only when they changed."""
        stream = self.streams.machines.get(m.path)
        if stream is None:
            return [], []
        cached = self._unknown.get(m.path)
        if cached is None or cached[0] != stream.version:
            cached = self._unknown[m.path] = (stream.version, stream.unknown(), stream.unobserved())
        return cached[1], cached[2]

    def _constraints(self) -> dict[str, Machine]:
        lines: dict[str, Machine] = {}
        for m in sorted(self.machines.values(), key=lambda m: (m.line, m.order, m.path)):
            best = lines.get(m.line)
            if best is None or m.ideal_s >= best.ideal_s:
                lines[m.line] = m
        return lines

    def _results(self, machines: Sequence[Machine], window: str, w: Window, now_ms: int,
                 constraints: Mapping[str, Machine], levels: Iterable[str]) -> list[Result]:
        start, end = round(w.start * 1000), round(w.end * 1000)
        upto = min(end, now_ms)
        final = end <= now_ms
        out: list[Result] = []
        wanted = set(levels)
        lines = {m.line for m in machines}
        needed = machines if "machine" in wanted else [constraints[ln] for ln in lines if ln in constraints]
        periods = {m.path: self._period(m, start, upto) for m in needed}
        line_periods = {ln: periods[constraints[ln].path] for ln in lines if constraints[ln].path in periods}

        def result(level: str, unit: str, period: Period) -> None:
            out.append(Result(level, unit, window, start, end, w.label, final, period, kpis(period)))

        if "machine" in wanted:
            for m in machines:
                if m.ledger.last_ts_ms is not None:  # a machine that never reported has no KPIs (it still counts
                    result("machine", m.path, periods[m.path])  # in the 两化融合 denominators)
        if "line" in wanted:
            for ln, p in line_periods.items():
                result("line", ln, p)
        for level, depth in (("area", 3), ("site", 2), ("enterprise", 1)):
            if level in wanted:
                groups: dict[str, list[Period]] = {}
                for ln, p in line_periods.items():
                    groups.setdefault("/".join(ln.split("/")[:depth]), []).append(p)
                for unit, ps in groups.items():
                    result(level, unit, combine(ps))
        if "fleet" in wanted:
            result("fleet", "fleet", combine(line_periods.values()))
        return out

    def results(self, now_ms: int, since_ms: int, not_before_ms: int | None = None) -> list[Result]:
        """KPIs of every window overlapping [since, now] for every level and every site; windows starting before
        ``not_before_ms`` (their beginning no longer kept) are left alone."""
        span = _Span(now_ms, since_ms, not_before_ms)
        return [r for part in self._results_by_window(dict.fromkeys(self._sites(), span), span) for r in part]

    def _sites(self) -> dict[str, list[Machine]]:
        by_site: dict[str, list[Machine]] = {}
        for m in list(self.machines.values()):  # a machine first heard meanwhile joins at the next tick
            by_site.setdefault(m.site, []).append(m)
        return by_site

    def _results_by_window(self, sites: Mapping[str, _Span], fleet: _Span | None) -> Iterator[list[Result]]:
        """Results one window of one site (or of the fleet) at a time, each site by its own clock: a caller on an
        event loop lets other work run in between."""
        self._periods.clear()  # what was computed before new data arrived
        constraints = self._constraints()
        by_site = self._sites()
        site_levels = ("machine", "line", "area", "site")
        for site, span in sites.items():
            machines = by_site.get(site, [])
            for window, ws in _windows(self.calendars.get(site), span.since_ms, span.now_ms).items():
                for w in ws:
                    if span.not_before_ms is None or w.start * 1000 >= span.not_before_ms:
                        yield self._results(machines, window, w, span.now_ms, constraints, site_levels)
            yield self._results(machines, "rolling", self.rolling_window(span.now_ms), span.now_ms, constraints,
                                site_levels)
        if fleet is None:
            return
        everyone = [m for site in sites for m in by_site.get(site, [])]
        fleet_calendar = next(iter(self.calendars.values()), None)
        for window, ws in _windows(fleet_calendar, fleet.since_ms, fleet.now_ms).items():
            if window != "shift":  # shifts differ between sites
                for w in ws:
                    if fleet.not_before_ms is None or w.start * 1000 >= fleet.not_before_ms:
                        yield self._results(everyone, window, w, fleet.now_ms, constraints, ("enterprise", "fleet"))
        yield self._results(everyone, "rolling", self.rolling_window(fleet.now_ms), fleet.now_ms, constraints,
                            ("enterprise", "fleet"))

    def over(self, start_ms: int, end_ms: int, label: str = "run") -> list[Result]:
        """Every level's KPIs over any window (a run, a report period), window name ``label``."""
        self._periods.clear()
        return self._results(list(self.machines.values()), label, Window(start_ms / 1000, end_ms / 1000, label),
                             end_ms, self._constraints(),
                             ("machine", "line", "area", "site", "enterprise", "fleet"))

    def rolling_window(self, now_ms: int) -> Window:
        start = (now_ms - round(self.config.rolling_s * 1000)) // SAMPLE_BUCKET_MS * SAMPLE_BUCKET_MS
        return Window(start / 1000, now_ms / 1000, "rolling")

    def digitization(self, start_ms: int, end_ms: int,
                     windows: Mapping[str, tuple[int, int]] | None = None) -> list[SiteIndicators]:
        """Per line, site and enterprise: declared rates and networking measured in [start, end) — or, for the
        lines and sites of a site in ``windows``, in that site's own window."""
        groups: dict[tuple[str, str], list[Machine]] = {}
        for m in list(self.machines.values()):
            if m.equipment is None:
                continue
            for level, unit in (("line", m.line), ("site", m.site), ("enterprise", m.enterprise)):
                groups.setdefault((level, unit), []).append(m)
        out = []
        for (level, unit), ms in sorted(groups.items()):
            a, b = (windows or {}).get("/".join(unit.split("/")[:2]), (start_ms, end_ms)) if level != "enterprise" \
                else (start_ms, end_ms)
            seen = [m.path for m in ms if m.heard_between(a, b)]
            equipment = [m.equipment for m in ms if m.equipment is not None]
            out.append(SiteIndicators(unit, level, indicators(equipment, seen, self.config.basis)))
        return out

    def grades(self, results: Sequence[Result], rates: Sequence[SiteIndicators], window: str = "rolling",
               ) -> dict[tuple[str, str], tuple[float, Colour, int]]:
        """Sites and lines: composite score (weights from the configuration), colour and rank, from the
        ``window`` results."""
        weights = self.config.grading.weights
        values: dict[tuple[str, str], dict[str, float | None]] = {}
        for r in results:
            if r.window == window and r.level in ("site", "line"):
                values.setdefault((r.level, r.unit), {}).update(
                    oee=r.kpis.oee, availability=r.kpis.availability, quality=r.kpis.quality)
        for s in rates:
            if s.level in ("site", "line") and (s.level, s.unit) in values:
                values[(s.level, s.unit)].update(nc_rate=s.indicators.nc_rate.value,
                                                 digitization=s.indicators.digitization.value,
                                                 networking=s.indicators.networking_measured.value)
        out: dict[tuple[str, str], tuple[float, Colour, int]] = {}
        for level in ("site", "line"):
            scores: dict[str, float | None] = {}
            for (lv, unit), parts in values.items():
                if lv != level:
                    continue
                used = [(weights[k], v) for k, v in parts.items() if weights.get(k) and v is not None]
                total = sum(w for w, _ in used)
                scores[unit] = sum(w * min(v, 1.0) for w, v in used) / total if total else None
            g = self.config.grading
            colours = by_rank(scores) if g.method == "rank" else by_thresholds(scores, g.thresholds)
            ranked = sorted((s, u) for u, s in scores.items() if s is not None)[::-1]
            for rank, (score, unit) in enumerate(ranked, 1):
                out[(level, unit)] = (score, colours[unit], rank)
        return out

    def status(self, now_ms: int | None = None, wall_ms: int | None = None,
               ) -> list[tuple[Machine, int | None, int | None, str | None]]:
        """Each machine with its reason in force, since when, and its alarm kind (or None). A stop is timed by
        the telemetry clock — ``now_ms``, or each machine's site clock when None — being offline by the wall clock
        ``wall_ms`` (None: now)."""
        out = []
        alarm_ms = round(self.config.alarm_after_s * 1000)
        wall = wall_ms if wall_ms is not None else now_wall_ms()
        for m in list(self.machines.values()):
            now = now_ms if now_ms is not None else self._now_of(m.site)
            at = m.ledger.reason_at(now) if now is not None else None
            reason, since = at if at is not None else (None, None)
            kind = None
            if m.online is False:
                if m.offline_since is None:
                    m.offline_since = wall  # learnt from storage: timed from now
                since = m.offline_since
                if wall - m.offline_since >= alarm_ms:
                    kind = "offline"
            elif now is not None and reason is not None and since is not None \
                    and REASONS[StopReason(reason)].element in _STOPPED and now - since >= alarm_ms:
                plan = self._plan(m, now - 1, now) if m.calendar is not None else []
                if not plan or plan[-1][2] is CalendarState.WORKING:
                    kind = "down"
            out.append((m, reason, since, kind))
        return out

    def tick(self, received_ms: int) -> list[str]:
        """The result points due now (empty before any state or counters arrived)."""
        return [point for part in self.tick_steps(received_ms) for point in part]

    def tick_steps(self, received_ms: int) -> Iterator[list[str]]:
        """``tick`` in parts (a window of a site at a time): with 1,000 machines a whole tick takes about a
        second, which an event loop must not spend in one go."""
        self.clocks.advance()
        fleet_now = self.clocks.fleet
        if fleet_now is None:
            return
        keep_ms = round(self.config.keep_s * 1000)
        spans: dict[str, _Span] = {}
        for site, now in self.clocks.sites.items():
            # from the oldest new data, and at least from the last tick's clock: a window that ended in between
            # is written once more, final
            since = min(x for x in (self._dirty_from.get(site), self._last_now.get(site), now) if x is not None)
            spans[site] = _Span(now, max(since, now - keep_ms), now - keep_ms)
            self._last_now[site] = now
        since = min([*self._dirty_from.values(), fleet_now] +
                    ([self._last_fleet_now] if self._last_fleet_now is not None else []))
        fleet = _Span(fleet_now, max(since, fleet_now - keep_ms), fleet_now - keep_ms)
        self._last_fleet_now = fleet_now
        self._dirty_from.clear()
        self._plans.clear()

        def span_of(level: str, unit: str) -> _Span:
            return fleet if level in ("enterprise", "fleet") else spans.get("/".join(unit.split("/")[:2]), fleet)

        for key in list(self._written):
            span = span_of(key[0], key[1])
            if key[3] < span.now_ms - keep_ms or (
                    key[2] == "rolling" and key[3] != round(self.rolling_window(span.now_ms).start * 1000)):
                del self._written[key]
                self._stored_fields.pop(key, None)
        results: list[Result] = []
        written = 0
        for part in self._results_by_window(spans, fleet):
            lines = []
            for r in part:  # a result unchanged since it was last written is not written again
                key, value = (r.level, r.unit, r.window, r.start_ms), (r.period, r.final)
                if self._written.get(key) != value:
                    self._written[key] = value
                    fields = _mask(n for n in KPI_FIELDS if getattr(r.kpis, n) is not None)
                    if self._stored_fields.get(key, 0) & ~fields:  # a KPI became undefined (late data)
                        self._retractions.append(Retraction("kpi", _kpi_tags(r.level, r.unit, r.window),
                                                            r.start_ms * 1000))
                    self._stored_fields[key] = fields
                    lines.append(_kpi_line(r))
                self.latest[(r.level, r.unit, r.window)] = r
            results += part
            written += len(lines)
            yield lines
        lines = []
        windows = {site: (round(self.rolling_window(span.now_ms).start * 1000), span.now_ms + 1)
                   for site, span in spans.items()}
        rolling = self.rolling_window(fleet_now)
        rates = self.digitization(round(rolling.start * 1000), fleet_now + 1, windows)
        for rate in rates:
            lines.append(_rates_line(rate, "rolling", span_of(rate.level, rate.unit).now_ms // _MINUTE_MS * _MINUTE_MS))
        self._fleet_rates(rates, lines, fleet_now // _MINUTE_MS * _MINUTE_MS)
        for (level, unit), (score, colour, rank) in self.grades(results, rates).items():
            lines.append(line("grade", _unit_tags(level, unit) | {"method": self.config.grading.method},
                              {"score": score, "colour": colour.value, "colour_zh": colour.zh, "rank": rank},
                              span_of(level, unit).now_ms // _MINUTE_MS * _MINUTE_MS))
        yield lines
        self._periods.clear()
        lines = self._status_lines(fleet_now, received_ms) + self._gap_lines(keep_ms)
        for site, span in spans.items():  # what a restart reads back as "now" (docs/storage.md)
            lines.append(line("clock", _unit_tags("site", site), {"now_ms": span.now_ms}, span.now_ms))
        for m in list(self.machines.values()):
            keep_from = span_of("machine", m.path).now_ms - keep_ms
            m.ledger.forget_before(keep_from)
            del m.heard[:bisect.bisect_left(m.heard, keep_from // _MINUTE_MS)]
            self.streams.forget_before(m.path, keep_from)
        self.counts["kpi_points"] += written + len(lines)
        yield lines

    def _gap_lines(self, keep_ms: int) -> list[str]:
        """The machines' closed intervals as ``gap`` points (what a restart reads back): ``what`` = ``state`` where
        the state is unknown, ``counts`` where only the counters went unseen. An interval that late data filled is
        deleted, one that changed is written again."""
        out = []
        for path, stream in list(self.streams.machines.items()):
            written = self._gaps_written.get(path)
            if written is not None and written[0] == stream.version:
                continue
            now = self._now_of("/".join(path.split("/")[:2]))
            if now is None:
                continue
            before = written[1] if written is not None else {}
            state = stream.unknown()
            after = {(what, start): (end, cause) for what, intervals in (("state", state), ("counts", [
                i for i in stream.unobserved() if i not in state])) for start, end, cause in intervals
                     if end != OPEN and end >= now - keep_ms}
            for what, start in before.keys() - after.keys():
                tags = _unit_tags("machine", path) | {"what": what}
                self._retractions.append(Retraction("gap", tuple(sorted(tags.items())), start * 1000))
            for (what, start), (end, cause) in after.items():
                if before.get((what, start)) != (end, cause):
                    out.append(line("gap", _unit_tags("machine", path) | {"what": what},
                                    {"end_ms": end, "seconds": (end - start) / 1000, "cause": cause}, start))
            self._gaps_written[path] = (stream.version, after)
        return out

    def take_retractions(self) -> list[Retraction]:
        """Stored points to delete before the lines of the last tick part are written (see ``Retraction``)."""
        out, self._retractions = self._retractions, []
        return out

    def restore_stored_fields(self, level: str, unit: str, window: str, start_ms: int, fields: Iterable[str]) -> None:
        """The KPI fields a result's stored point holds, read back after a restart: the result is written again
        (deleted first if one of them is no longer defined)."""
        key = (level, unit, window, start_ms)
        self._stored_fields[key] = self._stored_fields.get(key, 0) | _mask(fields)
        self._written.pop(key, None)

    def _fleet_rates(self, rates: Sequence[SiteIndicators], lines: list[str], ts_ms: int) -> None:
        enterprises = [s.indicators for s in rates if s.level == "enterprise"]
        if not enterprises:
            return
        fields: dict[str, FieldValue | None] = {"enterprises": len(enterprises)}
        for name in _RATES:
            f = fleet(getattr(i, name) for i in enterprises)
            fields[f"{name}_mean"] = f.mean_of_enterprises
            fields[f"{name}_weighted"] = f.equipment_weighted
        lines.append(line("digitization", {"level": "fleet", "window": "rolling",
                                           "basis": self.config.basis.value}, fields, ts_ms))

    def _status_lines(self, fleet_now_ms: int, wall_ms: int) -> list[str]:
        out = []
        tally: dict[tuple[str, str], Counter[str]] = {}
        for m, reason, since, alarm in self.status(None, wall_ms):
            now_ms = self._now_of(m.site) or fleet_now_ms
            second = now_ms // 1000 * 1000
            rolling = self.latest.get(("machine", m.path, "rolling"))
            info = REASONS[StopReason(reason)] if reason is not None else None
            condition = "offline" if m.online is False else info.power.value if info else "unknown"
            for level_unit in (("site", m.site), ("line", m.line), ("fleet", "fleet")):
                tally.setdefault(level_unit, Counter())[condition] += 1
            fields: dict[str, FieldValue | None] = {
                "condition": condition,
                "online": m.online, "reason": info.name if info else None, "reason_code": reason,
                "state": info.state.name if info else None, "since_ms": since,
                "stopped_s": (now_ms - since) / 1000 if since is not None and info and info.element in _STOPPED
                else 0.0,
                "oee": rolling.kpis.oee if rolling else None, "alarm": alarm is not None,
            }
            out.append(line("machine_status", _unit_tags("machine", m.path), fields, second))
            previous = m.alarm
            if alarm is not None and (previous is None or previous[0] != alarm):
                start = since if since is not None else now_ms
                m.alarm = (alarm, start)
                log.warning("alarm: %s %s since %s", m.path, alarm, start)
                self.counts["alarms"] += 1
            elif alarm is None and previous is not None:
                m.alarm = None
                log.info("alarm cleared: %s %s", m.path, previous[0])
            if previous is not None and m.alarm != previous:
                out.append(_alarm_line(m.path, previous, active=False, now_ms=now_ms))
            if m.alarm is not None:
                out.append(_alarm_line(m.path, m.alarm, active=True, now_ms=now_ms))
        for (level, unit), counts in tally.items():
            now_ms = fleet_now_ms if level == "fleet" else self._now_of(unit) or fleet_now_ms
            out.append(line("fleet_status", _unit_tags(level, unit),
                            {c: counts[c] for c in CONDITIONS} | {"machines": sum(counts.values())},
                            now_ms // 1000 * 1000))
        return out


def now_wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _alarm_line(path: str, alarm: tuple[str, int], *, active: bool, now_ms: int) -> str:
    kind, since = alarm
    return line("alarm", _unit_tags("machine", path) | {"kind": kind},
                {"active": active, "since_ms": since, "duration_s": (now_ms - since) / 1000}, since)


def _windows(calendar: Calendar | None, since_ms: int, now_ms: int) -> dict[str, list[Window]]:
    if calendar is None:
        calendar = _UTC
    return calendar.windows(since_ms / 1000, max(now_ms, since_ms + 1) / 1000, clip=False)


_UTC = Calendar(timezone="UTC", shifts=(), off_weekdays=frozenset(), off_dates=frozenset(), maintenance=())


def _unit_tags(level: str, unit: str) -> dict[str, str]:
    tags = {"level": level}
    if level == "fleet":
        return tags
    names = ("enterprise", "site", "area", "line", "machine")
    return tags | dict(zip(names, unit.split("/"), strict=False))


#: the period's counts are integers, every other element a float (a field keeps its type for ever in InfluxDB)
_PERIOD_INTS = ("pq", "gq", "sq", "rq", "failures", "gap_pq", "gap_gq", "gap_sq", "gap_rq")
_PERIOD_FLOATS = tuple(f for f in _PERIOD_FIELDS if f not in _PERIOD_INTS)
_LOSSES = ("breakdowns_s", "setup_s", "minor_stops_s", "reduced_speed_s", "scrap_s", "rework_s", "valuable_s")


@functools.lru_cache(maxsize=65_536)
def _kpi_series(level: str, unit: str, window: str) -> str:
    return line("kpi", _unit_tags(level, unit) | {"window": window}, {"x": 0}, 0).rsplit(" ", 2)[0]


def _kpi_tags(level: str, unit: str, window: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((_unit_tags(level, unit) | {"window": window}).items()))


def _mask(names: Iterable[str]) -> int:
    """KPI field names as bits of ``KPI_FIELDS`` (which fields a stored point holds)."""
    wanted = set(names)
    return sum(1 << i for i, name in enumerate(KPI_FIELDS) if name in wanted)


def _kpi_line(r: Result) -> str:
    """What ``line`` would write, formatted directly (a tick writes thousands) and with fixed field types."""
    k, p = r.kpis, r.period
    parts = [f"{name}={float(v)!r}" for name in KPI_FIELDS if (v := getattr(k, name)) is not None]
    parts += [f"{name}={float(getattr(p, name))!r}" for name in _PERIOD_FLOATS]
    parts += [f"{name}={int(getattr(p, name))}i" for name in _PERIOD_INTS]
    parts.append(f"pbt_s={float(p.pbt_s)!r}")
    parts += [f"loss_{name}={float(getattr(k.losses, name))!r}" for name in _LOSSES]
    label = r.label.replace("\\", "\\\\").replace('"', '\\"')
    parts.append(f'label="{label}",end_ms={r.end_ms}i,final={"true" if r.final else "false"}')
    return f"{_kpi_series(r.level, r.unit, r.window)} {','.join(parts)} {r.start_ms * 1000}"


def _rates_line(s: SiteIndicators, window: str, ts_ms: int) -> str:
    fields: dict[str, FieldValue | None] = {}
    for name in _RATES:
        rate: Rate = getattr(s.indicators, name)
        fields[name] = rate.value
        fields[f"{name}_num"] = rate.numerator
        fields[f"{name}_den"] = rate.denominator
    return line("digitization", _unit_tags(s.level, s.unit) | {"window": window, "basis": s.indicators.basis.value},
                fields, ts_ms)


def target_lines() -> list[str]:
    """The national and city targets as points (one per target, at 1 January of its year), for dashboards."""
    import datetime as dt

    out = []
    for t in targets():
        ts = round(dt.datetime(t.year, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
        out.append(line("target", {"indicator": t.indicator, "scope": t.scope},
                        {"value": t.value, "year": t.year, "label_zh": t.label_zh, "label_en": t.label_en,
                         "source": t.source, "verified": t.verified}, ts))
    return out
