"""``sfsim assess`` over a store holding several enterprises: a report each, ranked among the others, and a summary
with the fleet's rate two ways."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sfsim import main

from .servers import InfluxDB

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# the examples' registers: 鄂州 9 of 10 key processes under DCS/PLC, 杭州 8 of 10 under NC, 武汉 4 of 8
PLANTS = ("ezhou-process.yaml", "hangzhou-electronics.yaml", "wuhan-machining.yaml")


@pytest.mark.integration
def test_three_enterprises_in_one_store_are_reported_ranked_and_summed_up(tmp_path: Path, influxdb: InfluxDB,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PLANTS:  # three demos into one InfluxDB
        done = subprocess.run([sys.executable, "-m", "sfsim", "demo", str(EXAMPLES / name), "--duration", "1h",
                               "--speed", "720", "--out", str(tmp_path / "demo"), "--influx", influxdb.url],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "reports"
    assert main(["assess", *(str(EXAMPLES / name) for name in PLANTS), "--influx", influxdb.url, "--out", str(out),
                 "--simulate-hours", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "ezhou-materials--ezhou-gedian.html", "hangzhou-electronics--hz-binjiang.html", "summary.html",
        "wuhan-auto-parts--wuhan-edz.html"]
    # each enterprise's report ranks it among the three by its NC rate: 90 %, 80 %, 50 %
    ranks = {}
    for report in out.glob("*--*.html"):
        html = report.read_text(encoding="utf-8")
        found = re.search(r'<p data-rank="(\d)/3">关键工序数控化率', html)
        assert found is not None, report.name
        ranks[report.name.split("--")[0]] = int(found.group(1))
        assert '<span class="origin" data-origin="simulated">' in html
    assert ranks == {"ezhou-materials": 1, "hangzhou-electronics": 2, "wuhan-auto-parts": 3}
    # the others' rates: from their plant files when assessed together, else the fullest register the store holds
    # of them (each demo's collector also learnt the others' networked machines from their births: 7/8 for 杭州)
    alone = tmp_path / "ezhou.html"
    assert main(["assess", str(EXAMPLES / PLANTS[0]), "--influx", influxdb.url, "--out", str(alone),
                 "--simulate-hours", "0"]) == 0
    for which, ezhou in (("batch", (out / "ezhou-materials--ezhou-gedian.html").read_text(encoding="utf-8")),
                         ("alone", alone.read_text(encoding="utf-8"))):
        table = ezhou[ezhou.index('<p data-rank="1/3">关键工序数控化率'):].split("</table>")[0]
        assert re.findall(r"<td>([a-z-]+)</td><td class=\"n\">([^<]+)</td>", table) == [
            ("ezhou-materials", "90.0 %"), ("hangzhou-electronics", "80.0 %"), ("wuhan-auto-parts", "50.0 %")], which
    summary = (out / "summary.html").read_text(encoding="utf-8")
    order = re.findall(r'<tr data-enterprise="([^"]+)"><td class="n">(\d)</td>', summary)
    assert order == [("ezhou-materials", "1"), ("hangzhou-electronics", "2"), ("wuhan-auto-parts", "3")]
    # the fleet's NC rate: the mean of the enterprises' rates (0.9 + 0.8 + 0.5) / 3, and pooled 21 / 28 beside it
    assert re.findall(r"data-fleet-mean>([^<]+)<", summary)[0] == "73.3 %"
    assert re.findall(r"data-fleet-pooled>([^<]+)<", summary)[0] == "75.0 %"
    # the five colours are fifths of the ranking: of three, the k-th gets colour k × 5 // 3: green, blue, orange
    assert re.findall(r'data-enterprise="[^"]+">.*?<span class="chip"[^>]*>(\S+) ', summary) == ["绿", "蓝", "橙"]
    assert 'href="wuhan-auto-parts--wuhan-edz.html"' in summary
    # without Chromium every HTML report is still written before the PDFs are refused
    monkeypatch.setenv("SFSIM_CHROMIUM", str(tmp_path / "no-chromium"))
    again = tmp_path / "again"
    assert main(["assess", *(str(EXAMPLES / name) for name in PLANTS), "--influx", influxdb.url, "--out", str(again),
                 "--pdf", str(tmp_path / "pdf"), "--simulate-hours", "0"]) == 1
    assert len(list(again.glob("*.html"))) == 4
