"""Terminal views of the KPI engine: the live fleet status and the end-of-run summary (中文 / English)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from collector import Colour, Engine, Indicators, Rate, Result, gaps
from shopfloor import REASONS, Region, StopReason

from ._console import percent

COLOUR_STYLE = {Colour.GREEN: "bold green", Colour.BLUE: "bold blue", Colour.YELLOW: "bold yellow",
                Colour.ORANGE: "bold dark_orange", Colour.RED: "bold red"}
_RATE_NAMES = (
    ("nc_rate", "关键工序数控化率", "key-process NC rate"),
    ("digitization", "生产设备数字化率", "equipment digitization rate"),
    ("networking", "设备联网率", "equipment networking rate"),
    ("digital_networking", "数字化生产设备联网率", "networking rate of digital equipment"),
)


def _rate(rate: Rate) -> str:
    return f"{percent(rate.value)} ({rate.numerator}/{rate.denominator})"


def _grade(grade: tuple[float, Colour, int] | None) -> Text:
    if grade is None:
        return Text("—")
    score, colour, _ = grade
    return Text(f"{colour.zh} {colour.value} {score:.2f}", style=COLOUR_STYLE[colour])


def fleet_status(engine: Engine, now_ms: int, *, limit: int = 30) -> Table:
    """Every machine (up to ``limit``, then lines only): online, state, since when, rolling OEE, alarm."""
    table = Table(title="设备状态 Fleet status", title_justify="left", expand=False)
    for header in ("设备 Machine", "在线 Online", "状态 State", "持续 For", "OEE (1 h)", "报警 Alarm"):
        table.add_column(header, justify="right" if header.startswith(("持续", "OEE")) else "left")
    rows = engine.status(now_ms)
    for row in rows[:limit]:
        m, reason, since, alarm = row.machine, row.reason, row.since_ms, row.alarm
        rolling = engine.latest.get(("machine", m.path, "rolling"))
        info = REASONS[StopReason(reason)] if reason is not None else None
        online = "—" if m.online is None else ("● 在线" if m.online else "○ 离线")
        state = f"{info.zh} {info.en}" if info else "—"
        minutes = f"{(now_ms - since) / 60_000:.0f} min" if since is not None else "—"
        table.add_row(m.path.split("/", 3)[-1], online, state, minutes,
                      percent(rolling.kpis.oee if rolling else None),
                      Text(alarm or "", style="bold red" if alarm else ""))
    if len(rows) > limit:
        table.caption = f"… and {len(rows) - limit} more machines"
    return table


def summary(engine: Engine, start_ms: int, end_ms: int, *, truth_oee: Mapping[str, float | None] | None = None,
            ) -> RenderableType:
    """OEE per line and site over [start, end), the 两化融合 indicators with targets and gaps, the grades."""
    results = engine.over(start_ms, end_ms, "run")
    rates = engine.digitization(start_ms, end_ms)
    grades = engine.grades(results, rates, window="run")
    parts: list[RenderableType] = [_oee_table(results, grades, truth_oee)]
    by_site = {s.unit: s.indicators for s in rates if s.level == "site"}
    for unit, ind in sorted(by_site.items()):
        parts.append(_site_table(unit, ind, grades.get(("site", unit)),
                                 next((r for r in results if r.level == "site" and r.unit == unit), None),
                                 engine.regions.get(unit)))
    enterprises = [s.indicators for s in rates if s.level == "enterprise"]
    if len(enterprises) > 1:
        from collector import fleet

        f = fleet(i.nc_rate for i in enterprises)
        parts.append(Text(f"机群 Fleet 关键工序数控化率 key-process NC rate: mean of enterprises "
                          f"{percent(f.mean_of_enterprises)}, equipment-weighted {percent(f.equipment_weighted)} "
                          f"({f.enterprises} enterprises)"))
    weights = " + ".join(f"{w:g} × {k}" for k, w in engine.config.grading.weights.items() if w)
    parts.append(Text(f"五色图 grade: score = {weights} (method: {engine.config.grading.method}); "
                      "line KPIs are the constraint station's (docs/collector.md)", style="dim"))
    return Group(*parts)


def _oee_table(results: Sequence[Result], grades: Mapping[tuple[str, str], tuple[float, Colour, int]],
               truth_oee: Mapping[str, float | None] | None) -> Table:
    table = Table(title="产线 OEE Line OEE (collector, from telemetry)", title_justify="left")
    headers = ["厂区 Site", "产线 Line", "可用率 Availability", "性能 Performance", "质量 Quality", "OEE"]
    if truth_oee is not None:
        headers.append("真值 Truth OEE")
    headers.append("五色 Grade")
    for h in headers:
        table.add_column(h, justify="left" if h.startswith(("厂区", "产线", "五色")) else "right")
    for r in sorted((r for r in results if r.level == "line"), key=lambda r: r.unit):
        site, line = r.unit.parts[1], r.unit.parts[3]
        row: list[RenderableType] = [site, line, percent(r.kpis.availability), percent(r.kpis.effectiveness),
                                     percent(r.kpis.quality), Text(percent(r.kpis.oee), style="bold")]
        if truth_oee is not None:
            row.append(percent(truth_oee.get(r.unit)))
        row.append(_grade(grades.get(("line", r.unit))))
        table.add_row(*row)
    return table


def _site_table(unit: str, ind: Indicators, grade: tuple[float, Colour, int] | None, site: Result | None,
                region: Region | None) -> Table:
    table = Table(title=f"两化融合 Digitization · {unit}", title_justify="left")
    table.add_column("指标 Indicator")
    table.add_column("申报 Declared", justify="right")
    table.add_column("实测 Measured", justify="right")
    table.add_column("目标差距 Gap to targets")
    for key, zh, en in _RATE_NAMES:
        if key in ("networking", "digital_networking"):
            declared, measured = getattr(ind, f"{key}_declared"), getattr(ind, f"{key}_measured")
        else:
            declared = measured = getattr(ind, key)
        gap_text = Text()
        if key == "nc_rate" and declared.value is not None:
            for k, (target, gap) in enumerate(gaps(declared.value, "nc_rate", region)):
                mark = "" if target.verified else "*"
                gap_text.append(("\n" if k else "") + f"{target.label_zh}{mark} {percent(target.value)}: ",
                                style="dim")
                gap_text.append(f"{100 * gap:+.1f} pt", style="green" if gap >= 0 else "red")
        table.add_row(f"{zh} {en}", _rate(declared), _rate(measured) if key.endswith("networking") else "",
                      gap_text)
    basis = "machines" if ind.basis.value == "equipment" else "processes"
    table.caption = (f"OEE {percent(site.kpis.oee if site else None)} · grade " + (
        f"{grade[1].zh} {grade[1].value} ({grade[0]:.2f})" if grade else "—") +
        f" · NC rate counted by {basis}; measured = telemetry received in the run; "
        "* target not yet checked against the primary text")
    return table
