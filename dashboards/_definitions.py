"""The four dashboards: fleet overview (车间总览), line drill-down, 两化融合 indicators and energy.

Measurements, tags and fields are the collector's (docs/storage.md). Result points carry
the telemetry clock, so a plant simulated faster than real time runs ahead of "now": the
docker-compose stack simulates in real time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from collector._targets import targets

from ._panels import (
    CONDITION_COLOURS,
    GRADE_COLOURS,
    LINE,
    MACHINE,
    REASON_COLOURS,
    SITE,
    Layout,
    dashboard,
    panel,
    target,
    text_mappings,
)

PERCENT = "percentunit"
#: OEE bands: below 60 % is typical of a plant that does not measure, 85 % is "world class"
OEE_STEPS: list[tuple[float | None, str]] = [(None, "red"), (0.6, "yellow"), (0.85, "green")]
_CONDITIONS = ("executing", "setup", "idle", "down", "standby", "offline")
_LOSSES = {"breakdowns": "设备故障 breakdowns", "setup": "换型调整 setup", "minor_stops": "短暂停机 minor stops",
           "reduced_speed": "速度损失 reduced speed", "scrap": "废品 scrap", "rework": "返工 rework"}


def _lasts(fields: Iterable[str] | Mapping[str, str]) -> str:
    """``last("field") AS "alias"`` for each field (a mapping gives field → alias)."""
    pairs = fields.items() if isinstance(fields, Mapping) else ((f, f) for f in fields)
    return ", ".join(f'last("{field}") AS "{alias}"' for field, alias in pairs)


def fleet_overview() -> dict[str, Any]:
    p = Layout()
    p.add(panel("stat", "设备状态 Machine status", "Every machine's condition now (运行/换型/空闲/停机/计划停机/离线).",
                [target(f'SELECT last("condition") AS "condition" FROM "machine_status" WHERE $timeFilter AND '
                        f'{MACHINE} GROUP BY "site", "line", "machine"')],
                mappings=text_mappings(CONDITION_COLOURS), display_name="${__field.labels.machine}",
                options={"reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": "/^condition$/"},
                         "colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
                         "justifyMode": "center", "orientation": "auto"}), 16, 10)
    counts = ", ".join(f'sum("{c}") AS "{c}"' for c in _CONDITIONS)
    lasts = _lasts(_CONDITIONS)
    p.add(panel("piechart", "按状态设备数 Machines by condition", "How many machines are in each condition now.",
                [target(f'SELECT {counts} FROM (SELECT {lasts} FROM "fleet_status" WHERE "level" = \'site\' AND '
                        f'$timeFilter AND {SITE} GROUP BY "site")')],
                overrides=[{"matcher": {"id": "byName", "options": c},
                            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}},
                                           {"id": "displayName", "value": f"{zh} {en}"}]}
                           for c, (zh, en, colour) in CONDITION_COLOURS.items() if c in _CONDITIONS],
                options={"reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
                         "pieType": "donut", "legend": {"displayMode": "table", "placement": "right",
                                                        "values": ["value"]}}), 8, 10)
    for level, title in (("site", "工厂 OEE（近1小时）Site OEE, last hour"),
                         ("line", "产线 OEE（近1小时）Line OEE, last hour")):
        group = '"site"' if level == "site" else '"site", "line"'
        p.add(panel("bargauge", title, "Rolling one-hour OEE (ISO 22400-2): a line's is its constraint's.",
                    [target(f'SELECT last("oee") AS "oee" FROM "kpi" WHERE "level" = \'{level}\' AND '
                            f'"window" = \'rolling\' AND $timeFilter AND {SITE if level == "site" else LINE} '
                            f'GROUP BY {group}')],
                    unit=PERCENT, minimum=0, maximum=1, thresholds=OEE_STEPS,
                    display_name=f"${{__field.labels.{level}}}",
                    options={"reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
                             "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True}),
              8 if level == "site" else 16, 8)
    p.add(panel("table", "当前报警 Active alarms", "Machines down (in planned time) or offline longer than the "
                "collector's alarm_after.",
                [target('SELECT "active", "since_ms", "duration_s" FROM (SELECT last("active") AS "active", '
                        'last("since_ms") AS "since_ms", last("duration_s") AS "duration_s" FROM "alarm" WHERE '
                        f'{MACHINE} GROUP BY "site", "line", "machine", "kind") WHERE "active" = true '
                        'GROUP BY "site", "line", "machine", "kind"', table=True)],
                overrides=[{"matcher": {"id": "byName", "options": "duration_s"},
                            "properties": [{"id": "unit", "value": "s"},
                                           {"id": "displayName", "value": "持续 Duration"}]},
                           {"matcher": {"id": "byName", "options": "since_ms"},
                            "properties": [{"id": "unit", "value": "dateTimeAsLocal"},
                                           {"id": "displayName", "value": "开始 Since"}]}]), 12, 9)
    for level, title in (("site", "五色图：工厂 Five-colour grading: sites"),
                         ("line", "五色图：产线 Five-colour grading: lines")):
        group = '"site"' if level == "site" else '"site", "line"'
        p.add(panel("table", title, "Composite score 0.5×OEE + 0.25×NC rate + 0.25×measured networking, ranked "
                    "into green/blue/yellow/orange/red (docs/kpi.md).",
                    [target(f'SELECT last("rank") AS "rank", last("score") AS "score", last("colour") AS "colour", '
                            f'last("colour_zh") AS "colour_zh" FROM "grade" WHERE "level" = \'{level}\' AND '
                            f'$timeFilter AND {SITE if level == "site" else LINE} GROUP BY {group}', table=True)],
                    overrides=[{"matcher": {"id": "byName", "options": "colour"},
                                "properties": [{"id": "mappings", "value": text_mappings(GRADE_COLOURS)},
                                               {"id": "custom.cellOptions", "value": {"type": "color-background"}}]},
                               {"matcher": {"id": "byName", "options": "score"},
                                "properties": [{"id": "unit", "value": PERCENT}]}],
                    options={"sortBy": [{"displayName": "rank", "desc": False}]}), 6, 9)
    return dashboard("sfsim-fleet", "车间总览 Fleet overview",
                     "Every machine's condition, OEE by site and line, alarms and the five-colour grading.", p,
                     refresh="10s", time_from="now-1h")


def line_drilldown() -> dict[str, Any]:
    p = Layout()
    p.add(panel("timeseries", "可用率·性能·质量·OEE（每小时）Availability, performance, quality, OEE per hour",
                "The line's hourly KPIs (its constraint's), ISO 22400-2.",
                [target('SELECT last("availability") AS "availability", last("effectiveness") AS "effectiveness", '
                        'last("quality") AS "quality", last("oee") AS "oee" FROM "kpi" WHERE "level" = \'line\' AND '
                        f'"window" = \'hour\' AND $timeFilter AND {LINE} GROUP BY time(1h), "line" fill(none)')],
                unit=PERCENT, minimum=0, maximum=1, thresholds=OEE_STEPS, threshold_lines=True), 24, 9)
    p.add(panel("state-timeline", "设备状态时间线 State timeline", "Each machine's stop reason over time.",
                [target(f'SELECT "reason" AS "reason" FROM "state" WHERE $timeFilter AND {MACHINE} '
                        'GROUP BY "machine"')],
                mappings=text_mappings(REASON_COLOURS), display_name="${__field.labels.machine}",
                options={"mergeValues": True, "showValue": "never", "rowHeight": 0.8}), 24, 9)
    losses = ", ".join(f'sum("loss_{k}_s") / 3600 AS "{k}"' for k in _LOSSES)
    p.add(panel("barchart", "六大损失帕累托 Six big losses (Pareto)", "Hours lost per kind over the time range, "
                "largest first (the line's constraint).",
                [target(f'SELECT {losses} FROM "kpi" WHERE "level" = \'line\' AND "window" = \'hour\' AND '
                        f'$timeFilter AND {LINE}', table=True)],
                unit="h", transformations=[
                    {"id": "reduce", "options": {"reducers": ["sum"], "mode": "seriesToRows"}},
                    {"id": "sortBy", "options": {"sort": [{"field": "Total", "desc": True}]}},
                    {"id": "renameByRegex", "options": {"regex": "^(.*)$", "renamePattern": "$1"}}],
                options={"xField": "Field", "orientation": "horizontal", "showValue": "auto"},
                mappings=[{"type": "value", "options": {k: {"text": v, "index": i}
                                                        for i, (k, v) in enumerate(_LOSSES.items())}}]), 12, 9)
    p.add(panel("table", "平均故障间隔与修复时间 MTBF / MTTR", "Mean time between failures and to repair, per "
                "machine with failures, over the time range (its hourly periods summed).",
                [target('SELECT "mtbf_min", "mttr_min", "failures" FROM (SELECT sum("apt_s") / sum("failures") / 60 '
                        'AS "mtbf_min", sum("breakdown_s") / sum("failures") / 60 AS "mttr_min", sum("failures") AS '
                        '"failures" FROM "kpi" WHERE "level" = \'machine\' AND "window" = \'hour\' AND $timeFilter '
                        f'AND {MACHINE} GROUP BY "machine") WHERE "failures" > 0 GROUP BY "machine"', table=True)],
                unit="m"), 12, 9)
    p.add(panel("timeseries", "产量与目标（每小时）Output vs target per hour", "Parts made and good parts against "
                "the target: planned busy time ÷ the ideal cycle time of the parts made.",
                [target('SELECT sum("pq") AS "output", sum("gq") AS "good", sum("pbt_s") * sum("pq") / '
                        'sum("ideal_s") AS "target" FROM "kpi" WHERE "level" = \'line\' AND "window" = \'hour\' '
                        f'AND $timeFilter AND {LINE} GROUP BY time(1h), "line" fill(none)')],
                options={"legend": {"displayMode": "list", "placement": "bottom"}}), 24, 8)
    return dashboard("sfsim-line", "产线详情 Line drill-down",
                     "A line's OEE over time, its machines' states, losses, MTBF/MTTR and output.", p,
                     refresh="30s", time_from="now-12h")


def _nc_thresholds() -> list[tuple[float | None, str]]:
    """Threshold lines at the national and Wuhan NC-rate targets (collector/data/targets.yaml)."""
    steps: list[tuple[float | None, str]] = [(None, "red")]
    palette = {"China": "orange", "Wuhan": "green"}
    for t in sorted(targets(), key=lambda t: t.value):
        if t.indicator == "nc_rate" and t.value not in [v for v, _ in steps]:
            steps.append((t.value, palette.get(t.scope, "blue")))
    return steps


def lianghua() -> dict[str, Any]:
    p = Layout()
    rates = {"nc_rate": "关键工序数控化率 Key-process NC rate",
             "digitization": "生产设备数字化率 Equipment digitization",
             "networking_declared": "设备联网率（申报）Networking, declared",
             "networking_measured": "设备联网率（实测）Networking, measured"}
    p.add(panel("timeseries", "关键工序数控化率 Key-process NC rate",
                "Per site, with the national (2020/2025, 14th FYP) and Wuhan (2020/2025) targets as lines.",
                [target('SELECT last("nc_rate") AS "nc_rate" FROM "digitization" WHERE "level" = \'site\' AND '
                        f'$timeFilter AND {SITE} GROUP BY time($__interval), "site" fill(previous)')],
                unit=PERCENT, minimum=0, maximum=1, thresholds=_nc_thresholds(), threshold_lines=True,
                display_name="${__field.labels.site}"), 12, 9)
    p.add(panel("bargauge", "两化融合指标（当前）Indicators now", "Per site: declared from the asset register, "
                "networking also measured from telemetry received in the last hour.",
                [target(f"SELECT {_lasts(rates.keys())} FROM \"digitization\" WHERE \"level\" = 'site' AND "
                        f"$timeFilter AND {SITE} GROUP BY \"site\"")],
                unit=PERCENT, minimum=0, maximum=1, thresholds=_nc_thresholds(),
                overrides=[{"matcher": {"id": "byName", "options": k},
                            "properties": [{"id": "displayName", "value": f"${{__field.labels.site}} {v}"}]}
                           for k, v in rates.items()],
                options={"reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
                         "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True}), 12, 9)
    p.add(panel("table", "依据 Evidence", "Numerator and denominator of every rate, per enterprise and site: "
                "which share of key-process machines is under NC, of equipment is digital, networked, heard.",
                [target('SELECT last("nc_rate_num") AS "nc_num", last("nc_rate_den") AS "nc_den", '
                        'last("digitization_num") AS "digital_num", last("digitization_den") AS "digital_den", '
                        'last("networking_declared_num") AS "networked_declared", '
                        'last("networking_measured_num") AS "networked_measured", '
                        'last("networking_measured_den") AS "equipment" FROM "digitization" WHERE '
                        f'"level" =~ /^(site|enterprise)$/ AND $timeFilter AND {SITE} GROUP BY "level", '
                        '"enterprise", "site"', table=True)]), 16, 8)
    p.add(panel("table", "产线 Lines", "Per line: the NC rate of its key processes, digitization and networking "
                "declared and measured.",
                [target(f"SELECT {_lasts(rates.keys())} FROM \"digitization\" WHERE \"level\" = 'line' AND "
                        f"$timeFilter AND {LINE} GROUP BY \"site\", \"line\"", table=True)],
                unit=PERCENT, thresholds=_nc_thresholds()), 24, 8)
    p.add(panel("stat", "全域 Fleet", "The fleet's NC rate two ways: the mean of enterprise rates (the official "
                "regional figure) and all equipment pooled.",
                [target('SELECT last("nc_rate_mean") AS "nc_rate_mean", last("nc_rate_weighted") AS '
                        '"nc_rate_weighted", last("networking_measured_mean") AS "networking_measured_mean" FROM '
                        '"digitization" WHERE "level" = \'fleet\' AND $timeFilter')],
                unit=PERCENT, thresholds=_nc_thresholds(),
                overrides=[{"matcher": {"id": "byName", "options": k}, "properties": [{"id": "displayName",
                                                                                       "value": v}]}
                           for k, v in (("nc_rate_mean", "数控化率（企业均值）NC rate, mean of enterprises"),
                                        ("nc_rate_weighted", "数控化率（设备加权）NC rate, equipment-weighted"),
                                        ("networking_measured_mean", "联网率（实测均值）Networking, measured"))],
                options={"reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
                         "colorMode": "value", "graphMode": "none"}), 8, 8)
    p.add(panel("table", "目标 Targets", "National and city targets with their sources (unverified figures are "
                "marked in collector/data/targets.yaml).",
                [target('SELECT last("value") AS "value", last("year") AS "year", last("label_zh") AS "label_zh", '
                        'last("label_en") AS "label_en", last("source") AS "source" FROM "target" '
                        'GROUP BY "indicator", "scope"', table=True)],
                overrides=[{"matcher": {"id": "byName", "options": "value"},
                            "properties": [{"id": "unit", "value": PERCENT}]}]), 24, 8)
    return dashboard("sfsim-lianghua", "两化融合指标 Digital transformation indicators",
                     "关键工序数控化率, 生产设备数字化率, 设备联网率 (declared and measured) per site and fleet, "
                     "against national and Wuhan targets.", p, refresh="1m", time_from="now-6h")


def energy() -> dict[str, Any]:
    p = Layout()
    p.add(panel("timeseries", "单件能耗（每小时）kWh per good part, per hour", "Energy of the line's constraint "
                "divided by its good parts.",
                [target('SELECT last("energy_per_good_kwh") AS "kwh_per_good" FROM "kpi" WHERE "level" = \'line\' '
                        f'AND "window" = \'hour\' AND $timeFilter AND {LINE} GROUP BY time(1h), "line" fill(none)')],
                unit="kwatth", display_name="${__field.labels.line}"), 12, 8)
    p.add(panel("bargauge", "工厂单件能耗 kWh per good part by site", "Per site over the time range: the energy "
                "of its lines' constraints divided by their good parts (hourly periods summed).",
                [target('SELECT sum("energy_kwh") / sum("gq") AS "kwh_per_good" FROM "kpi" WHERE "level" = \'site\' '
                        f'AND "window" = \'hour\' AND $timeFilter AND {SITE} GROUP BY "site"')],
                unit="kwatth", display_name="${__field.labels.site}",
                options={"reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
                         "orientation": "horizontal", "displayMode": "basic"}), 12, 8)
    p.add(panel("timeseries", "产线用电（每小时）Energy by line, per hour", "kWh of all the line's machines.",
                [target('SELECT sum("energy_kwh") AS "energy_kwh" FROM "kpi" WHERE "level" = \'machine\' AND '
                        f'"window" = \'hour\' AND $timeFilter AND {LINE} GROUP BY time(1h), "line" fill(none)')],
                unit="kwatth", display_name="${__field.labels.line}",
                options={"legend": {"displayMode": "list", "placement": "bottom"}}), 12, 8)
    p.add(panel("timeseries", "功率 Power", "Measured power of each machine (signal power_kw).",
                [target(f'SELECT mean("power_kw") AS "power_kw" FROM "signals" WHERE $timeFilter AND {MACHINE} '
                        'GROUP BY time($__interval), "machine" fill(none)')],
                unit="kwatt", display_name="${__field.labels.machine}"), 12, 8)
    classes = ("executing", "setup", "idle", "down", "standby")
    p.add(panel("table", "按状态额定功率 Power by state (nameplate)", "What each machine draws in each condition, "
                "from its birth certificate.",
                [target(f'SELECT {_lasts({f"power_{c}_kw": c for c in classes})} FROM "birth" WHERE {MACHINE} '
                        'GROUP BY "site", "line", "machine"', table=True)],
                unit="kwatt"), 24, 8)
    return dashboard("sfsim-energy", "能耗 Energy", "Energy per good part, energy by line and site, power by state.",
                     p, refresh="1m", time_from="now-12h")


def all_dashboards() -> list[dict[str, Any]]:
    """Every dashboard's JSON model: fleet overview, line drill-down, 两化融合 indicators, energy."""
    return [fleet_overview(), line_drilldown(), lianghua(), energy()]
