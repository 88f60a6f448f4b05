"""``sfsim assess``: the assessor's report from a collector's InfluxDB and from the demo's files."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assess import parse_line
from collector import indicators, register
from collector._points import line
from sfsim import main

from .pages import png_size_and_colours
from .pipeline import PLANT, Run
from .servers import InfluxDB

NASTY = ['a "quoted" name', "back\\slash\\", "comma, and = equals", "space at end ", "中文 名称", "trailing\\"]


@given(st.sampled_from([*NASTY, "plain"]), st.sampled_from([*NASTY, "id"]), st.integers(0, 2**62 // 1000),
       st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1), st.booleans())
def test_the_line_reader_reads_what_the_collector_writes(text: str, tag: str, ts_ms: int, number: float,
                                                         count: int, flag: bool) -> None:
    tag = tag.replace("\\", "")  # tags are ids: the collector leaves their backslashes as they are
    written = line("kpi", {"site": tag, "level": "line", "empty": ""},
                   {"label": text, "oee": number, "pq": count, "final": flag, "none": None}, ts_ms, 7)
    assert parse_line(written) == ("kpi", {"level": "line", "site": tag},
                                   {"label": text, "oee": number, "pq": count, "final": flag}, ts_ms * 1000 + 7)


def text_of(cell: str) -> str:
    return re.sub(r"<[^>]+>", " ", cell)


@pytest.mark.integration
def test_the_report_of_the_end_to_end_run_holds_the_truth(filled_influxdb: tuple[InfluxDB, Run],
                                                          tmp_path: Path) -> None:
    influx, run = filled_influxdb
    out = tmp_path / "report.html"
    assert main(["assess", str(PLANT), "--influx", influx.url, "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    # the period is the run's: 08:30 to 16:30, not the clock hours its windows cover (08:00 to 17:00)
    zone = ZoneInfo(run.plant.sites[0].calendar.timezone)
    start = dt.datetime.fromtimestamp(run.sim.start_epoch, zone)
    end = dt.datetime.fromtimestamp(run.sim.start_epoch + 8 * 3600, zone)
    assert f"{start:%H:%M}" == "08:30"
    assert f"<td data-period>{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} (Asia/Shanghai)</td>" in html
    # where the figures come from: a simulation, told apart from the register's declared figures
    assert '<span class="origin" data-origin="simulated">数据性质 Data: 仿真 simulated</span>' in html
    assert re.search(r'data-indicator="nc_rate">.*?data-origin="declared"', html)
    assert re.search(r'data-indicator="networking_measured">.*?data-origin="simulated"', html)
    assert "Machines heard / registered</td><td>11 / 14 (申报联网 declared networked: 11 / 11 heard)" in html
    # the rates: the plant file's register, networking measured from what the collector stored
    expected = indicators(register(run.plant))
    assert (expected.nc_rate.numerator, expected.nc_rate.denominator) == (8, 10)
    assert '<td class="n" data-indicator="nc_rate">80.0 %</td><td class="n">8 / 10</td>' in html
    networked = sum(m.at.machine.networked for m in run.sim.machines)
    assert (networked, len(run.sim.machines)) == (11, 14)
    assert f'data-indicator="networking_measured">{11 / 14 * 100:.1f} %</td><td class="n">11 / 14</td>' in html
    # every target of the NC rate that applies to a plant in 浙江省杭州市, with its gap: the national ones (the 14th
    # Five-Year Plan's 68 %: 12 points above), never Wuhan's
    assert "十四五 2025年目标 14th Five-Year Plan, 2025: 68.0 % → +12.0 pt" in html
    assert "Wuhan 2020" not in html and "Wuhan 2025" not in html and "武汉 2025年目标" not in html
    # the evidence: every machine of the register, silent ones too, with whether it was heard
    for m in run.sim.machines:
        row = html[html.index(m.path):].split("</tr>")[0]
        assert text_of(row).split()[-1] == ("yes" if m.at.machine.networked else "no"), m.path
    # line OEE over the run equals the ground truth's; a constraint that sends nothing leaves no OEE and no grade,
    # and says so, with the last station's output offered instead (the truth's line output)
    truth = run.sim.truth()
    by_path = {m.path: m for m in run.sim.machines}
    blanks = 0
    for t in truth["lines"]:
        row = html[html.index(f'data-line="{t["path"]}"'):].split("</tr>")[0]
        constraint = by_path[f'{t["path"]}/{t["constraint"]}'].at.machine
        if constraint.networked:
            shown = re.search(r"data-oee>([\d.]+) %<", row)
            assert shown is not None, row
            assert float(shown.group(1)) == pytest.approx(t["oee"] * 100, abs=0.5), t["path"]
            continue
        blanks += 1
        assert (f'data-reason="its constraint station, {constraint.name}, is not networked: it sends no telemetry"'
                in row), row
        assert "无五色评级 no grade: its inputs are missing" in row and "chip" not in row
        last = by_path[f'{t["path"]}/{t["machines"][-1]}'].at.machine
        if last.networked:
            assert f"last station's good parts instead: {t['output']}<" in row
    assert blanks and blanks < len(truth["lines"])
    # every blank of the page says why
    assert html.count("—") == html.count('<span class="blank" data-reason="'), re.findall(r".{80}—.{40}", html)
    # names once each, the process in words, never a kind id
    assert not re.search(r"<td>(\S+) \1</td>", html)
    assert ">cnc_lathe<" not in html and ">smt_placement<" not in html
    for chart in ("oee-chart", "hourly-chart", "loss-chart"):
        assert f'<svg class="chart" id="{chart}"' in html
    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r"<script|<link|<img|\bsrc=|url\(|@import", html)
    screenshot(out, tmp_path)


def screenshot(report: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: apt-get install chromium (bash .ci/run does it)")
    shot = tmp_path / "report.png"
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1200,1600",
                           report.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Uncaught" not in done.stderr and "CONSOLE" not in done.stderr, done.stderr[-2000:]
    width, height, colours = png_size_and_colours(shot)
    assert (width, height) == (1200, 1600)
    assert colours > 20  # text, tables and coloured cells, not an empty page
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "关键工序数控化率" in dom and 'id="oee-chart"' in dom


@pytest.mark.integration
def test_a_period_asked_for_is_compared_with_the_one_before_it(filled_influxdb: tuple[InfluxDB, Run], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    influx, _ = filled_influxdb
    out = tmp_path / "report.html"
    # the run is 08:30 – 16:30 on 2026-01-05 (+08:00): the afternoon, and before it the five hours up to noon
    assert main(["assess", str(PLANT), "--influx", influx.url, "--from", "2026-01-05T12:00+08:00",
                 "--to", "2026-01-05T17:00+08:00", "--out", str(out), "--simulate-hours", "0"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<td data-period>2026-01-05 12:00 – 2026-01-05 16:30 (Asia/Shanghai)</td>" in html
    assert "Period asked for</td><td>2026-01-05 12:00 – 2026-01-05 17:00;" in html
    earlier = re.findall(r"<tr data-earlier><td>([^<]+)</td>", html)
    assert earlier == ["本期 this period", "2026-01-05 07:00 – 2026-01-05 12:00"]
    # energy per good part against the earlier period: a proxy of Hangzhou's green targets, labelled as one
    change = re.search(r'data-energy="[^"]*/smt-1">(?:<td[^>]*>[^<]*</td>){4}<td class="n">([+-]\d+\.\d) %</td>', html)
    assert change is not None
    assert 'data-green="hangzhou-2020-energy"' in html and 'data-green="hangzhou-2020-water"' in html
    assert "wuhan-energy" not in html and "Proxies: the plan's figures are per value added" in html
    # the hour windows are the figures: a period that cuts one is refused, with the whole hour to give instead
    capsys.readouterr()
    assert main(["assess", str(PLANT), "--influx", influx.url, "--from", "2026-01-05T12:30+08:00",
                 "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "sfsim assess: --from 2026-01-05 12:30:00+0800: the report adds up the collector's hour windows; give a "
        "whole hour of the site's clock, e.g. 2026-01-05T12:00+0800\n")
