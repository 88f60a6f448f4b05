"""The assessment of one site over one period, as data: where the figures come from, the indicators against
targets with their evidence, line OEE and losses, the diagnosis, recommendations and benchmarks (pure: the
sources did the reading)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from collector import (
    Basis,
    Benchmark,
    Equipment,
    GreenTarget,
    Indicators,
    Kpis,
    Period,
    Rate,
    Target,
    benchmarks,
    combine,
    fewest_upgrades,
    gaps,
    green_targets,
    indicators,
    kpis,
    register,
)
from shopfloor import KINDS, AuxiliaryAt, MachineAt, Name, Plant, Region, Site

from ._sources import HOUR_MS, Hour, Source, of_site

#: how many earlier periods of the same length the report compares with, at most
EARLIER_PERIODS = 3

#: the rates of the report, in its order: (attribute, 中文, English, target indicator or None)
RATES = (
    ("nc_rate", "关键工序数控化率", "key-process NC rate", "nc_rate"),
    ("digitization", "生产设备数字化率", "production equipment digitization rate", None),
    ("networking_declared", "设备联网率（申报）", "equipment networking rate, declared", None),
    ("networking_measured", "设备联网率（实测）", "equipment networking rate, measured", None),
    ("digital_networking_declared", "数字化生产设备联网率（申报）", "digital equipment networking, declared", None),
    ("digital_networking_measured", "数字化生产设备联网率（实测）", "digital equipment networking, measured", None),
)

#: the six big losses of the diagnosis: (Losses attribute, 中文, English)
LOSSES = (("breakdowns_s", "设备故障", "breakdowns"), ("setup_s", "换型调整", "setup and adjustment"),
          ("minor_stops_s", "短暂停机/待料", "minor stops and idling"),
          ("reduced_speed_s", "速度损失", "reduced speed"), ("scrap_s", "废品", "scrap"),
          ("rework_s", "返工", "rework"))


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a figure is blank, in both languages: every "—" of the report carries one."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class ReportMeta:
    """What the cover and the signature block say beyond the data: the report's number, who assessed, for whom,
    and the date of the report (None: the day it is made)."""

    number: str | None = None
    assessor: str | None = None
    organisation: str | None = None
    date: str | None = None


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """One rate of the report: its key and names, its counts, where its figures come from (``declared``: the
    register; ``measured`` or ``simulated``: telemetry), and how far it is from each of its targets."""

    key: str
    zh: str
    en: str
    rate: Rate
    origin: str
    #: each target with value − target (negative: short of it)
    gaps: tuple[tuple[Target, float], ...]
    #: each observed national figure with value − figure
    benchmarks: tuple[tuple[Benchmark, float], ...] = ()
    #: the rate with the site's auxiliary pool counted too (None: the site has none, or it changes nothing)
    with_auxiliary: Rate | None = None


@dataclass(frozen=True, slots=True)
class EquipmentRow:
    """One machine of the site's register as the report lists it."""

    path: str
    name: Name
    line: Name
    kind: Name
    #: the process step as the register writes it; None when the register names none (the kind says it)
    process: str | None
    key_process: bool
    control: str
    nc: bool
    digital: bool
    networked: bool
    #: telemetry arrived in the period
    heard: bool
    #: simulated or measured, from its birth; None when it sent no birth
    origin: str | None


@dataclass(frozen=True, slots=True)
class LineRow:
    """A line over the period: its constraint's hours added up (``period``, ``kpis``), the energy of all its
    machines, and its hourly OEE. ``blank`` says why its OEE cannot be measured; its last station's output is
    then offered instead (``last_station``, ``last_output``), labelled as such."""

    path: str
    name: Name
    constraint: str
    constraint_name: Name
    period: Period
    kpis: Kpis
    #: every machine of the line, not only the constraint
    energy_kwh: float
    #: (hour start, OEE) of each stored hour of the line
    hourly: tuple[tuple[int, float | None], ...]
    origin: str | None
    blank: Reason | None
    last_station: Name
    #: good parts of the last station over the period; None when it sent nothing either
    last_output: int | None

    @property
    def kwh_per_good(self) -> float | None:
        """The whole line's energy per good part of its constraint, kWh; None without good parts."""
        return self.energy_kwh / self.period.gq if self.period.gq else None


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where the figures come from and how complete the data is."""

    #: simulated, measured, mixed (some machines each), or none (nothing heard)
    origin: str
    source: str
    machines: int
    heard: int
    networked: int
    #: declared-networked machines heard
    networked_heard: int
    #: hours of the period with planned busy time, and those of them in which some machine's state was known
    planned_hours: int
    hours_with_data: int


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding of the diagnosis: what, how much it costs in points of its figure (OEE points for a loss,
    rate points for the register), and the evidence."""

    zh: str
    en: str
    points: float
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LineEffect:
    """A line's simulated OEE and output before and after a recommendation."""

    name: Name
    oee_before: float | None
    oee_after: float | None
    output_before: int
    output_after: int


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The fewest key-process machines whose upgrade to NC reaches ``target``, and what it changes."""

    target: Target
    machines: tuple[EquipmentRow, ...]
    before: Rate
    after: Rate
    #: the simulated effect on each line that changes (None: not simulated)
    effect: tuple[LineEffect, ...] | None


@dataclass(frozen=True, slots=True)
class Ranked:
    """The enterprise's place among the enterprises of the store by one indicator."""

    zh: str
    en: str
    value: float | None
    #: None when it has no value to rank (no key-process equipment, say)
    rank: int | None
    of: int
    #: the share of the other enterprises below it (0 to 1); None when there are none
    above_share: float | None
    #: (enterprise id, rate) of every enterprise of the store, highest first
    table: tuple[tuple[str, float | None], ...]


