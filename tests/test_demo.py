"""``sfsim demo``: the README's first command — the whole pipeline in one process, no server installed."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from collector import gaps
from sfsim import main
from sfsim._whatif import upgrade_to
from shopfloor import load_plant

from .servers import InfluxDB, Mosquitto

LINES = ("brake-disc", "gearbox", "axle-weld")


def demo(tmp_path: Path, *args: str, duration: str = "2h") -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sfsim", "demo", "--duration", duration, "--speed", "720",
                           "--out", str(tmp_path / "out"), *args], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def runs(tmp_path: Path) -> list[Path]:
    """The demo's run folders under --out, oldest first."""
    return sorted((tmp_path / "out").glob("*/*/"), key=lambda p: p.stat().st_mtime)


def line_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """Line → (the collector's OEE, the ground truth's) from the summary table."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 7 and cells[2] in LINES:
            rows[cells[2]] = (cells[6], cells[7])
    return rows


@pytest.mark.integration
def test_the_demo_needs_no_server_and_its_files_import_into_influxdb(tmp_path: Path, influxdb: InfluxDB) -> None:
    done = demo(tmp_path)
    out = done.stdout
    assert "plant time 2h" in out  # the progress, as a log when not on a terminal
    rows = line_rows(out)
    assert set(rows) == set(LINES)
    for line, (measured, truth) in rows.items():
        assert re.fullmatch(r"\d+\.\d %", measured), (line, measured)
        assert measured == truth, line  # telemetry through OPC UA, the edge and MQTT gives the truth's OEE
    assert "关键工序数控化率 key-process NC rate" in out and "50.0 % (4/8)" in out
    assert "武汉 2025年目标 90.0 %: -40.0 pt" in out
    assert re.search(r"设备联网率 equipment networking rate\s+│\s+45\.5 % \(5/11\) │\s+45\.5 % \(5/11\)", out)
    assert "绿 green" in out  # graded
    assert "0 invalid, 0 missing by seq" in out
    # the line protocol files go into a real InfluxDB as they are
    (run,) = runs(tmp_path)
    files = sorted((run / "data").glob("factory-*.lp"))
    assert files
    urllib.request.urlopen(urllib.request.Request(f"{influxdb.url}/query?q=CREATE%20DATABASE%20factory",
                                                  method="POST"), timeout=10).read()
    for f in files:
        request = urllib.request.Request(f"{influxdb.url}/write?db=factory&precision=u", data=f.read_bytes(),
                                         method="POST")
        assert urllib.request.urlopen(request, timeout=30).status == 204
    hours = influxdb.rows('SELECT "oee" FROM "kpi" WHERE "level" = \'line\' AND "window" = \'hour\' GROUP BY "line"')
    assert {r["line"] for r in hours} == set(LINES)
    site = influxdb.rows('SELECT last("nc_rate") AS v FROM "digitization" WHERE "level" = \'site\'')
    assert site[0]["v"] == pytest.approx(0.5)
    # the assessment report reads the demo's files, and the same data in InfluxDB, to the same figures
    plant = str(Path(__file__).resolve().parents[1] / "examples" / "wuhan-machining.yaml")
    reports = []
    for source in (["--data", str(run / "data")], ["--influx", influxdb.url]):
        report = tmp_path / f"report-{source[0][2:]}.html"
        assert main(["assess", plant, *source, "--out", str(report)]) == 0
        reports.append(report.read_text(encoding="utf-8"))
    files_report, influx_report = reports
    assert '<td class="n" data-indicator="nc_rate">50.0 %</td><td class="n">4 / 8</td>' in files_report
    assert 'data-indicator="networking_measured">45.5 %</td><td class="n">5 / 11</td>' in files_report
    for line, (measured, _) in rows.items():
        shown = re.search(rf'data-line="[^"]*/{line}".*?data-oee>([^<]+)<', files_report)
        assert shown is not None and shown.group(1) == measured, line  # the summary's (= the truth's) OEE
    # the demo's data is a simulation's, and the report says so first
    assert '<span class="origin" data-origin="simulated">数据性质 Data: 仿真 simulated</span>' in files_report
    # recommendations: for each target of 湖北省武汉市 and the nation the NC rate (4/8) falls short of, the what-if's
    # smallest upgrade set (Made in China 2025 64 % and the 14th FYP 68 %: 2 machines, 6/8; Wuhan 2020 80 %: 3,
    # 7/8; Wuhan 2025 90 %: 4, 8/8); the 2020 national target of 50 % is met
    wuhan = load_plant(plant)
    shown = dict(re.findall(r'data-recommendation="([^"]+)" data-machines="([^"]*)"', files_report))
    expected = {t.id: " ".join(upgrade_to(wuhan, t.value)["wuhan-edz"]) for t, gap in
                gaps(0.5, "nc_rate", wuhan.sites[0].region) if gap < 0}
    assert shown == expected and set(expected) == {"mic2025-2025", "fyp14-2025", "wuhan-2020", "wuhan-2025"}
    assert [len(v.split()) for v in expected.values()] == [2, 2, 3, 4]
    assert "from 50.0 % to 100.0 % (4/8 → 8/8): 达到 meets 武汉 2025年目标 Wuhan 2025 (90.0 %)" in files_report
    strip = re.compile(r"<tr><td>数据来源 Source</td>.*?</tr>")
    assert strip.sub("", files_report) == strip.sub("", influx_report)


@pytest.mark.integration
def test_the_demo_with_a_real_broker_and_influxdb(tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB) -> None:
    done = demo(tmp_path, "--mqtt", mosquitto.url, "--influx", influxdb.url)
    rows = line_rows(done.stdout)
    assert set(rows) == set(LINES) and all(m == t for m, t in rows.values())
    assert "points to influxdb-v1" in done.stdout
    states = influxdb.rows('SELECT count("reason_code") FROM "state" GROUP BY "machine"')
    assert {r["machine"] for r in states} == {"WH-C01", "WH-M01", "WH-M02", "WH-P01", "WH-R01"}


@pytest.mark.integration
def test_each_run_keeps_its_data_apart_and_running_a_plant_again_is_harmless(tmp_path: Path) -> None:
    """A second plant's run once took in the first plant's machines from the shared folder's spools and files
    (a "fleet of 2 enterprises", lines of the other plant); now every run has a folder of its own."""
    hangzhou = str(Path(__file__).resolve().parents[1] / "examples" / "hangzhou-electronics.yaml")
    first = demo(tmp_path, hangzhou, duration="30m")
    wuhan = demo(tmp_path, duration="30m")
    before = contents(tmp_path / "out")
    again = demo(tmp_path, duration="30m")
    folders = runs(tmp_path)
    assert [f.parent.name for f in folders] == ["hangzhou-electronics", "wuhan-auto-parts", "wuhan-auto-parts"]
    assert len({f.name for f in folders}) == 3
    for run, done in zip(folders, (first, wuhan, again), strict=True):
        assert str(run / "data") in done.stdout.replace("\n", "")  # the summary says where the files are
    assert "hz-binjiang" not in wuhan.stdout and "2 enterprises" not in wuhan.stdout
    assert set(line_rows(wuhan.stdout)) == set(LINES)
    # the same plant again: the same results, in a folder of its own; the earlier runs' files are untouched
    assert line_rows(again.stdout) == line_rows(wuhan.stdout)
    assert {k: v for k, v in contents(tmp_path / "out").items() if k in before} == before


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.integration
def test_the_sites_auxiliary_pool_is_in_the_report_and_out_of_its_production_denominators(tmp_path: Path) -> None:
    # the Wuhan plant with a compressor (PLC, networked over Modbus TCP) and a crane (manual) beside its lines
    wuhan = (Path(__file__).resolve().parents[1] / "examples" / "wuhan-machining.yaml").read_text(encoding="utf-8")
    plant = tmp_path / "plant.yaml"
    plant.write_text(wuhan.replace("    region: 湖北省武汉市\n", """    region: 湖北省武汉市
    auxiliary:
      - {id: DL-01, name: 空压机, category: 动力设备, area: machining, control: plc, protocol: Modbus TCP}
      - {id: QZ-01, name: 行车, category: 起重设备, area: welding}
