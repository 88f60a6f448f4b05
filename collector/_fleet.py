"""The levels above a site — enterprises and the fleet — and the five-colour grading across all sites and lines.

They add up what each site contributes (``SiteShare``): an enterprise's or the fleet's
hour, day and rolling window is the sum of its sites' periods of that window (time-weighted,
``collector.combine``, sites in path order), each as far as that site's own clock has come;
its 两化融合 rates sum the sites' counts (关键工序数控化率 by key process, which may span
sites, from the register); the grading ranks every site and line of the fleet. So the
figures are the same whether one KPI engine sees the whole fleet or several each see a
partition of its sites and one of them adds up their shares (docs/collector.md "Partitions").

Sites whose days begin at another instant (another time zone) add to the fleet's hours, but
their days are days of their own: an enterprise or fleet day sums the sites whose day it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from shopfloor import Window

from ._clock import fleet_clock
from ._config import GradingConfig, KpiConfig
from ._digitization import Basis, Equipment, Indicators, Rate, fleet, indicators
from ._encode import RATES, fleet_rates_line, fleet_status_line, grade_line, kpi_line, minute, rates_line
from ._grading import Colour, by_rank, by_thresholds
from ._kpi import combine
from ._results import Result, result
from ._units import FLEET_UNIT, Level, Unit
from ._windows import rolling_window
from ._writes import ResultWrites

#: the windows the levels above a site have (shifts differ between sites)
FLEET_WINDOWS = ("hour", "day", "rolling")
#: (level, unit) → score, colour, rank
Grades = dict[tuple[str, str], tuple[float, Colour, int]]


@dataclass(frozen=True, slots=True)
class SiteIndicators:
    """A line's, site's or enterprise's 两化融合 rates."""

    unit: Unit
    level: Level
    indicators: Indicators


@dataclass(frozen=True, slots=True)
class SiteShare:
    """What one site gives the levels above it at a tick."""

    site: Unit
    #: the site's telemetry clock (None before any of its machines sent a timestamp)
    now_ms: int | None
    #: the site's results of hour, day and rolling windows that changed (rolling: always the current one)
    results: Sequence[Result]
    #: the rolling results of the site and its lines (what the grading scores)
    rolling: Sequence[Result]
    #: the site's and its lines' rates over the site's rolling window
    indicators: Sequence[SiteIndicators]
    #: how many of its machines are in each condition (``CONDITIONS``)
    conditions: Mapping[str, int] = field(default_factory=dict)
    #: whether a machine of it is live (the fleet's clock follows the live sites': ``Clocks``)
    live: bool = True


def scores(results: Iterable[Result], rates: Iterable[SiteIndicators], window: str,
           ) -> dict[tuple[Level, Unit], dict[str, float | None]]:
    """The values the grading weighs, per site and line, from the ``window`` results and the rates."""
    values: dict[tuple[Level, Unit], dict[str, float | None]] = {}
    for r in results:
        if r.window == window and r.level in (Level.SITE, Level.LINE):
            values.setdefault((r.level, r.unit), {}).update(
                oee=r.kpis.oee, availability=r.kpis.availability, quality=r.kpis.quality)
    for s in rates:
        if s.level in (Level.SITE, Level.LINE) and (s.level, s.unit) in values:
            values[(s.level, s.unit)].update(nc_rate=s.indicators.nc_rate.value,
                                             digitization=s.indicators.digitization.value,
                                             networking=s.indicators.networking_measured.value)
    return values


def grade(grading: GradingConfig, values: Mapping[tuple[Level, Unit], Mapping[str, float | None]]) -> Grades:
    """Sites and lines, each level apart: composite score (the weights of the indicators that have a value,
    each capped at 1), colour and rank."""
    out: Grades = {}
    for level in (Level.SITE, Level.LINE):
        unit_scores: dict[str, float | None] = {}
        for (lv, unit), parts in sorted(values.items()):
            if lv != level:
                continue
            used = [(grading.weights[k], v) for k, v in parts.items() if grading.weights.get(k) and v is not None]
            total = sum(w for w, _ in used)
            unit_scores[unit] = sum(w * min(v, 1.0) for w, v in used) / total if total else None
        colours = by_rank(unit_scores) if grading.method == "rank" else by_thresholds(unit_scores,
                                                                                        grading.thresholds)
        ranked = sorted((s, u) for u, s in unit_scores.items() if s is not None)[::-1]
        for rank, (score, name) in enumerate(ranked, 1):
            out[(level, Unit(name))] = (score, colours[name], rank)
    return out


def enterprise_indicators(sites: Iterable[SiteIndicators], register: Iterable[Equipment], basis: Basis,
                          ) -> list[SiteIndicators]:
    """Each enterprise's rates: its sites' counts added up — but 关键工序数控化率 by key process, whose machines
    may be at several sites, from the register."""
    sums: dict[Unit, dict[str, Rate]] = {}
    for s in sorted(sites, key=lambda s: s.unit):
        if s.level is not Level.SITE:
            continue
        into = sums.setdefault(s.unit.up(Level.ENTERPRISE), {})
        for name in RATES:
            a, b = into.get(name, Rate(0, 0)), getattr(s.indicators, name)
            into[name] = Rate(a.numerator + b.numerator, a.denominator + b.denominator)
    by_enterprise: dict[str, list[Equipment]] = {}
    for e in register:
        by_enterprise.setdefault(e.enterprise, []).append(e)
    out = []
    for unit, rates in sorted(sums.items()):
        if basis is Basis.PROCESS:
            rates["nc_rate"] = indicators(by_enterprise.get(unit, []), (), basis).nc_rate
        out.append(SiteIndicators(unit, Level.ENTERPRISE, Indicators(**rates, basis=basis)))
    return out


