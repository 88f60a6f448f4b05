"""The KPI engine's results as InfluxDB line protocol (docs/storage.md): encoding only, no state.

``kpi`` points carry every defined KPI, the period's elements and the six losses; a field
keeps its type for ever in InfluxDB, so the period's counts are integers and every other
element a float, whatever the value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping

from shopfloor import REASONS, StopReason

from ._alarms import CONDITIONS, AlarmChange, MachineStatus
from ._digitization import FleetRate, Rate
from ._grading import Colour
from ._kpi import Period
from ._points import FieldValue, line
from ._results import Result
from ._targets import targets
from ._units import PATH_TAGS, Level, Unit

#: the KPI fields of a ``kpi`` point (each left out while undefined)
KPI_FIELDS = ("availability", "effectiveness", "quality", "oee", "nee", "technical_efficiency", "setup_rate",
              "scrap_ratio", "rework_ratio", "mtbf_s", "mttr_s", "energy_per_good_kwh", "teep", "coverage")
#: the 两化融合 rates of a ``digitization`` point
RATES = ("nc_rate", "digitization", "networking_declared", "networking_measured", "digital_networking_declared",
         "digital_networking_measured")
_PERIOD_FIELDS = tuple(f.name for f in dataclasses.fields(Period))
PERIOD_INTS = ("pq", "gq", "sq", "rq", "failures", "gap_pq", "gap_gq", "gap_sq", "gap_rq")
_PERIOD_FLOATS = tuple(f for f in _PERIOD_FIELDS if f not in PERIOD_INTS)
_LOSSES = ("breakdowns_s", "setup_s", "minor_stops_s", "reduced_speed_s", "scrap_s", "rework_s", "valuable_s")
_MINUTE_MS = 60_000


def unit_tags(level: Level | str, unit: str) -> dict[str, str]:
    """A unit's ``level`` and path tags."""
    tags = {"level": Level(level).value}
    return tags if tags["level"] == Level.FLEET else tags | dict(zip(PATH_TAGS, Unit(unit).parts, strict=False))


@functools.lru_cache(maxsize=65_536)
def _kpi_series(level: Level | str, unit: str, window: str) -> str:
    return line("kpi", unit_tags(level, unit) | {"window": window}, {"x": 0}, 0).rsplit(" ", 2)[0]


def kpi_tags(level: Level | str, unit: str, window: str) -> tuple[tuple[str, str], ...]:
    """A ``kpi`` series' tags, sorted (as a ``Retraction`` names it)."""
    return tuple(sorted((unit_tags(level, unit) | {"window": window}).items()))


def kpi_line(r: Result) -> str:
    """What ``line`` would write, formatted directly (a tick writes thousands) and with fixed field types."""
    k, p = r.kpis, r.period
    parts = [f"{name}={float(v)!r}" for name in KPI_FIELDS if (v := getattr(k, name)) is not None]
    parts += [f"{name}={float(getattr(p, name))!r}" for name in _PERIOD_FLOATS]
    parts += [f"{name}={int(getattr(p, name))}i" for name in PERIOD_INTS]
    parts.append(f"pbt_s={float(p.pbt_s)!r}")
    parts += [f"loss_{name}={float(getattr(k.losses, name))!r}" for name in _LOSSES]
    label = r.label.replace("\\", "\\\\").replace('"', '\\"')
    parts.append(f'label="{label}",end_ms={r.end_ms}i,final={"true" if r.final else "false"}')
    return f"{_kpi_series(r.level, r.unit, r.window)} {','.join(parts)} {r.start_ms * 1000}"


def rates_line(level: Level, unit: str, rates: Mapping[str, Rate], basis: str, window: str, ts_ms: int) -> str:
    fields: dict[str, FieldValue | None] = {}
    for name in RATES:
        rate = rates[name]
        fields[name] = rate.value
        fields[f"{name}_num"] = rate.numerator
        fields[f"{name}_den"] = rate.denominator
    return line("digitization", unit_tags(level, unit) | {"window": window, "basis": basis}, fields, ts_ms)


def fleet_rates_line(rates: Mapping[str, FleetRate], enterprises: int, basis: str, ts_ms: int) -> str:
    fields: dict[str, FieldValue | None] = {"enterprises": enterprises}
    for name in RATES:
        fields[f"{name}_mean"] = rates[name].mean_of_enterprises
        fields[f"{name}_weighted"] = rates[name].equipment_weighted
    return line("digitization", {"level": "fleet", "window": "rolling", "basis": basis}, fields, ts_ms)


def grade_line(level: Level, unit: str, method: str, score: float, colour: Colour, rank: int, ts_ms: int) -> str:
    return line("grade", unit_tags(level, unit) | {"method": method},
                {"score": score, "colour": colour.value, "colour_zh": colour.zh, "rank": rank}, ts_ms)


def machine_status_line(s: MachineStatus, oee: float | None) -> str:
    info = REASONS[StopReason(s.reason)] if s.reason is not None else None
    fields: dict[str, FieldValue | None] = {
        "condition": s.condition, "online": s.machine.online, "reason": info.name if info else None,
        "reason_code": s.reason, "state": info.state.name if info else None, "since_ms": s.since_ms,
        "stopped_s": s.stopped_s, "oee": oee, "alarm": s.alarm is not None,
    }
    return line("machine_status", unit_tags(Level.MACHINE, s.machine.path), fields, s.now_ms // 1000 * 1000)


def fleet_status_line(level: Level, unit: str, counts: Mapping[str, int], now_ms: int) -> str:
    return line("fleet_status", unit_tags(level, unit),
                {c: counts.get(c, 0) for c in CONDITIONS} | {"machines": sum(counts.values())}, now_ms // 1000 * 1000)


def alarm_line(change: AlarmChange, now_ms: int) -> str:
    return line("alarm", unit_tags(Level.MACHINE, change.path) | {"kind": change.kind},
                {"active": change.active, "since_ms": change.since_ms,
                 "duration_s": (now_ms - change.since_ms) / 1000}, change.since_ms)


def gap_tags(path: str, what: str) -> dict[str, str]:
    return unit_tags(Level.MACHINE, path) | {"what": what}


def gap_line(path: str, what: str, start_ms: int, end_ms: int, cause: str) -> str:
    return line("gap", gap_tags(path, what), {"end_ms": end_ms, "seconds": (end_ms - start_ms) / 1000,
                                               "cause": cause}, start_ms)


def clock_line(site: str, now_ms: int, *, live: bool) -> str:
    return line("clock", unit_tags(Level.SITE, site), {"now_ms": now_ms, "live": live}, now_ms)


def minute(ts_ms: int) -> int:
    """The whole minute a point of a tick is stamped with (one point per minute and unit)."""
    return ts_ms // _MINUTE_MS * _MINUTE_MS


def target_lines() -> list[str]:
    """The national and city targets as points (one per target, at 1 January of its year), for dashboards."""
    out = []
    for t in targets():
        ts = round(dt.datetime(t.year, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
        out.append(line("target", {"indicator": t.indicator, "scope": t.scope},
                        {"value": t.value, "year": t.year, "label_zh": t.label_zh, "label_en": t.label_en,
                         "source": t.source, "verified": t.verified}, ts))
    return out