""", 1), encoding="utf-8")
    demo(tmp_path, str(plant), duration="1h")
    (run,) = runs(tmp_path)
    out = tmp_path / "report.html"
    assert main(["assess", str(plant), "--data", str(run / "data"), "--out", str(out), "--simulate-hours", "0"]) == 0
    html = out.read_text(encoding="utf-8")
    pool = [re.sub(r"<[^>]+>", " ", row).split()[:2] for row in re.findall(r"<tr data-auxiliary>(.*?)</tr>", html)]
    assert pool == [["空压机", "wuhan-auto-parts/wuhan-edz/machining/-/DL-01"],
                    ["行车", "wuhan-auto-parts/wuhan-edz/welding/-/QZ-01"]]
    # production equipment only in the rates (11 machines, 5 digital and networked); with the pool beside them:
    # digital 6/13 (the compressor's PLC keeps data, the manual crane none), networked declared 6/13 (the
    # compressor over Modbus TCP), measured 5/13 (the pool sends nothing); the NC rate counts key processes, which
    # the pool never is
    def shown(key: str) -> str:
        return re.sub(r"<[^>]+>", " ", html[html.index(f'data-indicator="{key}"'):].split("</tr>")[0])

    assert "5 / 11" in shown("digitization") and "with auxiliary equipment: 46.2 % (6 / 13)" in shown("digitization")
    assert "with auxiliary equipment: 46.2 % (6 / 13)" in shown("networking_declared")
    assert "with auxiliary equipment: 38.5 % (5 / 13)" in shown("networking_measured")
    assert "auxiliary" not in shown("nc_rate")
    assert '<td class="n" data-indicator="nc_rate">50.0 %</td><td class="n">4 / 8</td>' in html