class FleetStep:
    """Adds up the sites' shares, tick after tick: enterprise and fleet results, rates and status, and the grades."""

    def __init__(self, config: KpiConfig) -> None:
        self.config = config
        #: (window, start) → site → the site's result: what each fleet window adds up
        self._windows: dict[tuple[str, int], dict[Unit, Result]] = {}
        self._shares: dict[Unit, SiteShare] = {}
        self.writes = ResultWrites()
        self.latest: dict[tuple[str, str, str], Result] = {}
        #: the fleet's clock (``fleet_clock``)
        self.now_ms: int | None = None

    def take(self, shares: Iterable[SiteShare]) -> set[tuple[str, int]]:
        """The sites' shares of this tick; which fleet windows they changed."""
        changed = set()
        for share in shares:
            self._shares[share.site] = share
            for r in share.results:
                if r.window in FLEET_WINDOWS:
                    key = (r.window, 0 if r.window == "rolling" else r.start_ms)
                    self._windows.setdefault(key, {})[share.site] = r
                    changed.add(key)
        self.now_ms = fleet_clock([s.now_ms for s in self._shares.values() if s.live and s.now_ms is not None],
                                  self.now_ms)
        return changed

    def results(self, keys: Iterable[tuple[str, int]]) -> list[Result]:
        """Enterprise and fleet results of the fleet windows ``keys``."""
        now = self.now_ms
        if now is None:
            return []
        out = []
        for key in sorted(keys):
            sites = self._windows.get(key)
            if not sites:
                continue
            ordered = [sites[s] for s in sorted(sites)]
            first = ordered[0]
            w = rolling_window(now, self.config.rolling_s) if key[0] == "rolling" else \
                Window(first.start_ms / 1000, first.end_ms / 1000, first.label)
            out += above_sites(ordered, key[0], w, now)
        return out

    def forget_before(self, ts_ms: int) -> None:
        for key in [k for k in self._windows if k[0] != "rolling" and k[1] < ts_ms]:
            del self._windows[key]
        self.writes.forget(lambda k: k[0] in (Level.ENTERPRISE, Level.FLEET) and (
            k[3] < ts_ms or (k[2] == "rolling" and k[3] != self._rolling_start())))

    def _rolling_start(self) -> int | None:
        now = self.now_ms
        return round(rolling_window(now, self.config.rolling_s).start * 1000) if now is not None else None

    def tick(self, shares: Iterable[SiteShare], register: Iterable[Equipment]) -> list[str]:
        """The points of this tick above the sites: enterprise and fleet ``kpi`` (what changed), ``digitization``,
        the sites' and lines' ``grade``, and the fleet's ``fleet_status``."""
        self.writes.discard()  # what an unfinished tick found due: found again below
        changed = self.take(shares)
        now = self.now_ms
        if now is None:
            return []
        keep_ms = round(self.config.keep_s * 1000)
        self.forget_before(now - keep_ms)
        lines = []
        for r in self.results(changed):
            if self.writes.due(r):
                lines.append(kpi_line(r))
            self.latest[(r.level, r.unit, r.window)] = r
        all_shares = [self._shares[s] for s in sorted(self._shares)]
        site_rates = [i for share in all_shares for i in share.indicators]
        basis = self.config.basis
        enterprises = enterprise_indicators(site_rates, register, basis)
        for e in enterprises:
            lines.append(rates_line(Level.ENTERPRISE, e.unit, _rates(e.indicators), basis.value, "rolling",
                                    minute(now)))
        if enterprises:
            lines.append(fleet_rates_line({name: fleet(getattr(e.indicators, name) for e in enterprises)
                                           for name in RATES}, len(enterprises), basis.value, minute(now)))
        rolling = [r for share in all_shares for r in share.rolling]
        clocks = {share.site: share.now_ms for share in all_shares}
        for (level, unit), (score, colour, rank) in grade(self.config.grading,
                                                          scores(rolling, site_rates, "rolling")).items():
            lines.append(grade_line(Level(level), unit, self.config.grading.method, score, colour, rank,
                                    minute(clocks.get(Unit(unit).site) or now)))
        conditions: Counter[str] = Counter()
        for share in all_shares:
            conditions.update(share.conditions)
        lines.append(fleet_status_line(Level.FLEET, FLEET_UNIT, conditions, now))
        return lines


def above_sites(sites: Sequence[Result], window: str, w: Window, now_ms: int) -> list[Result]:
    """Each enterprise's and the fleet's result of one window from its sites' (in path order); final when every
    site's is."""
    final = all(r.final for r in sites)
    groups: dict[Unit, list[Result]] = {}
    for r in sites:
        groups.setdefault(r.unit.up(Level.ENTERPRISE), []).append(r)
    out = [_fixed(result(Level.ENTERPRISE, unit, window, w, now_ms, combine(r.period for r in rs)), final)
           for unit, rs in groups.items()]
    out.append(_fixed(result(Level.FLEET, FLEET_UNIT, window, w, now_ms, combine(r.period for r in sites)), final))
    return out


def _fixed(r: Result, final: bool) -> Result:
    """A fleet window is final when every site's share of it is."""
    return r if r.final == final else Result(r.level, r.unit, r.window, r.start_ms, r.end_ms, r.label, final,
                                             r.period, r.kpis)


def _rates(i: Indicators) -> dict[str, Rate]:
    return {name: getattr(i, name) for name in RATES}
