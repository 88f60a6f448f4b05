"""The live web console of ``sfsim demo``, in a real browser (Debian's headless Chromium driven by Playwright)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopfloor import load_plant

from .consoles import WUHAN, chromium, fleet_now, post, running_demo, until
from .pages import png_size_and_colours

pytestmark = pytest.mark.integration


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """A running demo's console, on loopback: its URL."""
    with running_demo(tmp_path / "out") as (url, _):
        yield url


def test_the_console_shows_every_machine_by_name_live_and_offline(demo: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    plant = load_plant(WUHAN)
    errors: list[str] = []
    elsewhere: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(demo) else elsewhere.append(r.url))
        page.goto(demo)
        page.wait_for_selector("[data-machine]", timeout=30_000)
        # every machine of the register, by name, in its line; the ones that are not networked say so
        for at in plant.machines():
            tile = page.locator(f'[data-machine="{at.path}"]')
            assert tile.count() == 1, at.path
            text = tile.inner_text()
            assert at.machine.name.zh in text and at.machine.name.en in text, text
            if not at.machine.networked:
                assert "未联网" in text and "not networked" in text, text
        # live: the plant clock moves without a reload (polled from here: the page's policy forbids eval, which
        # Playwright's wait_for_function needs)
        first = page.locator("#clock").inner_text()
        until(lambda: page.locator("#clock").inner_text() != first, 15)
        # the page got the fleet whole once, then only what changed (JSON Patch): what it holds, patched, is the
        # fleet the server has (compared when both are the same second's)

        def holds_the_servers_fleet() -> bool:
            held, whole = page.evaluate(
                "async () => [JSON.stringify(lastFleet), await (await fetch('/api/fleet')).text()]")
            return bool(json.loads(held) == json.loads(whole))
        until(holds_the_servers_fleet, 15)
        # the machines that send telemetry show a state in words, never a bare dash
        until(lambda: page.locator('[data-condition="no_state"]').count() == 0, 30)
        states = page.locator('[data-machine]:not([data-condition="not_networked"])')
        assert states.count() == sum(at.machine.networked for at in plant.machines())
        assert all(re.search(r"\w", t) for t in states.locator(".condition").all_inner_texts())
        # the site's 两化融合 rates with their counts, against the national targets and Wuhan's own
        nc = page.locator('[data-rate="nc_rate"]').inner_text()
        assert "50.0 %" in nc and "4 / 8" in nc and "武汉 2025年目标" in nc and "90.0 % → -40.0 pt" in nc, nc
        assert "5 / 11" in page.locator('[data-rate="networking_declared"]').inner_text()
        # the language switch
        page.select_option("#language", "en")
        assert not page.locator('[lang="zh"]').first.is_visible()
        page.select_option("#language", "both")
        shot = tmp_path / "fleet.png"
        page.screenshot(path=str(shot), full_page=False)
        # the 五色图: every site and line with its colour, and a sentence in each language saying why
        sites = [f"{plant.enterprise.id}/{s.id}" for s in plant.sites]
        plant_lines = sorted({at.path.rsplit("/", 1)[0] for at in plant.machines()})
        colour_words = {"green": "绿色", "blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}

        def graded(unit: str) -> bool:
            return page.locator(f'[data-grade="{unit}"]').get_attribute("data-colour") in colour_words

        until(lambda: all(graded(u) for u in sites + plant_lines), 30)
        for unit in sites + plant_lines:
            cell = page.locator(f'[data-grade="{unit}"]')
            colour = cell.get_attribute("data-colour")
            assert colour is not None
            assert colour_words[colour] in cell.inner_text() and colour in cell.inner_text()
            why_zh = cell.locator('.grade-why [lang="zh"]').inner_text()
            why_en = cell.locator('.grade-why [lang="en"]').inner_text()
            measure = ("关键工序数控化率", "NC rate") if unit in sites else ("OEE", "OEE")
            assert why_zh.endswith("。") and measure[0] in why_zh, why_zh
            assert why_en.endswith(".") and measure[1] in why_en, why_en
        assert page.locator("#grade-legend tr[data-colour]").count() == 5
        # each line: the six big losses (startup losses say why they have no figure), output against the ideal,
        # energy per good part, and the OEE of the shift and the day beside the last hour's
        for path in plant_lines:
            card = page.locator(f'[data-line="{path}"]')
            losses = card.locator("[data-loss]")
            until(lambda: losses.count() == 7, 20)  # noqa: B023 (called at once, in this iteration)
            startup = card.locator('[data-loss="startup"]').inner_text()
            assert "未单独计量" in startup and "not measured apart" in startup, startup
            assert "理想产量" in card.locator("[data-output]").inner_text()
            assert "kWh" in card.locator("[data-energy]").inner_text()
            assert card.locator("tr[data-window]").count() == 3
        # a blank always says why, in words
        assert not re.search(r"—(?!\s*\S)", page.locator("main").inner_text())
        reasons = page.locator("main [data-reason]")
        assert all(reasons.nth(k).get_attribute("data-reason") for k in range(reasons.count()))
        brake = page.locator('[data-line$="/brake-disc"]')
        # a breakdown of the line's constraint, injected through the teacher's API, lowers the availability the
        # page shows within seconds (the plant starts at its first shift: the line is producing, A is known)
        availability = brake.locator('.kpis [data-kpi="availability"]')
        until(lambda: availability.get_attribute("data-value") is not None, 30)
        before = float(availability.get_attribute("data-value") or "nan")
        status, answer = post(demo + "api/teacher/inject", {"event": {"kind": "breakdown", "target": "WH-C01",
                                                                      "duration": "8h"}})
        assert (status, answer["accepted"]) == (200, True), answer
        number = answer["event"]

        def shown() -> float:
            figure = re.search(r"([\d.]+) %", availability.locator("b").inner_text())
            return float(figure.group(1)) / 100 if figure else float("nan")

        until(lambda: shown() < before - 0.1, 20)
        assert float(availability.get_attribute("data-value") or "nan") < before - 0.1
        # its loss is counted as a breakdown, and it is on the timeline with the alarm it raised
        breakdowns = brake.locator('[data-loss="breakdowns"] b')
        until(lambda: float(breakdowns.inner_text().split()[0]) > 0, 10)
        event = page.locator(f'#timeline-list [data-event="{number}"]')
        until(lambda: event.count() == 1, 10)
        assert event.get_attribute("data-ongoing") == "true"
        assert all(w in event.inner_text() for w in ("故障停机", "breakdown", "数控车床 精车", "CNC finish turning"))
        alarm = page.locator('#timeline-list [data-type="alarm"][data-kind="down"]', has_text="CNC finish turning")
        until(lambda: alarm.count() >= 1, 20)  # stopped over 10 min of plant time: 2.5 s at 240×
        assert page.locator("#timeline-chart svg path").count() > 0
        # a line's view, kept: the brake disc line with its breakdown
        line_shot = tmp_path / "line.png"
        brake.screenshot(path=str(line_shot))
        browser.close()
    assert errors == [] and elsewhere == []
    width, height, colours = png_size_and_colours(shot)
    assert (width, height) == (1280, 1400) and colours > 20
    width, height, colours = png_size_and_colours(line_shot)
    assert width > 600 and height > 300 and colours > 20, (width, height, colours)
    artifacts = Path(__file__).resolve().parents[1] / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / "console-fleet.png")
    shutil.copy(line_shot, artifacts / "console-line.png")