@dataclass(frozen=True, slots=True)
class Earlier:
    """An earlier period of the same length: measured networking and each line's OEE."""

    start_ms: int
    end_ms: int
    networking_measured: Rate
    #: (line path, OEE)
    lines: tuple[tuple[str, float | None], ...]
    #: (line path, kWh of all its machines per good part of its constraint; None without good parts)
    energy_per_good: tuple[tuple[str, float | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    """One site's assessment over [start_ms, end_ms) (epoch ms): provenance, indicators against targets, the
    equipment, the lines, the diagnosis, recommendations and benchmarks; ``generated`` is when the report was
    made (site clock)."""

    enterprise: Name
    enterprise_id: str
    site: str
    site_name: Name
    region: Region | None
    timezone: str
    start_ms: int
    end_ms: int
    #: the period asked for (--from, --to) when it is not the data's own
    requested: tuple[int, int] | None
    provenance: Provenance
    basis: Basis
    indicators: Indicators
    rows: tuple[IndicatorRow, ...]
    equipment: tuple[EquipmentRow, ...]
    #: the site's auxiliary pool: in the register, out of the production denominators
    auxiliary: tuple[AuxiliaryAt, ...]
    lines: tuple[LineRow, ...]
    findings: tuple[Finding, ...]
    recommendations: tuple[Recommendation, ...]
    ranking: tuple[Ranked, ...]
    earlier: tuple[Earlier, ...]
    #: the green targets of the site's region (the report gives proxies of them)
    green: tuple[GreenTarget, ...]
    meta: ReportMeta
    generated: str

    def local(self, ms: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """An instant (epoch ms) on the site's clock, formatted with ``fmt``."""
        return dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(self.timezone)).strftime(fmt)

    @property
    def number(self) -> str:
        """The report's number: the one given, or the site and the period's first day."""
        return self.meta.number or f"{self.site.replace('/', '-')}-{self.local(self.start_ms, '%Y%m%d')}"


class NoData(Exception):
    """Nothing stored for the site (wrong site, wrong database, or the collector never ran)."""


#: what ``assess`` calls to simulate an upgrade: the paths upgraded → each line's effect
Simulate = Callable[[Sequence[str]], tuple[LineEffect, ...]]


def kind_name(kind: str) -> Name:
    """An equipment kind in words."""
    k = KINDS.get(kind)
    return Name(zh=k.zh, en=k.en) if k else Name(zh=kind, en=kind)


def _whole_hour(ms: int, zone: str, what: str) -> None:
    when = dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(zone))
    if (when.minute, when.second, when.microsecond) != (0, 0, 0):
        raise ValueError(f"{what} {when:%Y-%m-%d %H:%M:%S%z}: the report adds up the collector's hour windows; "
                         f"give a whole hour of the site's clock, e.g. {when:%Y-%m-%dT%H}:00{when:%z}")


def _site_of(plant: Plant, site_id: str | None) -> Site:
    sites = {s.id: s for s in plant.sites}
    if site_id is None:
        if len(sites) != 1:
            raise ValueError(f"{plant.source or 'the plant'} has sites {', '.join(sites)}: name one with --site")
        site_id = next(iter(sites))
    if site_id not in sites:
        raise ValueError(f"site {site_id!r} is not in {plant.source or 'the plant'} (sites: {', '.join(sites)})")
    return sites[site_id]


def assess(plant: Plant, site_id: str | None, source: Source, *, start_ms: int | None = None,
           end_ms: int | None = None, basis: Basis = Basis.EQUIPMENT, extra_targets: Sequence[Target] = (),
           meta: ReportMeta = ReportMeta(), simulate: Simulate | None = None,
           peers: Mapping[str, Mapping[str, Rate]] | None = None) -> Assessment:
    """The site's assessment over [start, end) (default: the span of its telemetry), compared with the national
    targets and its own region's (``extra_targets``: a user's too); ``simulate`` gives the simulated effect of
    each recommended upgrade; ``peers`` are the rates of enterprises assessed with it (from their plant files),
    which stand before what the store holds of them."""
    site = _site_of(plant, site_id)
    zone = site.calendar.timezone
    key = f"{plant.enterprise.id}/{site.id}"
    for ms, what in ((start_ms, "--from"), (end_ms, "--to")):
        if ms is not None:
            _whole_hour(ms, zone, what)
    span = source.span(key, start_ms, end_ms)
    if span is None:
        raise NoData(f"{source.name}: no telemetry of {key} stored" + (
            "" if start_ms is None and end_ms is None else " in the period asked for") +
            ": is this the collector's database, and the site's?")
    first, last = span
    # half-open: the last instant belongs to the period
    start, end = first, last + 1
    hours = source.hours(key, start, end)
    if not hours:
        raise NoData(f"{source.name}: no hourly KPIs of {key} between {first} and {last}: has its collector "
                     "computed them?")
    heard = source.heard(key, start, end)
    origin_of = of_site(source.origins(), key)
    at_site = [at for at in plant.machines() if at.site.id == site.id]
    entries = [e for e in register(plant) if e.site == site.id]
    rates = indicators(entries, heard, basis)
    pooled = indicators(entries, heard, basis, auxiliary=True)
    telemetry_origin = _origin({origin_of.get(p, "measured") for p in heard})
    rows = []
    for attr, zh, en, indicator in RATES:
        rate: Rate = getattr(rates, attr)
        found = tuple(gaps(rate.value, indicator, site.region, extra=extra_targets)) \
            if indicator and rate.value is not None else ()
        observed = tuple((b, rate.value - b.value) for b in benchmarks(indicator)) \
            if indicator and rate.value is not None else ()
        with_pool: Rate = getattr(pooled, attr)
        rows.append(IndicatorRow(attr, zh, en, rate, telemetry_origin if attr.endswith("measured") else "declared",
                                 found, observed, None if with_pool == rate else with_pool))
    line_names = {at.line.id: at.line.name for at in at_site}
    equipment = tuple(
        EquipmentRow(at.path, at.machine.name, line_names[at.line.id], kind_name(at.machine.kind),
                     None if at.machine.process == at.machine.kind else at.machine.process, at.machine.key_process,
                     at.machine.control.value, site.is_nc(at.machine.control), at.machine.digital,
                     at.machine.networked, at.path in heard, origin_of.get(at.path))
        for at in at_site)
    lines = tuple(_lines(site, key, hours, heard, origin_of))
    recommendations = tuple(_recommendations(rows[0], entries, equipment, basis, simulate))
    # the period asked for, where it is not the data's own: its length is what earlier periods are as long as
    asked = (start if start_ms is None else start_ms, end if end_ms is None else end_ms)
    generated = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
    return Assessment(
        plant.enterprise.name, plant.enterprise.id, key, site.name, site.region, zone, start, end,
        None if start_ms is None and end_ms is None else asked,
        _provenance(source.name, telemetry_origin, at_site, heard, hours),
        basis, rates, tuple(rows), equipment, tuple(a for a in plant.auxiliary() if a.site.id == site.id), lines,
        _findings(rows, equipment, lines), recommendations,
        _ranking(plant, source.enterprise_rates(basis.value) | dict(peers or {}), basis),
        # earlier periods end where this one's first hour window begins: none of its windows is counted twice
        tuple(_earlier(source, key, site, min(h.start_ms for h in hours), asked[1] - asked[0], entries, basis)),
        tuple(green_targets(site.region)), meta, generated)


def _origin(found: set[str]) -> str:
    if not found:
        return "none"
    return found.pop() if len(found) == 1 else "mixed"


def _provenance(source: str, origin: str, at_site: Sequence[MachineAt], heard: set[str],
                hours: Sequence[Hour]) -> Provenance:
    planned: set[int] = set()
    known: set[int] = set()
    for h in hours:
        if h.level == "machine":
            if h.period.pbt_s + h.period.unknown_s > 0:
                planned.add(h.start_ms)
            if h.period.pbt_s > 0:
                known.add(h.start_ms)
    networked = [at.path for at in at_site if at.machine.networked]
    return Provenance(origin, source, len(at_site), sum(at.path in heard for at in at_site), len(networked),
                      sum(p in heard for p in networked), len(planned), len(known & planned))


def _lines(site: Site, key: str, hours: Sequence[Hour], heard: set[str],
           origin_of: Mapping[str, str]) -> list[LineRow]:
    out = []
    for area in site.areas:
        for line in area.lines:
            path = f"{key}/{area.id}/{line.id}"
            own = sorted((h for h in hours if h.level == "line" and h.unit == path), key=lambda h: h.start_ms)
            machine_hours = [h for h in hours if h.level == "machine" and h.unit.startswith(path + "/")]
            period = combine(h.period for h in own)
            figures = kpis(period)
            constraint = line.constraint
            constraint_path = f"{path}/{constraint.id}"
            blank = None
            if figures.oee is None:
                blank = _why_blank(constraint.name, constraint.networked, constraint_path in heard, period)
            last = line.machines[-1]
            last_path = f"{path}/{last.id}"
            last_output = sum(h.period.gq for h in machine_hours if h.unit == last_path) \
                if last_path in heard else None
            out.append(LineRow(path, line.name, constraint.id, constraint.name, period, figures,
                               sum(h.period.energy_kwh for h in machine_hours),
                               tuple((h.start_ms, kpis(h.period).oee) for h in own),
                               origin_of.get(constraint_path, "measured") if constraint_path in heard else None, blank,
                               last.name, last_output))
    return out


def _why_blank(constraint: Name, networked: bool, heard: bool, period: Period) -> Reason:
    if not networked:
        return Reason(f"瓶颈工位 {constraint} 未联网，不发送数据", f"its constraint station, {constraint}, is not "
                      "networked: it sends no telemetry")
    if not heard:
        return Reason(f"瓶颈工位 {constraint} 申报联网，但本期间未发送数据",
                      f"its constraint station, {constraint}, is declared networked but sent nothing in the period")
    if period.pbt_s <= 0:
        return Reason("本期间无计划生产时间或状态未知", "no planned busy time with a known state in the period")
    return Reason("本期间未生产", "nothing was produced in the period")


def _findings(rows: Sequence[IndicatorRow], equipment: Sequence[EquipmentRow],
              lines: Sequence[LineRow]) -> tuple[Finding, ...]:
    """自诊断: the six big losses by line, the key-process equipment that keeps the NC rate below its targets,
    digital key equipment that is not networked, and declared-networked equipment that sent nothing — ranked by
    the points of their figure they cost."""
    out: list[Finding] = []
    for line in lines:
        pbt = line.period.pbt_s
        if line.kpis.oee is None or pbt <= 0:
            continue
        for attr, zh, en in LOSSES:
            lost = max(getattr(line.kpis.losses, attr), 0.0)
            share = lost / pbt * 100
            if share >= 1:
                out.append(Finding(f"{line.name.zh}：{zh}占计划生产时间 {share:.1f} %",
                                   f"{line.name.en}: {en}, {share:.1f} % of planned busy time", share,
                                   (f"{lost / 3600:.2f} h of {pbt / 3600:.2f} h planned busy time at the constraint "
                                    f"station {line.constraint_name} (ISO 22400-2, Nakajima's six big losses)",)))
    nc = rows[0]
    short = [(t, gap) for t, gap in nc.gaps if gap < 0]
    not_nc = [e for e in equipment if e.key_process and not e.nc]
    if short and not_nc and nc.rate.denominator:
        worst, gap = min(short, key=lambda tg: tg[1])
        out.append(Finding(f"{len(not_nc)} 台关键工序设备未数控，关键工序数控化率 {nc.rate.value * 100:.1f} %"  # type: ignore[operator]
                           f"，低于 {worst.label_zh} {-gap * 100:.1f} 个百分点",
                           f"{len(not_nc)} key-process machines are not under NC: the NC rate is "
                           f"{-gap * 100:.1f} pt below {worst.label_en}", len(not_nc) / nc.rate.denominator * 100,
                           tuple(f"{e.name} ({e.path}): {e.control}" for e in not_nc)))
    offline = [e for e in equipment if e.key_process and e.digital and not e.networked]
    if offline:
        out.append(Finding(f"{len(offline)} 台数字化关键设备未联网", f"{len(offline)} digital key-process machines "
                           "are not networked", len(offline) / max(len(equipment), 1) * 100,
                           tuple(f"{e.name} ({e.path}): digital, not networked" for e in offline)))
    silent = [e for e in equipment if e.networked and not e.heard]
    if silent:
        out.append(Finding(f"{len(silent)} 台申报联网设备本期间未发送数据", f"{len(silent)} machines declared "
                           "networked sent nothing in the period", len(silent) / max(len(equipment), 1) * 100,
                           tuple(f"{e.name} ({e.path}): declared networked, no state, counters or signals"
                                 for e in silent)))
    return tuple(sorted(out, key=lambda f: -f.points))


def _recommendations(nc: IndicatorRow, entries: Sequence[Equipment], equipment: Sequence[EquipmentRow],
                     basis: Basis, simulate: Simulate | None) -> list[Recommendation]:
    """For each applicable NC target not met, the fewest key-process machines to upgrade (equipment basis)."""
    if basis is not Basis.EQUIPMENT:
        return []
    by_path = {e.path: e for e in equipment}
    out = []
    for target, gap in nc.gaps:
        if gap >= 0:
            continue
        paths = fewest_upgrades(entries, target.value)
        after = Rate(nc.rate.numerator + len(paths), nc.rate.denominator)
        out.append(Recommendation(target, tuple(by_path[p] for p in paths), nc.rate, after,
                                  simulate(paths) if simulate and paths else None))
    return out


def _ranking(plant: Plant, stored: Mapping[str, Mapping[str, Rate]], basis: Basis) -> tuple[Ranked, ...]:
    """The enterprise among the store's enterprises: its own rates from its plant file, theirs as their collectors
    stored them (``stored``: enterprise id → rates)."""
    others = {e: rates for e, rates in stored.items() if e != plant.enterprise.id}
    if not others:
        return ()
    own = indicators(register(plant), (), basis)
    out = []
    for attr, zh, en in (("nc_rate", "关键工序数控化率", "key-process NC rate"),
                         ("digitization", "生产设备数字化率", "production equipment digitization rate")):
        values = {plant.enterprise.id: getattr(own, attr).value}
        values |= {e: rates[attr].value if attr in rates else None for e, rates in others.items()}
        table = tuple(sorted(values.items(), key=lambda kv: (kv[1] is None, -(kv[1] or 0.0), kv[0])))
        mine = values[plant.enterprise.id]
        if mine is None:
            out.append(Ranked(zh, en, None, None, len(values), None, table))
            continue
        rank = 1 + sum(1 for v in values.values() if v is not None and v > mine)
        below = sum(1 for e, v in values.items() if e != plant.enterprise.id and v is not None and v < mine)
        out.append(Ranked(zh, en, mine, rank, len(values), below / len(others), table))
    return tuple(out)


def _earlier(source: Source, key: str, site: Site, start: int, length: int, entries: Sequence[Equipment],
             basis: Basis) -> list[Earlier]:
    """The periods of the same length (in whole hours) before this one, as far back as ``EARLIER_PERIODS``, that
    have data."""
    out = []
    # whole hours, so that no earlier period cuts an hour window (a period given by --from alone ends with its data)
    length = -(-max(length, HOUR_MS) // HOUR_MS) * HOUR_MS
    for k in range(1, EARLIER_PERIODS + 1):
        a, b = start - k * length, start - (k - 1) * length
        span = source.span(key, a, b)
        if span is None:
            continue  # a night or a weekend without data: the period before it may have some
        hours = [h for h in source.hours(key, span[0], span[1] + 1) if a <= h.start_ms < b]
        rates = indicators(entries, source.heard(key, a, b), basis)
        lines, energy = [], []
        for area in site.areas:
            for line in area.lines:
                path = f"{key}/{area.id}/{line.id}"
                period = combine(h.period for h in hours if h.level == "line" and h.unit == path)
                kwh = sum(h.period.energy_kwh for h in hours if h.level == "machine" and h.unit.startswith(path + "/"))
                lines.append((path, kpis(period).oee))
                energy.append((path, kwh / period.gq if period.gq else None))
        out.append(Earlier(a, b, rates.networking_measured, tuple(lines), tuple(energy)))
    return out


def hours_of(lines: Sequence[LineRow]) -> list[int]:
    """Every hour start any line has, in order (the x axis of the hourly chart)."""
    return sorted({start for line in lines for start, _ in line.hourly})


__all__ = ["Assessment", "Earlier", "EquipmentRow", "Finding", "Hour", "IndicatorRow", "LineEffect", "LineRow",
           "NoData", "Provenance", "Ranked", "Reason", "Recommendation", "ReportMeta", "Simulate", "assess",
           "hours_of", "kind_name"]
