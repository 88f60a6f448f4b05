"""The assessment as one self-contained HTML file: no script, no external file, charts as inline
SVG, a print stylesheet for A4 with a cover, page numbers and a signature block (``--pdf`` prints it).

No figure is left bare: every "—" is a ``_blank`` with its reason (``data-reason``), in both languages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from html import escape
from zoneinfo import ZoneInfo

from collector import Colour, Rate, by_thresholds

from ._model import Assessment, EquipmentRow, LineRow, Reason, hours_of
from ._summary import SUMMARY_RATES, Summary

_GRADE_FILL = {Colour.GREEN: "#2e9d4a", Colour.BLUE: "#2f6fd1", Colour.YELLOW: "#e0b400", Colour.ORANGE: "#f08c00",
               Colour.RED: "#d93025"}
_LOSS_COLOURS = {"breakdowns_s": ("设备故障", "breakdowns", "#d93025"), "setup_s": ("换型调整", "setup", "#2f6fd1"),
                 "minor_stops_s": ("短暂停机/待料", "minor stops, idling", "#f08c00"),
                 "reduced_speed_s": ("速度损失", "reduced speed", "#e0b400"), "scrap_s": ("废品", "scrap", "#8e44ad"),
                 "rework_s": ("返工", "rework", "#a0522d"), "valuable_s": ("有效时间", "valuable", "#2e9d4a")}
#: what each origin of a figure is called
ORIGIN = {"declared": ("申报", "declared (register)"), "measured": ("实测", "measured"),
          "simulated": ("仿真", "simulated"), "mixed": ("部分实测、部分仿真", "partly measured, partly simulated"),
          "none": ("无数据", "no telemetry")}

_CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei","PingFang SC",sans-serif;margin:2em auto;
max-width:60em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #2f6fd1;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f0f3f8}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.met{background:#e3f4e6}.short{background:#fde4e1}.muted{color:#777}.chip{display:inline-block;padding:0 .5em;
border-radius:.3em;color:#fff}.blank small{color:#777}
.meta td{border:none;padding:.1em .8em .1em 0}svg{max-width:100%;height:auto}
.cover{min-height:80vh;display:flex;flex-direction:column;justify-content:center}.cover h1{font-size:2em}
.origin{font-size:1.2em;font-weight:bold;padding:.4em .8em;border:2px solid #2f6fd1;display:inline-block}
.sign td{height:3.2em;width:25%}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}table,svg{break-inside:avoid}
.cover{break-after:page;min-height:240mm}.sign{break-inside:avoid}
@page{size:A4;margin:15mm 15mm 18mm;@bottom-center{content:counter(page) " / " counter(pages);font-size:9pt;
color:#555}}@page:first{@bottom-center{content:none}}}
"""


def _blank(reason: Reason) -> str:
    """A figure that cannot be given: the dash and why."""
    return (f'<span class="blank" data-reason="{escape(reason.en)}">—<br><small>{escape(reason.zh)} '
            f"{escape(reason.en)}</small></span>")


def _pct(x: float | None, reason: Reason) -> str:
    return _blank(reason) if x is None else f"{x * 100:.1f} %"


def _num(x: float | None, reason: Reason, digits: int = 1) -> str:
    return _blank(reason) if x is None else f"{x:,.{digits}f}"


def _yes(flag: bool) -> str:
    return "是 yes" if flag else "否 no"


def _origin(origin: str | None) -> str:
    zh, en = ORIGIN[origin or "none"]
    return f"{zh} {en}"


_NO_DENOMINATOR = Reason("登记册中无此类设备（分母为 0）", "no such equipment in the register (denominator 0)")
_NO_FAILURES = Reason("本期间无故障", "no failures in the period")
_NO_GOOD = Reason("无良品", "no good parts")
_NO_CONSTRAINT_GOOD = Reason("瓶颈工位良品数未知", "the constraint's good parts are not known")


