"""The live web console of ``sfsim demo``, in a real browser (Debian's headless Chromium driven by Playwright)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shopfloor import load_plant

from .pages import png_size_and_colours

pytestmark = pytest.mark.integration

WUHAN = Path(__file__).resolve().parents[1] / "examples" / "wuhan-machining.yaml"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: apt-get install chromium (bash .ci/run does it)")
    return found


@contextlib.contextmanager
def running_demo(tmp_path: Path, *extra: str) -> Iterator[tuple[str, list[str]]]:
    """A demo of the Wuhan plant running for minutes of wall time with its console on a free port: its URL, and
    what it has said so far (the lines read up to the URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "sfsim", "demo", str(WUHAN), "--duration", "24h", "--speed", "240",
                             "--web-port", "0", "--out", str(tmp_path / "out"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    said: list[str] = []
    deadline = time.monotonic() + 60
    url = None
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        said.append(line)
        found = re.search(r"web console 网页控制台: (http://\S+)", line)
        url = found.group(1) if found else None
    if url is None:
        proc.kill()
        pytest.fail("the demo announced no console:\n" + "".join(said))
    try:
        yield url, said
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """A running demo's console, on loopback: its URL."""
    with running_demo(tmp_path) as (url, _):
        yield url


def until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


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
        browser.close()
    assert errors == [] and elsewhere == []
    width, height, colours = png_size_and_colours(shot)
    assert (width, height) == (1280, 1400) and colours > 20
    artifacts = Path(__file__).resolve().parents[1] / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / "console-fleet.png")


def test_a_second_demo_takes_a_free_port_unless_told_which(tmp_path: Path) -> None:
    import contextlib
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


def post(url: str, body: dict[str, object] | None = None, password: str | None = None) -> tuple[int, dict[str, object]]:
    import base64
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    if password is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"teacher:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def fleet_now(url: str) -> dict[str, object]:
    import json
    import urllib.request

    with urllib.request.urlopen(url + "api/fleet", timeout=10) as answer:
        result: dict[str, object] = json.load(answer)
        return result


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
