"""The sites' shares of the fleet, read back from the store: what the fleet step adds up when the fleet is
divided among partitions (``_partition``).

Each partition's KPI engine stores everything a ``SiteShare`` holds already — its sites' and
lines' ``kpi`` points, their rolling ``digitization`` rates, the sites' ``fleet_status`` and
``clock`` — so the fleet step needs nothing but the store. Numbers come back as stored (InfluxDB
keeps float64 and answers with the shortest exact decimal), so the sums equal the sums one KPI
engine makes of the same sites in memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ._alarms import CONDITIONS
from ._digitization import Basis, Indicators, Rate
from ._encode import PERIOD_INTS, RATES
from ._fleet import SiteIndicators, SiteShare
from ._influx import Store
from ._kpi import Period, kpis
from ._results import Result
from ._units import PATH_TAGS, Level, Unit

_PERIOD_FIELDS = tuple(f.name for f in dataclasses.fields(Period))
_NEWEST = "GROUP BY * ORDER BY time DESC LIMIT 1"


def _rows(store: Store, influxql: str) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    for s in store.query(influxql):
        tags = s.get("tags", {})
        for values in s["values"]:
            yield tags, dict(zip(s["columns"], values, strict=True))


def _unit(tags: dict[str, str]) -> Unit:
    return Unit("/".join(tags[k] for k in PATH_TAGS if tags.get(k)))


def _result(tags: dict[str, str], row: dict[str, Any]) -> Result:
    values: dict[str, Any] = {f: int(row[f]) if f in PERIOD_INTS else float(row[f]) for f in _PERIOD_FIELDS
                              if row.get(f) is not None}
    period = Period(**values)
    return Result(Level(tags["level"]), _unit(tags), tags["window"], int(row["time"]), int(row["end_ms"]),
                  str(row["label"]), bool(row["final"]), period, kpis(period))


def read_shares(store: Store, keep_s: float, basis: Basis) -> list[SiteShare]:
    """Every site's share as its partition last stored it (blocking I/O: run it in a thread)."""
    clocks: dict[Unit, tuple[int, bool]] = {}
    for tags, row in _rows(store, f'SELECT "now_ms", "live" FROM "clock" WHERE "level" = \'site\' {_NEWEST}'):
        clocks[_unit(tags)] = (int(row["now_ms"]), row.get("live") is not False)
    if not clocks:
        return []
    since = min(now for now, _ in clocks.values()) - round(keep_s * 1000)
    results: dict[Unit, list[Result]] = {}
    for tags, row in _rows(store, f'SELECT * FROM "kpi" WHERE "level" = \'site\' AND time >= {since}ms AND '
                                  '("window" = \'hour\' OR "window" = \'day\') GROUP BY *'):
        results.setdefault(_unit(tags), []).append(_result(tags, row))
    rolling: dict[Unit, list[Result]] = {}
    for tags, row in _rows(store, 'SELECT * FROM "kpi" WHERE ("level" = \'site\' OR "level" = \'line\') AND '
                                  f'"window" = \'rolling\' {_NEWEST}'):
        r = _result(tags, row)
        rolling.setdefault(r.unit.site, []).append(r)
        if r.level is Level.SITE:
            results.setdefault(r.unit, []).append(r)
    rates: dict[Unit, list[SiteIndicators]] = {}
    for tags, row in _rows(store, 'SELECT * FROM "digitization" WHERE ("level" = \'site\' OR "level" = \'line\') '
                                  f'AND "window" = \'rolling\' {_NEWEST}'):
        unit = _unit(tags)
        indicators = Indicators(**{name: Rate(int(row[f"{name}_num"]), int(row[f"{name}_den"])) for name in RATES},
                                basis=Basis(tags.get("basis", basis.value)))
        rates.setdefault(unit.site, []).append(SiteIndicators(unit, Level(tags["level"]), indicators))
    conditions: dict[Unit, dict[str, int]] = {}
    for tags, row in _rows(store, f'SELECT * FROM "fleet_status" WHERE "level" = \'site\' {_NEWEST}'):
        conditions[_unit(tags)] = {c: int(row[c]) for c in CONDITIONS if row.get(c)}
    return [SiteShare(site, now, sorted(results.get(site, []), key=lambda r: (r.window, r.start_ms)),
                      sorted(rolling.get(site, []), key=lambda r: r.unit),
                      sorted(rates.get(site, []), key=lambda s: (s.level, s.unit)), conditions.get(site, {}),
                      live=live)
            for site, (now, live) in sorted(clocks.items())]
