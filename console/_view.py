"""What the console page shows, as JSON-ready data (pure: read from the KPI engine and the plant files).

Every machine of the register appears, by site and line, with its name and its condition in words
and colour — including the ones that are not networked, which say so instead of a bare dash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector import Engine, Indicators, Rate, Result, gaps
from shopfloor import KINDS, REASONS, Plant, Region, StopReason

#: the colour of each ISO 22400 time element a stop reason falls in (and of the conditions outside them)
ELEMENT_COLOURS = {"APT": "#2e9d4a", "AUST": "#2f6fd1", "ADET": "#d93025", "ADOT": "#e0b400",
                   "planned_down": "#8a8f98", "no_shift": "#5f6368"}
#: a micro-stop or a quality hold is a delay, but not a breakdown: orange rather than red
REASON_COLOURS = {StopReason.MICRO_STOP: "#f08c00", StopReason.QUALITY_HOLD: "#f08c00"}
#: conditions that are no stop reason: (中文, English, colour)
OFFLINE = ("离线", "offline", "#3c4043")
NOT_NETWORKED = ("未联网", "not networked", "#b0b4ba")
NO_STATE = ("尚无状态", "no state yet", "#b0b4ba")


def _kpis(result: Result | None) -> dict[str, float | None]:
    k = result.kpis if result is not None else None
    return {"availability": k.availability if k else None, "performance": k.effectiveness if k else None,
            "quality": k.quality if k else None, "oee": k.oee if k else None}


def _condition(reason: int | None, online: bool | None, networked: bool) -> dict[str, str]:
    if not networked:
        zh, en, colour = NOT_NETWORKED
        return {"key": "not_networked", "zh": zh, "en": en, "colour": colour}
    if online is False:
        zh, en, colour = OFFLINE
        return {"key": "offline", "zh": zh, "en": en, "colour": colour}
    if reason is None:
        zh, en, colour = NO_STATE
        return {"key": "no_state", "zh": zh, "en": en, "colour": colour}
    info = REASONS[StopReason(reason)]
    return {"key": info.name, "zh": info.zh, "en": info.en,
            "colour": REASON_COLOURS.get(StopReason(reason), ELEMENT_COLOURS[info.element])}


#: the 两化融合 rates the page shows: (attribute, 中文, English, target indicator or None)
RATES = (("nc_rate", "关键工序数控化率", "key-process NC rate", "nc_rate"),
         ("digitization", "生产设备数字化率", "production equipment digitization rate", None),
         ("networking_declared", "设备联网率（申报）", "networking rate, declared", None),
         ("networking_measured", "设备联网率（实测，近 1 小时）", "networking rate, measured (last hour)", None))
HOUR_MS = 3_600_000


def _rates(indicators: Indicators | None, region: Region | None) -> list[dict[str, Any]]:
    """Each rate with its counts and, for the NC rate, its gap to every target of the nation and the region."""
    out = []
    for attr, zh, en, indicator in RATES if indicators is not None else ():
        rate: Rate = getattr(indicators, attr)
        targets = [{"zh": t.label_zh, "en": t.label_en, "value": t.value, "gap": gap}
                   for t, gap in gaps(rate.value, indicator, region)] if indicator and rate.value is not None else []
        out.append({"key": attr, "zh": zh, "en": en, "value": rate.value, "numerator": rate.numerator,
                    "denominator": rate.denominator, "targets": targets})
    return out


def fleet(engine: Engine, plants: Sequence[Plant], now_ms: int) -> dict[str, Any]:
    """The fleet now: each site's lines, each line's machines in flow order with their condition, and the line's
    rolling OEE with its constraint station."""
    status = {str(row.machine.path): row for row in engine.status(now_ms)}
    indicators = {str(s.unit): s.indicators for s in engine.digitization(now_ms - HOUR_MS, now_ms)
                  if s.level.value == "site"}
    sites = []
    for plant in plants:
        for site in plant.sites:
            lines = []
            for area in site.areas:
                for line in area.lines:
                    path = f"{plant.enterprise.id}/{site.id}/{area.id}/{line.id}"
                    machines = []
                    for m in line.machines:
                        row = status.get(f"{path}/{m.id}")
                        kind = KINDS[m.kind]
                        machines.append({
                            "id": m.id, "path": f"{path}/{m.id}", "name": {"zh": m.name.zh, "en": m.name.en},
                            "kind": {"zh": kind.zh, "en": kind.en}, "networked": m.networked,
                            "constraint": m.id == line.constraint.id,
                            "condition": _condition(row.reason if row else None,
                                                    row.machine.online if row else None, m.networked),
                            "since_ms": row.since_ms if row and m.networked else None,
                            "oee": _kpis(engine.latest.get(("machine", f"{path}/{m.id}", "rolling")))["oee"],
                        })
                    lines.append({"path": path, "id": line.id, "name": {"zh": line.name.zh, "en": line.name.en},
                                  "constraint": line.constraint.id,
                                  "constraint_networked": line.constraint.networked,
                                  "kpis": _kpis(engine.latest.get(("line", path, "rolling"))),
                                  "machines": machines})
            sites.append({"path": f"{plant.enterprise.id}/{site.id}",
                          "name": {"zh": site.name.zh, "en": site.name.en},
                          "region": str(site.region) if site.region else None,
                          "rates": _rates(indicators.get(f"{plant.enterprise.id}/{site.id}"), site.region),
                          "enterprise": {"zh": plant.enterprise.name.zh, "en": plant.enterprise.name.en},
                          "lines": lines})
    return {"now_ms": now_ms, "sites": sites}


__all__ = ["fleet"]
