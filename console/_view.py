"""What the console page shows, as JSON-ready data (pure: read from the KPI engine and the plant files).

Every machine of the register appears, by site and line, with its name and its condition in words
and colour — including the ones that are not networked, which say so instead of a bare dash. Each line
has its OEE over the rolling window, the shift and the day, its six big losses, its output against the
ideal and its energy per good part; lines and sites are graded in the 五色图, each grade explained in a
sentence; the engine's alarms and the injected events make a timeline. Wherever a figure is missing, its
reason is there in words (``why``) for the page to say.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from collector import Colour, Engine, Indicators, Rate, Result, by_rank, by_thresholds, gaps
from shopfloor import KINDS, REASONS, Line, Plant, Region, StopReason

#: the colour of each ISO 22400 time element a stop reason falls in (and of the conditions outside them)
ELEMENT_COLOURS = {"APT": "#2e9d4a", "AUST": "#2f6fd1", "ADET": "#d93025", "ADOT": "#e0b400",
                   "planned_down": "#8a8f98", "no_shift": "#5f6368"}
#: a micro-stop or a quality hold is a delay, but not a breakdown: orange rather than red
REASON_COLOURS = {StopReason.MICRO_STOP: "#f08c00", StopReason.QUALITY_HOLD: "#f08c00"}
#: conditions that are no stop reason: (中文, English, colour)
OFFLINE = ("离线", "offline", "#3c4043")
NOT_NETWORKED = ("未联网", "not networked", "#b0b4ba")
NO_STATE = ("尚无状态", "no state yet", "#b0b4ba")
#: the 五色图's fills, as the assessment report paints them
GRADE_FILL = {Colour.GREEN: "#2e9d4a", Colour.BLUE: "#2f6fd1", Colour.YELLOW: "#e0b400", Colour.ORANGE: "#f08c00",
              Colour.RED: "#d93025"}

Text = dict[str, str]


def _bi(zh: str, en: str) -> Text:
    return {"zh": zh, "en": en}


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


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


# ------------------------------------------------------------------ a line's windows, losses, output and energy

def _clock(ms: int, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M")


def _span(minutes: float) -> str:
    m = round(minutes)
    if m >= 60:
        return f"{m // 60} h" if m % 60 == 0 else f"{m // 60} h {m % 60:02d} min"
    return f"{m} min"


def _last(rolling_s: float) -> Text:
    """The rolling window in words: 近 1 小时, the last hour."""
    if rolling_s == 3600:
        return _bi("近 1 小时", "last hour")
    return _bi(f"近 {_span(rolling_s / 60)}", f"last {_span(rolling_s / 60)}")


def _window_title(r: Result, kind: str, line_tz: ZoneInfo, shifts: Mapping[str, tuple[str, str]],
                  rolling_s: float) -> Text:
    """What a window is called on the page: the last hour, this shift (its name and hours) or today."""
    hours = f"{_clock(r.start_ms, line_tz)}–{_clock(r.end_ms, line_tz)}"
    if kind == "rolling":
        return _last(rolling_s)
    if kind == "shift":
        day, _, shift = r.label.partition("/")
        zh, en = shifts.get(shift, (shift, shift))
        if r.final:
            return _bi(f"上一班次 {day} {zh}（{hours}，已结束）", f"last shift, {day} {en} ({hours}, ended)")
        return _bi(f"本班次 {zh}（{hours}）", f"this shift, {en} ({hours})")
    day = dt.datetime.fromtimestamp(r.start_ms / 1000, line_tz).date().isoformat()
    return _bi(f"前一日 {day}" if r.final else f"今日 {day}", f"the day {day}" if r.final else f"today, {day}")


#: the six big losses (Nakajima), from the engine's ``Losses``: (key, 中文, English, the Losses fields it sums)
SIX_LOSSES = (("breakdowns", "设备故障", "breakdowns", ("breakdowns_s",)),
              ("setup", "换型调整", "setup and adjustment", ("setup_s",)),
              ("minor_stops", "空转与短暂停机（含待料、堵料）", "idling and minor stops (starved and blocked too)",
               ("minor_stops_s",)),
              ("reduced_speed", "速度降低", "reduced speed", ("reduced_speed_s",)),
              ("defects", "质量缺陷与返工", "defects and rework", ("scrap_s", "rework_s")),
              ("startup", "启动损失", "startup losses", ()))
#: why startup losses have no figure of their own
NO_STARTUP = _bi("未单独计量：遥测不标明哪些零件是开机爬坡时做的，它们的废品已计入“质量缺陷与返工”",
                 "not measured apart: telemetry does not mark the parts made while starting up; their scrap is "
                 "counted under defects and rework")


def _losses(r: Result) -> dict[str, Any]:
    """The six big losses over the window, seconds and shares of the planned busy time (with the valuable time
    they leave, they add up to it)."""
    losses, pbt = r.kpis.losses, r.period.pbt_s
    items = []
    for key, zh, en, fields in SIX_LOSSES:
        if not fields:
            items.append({"key": key, "zh": zh, "en": en, "seconds": None, "share": None, "why": NO_STARTUP})
            continue
        seconds = sum(getattr(losses, f) for f in fields)
        item: dict[str, Any] = {"key": key, "zh": zh, "en": en, "seconds": seconds,
                                "share": seconds / pbt if pbt > 0 else None}
        if key == "defects":
            item["detail"] = _bi(f"废品 {losses.scrap_s / 60:.1f} min，返工 {losses.rework_s / 60:.1f} min",
                                 f"scrap {losses.scrap_s / 60:.1f} min, rework {losses.rework_s / 60:.1f} min")
        if key == "reduced_speed" and seconds < 0:
            item["detail"] = _bi("为负：理想节拍设得比设备实际更慢",
                                 "negative: the ideal cycle time is set slower than the machine runs")
        items.append(item)
    return {"pbt_s": pbt, "valuable_s": losses.valuable_s,
            "valuable_share": losses.valuable_s / pbt if pbt > 0 else None, "items": items}


def _output(r: Result, mean_ideal_s: float) -> dict[str, Any]:
    """Good parts against what the constraint's ideal cycle time allowed over the planned busy time. The ideal
    cycle is that of the parts made (Σ PRI ÷ PQ, right for the product mix), the mix's mean before any part:
    so good ÷ ideal is the OEE."""
    p = r.period
    made, good = p.pq - p.gap_pq, p.gq - p.gap_gq
    cycle_s = (p.ideal_s - p.gap_ideal_s) / made if made > 0 else mean_ideal_s
    ideal = p.pbt_s / cycle_s if cycle_s > 0 else None
    out: dict[str, Any] = {"good": good, "ideal": ideal, "cycle_s": cycle_s,
                           "ratio": good / ideal if ideal else None}
    if not ideal:
        out["why"] = _bi("尚无计划生产时间", "no planned busy time yet")
    return out


def _energy(engine: Engine, line_path: str, line: Line, r: Result, window: str) -> dict[str, Any]:
    """kWh of the line's machines that send telemetry, over the line's window, ÷ the line's good parts (its
    constraint's, as the assessment report divides them)."""
    measured = [m for m in (engine.latest.get(("machine", f"{line_path}/{x.id}", window)) for x in line.machines)
                if m is not None and m.start_ms == r.start_ms]
    kwh = sum(m.period.energy_kwh for m in measured)
    out: dict[str, Any] = {"kwh": kwh, "good": r.period.gq, "measured": len(measured), "machines": len(line.machines),
                           "per_good": kwh / r.period.gq if r.period.gq > 0 else None}
    if r.period.gq <= 0:
        out["why"] = _bi("尚无良品，无法分摊能耗", "no good part yet to share the energy among")
    if len(measured) < len(line.machines):
        out["note"] = _bi(f"只计发送数据的 {len(measured)} / {len(line.machines)} 台设备的能耗",
                          f"the energy of the {len(measured)} of {len(line.machines)} machines that send telemetry "
                          "only")
    return out