def test_a_second_demo_takes_a_free_port_unless_told_which(tmp_path: Path) -> None:
    import json
    import socket
    import urllib.request

    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(OSError):  # as another program (or a first demo) holds it; or something else does
        held.bind(("127.0.0.1", 8765))
        held.listen()
    try:
        told = subprocess.run([sys.executable, "-m", "sfsim", "demo", str(WUHAN), "--duration", "10m",
                               "--web-port", "8765", "--out", str(tmp_path / "told")],
                              capture_output=True, text=True, timeout=120, check=False)
        assert told.returncode == 2, told.stdout + told.stderr
        assert "sfsim demo: --web-host/--web-port: the console cannot listen on 127.0.0.1:8765: " in told.stderr
        proc = subprocess.Popen([sys.executable, "-m", "sfsim", "demo", str(WUHAN), "--duration", "24h",
                                 "--out", str(tmp_path / "free")], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        try:
            url = None
            for _ in range(200):
                line = proc.stdout.readline()
                if found := re.search(r"web console 网页控制台: (http://\S+)", line):
                    url = found.group(1)
                    break
            assert url is not None and not url.endswith(":8765/")
            with urllib.request.urlopen(url + "api/fleet", timeout=10) as answer:
                assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
                sites = json.load(answer)["sites"]
            assert [s["path"] for s in sites] == ["wuhan-auto-parts/wuhan-edz"]
        finally:
            proc.terminate()
            proc.wait(20)
    finally:
        held.close()


def test_the_teacher_breaks_a_machine_down_and_pauses_the_plant(demo: str) -> None:
    import json
    import urllib.request

    # on loopback, a teacher at this machine needs no password
    status, answer = post(demo + "api/teacher/inject", {"event": {"kind": "breakdown", "target": "WH-M01",
                                                                  "duration": "8h"}})
    assert (status, answer["accepted"]) == (200, True), answer
    number = answer["event"]
    def condition(machine: str) -> str:
        return next(m["condition"]["key"] for s in fleet_now(demo)["sites"] for line in s["lines"]  # type: ignore
                    for m in line["machines"] if m["id"] == machine)

    until(lambda: condition("WH-M01") == "breakdown", 10)
    # it is in the truth's injected list, with its target and when it began
    with urllib.request.urlopen(demo + "api/teacher/state", timeout=10) as got:
        state = json.load(got)
    (injected,) = [e for e in state["injected"] if e["id"] == number]
    assert (injected["kind"], injected["target"], injected["params"]["duration"]) == (
        "breakdown", "wuhan-auto-parts/wuhan-edz/machining/brake-disc/WH-M01", 28800.0)
    # a refusal says why
    status, answer = post(demo + "api/teacher/inject", {"event": {"kind": "breakdown", "target": "NO-SUCH"}})
    assert status == 400 and answer["accepted"] is False and "NO-SUCH" in str(answer["reason"])
    # paused, the plant clock stands still; resumed, it goes on
    assert post(demo + "api/teacher/pause")[0] == 200
    time.sleep(1.5)
    before = fleet_now(demo)["now_ms"]
    time.sleep(2.5)
    assert fleet_now(demo)["now_ms"] == before
    assert post(demo + "api/teacher/resume")[0] == 200
    until(lambda: fleet_now(demo)["now_ms"] != before, 10)
    assert post(demo + "api/teacher/speed", {"speed": 0})[0] == 400


def test_beyond_this_machine_the_teacher_needs_the_password(tmp_path: Path) -> None:
    # listening on every address of the machine: students on the LAN reach it
    with running_demo(tmp_path / "open", "--web-host", "0.0.0.0") as (url, _):
        status, answer = post(url.replace("0.0.0.0", "127.0.0.1") + "api/teacher/pause")
        assert (status, answer) == (403, {"accepted": False, "reason": "the console listens beyond this machine: "
                                          "teacher actions need a password (sfsim demo --teacher-password, or "
                                          "SFSIM_TEACHER_PASSWORD)"})
        assert fleet_now(url.replace("0.0.0.0", "127.0.0.1"))["sites"]  # the students' view is open
    with running_demo(tmp_path / "locked", "--web-host", "0.0.0.0", "--teacher-password", "s3cret-class") as (
            url, said):
        local = url.replace("0.0.0.0", "127.0.0.1")
        assert post(local + "api/teacher/pause")[0] == 401
        assert post(local + "api/teacher/pause", password="wrong")[0] == 401
        assert post(local + "api/teacher/pause", password="s3cret-class") == (200, {"accepted": True})
        assert post(local + "api/teacher/resume", password="s3cret-class")[0] == 200
        assert not any("s3cret-class" in line for line in said)


def test_a_breakdown_injected_from_the_teacher_page_shows_on_the_students_page(demo: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        teacher = browser.new_page()
        students = browser.new_page()
        for page in (teacher, students):
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
        students.goto(demo)
        students.wait_for_selector("[data-machine]", timeout=30_000)
        teacher.goto(demo + "teacher")
        teacher.wait_for_selector('#kind option[value="breakdown"]', state="attached", timeout=15_000)
        teacher.select_option("#kind", "breakdown")
        teacher.select_option("#target", "WH-M02")
        teacher.fill('[data-param="duration"]', "8h")  # 2 min of wall time: long enough to be seen on a loaded machine
        teacher.click("#inject")
        teacher.wait_for_selector('#answer[data-accepted="true"]', timeout=10_000)
        tile = students.locator('[data-machine$="/WH-M02"]')
        until(lambda: tile.get_attribute("data-condition") == "breakdown", 10)
        assert "故障停机" in tile.inner_text() and "breakdown" in tile.inner_text()
        until(lambda: teacher.locator("#injected tr").count() == 1, 10)
        assert "WH-M02" in teacher.locator("#injected tr").inner_text()
        teacher.screenshot(path=str(tmp_path / "teacher.png"))
        browser.close()
    assert errors == []


def test_the_view_maps_the_losses_output_energy_grades_and_timeline_by_hand() -> None:
    """The figures the page shows, from results set by hand (no demo): every one worked out here."""
    from collector import Engine, KpiConfig, Period, Result, kpis
    from collector._units import Level, Unit
    from console import AlarmLog, fleet

    plant = load_plant(WUHAN)
    engine = Engine(KpiConfig(plants=(plant,)))
    site = "wuhan-auto-parts/wuhan-edz"
    brake = f"{site}/machining/brake-disc"
    start, now = 1767571200000, 1767571200000 + 4 * 3600_000  # 2026-01-05 08:00 Wuhan, and four hours on
    # an empty engine: every figure blank, each saying why; a line without an OEE is not graded, and says why
    empty = fleet(engine, [plant], now)
    (lines,) = [s["lines"] for s in empty["sites"]]
    assert all(w["oee"] is None and w["why"]["en"] for line in lines for w in line["windows"])
    assert all(line["shift"] is None and line["grade"]["colour"] is None for line in lines)
    assert lines[0]["grade"]["explain"]["en"] == ("Not graded yet: no OEE over the last hour (no planned busy "
                                                  "time, or no data yet).")
    assert empty["timeline"]["items"] == [] and empty["timeline"]["empty"]["zh"] == "尚无报警或注入事件"

    # the constraint's shift: 3000 s producing, 300 s setup, 600 s delayed (400 s of it repairs), 100 s starved;
    # 38 parts at 75 s ideal, 36 good, 1 scrap, 1 rework; its machines used 10 and 5 kWh
    period = Period(apt_s=3000, aust_s=300, adet_s=600, adot_s=100, pq=38, gq=36, sq=1, rq=1, ideal_s=38 * 75,
                    breakdown_s=400, failures=1, energy_kwh=10)

    def result(level: Level, unit: str, window: str, p: Period, label: str = "2026-01-05/A") -> Result:
        return Result(level, Unit(unit), window, start, start + 8 * 3600_000, label, False, p, kpis(p))

    for window in ("shift", "rolling"):
        engine.latest[(Level.LINE, Unit(brake), window)] = result(Level.LINE, brake, window, period)
    engine.latest[(Level.MACHINE, Unit(f"{brake}/WH-C01"), "shift")] = result(Level.MACHINE, f"{brake}/WH-C01",
                                                                            "shift", period)
    engine.latest[(Level.MACHINE, Unit(f"{brake}/WH-M01"), "shift")] = result(
        Level.MACHINE, f"{brake}/WH-M01", "shift", Period(apt_s=3500, energy_kwh=5))
    line = next(ln for s in fleet(engine, [plant], now)["sites"] for ln in s["lines"] if ln["path"] == brake)
    shift = line["shift"]
    assert shift["title"] == {"zh": "本班次 早班（08:00–16:00）", "en": "this shift, day shift (08:00–16:00)"}
    losses = {i["key"]: i["seconds"] for i in shift["losses"]["items"]}
    # breakdowns = repairs; setup = AUST; minor stops = ADOT + the other delays; reduced speed = APT − Σ PRI;
    # defects and rework = their parts' ideal time; startup losses are not measured apart
    assert losses == {"breakdowns": 400, "setup": 300, "minor_stops": 300, "reduced_speed": 150, "defects": 150,
                      "startup": None}
    assert shift["losses"]["valuable_s"] == 2700 and shift["losses"]["pbt_s"] == 4000  # the six and it: PBT
    startup = next(i for i in shift["losses"]["items"] if i["key"] == "startup")
    assert "not measured apart" in startup["why"]["en"]
    # output: 36 good against 4000 s ÷ 75 s = 53.3 ideal, which is the OEE (0.75 × 0.95 × 36/38)
    output = shift["output"]
    assert output["good"] == 36 and abs(output["ideal"] - 4000 / 75) < 1e-9
    assert abs(output["ratio"] - line["kpis"]["oee"]) < 1e-12 and abs(output["ratio"] - 0.675) < 1e-12
    # energy: the shift's kWh of the machines that send telemetry (2 of 4) ÷ the line's good parts
    energy = shift["energy"]
    assert (energy["kwh"], energy["good"], energy["measured"], energy["machines"]) == (15, 36, 2, 4)
    assert abs(energy["per_good"] - 15 / 36) < 1e-12 and "2 of 4 machines" in energy["note"]["en"]
    # OEE 67.5 % is in the 65–75 % band: yellow
    assert line["grade"]["colour"] == "yellow"
    assert line["grade"]["explain"]["en"] == ("OEE 67.5 % over the last hour (its constraint CNC finish turning) "
                                              "is in the 65 % – 75 % band: yellow.")
    assert "为黄色。" in line["grade"]["explain"]["zh"]

    # the timeline: the truth's injected events, and the engine's alarms with the ends the log saw
    log = AlarmLog()
    c01 = f"{brake}/WH-C01"
    engine.alarms.active[c01] = ("down", start + 1800_000)
    engine.alarms.active[f"{brake}/WH-M01"] = ("offline", 1_900_000_000_000)  # offline alarms go by the wall clock
    log.see(engine, start + 2400_000)
    del engine.alarms.active[c01]
    alarms = log.see(engine, start + 3000_000)
    assert [(a["path"], a["kind"], a["start_ms"], a["end_ms"]) for a in alarms] == [
        (c01, "down", start + 1800_000, start + 3000_000),
        (f"{brake}/WH-M01", "offline", start + 2400_000, None)]
    injected = [
        {"id": 1, "kind": "breakdown", "target": c01, "start_ms": start + 1800_000, "end_ms": start + 2700_000,
         "params": {"duration": 3600.0}},
        {"id": 2, "kind": "speed_loss", "target": brake, "start_ms": start + 3600_000, "end_ms": None, "params": {}}]
    timeline = fleet(engine, [plant], now, injected=injected, alarms=alarms)["timeline"]
    texts = {i["id"]: i["text"]["en"] for i in timeline["items"]}
    assert texts["injected-1"] == ("Injected event: breakdown on CNC finish turning, 08:30–08:45, cleared early "
                                   "(planned 1 h).")
    assert texts["injected-2"] == "Injected event: speed loss on brake disc line, from 09:00, still on."
    assert texts[f"alarm-{c01}-down-{start + 1800_000}"] == (
        "Alarm (stopped too long): CNC finish turning stopped since 08:30, over 10 min, ended 08:50.")
    assert [r["target"] for r in timeline["rows"]] == [c01, f"{brake}/WH-M01", brake]
    assert timeline["start_ms"] == start + 1800_000 and timeline["end_ms"] == now  # from the first item on
    assert timeline["utc_offset_ms"] == 8 * 3600_000  # the plant's wall clock, for the chart's axis
