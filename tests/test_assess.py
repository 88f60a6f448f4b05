"""``sfsim assess``: the assessor's report from a collector's InfluxDB and from the demo's files."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assess import parse_line
from collector import indicators, register
from collector._points import line
from sfsim import main

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
    # line OEE over the run equals the ground truth's (a constraint that sends nothing leaves no OEE)
    truth = run.sim.truth()
    for t in truth["lines"]:
        row = html[html.index(f'data-line="{t["path"]}"'):].split("</tr>")[0]
        shown = re.search(r"data-oee>([^<]+)<", row)
        assert shown is not None
        if t["oee"] is None or shown.group(1) == "—":
            continue
        assert float(shown.group(1).rstrip(" %")) == pytest.approx(t["oee"] * 100, abs=0.5), t["path"]
    assert any(re.search(r"data-oee>\d", html[html.index(f'data-line="{t["path"]}"'):]) for t in truth["lines"])
    for chart in ("oee-chart", "hourly-chart", "loss-chart"):
        assert f'<svg class="chart" id="{chart}"' in html
    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r"<script|<link|<img|\bsrc=|url\(|@import", html)
    screenshot(out, tmp_path)


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct colours of the first rows of an RGB(A) PNG (no imaging library)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    channels = {2: 3, 6: 4}[colour_type]
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # filter bytes differ per row; distinct byte values across the first rows say "not blank" well enough
    sample = {raw[k:k + channels] for r in range(min(height, 400)) for k in range(r * stride + 1, (r + 1) * stride,
                                                                                  channels * 7)}
    assert depth == 8
    return width, height, len(sample)


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