def _line_details(engine: Engine, line_path: str, line: Line, tz: ZoneInfo,
                  shifts: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The line's OEE over each window the engine keeps, and over the shift its losses, output and energy."""
    if not line.constraint.networked:
        why = _bi(f"瓶颈工位 {line.constraint.name.zh} 未联网，无法测得",
                  f"its constraint station {line.constraint.name.en} is not networked: it cannot be measured")
    else:
        why = _bi("尚无数据（不在班次内，或刚开始）", "no data yet (outside the shift calendar, or just begun)")
    untitled = {"rolling": _last(engine.config.rolling_s), "shift": _bi("本班次", "this shift"),
                "day": _bi("今日", "today")}
    windows = []
    for kind in ("rolling", "shift", "day"):
        r = engine.latest.get(("line", line_path, kind))
        windows.append({"key": kind, **_kpis(r), "why": why,
                        "title": _window_title(r, kind, tz, shifts, engine.config.rolling_s) if r is not None else
                        untitled[kind]})
    shift = engine.latest.get(("line", line_path, "shift"))
    if shift is None:
        return {"windows": windows, "shift": None, "why": why}
    return {"windows": windows,
            "shift": {"title": _window_title(shift, "shift", tz, shifts, engine.config.rolling_s),
                      "losses": _losses(shift), "output": _output(shift, line.mean_ideal_s(line.constraint)),
                      "energy": _energy(engine, line_path, line, shift, "shift")},
            "why": why}


# ------------------------------------------------------------------ the 五色图

def _bands(thresholds: Sequence[float]) -> list[Text]:
    """The OEE band of each colour, best first."""
    t = [f"{x * 100:g} %" for x in thresholds]
    return [_bi(f"≥ {t[0]}", f"≥ {t[0]}"), _bi(f"{t[1]} – {t[0]}", f"{t[1]} – {t[0]}"),
            _bi(f"{t[2]} – {t[1]}", f"{t[2]} – {t[1]}"), _bi(f"{t[3]} – {t[2]}", f"{t[3]} – {t[2]}"),
            _bi(f"< {t[3]}", f"< {t[3]}")]


FIFTHS = (_bi("排名前 1/5", "top fifth of the ranking"), _bi("第 2 个 1/5", "second fifth"),
          _bi("第 3 个 1/5", "third fifth"), _bi("第 4 个 1/5", "fourth fifth"), _bi("最后 1/5", "last fifth"))


def _grade(colour: Colour | None, score: float | None, explain: Text, measure: Text) -> dict[str, Any]:
    return {"colour": colour.value if colour else None, "fill": GRADE_FILL[colour] if colour else None,
            "zh": f"{colour.zh}色" if colour else "不评色", "en": colour.value if colour else "not graded",
            "score": score, "measure": measure, "explain": explain}


OEE = _bi("OEE", "OEE")
NC = _bi("关键工序数控化率", "NC rate")


def _line_grade(line: Line, oee: float | None, colour: Colour | None, thresholds: Sequence[float],
                rolling: Text) -> dict[str, Any]:
    if not line.constraint.networked:
        return _grade(None, None, _bi(
            f"瓶颈工位 {line.constraint.name.zh} 未联网，OEE 无法测得，所以不评色。",
            f"Not graded: its constraint station {line.constraint.name.en} is not networked, so its OEE cannot be "
            "measured."), OEE)
    if oee is None or colour is None:
        return _grade(None, None, _bi(f"{rolling['zh']}尚无 OEE（无计划生产时间或尚无数据），暂不评色。",
                                      f"Not graded yet: no OEE over the {rolling['en']} (no planned busy time, or "
                                      "no data yet)."), OEE)
    band = _bands(thresholds)[list(Colour).index(colour)]
    return _grade(colour, oee, _bi(
        f"{rolling['zh']} OEE {_pct(oee)}（瓶颈工位 {line.constraint.name.zh}），"
        f"落在 {band['zh']} 档，为{colour.zh}色。",
        f"OEE {_pct(oee)} over the {rolling['en']} (its constraint {line.constraint.name.en}) is in the "
        f"{band['en']} band: {colour.value}."), OEE)


def _site_grade(nc: Rate | None, colour: Colour | None, rank: int | None, sites: int) -> dict[str, Any]:
    if nc is None or nc.value is None or colour is None or rank is None:
        return _grade(None, None, _bi("没有关键工序设备，关键工序数控化率无从计算，所以不评色。",
                                      "Not graded: it has no key-process equipment, so it has no key-process NC "
                                      "rate."), NC)
    fifth = FIFTHS[list(Colour).index(colour)]
    alone = sites == 1
    return _grade(colour, nc.value, _bi(
        f"关键工序数控化率 {_pct(nc.value)}（{nc.numerator} / {nc.denominator}），在本控制台 {sites} 个厂区中排第 "
        f"{rank}，属{fifth['zh']}，为{colour.zh}色"
        + ("；只有一个厂区时，排名不说明是否达标，差距见两化融合表。" if alone else "。"),
        f"Key-process NC rate {_pct(nc.value)} ({nc.numerator} / {nc.denominator}) ranks {rank} of {sites} "
        f"site{'s' if sites > 1 else ''} here, the {fifth['en']}: {colour.value}" + (
            "; with one site the ranking says nothing about the targets (the 两化融合 table has the gaps)."
            if alone else ".")), NC)


# ------------------------------------------------------------------ alarms and injected events

ALARM_KINDS = {"down": ("停机过久", "stopped too long", "#d93025"), "offline": ("离线", "offline", "#3c4043")}
#: the scenario event kinds in words (docs/scenarios.md)
EVENT_NAMES = {"breakdown": ("故障停机", "breakdown"), "micro_stop_storm": ("短暂停机频发", "micro-stop storm"),
               "changeover": ("换型", "changeover"), "speed_loss": ("降速", "speed loss"),
               "quality_drift": ("质量漂移", "quality drift"), "material_shortage": ("缺料", "material shortage"),
               "operator_absence": ("缺员", "operator absence"), "sensor_fault": ("传感器故障", "sensor fault"),
               "clock_skew": ("时钟偏差", "clock skew"), "network_outage": ("网络中断", "network outage"),
               "degradation": ("设备劣化", "degradation"), "maintenance": ("维护", "maintenance"),
               "change": ("参数变更", "plant change")}
INJECTED_COLOUR = "#7b3fb5"
#: how far back the timeline reaches at most, and at least
TIMELINE_MAX_MS = 24 * HOUR_MS
TIMELINE_MIN_MS = HOUR_MS


class AlarmLog:
    """The engine's alarms with their ends, as far as this log has seen them: the engine keeps only the active
    ones. ``see`` it often (the demo does every second, whether a page is open or not)."""

    def __init__(self, keep: int = 200) -> None:
        #: (path, kind, the engine's since) → start in plant time
        self._open: dict[tuple[str, str, int], int] = {}
        self._ended: deque[dict[str, Any]] = deque(maxlen=keep)

    def see(self, engine: Engine, now_ms: int) -> list[dict[str, Any]]:
        """Every alarm seen, the active ones last: path, kind, start and end (None while active), plant time."""
        active = {(path, kind, since) for path, (kind, since) in list(engine.alarms.active.items())}
        for key in [k for k in self._open if k not in active]:
            # the engine clears an alarm at the tick after the stop ended: this is as close as it dates the end
            self._ended.append({"path": key[0], "kind": key[1], "start_ms": self._open.pop(key), "end_ms": now_ms})
        for key in active:
            # a stop's "since" is plant time; being offline is timed by the wall clock, so that one starts when seen
            self._open.setdefault(key, key[2] if key[1] == "down" else now_ms)
        return [*self._ended, *({"path": p, "kind": k, "start_ms": s, "end_ms": None}
                                for (p, k, _), s in sorted(self._open.items()))]


def _timeline(alarms: Sequence[Mapping[str, Any]], injected: Sequence[Mapping[str, Any]], now_ms: int,
              names: Mapping[str, Mapping[str, str]], tz: ZoneInfo, alarm_after_s: float) -> dict[str, Any]:
    def name(path: str) -> Text:
        n = names.get(path)
        return _bi(n["zh"], n["en"]) if n else _bi(path, path)

    items: list[dict[str, Any]] = []
    for e in injected:
        start, end = e.get("start_ms"), e.get("end_ms")
        if start is None:
            continue
        kind = str(e.get("kind"))
        zh, en = EVENT_NAMES.get(kind, (kind, kind))
        who = name(str(e.get("target")))
        duration = (e.get("params") or {}).get("duration")
        planned = _bi(f"（预定 {_span(duration / 60)}）", f" (planned {_span(duration / 60)})") \
            if isinstance(duration, int | float) else _bi("", "")
        if end is None:
            when = _bi(f"{_clock(start, tz)} 起，进行中{planned['zh']}", f"from {_clock(start, tz)}, still on"
                       f"{planned['en']}")
        elif isinstance(duration, int | float) and end - start < duration * 1000 - 1000:
            when = _bi(f"{_clock(start, tz)}–{_clock(end, tz)}，提前清除{planned['zh']}",
                       f"{_clock(start, tz)}–{_clock(end, tz)}, cleared early{planned['en']}")
        else:
            hours = f"{_clock(start, tz)}–{_clock(end, tz)}"
            when = _bi(f"{hours}，已结束", f"{hours}, ended")
        items.append({"id": f"injected-{e.get('id')}", "type": "injected", "event": e.get("id"), "kind": kind,
                      "name": _bi(zh, en), "target": e.get("target"), "target_name": who, "start_ms": start,
                      "end_ms": end, "colour": INJECTED_COLOUR,
                      "text": _bi(f"注入事件：{zh}，{who['zh']}，{when['zh']}。",
                                  f"Injected event: {en} on {who['en']}, {when['en']}.")})
    after = _span(alarm_after_s / 60)
    for a in alarms:
        kind, start, end = str(a["kind"]), int(a["start_ms"]), a.get("end_ms")
        zh, en, colour = ALARM_KINDS.get(kind, (kind, kind, "#d93025"))
        who = name(str(a["path"]))
        if kind == "down":
            what = _bi(f"自 {_clock(start, tz)} 起停机超过 {after}", f"stopped since {_clock(start, tz)}, over {after}")
        else:
            what = _bi(f"自 {_clock(start, tz)} 起离线", f"offline since {_clock(start, tz)}")
        state = _bi("仍在报警", "still active") if end is None else \
            _bi(f"{_clock(end, tz)} 解除", f"ended {_clock(end, tz)}")
        items.append({"id": f"alarm-{a['path']}-{kind}-{start}", "type": "alarm", "kind": kind, "name": _bi(zh, en),
                      "target": a["path"], "target_name": who, "start_ms": start, "end_ms": end, "colour": colour,
                      "text": _bi(f"报警（{zh}）：{who['zh']} {what['zh']}，{state['zh']}。",
                                  f"Alarm ({en}): {who['en']} {what['en']}, {state['en']}.")})
    earliest = min((i["start_ms"] for i in items), default=now_ms)
    start_ms = max(min(earliest, now_ms - TIMELINE_MIN_MS), now_ms - TIMELINE_MAX_MS)
    items = sorted((i for i in items if i["end_ms"] is None or i["end_ms"] >= start_ms),
                   key=lambda i: (i["start_ms"], i["id"]))
    rows = list(dict.fromkeys(str(i["target"]) for i in items))
    offset = dt.datetime.fromtimestamp(now_ms / 1000, tz).utcoffset()
    return {"start_ms": start_ms, "end_ms": now_ms, "timezone": tz.key,
            "utc_offset_ms": round(offset.total_seconds() * 1000) if offset is not None else 0,
            "rows": [{"target": r, "name": name(r)} for r in rows], "items": items,
            "empty": _bi("尚无报警或注入事件", "no alarm and no injected event yet")}


# ------------------------------------------------------------------ the fleet

def fleet(engine: Engine, plants: Sequence[Plant], now_ms: int, *, injected: Sequence[Mapping[str, Any]] = (),
          alarms: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The fleet now: each site's lines, each line's machines in flow order with their condition, the line's OEE
    with its constraint station, losses, output and energy; the 五色图; and the timeline of ``alarms`` (an
    ``AlarmLog``'s; None: the engine's active ones) and the ``injected`` events (the truth's ``injected``)."""
    status = {str(row.machine.path): row for row in engine.status(now_ms)}
    indicators = {str(s.unit): s.indicators for s in engine.digitization(now_ms - HOUR_MS, now_ms)
                  if s.level.value == "site"}
    thresholds = tuple(engine.config.grading.thresholds)
    names: dict[str, Text] = {}
    line_oee: dict[str, float | None] = {}
    site_nc: dict[str, float | None] = {}
    site_rates: dict[str, Rate | None] = {}
    models: dict[str, Line] = {}
    sites: list[dict[str, Any]] = []
    for plant in plants:
        for site in plant.sites:
            tz = site.calendar.tz
            shifts = {s.id: (s.zh, s.en) for s in site.calendar.shifts}
            site_path = f"{plant.enterprise.id}/{site.id}"
            names[site_path] = _bi(site.name.zh, site.name.en)
            lines = []
            for area in site.areas:
                for line in area.lines:
                    path = f"{site_path}/{area.id}/{line.id}"
                    names[path] = _bi(line.name.zh, line.name.en)
                    machines = []
                    for m in line.machines:
                        row = status.get(f"{path}/{m.id}")
                        kind = KINDS[m.kind]
                        names[f"{path}/{m.id}"] = _bi(m.name.zh, m.name.en)
                        machines.append({
                            "id": m.id, "path": f"{path}/{m.id}", "name": {"zh": m.name.zh, "en": m.name.en},
                            "kind": {"zh": kind.zh, "en": kind.en}, "networked": m.networked,
                            "constraint": m.id == line.constraint.id,
                            "condition": _condition(row.reason if row else None,
                                                    row.machine.online if row else None, m.networked),
                            "since_ms": row.since_ms if row and m.networked else None,
                            "oee": _kpis(engine.latest.get(("machine", f"{path}/{m.id}", "rolling")))["oee"],
                        })
                    kpis = _kpis(engine.latest.get(("line", path, "rolling")))
                    line_oee[path] = kpis["oee"] if line.constraint.networked else None
                    lines.append({"path": path, "id": line.id, "name": {"zh": line.name.zh, "en": line.name.en},
                                  "constraint": line.constraint.id,
                                  "constraint_networked": line.constraint.networked,
                                  "kpis": kpis, "machines": machines,
                                  **_line_details(engine, path, line, tz, shifts)})
                    models[path] = line
            rates = indicators.get(site_path)
            site_rates[site_path] = rates.nc_rate if rates is not None else None
            site_nc[site_path] = rates.nc_rate.value if rates is not None else None
            sites.append({"path": site_path, "name": {"zh": site.name.zh, "en": site.name.en},
                          "region": str(site.region) if site.region else None,
                          "rates": _rates(rates, site.region),
                          "enterprise": {"zh": plant.enterprise.name.zh, "en": plant.enterprise.name.en},
                          "timezone": site.calendar.timezone, "lines": lines})
    # lines by fixed OEE bands, as the assessment report grades them; sites by fifths of their NC-rate ranking, as
    # its summary grades enterprises (a rate without a target band of its own: the 2025 targets differ by region)
    line_colours = by_thresholds(line_oee, thresholds)
    site_colours = by_rank(site_nc)
    ranked = [v for v in site_nc.values() if v is not None]
    rolling = _last(engine.config.rolling_s)
    for s in sites:
        value = site_nc[s["path"]]
        rank = None if value is None else 1 + sum(1 for v in ranked if v > value)
        s["grade"] = _site_grade(site_rates[s["path"]], site_colours.get(s["path"]), rank, len(ranked))
        for ln in s["lines"]:
            ln["grade"] = _line_grade(models[ln["path"]], line_oee[ln["path"]], line_colours.get(ln["path"]),
                                      thresholds, rolling)
    first = plants[0].sites[0].calendar.tz if plants and plants[0].sites else ZoneInfo("UTC")
    legend = [{"colour": c.value, "fill": GRADE_FILL[c], "zh": f"{c.zh}色", "en": c.value, "line": band,
               "site": fifth} for c, band, fifth in zip(Colour, _bands(thresholds), FIFTHS, strict=True)]
    return {"now_ms": now_ms, "timezone": first.key, "sites": sites,
            "grading": {"legend": legend,
                        "lines": _bi(f"产线按{rolling['zh']} OEE 的固定分档着色",
                                     f"lines by fixed bands of their OEE over the {rolling['en']}"),
                        "sites": _bi("厂区按关键工序数控化率排名五等分着色", "sites by fifths of their ranking by "
                                     "key-process NC rate")},
            "timeline": _timeline(alarms if alarms is not None else AlarmLog().see(engine, now_ms), injected, now_ms,
                                  names, first, engine.config.alarm_after_s)}


__all__ = ["AlarmLog", "fleet"]
