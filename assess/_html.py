"""The assessment as one self-contained HTML file: no script, no external file, charts as inline
SVG, a print stylesheet for A4 (print to PDF from any browser)."""

from __future__ import annotations

from html import escape

from collector import Colour, by_thresholds

from ._model import Assessment, LineRow, hours_of

_GRADE_FILL = {Colour.GREEN: "#2e9d4a", Colour.BLUE: "#2f6fd1", Colour.YELLOW: "#e0b400", Colour.ORANGE: "#f08c00",
               Colour.RED: "#d93025"}
_LOSS_COLOURS = {"breakdowns_s": ("设备故障", "breakdowns", "#d93025"), "setup_s": ("换型调整", "setup", "#2f6fd1"),
                 "minor_stops_s": ("短暂停机/待料", "minor stops, idling", "#f08c00"),
                 "reduced_speed_s": ("速度损失", "reduced speed", "#e0b400"), "scrap_s": ("废品", "scrap", "#8e44ad"),
                 "rework_s": ("返工", "rework", "#a0522d"), "valuable_s": ("有效时间", "valuable", "#2e9d4a")}

_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2em auto;max-width:60em;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #2f6fd1;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f0f3f8}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.met{background:#e3f4e6}.short{background:#fde4e1}.muted{color:#777}.chip{display:inline-block;padding:0 .5em;
border-radius:.3em;color:#fff}
.meta td{border:none;padding:.1em .8em .1em 0}svg{max-width:100%;height:auto}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}table,svg{break-inside:avoid}
@page{size:A4;margin:15mm}}
"""


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f} %"


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _yes(flag: bool) -> str:
    return "是 yes" if flag else "否 no"


def _indicators(a: Assessment) -> str:
    out = ["<table><tr><th>指标 Indicator</th><th>值 Value</th><th>依据 Evidence</th>"
           "<th>目标与差距 Targets and gaps</th></tr>"]
    for row in a.rows:
        targets = "<br>".join(
            f'<span class="{"met" if gap >= 0 else "short"}">{escape(t.label_zh)} {escape(t.label_en)}: '
            f'{_pct(t.value)} → {gap * 100:+.1f} pt{"" if t.verified else " *"}</span>' for t, gap in row.gaps
        ) or '<span class="muted">无适用目标 no national target or target of its region</span>'
        out.append(f'<tr><td>{escape(row.zh)}<br><span class="muted">{escape(row.en)}</span></td>'
                   f'<td class="n" data-indicator="{row.key}">{_pct(row.rate.value)}</td>'
                   f'<td class="n">{row.rate.numerator} / {row.rate.denominator}</td><td>{targets}</td></tr>')
    out.append("</table>")
    if any(not t.verified for row in a.rows for t, _ in row.gaps):
        out.append('<p class="muted">* 该目标值尚未与原文核对 this target figure is not yet verified against the '
                   "primary text (collector/data/targets.yaml).</p>")
    return "".join(out)


def _equipment(a: Assessment) -> str:
    out = ["<table><tr><th>设备 Equipment</th><th>产线 Line</th><th>工序 Process</th><th>关键工序 Key process</th>"
           "<th>控制 Control</th><th>数控 NC</th><th>数字化 Digital</th><th>联网（申报）Networked, declared</th>"
           "<th>联网（实测）Heard in period</th></tr>"]
    for e in a.equipment:
        heard = f'<td class="{"met" if e.heard else "short" if e.networked else "muted"}">{_yes(e.heard)}</td>'
        out.append(f"<tr><td>{escape(e.name_zh)} {escape(e.name_en)}<br><span class=\"muted\">{escape(e.path)}"
                   f"</span></td><td>{escape(e.line)}</td><td>{escape(e.process)}</td><td>{_yes(e.key_process)}</td>"
                   f"<td>{escape(e.control)}</td><td>{_yes(e.nc)}</td><td>{_yes(e.digital)}</td>"
                   f"<td>{_yes(e.networked)}</td>{heard}</tr>")
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
        rows.append(f'<text x="0" y="{y + 2 * bar_h}" font-size="13">{escape(line.name_zh)} {escape(line.name_en)}'
                    "</text>")
        for key, label, colour in colours:
            value = getattr(line.kpis, key)
            w = 0 if value is None else max(0.0, min(value, 1.2)) * width
            rows.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}"/>'
                        f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}" font-size="11">{label} {_pct(value)}'
                        "</text>")
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
        rows.append(f'<text x="0" y="{y + 15}" font-size="13">{escape(line.name_zh)} {escape(line.name_en)}</text>')
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
                     f"{escape(line.name_zh)} {escape(line.name_en)}</text>")
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
           "<th>能耗 kWh</th><th>单件能耗 kWh/good</th></tr>"]
    for line in a.lines:
        k, p = line.kpis, line.period
        colour = colours.get(line.path)
        chip = (f'<span class="chip" style="background:{_GRADE_FILL[colour]}">{colour.zh} {colour.value}</span>'
                if colour else "—")
        out.append(f'<tr data-line="{escape(line.path)}"><td>{escape(line.name_zh)} {escape(line.name_en)}</td>'
                   f"<td>{escape(line.constraint)}</td><td class=\"n\">{_pct(k.availability)}</td>"
                   f'<td class="n">{_pct(k.effectiveness)}</td><td class="n">{_pct(k.quality)}</td>'
                   f'<td class="n" data-oee>{_pct(k.oee)}</td><td>{chip}</td><td class="n">{p.pq}</td>'
                   f'<td class="n">{p.gq}</td><td class="n">{_num(k.mtbf_s and k.mtbf_s / 60)} min</td>'
                   f'<td class="n">{_num(k.mttr_s and k.mttr_s / 60)} min</td>'
                   f'<td class="n">{_num(line.energy_kwh)}</td>'
                   f'<td class="n">{_num(line.kwh_per_good, 3)}</td></tr>')
    out.append("</table>")
    return "".join(out)


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
is the plant file (asset ledger): equipment that sends nothing still counts in every denominator. <i>Declared</i>
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
    """The report: 自评估 (indicators), 自诊断 (evidence, OEE and losses), 自对标 (targets and gaps)."""
    period = f"{a.local(a.start_ms)} — {a.local(a.end_ms)} ({escape(a.timezone)})"
    body = [
        f"<h1>两化融合 自评估·自诊断·自对标报告<br><small>Digital transformation self-assessment: "
        f"{escape(a.enterprise_zh)} {escape(a.site_zh)}</small></h1>",
        '<table class="meta">',
        f"<tr><td>企业 Enterprise</td><td>{escape(a.enterprise_zh)} / {escape(a.enterprise_en)}</td></tr>",
        f"<tr><td>工厂 Site</td><td>{escape(a.site_zh)} / {escape(a.site_en)} ({escape(a.site)})</td></tr>",
        f"<tr><td>期间 Period</td><td>{period}</td></tr>",
        f"<tr><td>数据来源 Data</td><td>{escape(a.source)}</td></tr>",
        f"<tr><td>生成 Generated</td><td>{escape(a.generated)}</td></tr></table>",
        "<h2>一、自评估与自对标 Indicators against targets</h2>", _indicators(a),
        "<h2>二、依据 Evidence: the asset register and what was heard</h2>", _equipment(a),
        "<h2>三、自诊断 OEE and losses (ISO 22400-2)</h2>", _lines_table(a), _oee_bars(a.lines),
        "<h3>每小时 OEE per hour</h3>", _hourly(a),
        "<h3>六大损失 Six big losses, share of planned busy time</h3>", _loss_bars(a.lines),
        "<h2>四、能耗 Energy</h2>",
        f"<p>合计 Total {_num(sum(line.energy_kwh for line in a.lines))} kWh; per line in the table above.</p>",
        "<h2>五、方法说明 Method notes and sources</h2>", _METHOD.format(basis=escape(a.basis.value)),
    ]
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>两化融合评估 {escape(a.site)} {escape(a.local(a.start_ms, '%Y-%m-%d'))}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")