def _provenance(a: Assessment) -> str:
    p = a.provenance
    period = f"{escape(a.local(a.start_ms))} – {escape(a.local(a.end_ms))} ({escape(a.timezone)})"
    asked = ""
    if a.requested:
        asked = (f"<tr><td>所请求期间 Period asked for</td><td>{escape(a.local(a.requested[0]))} – "
                 f"{escape(a.local(a.requested[1]))}; the figures cover the data within it</td></tr>")
    zh, en = ORIGIN[p.origin]
    note = {"simulated": "本报告的实测类数据来自仿真，不是企业设备的实测证据 The telemetry of this report comes from a "
                         "simulation: it is no evidence of the enterprise's own machines.",
            "measured": "遥测数据来自设备本身（经边缘网关或 MQTT） The telemetry comes from the machines themselves "
                        "(through the edge gateway or MQTT).",
            "mixed": "部分设备为仿真数据，见设备表 Some machines' data is simulated: see the equipment table.",
            "none": "本期间未收到遥测 No telemetry was received in the period."}[p.origin]
    return "".join([
        f'<p><span class="origin" data-origin="{p.origin}">数据性质 Data: {zh} {en}</span></p><p>{note}</p>',
        '<table class="meta">',
        f"<tr><td>数据来源 Source</td><td>{escape(p.source)}</td></tr>",
        f"<tr><td>期间 Period</td><td data-period>{period}</td></tr>", asked,
        f"<tr><td>设备 Machines heard / registered</td><td>{p.heard} / {p.machines} (申报联网 declared networked: "
        f"{p.networked_heard} / {p.networked} heard)</td></tr>",
        f"<tr><td>小时 Hours with data</td><td>{p.hours_with_data} / {p.planned_hours} hours with planned busy "
        "time had a known state</td></tr>",
        "<tr><td>各数字的性质 Each figure</td><td>申报 declared: from the register (plant file); 实测 measured or "
        "仿真 simulated: from telemetry, as its birth says</td></tr></table>"])


def _indicators(a: Assessment) -> str:
    out = ["<table><tr><th>指标 Indicator</th><th>值 Value</th><th>依据 Evidence</th><th>性质 Origin</th>"
           "<th>目标与差距 Targets and gaps</th></tr>"]
    for row in a.rows:
        targets = "<br>".join(
            f'<span class="{"met" if gap >= 0 else "short"}">{escape(t.label_zh)} {escape(t.label_en)}: '
            f'{t.value * 100:.1f} % → {gap * 100:+.1f} pt{"" if t.verified else " *"}</span>' for t, gap in row.gaps
        ) or ('<span class="muted">无值，不计差距 no value: no gap computed</span>' if row.rate.value is None and
              row.key == "nc_rate" else '<span class="muted">无适用目标 no national target or target of its region'
              "</span>")
        out.append(f'<tr><td>{escape(row.zh)}<br><span class="muted">{escape(row.en)}</span></td>'
                   f'<td class="n" data-indicator="{row.key}">{_pct(row.rate.value, _NO_DENOMINATOR)}</td>'
                   f'<td class="n">{row.rate.numerator} / {row.rate.denominator}{_pooled(row.with_auxiliary)}</td>'
                   f'<td data-origin="{row.origin}">{_origin(row.origin)}</td><td>{targets}</td></tr>')
    out.append("</table>")
    if any(not t.verified for row in a.rows for t, _ in row.gaps):
        out.append('<p class="muted">* 该目标值尚未与原文核对 this target figure is not yet verified against the '
                   "primary text (collector/data/targets.yaml).</p>")
    return "".join(out)


def _pooled(rate: Rate | None) -> str:
    if rate is None:
        return ""
    return (f'<br><span class="muted" data-with-auxiliary>含辅助设备 with auxiliary equipment: '
            f"{_pct(rate.value, _NO_DENOMINATOR)} ({rate.numerator} / {rate.denominator})</span>")


def _auxiliary(a: Assessment) -> str:
    if not a.auxiliary:
        return ""
    reasons = {"non_production": "辅助设备 auxiliary, not production equipment",
               "no_line": "台账未列入产线 on no production line in the ledger"}
    rows = "".join(f'<tr data-auxiliary><td>{escape(str(x.equipment.name))}<br><span class="muted">{escape(x.path)}'
                   f"</span></td><td>{escape(x.equipment.category)}</td><td>{reasons[x.equipment.reason.value]}</td>"
                   f"<td>{escape(x.equipment.control.value)}</td><td>{_yes(x.equipment.digital)}</td>"
                   f"<td>{_yes(x.equipment.networked)}</td></tr>" for x in a.auxiliary)
    return ("<h3>辅助设备 The site's auxiliary pool</h3><p>在登记册中，不计入生产设备的分母（口径见方法说明）；"
            "上表各比率下注明计入后的数值。 In the register, out of the production-equipment denominators (see the "
            "method notes); each rate above shows its value with them counted where it differs.</p><table><tr>"
            "<th>设备 Equipment</th><th>类别 Category</th><th>原因 Why in the pool</th><th>控制 Control</th>"
            "<th>数字化 Digital</th>"
            f"<th>联网（申报）Networked, declared</th></tr>{rows}</table>")


def _process(e: EquipmentRow) -> str:
    kind = f"{escape(e.kind.zh)} {escape(e.kind.en)}" if e.kind.zh != e.kind.en else escape(e.kind.zh)
    return kind if e.process is None else f'{escape(e.process)}<br><span class="muted">{kind}</span>'


