"""The assessment of one site over one period, as data: indicators against targets with their
evidence, line OEE and losses, energy (pure: the sources did the reading)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from collector import Basis, Indicators, Kpis, Period, Rate, Target, combine, gaps, indicators, kpis, register
from shopfloor import Plant

from ._sources import Hour, Source

#: the rates of the report, in its order: (attribute, 中文, English, target indicator or None)
RATES = (
    ("nc_rate", "关键工序数控化率", "key-process NC rate", "nc_rate"),
    ("digitization", "生产设备数字化率", "production equipment digitization rate", None),
    ("networking_declared", "设备联网率（申报）", "equipment networking rate, declared", None),
    ("networking_measured", "设备联网率（实测）", "equipment networking rate, measured", None),
    ("digital_networking_declared", "数字化生产设备联网率（申报）", "digital equipment networking, declared", None),
    ("digital_networking_measured", "数字化生产设备联网率（实测）", "digital equipment networking, measured", None),
)


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """One rate of the report: its key and names, its counts, and how far it is from each of its targets."""

    key: str
    zh: str
    en: str
    rate: Rate
    #: each target with value − target (negative: short of it)
    gaps: tuple[tuple[Target, float], ...]


@dataclass(frozen=True, slots=True)
class EquipmentRow:
    """One machine of the site's register as the report lists it."""

    path: str
    name_zh: str
    name_en: str
    line: str
    kind: str
    process: str
    key_process: bool
    control: str
    nc: bool
    digital: bool
    networked: bool
    #: telemetry arrived in the period
    heard: bool


@dataclass(frozen=True, slots=True)
class LineRow:
    """A line over the period: its constraint's hours added up (``period``, ``kpis``), the energy of all its
    machines, and its hourly OEE."""

    path: str
    name_zh: str
    name_en: str
    constraint: str
    period: Period
    kpis: Kpis
    #: every machine of the line, not only the constraint
    energy_kwh: float
    #: (hour start, OEE) of each stored hour of the line
    hourly: tuple[tuple[int, float | None], ...]

    @property
    def kwh_per_good(self) -> float | None:
        """The whole line's energy per good part of its constraint, kWh; None without good parts."""
        return self.energy_kwh / self.period.gq if self.period.gq else None


@dataclass(frozen=True, slots=True)
class Assessment:
    """One site's assessment over [start_ms, end_ms) (epoch ms): indicators against targets, the equipment, the
    lines; ``source`` names where the data came from, ``generated`` when the report was made (site clock)."""

    enterprise_zh: str
    enterprise_en: str
    site: str
    site_zh: str
    site_en: str
    timezone: str
    start_ms: int
    end_ms: int
    source: str
    basis: Basis
    indicators: Indicators
    rows: tuple[IndicatorRow, ...]
    equipment: tuple[EquipmentRow, ...]
    lines: tuple[LineRow, ...]
    generated: str

    def local(self, ms: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """An instant (epoch ms) on the site's clock, formatted with ``fmt``."""
        return dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(self.timezone)).strftime(fmt)


class NoData(Exception):
    """Nothing stored for the site (wrong site, wrong database, or the collector never ran)."""


def assess(plant: Plant, site_id: str | None, source: Source, *, start_ms: int | None = None,
           end_ms: int | None = None, basis: Basis = Basis.EQUIPMENT,
           extra_targets: Sequence[Target] = ()) -> Assessment:
    """The site's assessment over [start, end) (default: every stored hour), compared with the national targets
    and its own region's (``extra_targets``: a user's too)."""
    sites = {s.id: s for s in plant.sites}
    if site_id is None:
        if len(sites) != 1:
            raise ValueError(f"{plant.source or 'the plant'} has sites {', '.join(sites)}: name one with --site")
        site_id = next(iter(sites))
    if site_id not in sites:
        raise ValueError(f"site {site_id!r} is not in {plant.source or 'the plant'} (sites: {', '.join(sites)})")
    site = sites[site_id]
    key = f"{plant.enterprise.id}/{site.id}"
    if start_ms is None or end_ms is None:
        span = source.span(key)
        if span is None:
            raise NoData(f"{source.name}: no hourly KPIs stored for {key}: is this the collector's database?")
        start_ms = span[0] if start_ms is None else start_ms
        end_ms = span[1] if end_ms is None else end_ms
    hours = source.hours(key, start_ms, end_ms)
    if not hours:
        raise NoData(f"{source.name}: no hourly KPIs of {key} between {start_ms} and {end_ms}")
    heard = source.heard(key, start_ms, end_ms)
    at_site = [at for at in plant.machines() if at.site.id == site.id]
    entries = [e for e in register(plant) if e.site == site.id]
    rates = indicators(entries, heard, basis)
    rows = []
    for attr, zh, en, indicator in RATES:
        rate: Rate = getattr(rates, attr)
        found = tuple(gaps(rate.value, indicator, site.region, extra=extra_targets)) \
            if indicator and rate.value is not None else ()
        rows.append(IndicatorRow(attr, zh, en, rate, found))
    equipment = tuple(
        EquipmentRow(at.path, at.machine.name.zh, at.machine.name.en, at.line.id, at.machine.kind, at.machine.process,
                     at.machine.key_process, at.machine.control.value, site.is_nc(at.machine.control),
                     at.machine.digital, at.machine.networked, at.path in heard)
        for at in at_site)
    lines = []
    for area in site.areas:
        for line in area.lines:
            path = f"{key}/{area.id}/{line.id}"
            own = sorted((h for h in hours if h.level == "line" and h.unit == path), key=lambda h: h.start_ms)
            machine_hours = [h for h in hours if h.level == "machine" and h.unit.startswith(path + "/")]
            period = combine(h.period for h in own)
            lines.append(LineRow(path, line.name.zh, line.name.en, line.constraint.id, period, kpis(period),
                                 sum(h.period.energy_kwh for h in machine_hours),
                                 tuple((h.start_ms, kpis(h.period).oee) for h in own)))
    return Assessment(plant.enterprise.name.zh, plant.enterprise.name.en, key, site.name.zh, site.name.en,
                      site.calendar.timezone, start_ms, end_ms, source.name, basis, rates, tuple(rows), equipment,
                      tuple(lines), dt.datetime.now(dt.UTC).astimezone(ZoneInfo(site.calendar.timezone))
                      .strftime("%Y-%m-%d %H:%M %Z"))


def hours_of(lines: Sequence[LineRow]) -> list[int]:
    """Every hour start any line has, in order (the x axis of the hourly chart)."""
    return sorted({start for line in lines for start, _ in line.hourly})


__all__ = ["Assessment", "EquipmentRow", "Hour", "IndicatorRow", "LineRow", "NoData", "assess", "hours_of"]
