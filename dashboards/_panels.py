"""Grafana JSON building blocks: the datasource reference, variables, panels and InfluxQL targets.

Every query is InfluxQL (what InfluxDB 1.8, 2.x through its DBRP mapping and 3.x all answer)
and names each column it returns with ``AS "…"``: the tests run every query against a real
InfluxDB and check the columns against those names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the provisioned datasource's uid: every panel and variable points at it
DATASOURCE_UID = "sfsim-influxdb"
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}

#: what the path variables filter on (Grafana formats a multi-value variable as a regex alternation)
SITE = '"site" =~ /^$site$/'
LINE = f'{SITE} AND "line" =~ /^$line$/'
MACHINE = f'{LINE} AND "machine" =~ /^$machine$/'

#: colours of a machine's condition (machine_status.condition) and of the five-colour grades
CONDITION_COLOURS = {
    "executing": ("运行", "executing", "green"),
    "setup": ("换型", "setup", "blue"),
    "idle": ("空闲/待料", "idle", "yellow"),
    "down": ("停机", "down", "red"),
    "standby": ("计划停机", "standby", "purple"),
    "offline": ("离线", "offline", "#808080"),
    "unknown": ("未知", "unknown", "#b0b0b0"),
}
GRADE_COLOURS = {"green": ("绿", "green"), "blue": ("蓝", "blue"), "yellow": ("黄", "yellow"),
                 "orange": ("橙", "orange"), "red": ("红", "red")}
#: stop reasons of the state timeline (docs/states.md)
REASON_COLOURS = {
    "producing": ("生产中", "green"), "setup": ("换型调整", "blue"), "breakdown": ("故障停机", "red"),
    "micro_stop": ("短暂停机", "orange"), "quality_hold": ("质量停机", "dark-orange"), "starved": ("待料", "yellow"),
    "blocked": ("堵料", "light-yellow"), "no_order": ("无订单", "#b0b0b0"), "no_operator": ("缺员", "light-orange"),
    "planned_break": ("计划休息", "purple"),
    "planned_maintenance": ("计划维护", "dark-purple"), "no_shift": ("非班次", "#606060"),
}


def target(query: str, ref: str = "A", *, table: bool = False) -> dict[str, Any]:
    return {"refId": ref, "datasource": DATASOURCE, "query": query, "rawQuery": True,
            "resultFormat": "table" if table else "time_series"}


def text_mappings(colours: Mapping[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """Value mappings: each text value shown bilingual, in its colour (the last item of each tuple)."""
    options = {}
    for index, (value, parts) in enumerate(colours.items()):
        label = f"{parts[0]} {parts[1]}" if len(parts) == 3 else f"{parts[0]} {value}"
        options[value] = {"text": label, "color": parts[-1], "index": index}
    return [{"type": "value", "options": options}]


class Layout:
    """Panels placed left to right, row after row, on Grafana's 24-column grid; ids in order."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._row_h = 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self._x + w > 24:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self._x, "y": self._y, "w": w, "h": h}
        self._x += w
        self._row_h = max(self._row_h, h)
        self.panels.append(panel)


def panel(kind: str, title: str, description: str, targets: list[dict[str, Any]], *,
          unit: str | None = None, minimum: float | None = None, maximum: float | None = None,
          thresholds: list[tuple[float | None, str]] | None = None, threshold_lines: bool = False,
          mappings: list[dict[str, Any]] | None = None, options: dict[str, Any] | None = None,
          overrides: list[dict[str, Any]] | None = None, transformations: list[dict[str, Any]] | None = None,
          display_name: str | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if unit is not None:
        defaults["unit"] = unit
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if display_name is not None:
        defaults["displayName"] = display_name
    if thresholds is not None:
        defaults["thresholds"] = {"mode": "absolute",
                                  "steps": [{"value": v, "color": c} for v, c in thresholds]}
    if threshold_lines:
        defaults["custom"] = {"thresholdsStyle": {"mode": "dashed"}}
    if mappings is not None:
        defaults["mappings"] = mappings
    out: dict[str, Any] = {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if transformations:
        out["transformations"] = transformations
    return out


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value tag variable (All by default), refreshed when the time range changes."""
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE, "query": query,
            "definition": query, "refresh": 2, "includeAll": True, "multi": True, "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}


def path_variables(measurement: str = "machine_status") -> list[dict[str, Any]]:
    """Site, line and machine, each narrowed by the ones before it."""
    show = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY'
    return [
        variable("site", "工厂 Site", f'{show} = "site"'),
        variable("line", "产线 Line", f'{show} = "line" WHERE {SITE}'),
        variable("machine", "设备 Machine", f'{show} = "machine" WHERE {LINE}'),
    ]


def dashboard(uid: str, title: str, description: str, layout: Layout, *, refresh: str = "30s",
              time_from: str = "now-12h", variables: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["sfsim"], "editable": True,
        "schemaVersion": 39, "version": 1, "graphTooltip": 1, "timezone": "browser", "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
        "templating": {"list": variables if variables is not None else path_variables()},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["sfsim"], "asDropdown": True, "title": "sfsim 仪表板 Dashboards",
                   "includeVars": True, "keepTime": True}],
        "panels": layout.panels,
    }