def _equipment(a: Assessment) -> str:
    out = ["<table><tr><th>设备 Equipment</th><th>产线 Line</th><th>工序 Process</th><th>关键工序 Key process</th>"
           "<th>控制 Control</th><th>数控 NC</th><th>数字化 Digital</th><th>联网（申报）Networked, declared</th>"
           "<th>数据 Data</th><th>联网（实测）Heard in period</th></tr>"]
    for e in a.equipment:
        heard = f'<td class="{"met" if e.heard else "short" if e.networked else "muted"}">{_yes(e.heard)}</td>'
        origin = (e.origin or "measured") if e.heard else None  # heard without a birth: a machine that says nothing
        out.append(f'<tr><td>{escape(str(e.name))}<br><span class="muted">{escape(e.path)}</span></td>'
                   f"<td>{escape(str(e.line))}</td><td>{_process(e)}</td><td>{_yes(e.key_process)}</td>"
                   f"<td>{escape(e.control)}</td><td>{_yes(e.nc)}</td><td>{_yes(e.digital)}</td>"
                   f"<td>{_yes(e.networked)}</td><td>{_origin(origin)}</td>{heard}</tr>")
    out.append("</table>")
    return "".join(out)


def _oee_bars(lines: tuple[LineRow, ...]) -> str:
    """Availability, performance, quality and OEE per line, as horizontal bars."""
    bar_h, gap, left, width = 14, 10, 170, 420
    rows = []
    y = 20
    colours = (("availability", "可用率 A", "#2f6fd1"), ("effectiveness", "性能 P", "#e0b400"),
               ("quality", "质量 Q", "#8e44ad"), ("oee", "OEE", "#2e9d4a"))
    for line in lines:
        rows.append(f'<text x="0" y="{y + 2 * bar_h}" font-size="13">{escape(str(line.name))}'
                    "</text>")
        for key, label, colour in colours:
            value = getattr(line.kpis, key)
            w = 0 if value is None else max(0.0, min(value, 1.2)) * width
            rows.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}"/>'
                        f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}" font-size="11">{label} '
                        f'{"无数据 no data" if value is None else f"{value * 100:.1f} %"}</text>')
            y += bar_h
        y += gap
    axis = (f'<line x1="{left}" y1="10" x2="{left}" y2="{y}" stroke="#999"/>'
            f'<line x1="{left + 0.85 * width:.0f}" y1="10" x2="{left + 0.85 * width:.0f}" y2="{y}" stroke="#2e9d4a" '
            f'stroke-dasharray="4 3"/><text x="{left + 0.85 * width + 3:.0f}" y="12" font-size="10">85 %</text>')
    return (f'<svg class="chart" id="oee-chart" viewBox="0 0 {left + width + 140} {y + 10}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="OEE by line">{axis}{"".join(rows)}</svg>')


def _loss_bars(lines: tuple[LineRow, ...]) -> str:
    """Each line's planned busy time split into the six big losses and the valuable time (100 % bars)."""
    left, width, bar_h = 170, 480, 22
    rows = []
    y = 10
    for line in lines:
        pbt = line.period.pbt_s
        rows.append(f'<text x="0" y="{y + 15}" font-size="13">{escape(str(line.name))}</text>')
        x = float(left)
        for key, (_, _, colour) in _LOSS_COLOURS.items():
            share = max(getattr(line.kpis.losses, key), 0.0) / pbt if pbt else 0.0
            rows.append(f'<rect x="{x:.1f}" y="{y}" width="{share * width:.1f}" height="{bar_h}" fill="{colour}">'
                        f"<title>{key} {share * 100:.1f} %</title></rect>")
            x += share * width
        y += bar_h + 8
    legend_y = y + 8
    legend = []
    x = 0.0
    for zh, en, colour in _LOSS_COLOURS.values():
        legend.append(f'<rect x="{x:.0f}" y="{legend_y}" width="10" height="10" fill="{colour}"/>'
                      f'<text x="{x + 13:.0f}" y="{legend_y + 9}" font-size="10">{zh} {en}</text>')
        x += 14 + 6.2 * (len(en) + 2 * len(zh)) + 10
    return (f'<svg class="chart" id="loss-chart" viewBox="0 0 {max(left + width, x) + 10:.0f} {legend_y + 20}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="six big losses">{"".join(rows)}'
            f'{"".join(legend)}</svg>')


def _hourly(a: Assessment) -> str:
    """OEE per hour of each line."""
    hours = hours_of(a.lines)
    if len(hours) < 2:
        return ""
    left, width, height, top = 40, 600, 180, 10
    palette = ("#2f6fd1", "#d93025", "#2e9d4a", "#f08c00", "#8e44ad", "#a0522d")

    def x(start: int) -> float:
        return left + (start - hours[0]) / (hours[-1] - hours[0]) * width

    def y(v: float) -> float:
        return top + (1 - min(max(v, 0.0), 1.0)) * height

    parts = [f'<line x1="{left}" y1="{y(t):.0f}" x2="{left + width}" y2="{y(t):.0f}" stroke="#ddd"/>'
             f'<text x="0" y="{y(t) + 4:.0f}" font-size="10">{t * 100:.0f}%</text>' for t in (0, 0.25, 0.5, 0.75, 1)]
    for k, line in enumerate(a.lines):
        points = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in line.hourly if v is not None)
        colour = palette[k % len(palette)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
                     f'<text x="{left + width + 6}" y="{top + 12 + 14 * k}" font-size="11" fill="{colour}">'
                     f"{escape(str(line.name))}</text>")
    for s in hours[:: max(1, len(hours) // 8)]:
        parts.append(f'<text x="{x(s) - 14:.0f}" y="{top + height + 14}" font-size="10">'
                     f'{escape(a.local(s, "%H:%M"))}</text>')
    return (f'<svg class="chart" id="hourly-chart" viewBox="0 0 {left + width + 170} {top + height + 24}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="OEE per hour">{"".join(parts)}</svg>')


def _lines_table(a: Assessment) -> str:
    scores = {line.path: line.kpis.oee for line in a.lines}
    colours = by_thresholds(scores)
    out = ["<table><tr><th>产线 Line</th><th>瓶颈 Constraint</th><th>可用率 A</th><th>性能 P</th><th>质量 Q</th>"
           "<th>OEE</th><th>五色 Grade</th><th>产量 Output</th><th>良品 Good</th><th>MTBF</th><th>MTTR</th>"
           "<th>能耗 kWh</th><th>单件能耗 kWh/good</th><th>数据 Data</th></tr>"]
    for line in a.lines:
        k, p = line.kpis, line.period
        data = f'<td data-origin="{line.origin or "none"}">{_origin(line.origin)}</td>'
        head = (f'<tr data-line="{escape(line.path)}"><td>{escape(str(line.name))}</td>'
                f"<td>{escape(str(line.constraint_name))}<br><span class=\"muted\">{escape(line.constraint)}"
                "</span></td>")
        if line.blank is not None:
            output = (f"末工位 {escape(str(line.last_station))} 良品 {line.last_output}（替代，非瓶颈产量） last "
                      f"station's good parts instead: {line.last_output}" if line.last_output is not None else
                      f"末工位 {escape(str(line.last_station))} 亦无数据 the last station sent nothing either")
            out.append(f'{head}<td colspan="5" data-oee>{_blank(line.blank)}<br>无五色评级 no grade: its inputs are '
                       f'missing</td><td colspan="4" data-output>{output}</td>'
                       f'<td class="n">{line.energy_kwh:,.1f}</td><td class="n">{_blank(_NO_CONSTRAINT_GOOD)}</td>'
                       f"{data}</tr>")
            continue
        colour = colours.get(line.path)
        chip = (f'<span class="chip" style="background:{_GRADE_FILL[colour]}">{colour.zh} {colour.value}</span>'
                if colour else _blank(Reason("无 OEE", "no OEE")))
        out.append(f"{head}<td class=\"n\">{_pct(k.availability, _NO_TIME)}</td>"
                   f'<td class="n">{_pct(k.effectiveness, _NO_TIME)}</td><td class="n">{_pct(k.quality, _NO_PARTS)}'
                   f'</td><td class="n" data-oee>{_pct(k.oee, _NO_TIME)}</td><td>{chip}</td><td class="n">{p.pq}</td>'
                   f'<td class="n">{p.gq}</td><td class="n">{_minutes(k.mtbf_s)}</td>'
                   f'<td class="n">{_minutes(k.mttr_s)}</td>'
                   f'<td class="n">{line.energy_kwh:,.1f}</td>'
                   f'<td class="n">{_num(line.kwh_per_good, _NO_GOOD, 3)}</td>{data}</tr>')
    out.append("</table>")
    if any(line.blank for line in a.lines):
        out.append('<p class="muted">产线 OEE 是其瓶颈工位的 OEE；瓶颈不发送数据时无法测得，'
                   "表中给出末工位的良品数作为参考。 "
                   "A line's OEE is its constraint station's: where the constraint sends nothing it cannot be "
                   "measured, and the last station's good parts are shown instead, labelled.</p>")
    return "".join(out)


def _minutes(seconds: float | None) -> str:
    return _blank(_NO_FAILURES) if seconds is None else f"{seconds / 60:,.1f} min"


_NO_TIME = Reason("无计划生产时间", "no planned busy time")
_NO_PARTS = Reason("未生产", "nothing produced")


def _findings(a: Assessment) -> str:
    if not a.findings:
        return "<p>未发现问题 No findings.</p>"
    out = ["<table><tr><th>#</th><th>发现 Finding</th><th>影响 Effect</th><th>证据 Evidence</th></tr>"]
    for n, f in enumerate(a.findings, 1):
        evidence = "<br>".join(escape(e) for e in f.evidence)
        out.append(f"<tr data-finding><td>{n}</td><td>{escape(f.zh)}<br><span class=\"muted\">{escape(f.en)}</span>"
                   f'</td><td class="n">{f.points:.1f} pt</td><td>{evidence}</td></tr>')
    out.append("</table><p class=\"muted\">按其所影响指标的百分点排序（损失：OEE 百分点；登记册：比率百分点） "
               "Ranked by the points of the figure they cost (losses: OEE points; register findings: rate points).</p>")
    return "".join(out)


def _recommendations(a: Assessment) -> str:
    if a.basis.value != "equipment":
        return ("<p>建议按设备口径计算；本报告为工序口径。 Recommendations are computed on the equipment basis; this "
                "report counts by process.</p>")
    if a.rows[0].rate.value is None:
        return ("<p>登记册中无关键工序设备，无从建议 The register has no key-process equipment: there is no NC rate "
                "to raise.</p>")
    if not a.recommendations:
        return "<p>关键工序数控化率已达到所有适用目标 The key-process NC rate meets every applicable target.</p>"
    out = []
    for r in a.recommendations:
        t = r.target
        names = "、".join(f"{m.name.zh} ({m.path.rsplit('/', 1)[-1]})" for m in r.machines)
        gap = (r.after.value or 0.0) - t.value
        status = (f"达到 meets {escape(t.label_zh)} {escape(t.label_en)} ({t.value * 100:.1f} %)" if gap >= 0 - 1e-12
                  else f"{escape(t.label_zh)} {escape(t.label_en)} {t.value * 100:.1f} %: still {gap * 100:+.1f} pt")
        before, after = r.before.value or 0.0, r.after.value or 0.0
        text = (f"将 {escape(names)} 升级为数控 upgrading {len(r.machines)} machine(s) to NC lifts 关键工序数控化率 "
                f"from {before * 100:.1f} % to {after * 100:.1f} % ({r.before.numerator}/{r.before.denominator} → "
                f"{r.after.numerator}/{r.after.denominator}): {status}")
        if r.effect is None:
            sim = ""
        else:
            sim = "<br>".join(
                f"{escape(str(e.name))}: OEE {_pct(e.oee_before, _NO_TIME)} → {_pct(e.oee_after, _NO_TIME)}, "
                f"output {e.output_before} → {e.output_after}" for e in r.effect)
            sim = ('<br><span class="muted">仿真效果 simulated effect (what-if: the plant run as it is and upgraded, '
                   "with the same random streams; a change of control changes no simulated time):</span><br>"
                   f"{sim}")
        out.append(f'<li data-recommendation="{escape(t.id)}" data-machines="'
                   f'{escape(" ".join(m.path for m in r.machines))}">{text}{sim}</li>')
    return "<ol>" + "".join(out) + "</ol>"


def _benchmarks(a: Assessment) -> str:
    out = ["<h3>全国实际水平 Observed national figures</h3><table><tr><th>指标 Indicator</th><th>本企业 This site</th>"
           "<th>对标 Benchmark</th><th>差距 Gap</th><th>来源 Source</th></tr>"]
    for row in a.rows:
        for b, gap in row.benchmarks:
            out.append(f"<tr><td>{escape(row.zh)}</td><td class=\"n\">{_pct(row.rate.value, _NO_DENOMINATOR)}</td>"
                       f"<td>{escape(b.population_zh)} {escape(b.population_en)}, {escape(b.as_of)}: "
                       f'{b.value * 100:.1f} %</td><td class="n {"met" if gap >= 0 else "short"}">{gap * 100:+.1f} pt'
                       f'</td><td>{escape(b.source)}{"" if b.verified else " *"}</td></tr>')
    out.append("</table>")
    out.append("<h3>本库其他企业 Among the enterprises of this store</h3>")
    if not a.ranking:
        out.append("<p>库中无其他企业 No other enterprise is stored in this source.</p>")
    for r in a.ranking:
        above = "" if r.above_share is None else f", higher than {r.above_share * 100:.0f} % of the others"
        mine = ' class="met"'
        rows = "".join(f'<tr{mine if e == a.enterprise_id else ""}><td>{n}</td><td>{escape(e)}</td>'
                       f'<td class="n">{_pct(v, _NOT_STORED)}</td></tr>' for n, (e, v) in enumerate(r.table, 1))
        place = (f"第 {r.rank} 名 rank {r.rank} of {r.of}{above}" if r.rank is not None else
                 _blank(Reason("本企业无此值，不排名", "no value of its own: not ranked")))
        out.append(f'<p data-rank="{r.rank}/{r.of}">{escape(r.zh)} {escape(r.en)}: {place}</p><table><tr>'
                   f"<th>#</th><th>企业 Enterprise</th><th>值 Value</th></tr>{rows}</table>")
    out.append("<h3>本企业以往各期 The site's earlier periods</h3>")
    if not a.earlier:
        out.append("<p>库中无更早的同长度期间数据 No earlier period of the same length is stored.</p>")
    else:
        heads = "".join(f"<th>{escape(str(line.name))} OEE</th>" for line in a.lines)
        out.append(f"<table><tr><th>期间 Period</th><th>设备联网率（实测）networking, measured</th>{heads}</tr>")
        blank = {line.path: line.blank or _NO_TIME for line in a.lines}
        current = [("本期 this period", a.rows[3].rate, [(line.path, line.kpis.oee) for line in a.lines])]
        earlier = [(f"{a.local(e.start_ms)} – {a.local(e.end_ms)}", e.networking_measured, list(e.lines))
                   for e in a.earlier]
        for label, rate, oees in current + earlier:
            cells = "".join(f'<td class="n">{_pct(v, blank[path])}</td>' for path, v in oees)
            out.append(f'<tr data-earlier><td>{escape(label)}</td><td class="n">{_pct(rate.value, _NO_DENOMINATOR)} '
                       f"({rate.numerator}/{rate.denominator})</td>{cells}</tr>")
        out.append("</table>")
    return "".join(out)


def _energy(a: Assessment) -> str:
    """Energy per line and the green indicators of the site's region, by proxy: kWh per good part, and its change
    against the earlier period, beside what the plan set for energy per value added."""
    before: dict[str, float | None] = dict(a.earlier[0].energy_per_good) if a.earlier else {}
    rows = []
    for line in a.lines:
        now, then = line.kwh_per_good, before.get(line.path)
        change = (f'{(now / then - 1) * 100:+.1f} %' if now is not None and then else
                  _blank(Reason("无可比的前期数据", "no earlier period to compare with")))
        rows.append(f'<tr data-energy="{escape(line.path)}"><td>{escape(str(line.name))}</td><td class="n">'
                    f"{line.energy_kwh:,.1f}</td><td class=\"n\">"
                    f"{_num(now, _NO_CONSTRAINT_GOOD if line.blank else _NO_GOOD, 3)}</td>"
                    f'<td class="n">{_num(then, _NO_GOOD if line.path in before else _NO_EARLIER, 3)}</td>'
                    f'<td class="n">{change}</td></tr>')
    out = [f"<p>合计 Total {sum(line.energy_kwh for line in a.lines):,.1f} kWh.</p><table><tr><th>产线 Line</th>"
           "<th>能耗 kWh</th><th>单件能耗 kWh/good</th><th>前期 earlier period</th><th>变化 Change</th></tr>",
           *rows, "</table>"]
    out.append("<h3>绿色指标（代理） Green indicators, by proxy</h3>")
    if not a.green:
        out.append("<p>所在地区无绿色指标目标数据 No green target of the site's region is on file "
                   "(collector/data/green.yaml).</p>")
        return "".join(out)
    items = "".join(f'<tr data-green="{escape(t.id)}"><td>{escape(t.indicator_zh)}<br><span class="muted">'
                    f"{escape(t.indicator_en)}</span></td><td>{escape(t.target_zh)}<br><span class=\"muted\">"
                    f"{escape(t.target_en)}</span></td><td>{escape(t.source)}</td></tr>" for t in a.green)
    out.append("<p>代理指标：规划的指标按工业增加值计（能耗、用水量），本工厂只能给出每件良品的电耗及其与前期相比的变化，"
               "不能与规划值直接比较；登记册无产值、未计量用水。 Proxies: the plan's figures are per value added "
               "(energy, water); the plant gives electricity per good part and its change against the earlier "
               "period, which is no measure of the plan's figure itself. The register holds no output value and no "
               "water is metered.</p><table><tr><th>规划指标 The plan's indicator</th><th>目标 Target</th>"
               f"<th>来源 Source</th></tr>{items}</table>")
    return "".join(out)


_NO_EARLIER = Reason("无前期数据", "no earlier period stored")
_NO_REGION = Reason("未申报所在地区", "no region declared")
_NOT_STORED = Reason("库中无此值", "not stored for it")
_SUMMARY_NOTE = """<p class="muted">五色图：按关键工序数控化率排名五等分（绿、蓝、黄、橙、红）。 The five colours are
fifths of the ranking by key-process NC rate (green, blue, yellow, orange, red), after the Ezhou 五色图 practice.
A region's rate is the unweighted mean of its enterprises' rates (《中国制造2025》); the pooled rate weighs every
machine alike and is shown beside it.</p>"""


def _cover(a: Assessment) -> str:
    m = a.meta
    region = str(a.region) if a.region else "未申报 not declared"
    rows = [("报告编号 Report number", a.number), ("企业 Enterprise", str(a.enterprise)),
            ("工厂 Site", f"{a.site_name} ({a.site})"), ("所在地区 Region", region),
            ("期间 Period", f"{a.local(a.start_ms)} – {a.local(a.end_ms)} ({a.timezone})"),
            ("评估人 Assessor", m.assessor or "（未填写 not given）"),
            ("评估机构 Organisation", m.organisation or "（未填写 not given）"),
            ("报告日期 Date", m.date or a.generated.split(" ")[0])]
    table = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    zh, en = ORIGIN[a.provenance.origin]
    return (f'<section class="cover"><h1>两化融合 自评估·自诊断·自对标报告</h1><p>Digital transformation '
            f"self-assessment, diagnosis and benchmarking</p><h2>{escape(str(a.enterprise))}</h2>"
            f'<table class="meta">{table}</table><p><span class="origin">数据性质 Data: {zh} {en}</span></p>'
            "</section>")


def _signature(a: Assessment) -> str:
    return ('<table class="sign"><tr><th>评估人 Assessor</th><th>日期 Date</th><th>企业负责人 For the enterprise</th>'
            f"<th>日期、盖章 Date, seal</th></tr><tr><td>{escape(a.meta.assessor or '')}</td><td></td><td></td>"
            "<td></td></tr></table><p class=\"muted\">企业确认上述登记册（设备台账）信息属实。 The enterprise confirms "
            "that the register (asset ledger) above is true.</p>")


_METHOD = """
<ul>
<li><b>关键工序数控化率 key-process NC rate</b>: discrete industry, key-process equipment under numerical control
(NC/CNC, robot controllers) ÷ all key-process equipment; process industry, key processes under a process control system
(DCS/PLC/FCS) ÷ all key processes. Counting basis of this report: <i>{basis}</i> (the primary texts do not settle it;
<i>process</i> counts key processes all of whose machines are under NC). A region's rate is the unweighted mean of its
enterprises' rates (《中国制造2025》 table note: 规模以上工业企业关键工序数控化率的平均值).</li>
<li><b>生产设备数字化率</b> = digital production equipment ÷ all production equipment; <b>设备联网率</b> = networked
production equipment ÷ all production equipment (工业和信息化部《中小企业数字化水平评测指标（2022年版）》);
<b>数字化生产设备联网率</b> = networked digital equipment ÷ digital equipment (两化融合 usage, unverified). The register
is the plant file (asset ledger): equipment that sends nothing still counts in every denominator. The site's auxiliary
pool (辅助设备: 动力、起重、运输 equipment, and equipment the ledger puts on no line) is in the register but not in the
production-equipment denominators: our reading of 生产设备, unverified (docs/kpi.md); each rate shows its value with the
pool counted where it differs. <i>Declared</i>
networking is the register's; <i>measured</i> networking counts the machines whose telemetry (state, counters or
signals) reached the collector in the period.</li>
<li><b>OEE</b> (ISO 22400-2:2014): availability = APT ÷ PBT (planned busy time from the shift calendar, never from the
machine), effectiveness = Σ ideal cycle time of the parts made ÷ APT, quality = good ÷ produced. A line's OEE is its
constraint station's (the longest ideal cycle time over the order mix), summed over the period's hours. Six big losses
after Nakajima, as shares of PBT. MTBF = APT ÷ failures, MTTR = repair time ÷ failures.</li>
<li><b>能耗 energy</b>: kWh of all the line's machines ÷ the line's good parts (the constraint's).</li>
<li>五色图 colours of the lines: fixed OEE bands (docs/kpi.md), after the Ezhou 工业经济运行综合评价 practice.
Targets (collector/data/targets.yaml): 《中国制造2025》; 《"十四五"信息化和工业化深度融合发展规划》;
武汉制造2025行动纲要.
自评估、自诊断、自对标 follows the Wuhan 2017 两化融合 programme.</li>
</ul>
"""


def render(a: Assessment) -> str:
    """The report: cover, provenance, 自评估 (indicators), evidence, 自诊断 (OEE, losses, findings),
    recommendations, 自对标 (benchmarks), energy, method notes and the signature block."""
    body = [
        _cover(a),
        "<h2>一、数据来源与完整性 Where the figures come from</h2>", _provenance(a),
        "<h2>二、自评估 Indicators against targets</h2>", _indicators(a),
        "<h2>三、依据 Evidence: the asset register and what was heard</h2>", _equipment(a), _auxiliary(a),
        "<h2>四、自诊断 Diagnosis: OEE and losses (ISO 22400-2)</h2>", _lines_table(a), _oee_bars(a.lines),
        "<h3>每小时 OEE per hour</h3>", _hourly(a),
        "<h3>六大损失 Six big losses, share of planned busy time</h3>", _loss_bars(a.lines),
        "<h3>诊断发现 Findings</h3>", _findings(a),
        "<h2>五、改进建议 Recommendations</h2>", _recommendations(a),
        "<h2>六、自对标 Benchmarking</h2>", _benchmarks(a),
        "<h2>七、能耗与绿色指标 Energy and the green indicators</h2>", _energy(a),
        "<h2>八、方法说明 Method notes and sources</h2>", _METHOD.format(basis=escape(a.basis.value)),
        "<h2>九、签字 Sign-off</h2>", _signature(a),
    ]
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>两化融合评估 {escape(a.number)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def render_summary(s: Summary, reports: Mapping[str, str]) -> str:
    """The summary page: each enterprise (linked to its report, ``reports``: site → file name), the fleet's rates
    two ways, the 五色图 of the enterprises by NC rate and their ranking."""
    def when(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(s.timezone)).strftime("%Y-%m-%d %H:%M")

    heads = "".join(f"<th>{escape(zh)}<br><span class=\"muted\">{escape(en)}</span></th>"
                    for _, zh, en in SUMMARY_RATES)
    rows = []
    for e in s.enterprises:
        chip = (f'<span class="chip" style="background:{_GRADE_FILL[e.colour]}">{e.colour.zh} {e.colour.value}</span>'
                if e.colour else _blank(Reason("无关键工序，不评级", "no key process: not graded")))
        links = "<br>".join(f'<a href="{escape(reports[site])}">{escape(site)}</a>' for site in e.sites)
        cells = "".join(f'<td class="n">{_pct(r.value, _NO_DENOMINATOR)} ({r.numerator}/{r.denominator})</td>'
                        for r in e.rates)
        region = escape(", ".join(e.regions)) or _blank(_NO_REGION)
        rank = str(e.rank) if e.rank is not None else _blank(Reason("无关键工序，不排名", "no key process: not ranked"))
        rows.append(f'<tr data-enterprise="{escape(e.id)}"><td class="n">{rank}</td><td>{escape(str(e.name))}<br>'
                    f'<span class="muted">{links}</span></td><td>{region}</td>{cells}'
                    f"<td>{chip}</td><td>{_origin(e.origin)}</td></tr>")
    mean = "".join(f'<td class="n" data-fleet-mean>{_pct(f.mean_of_enterprises, _NO_DENOMINATOR)}</td>'
                   for f in s.fleet)
    pooled = "".join(f'<td class="n" data-fleet-pooled>{_pct(f.equipment_weighted, _NO_DENOMINATOR)}</td>'
                     for f in s.fleet)
    body = (f"<h1>两化融合 评估汇总 Summary of the enterprises assessed</h1><p>期间 Period "
            f"{escape(when(s.start_ms))} – {escape(when(s.end_ms))} ({escape(s.timezone)}); {len(s.enterprises)} "
            "家企业 enterprises.</p>"
            f"<table><tr><th>名次 Rank</th><th>企业 Enterprise</th><th>地区 Region</th>{heads}<th>五色 Grade</th>"
            f"<th>数据 Data</th></tr>{''.join(rows)}"
            f'<tr><td></td><td colspan="2">企业平均 Mean of the enterprises\' rates (the definition of a region\'s '
            f"rate)</td>{mean}<td></td><td></td></tr>"
            f'<tr><td></td><td colspan="2">设备合计 All equipment pooled (for comparison)</td>{pooled}<td></td>'
            f"<td></td></tr></table>{_SUMMARY_NOTE}")
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>两化融合 评估汇总</title>'
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")
