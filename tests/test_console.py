"""The live web console of ``sfsim demo``, in a real browser (Debian's headless Chromium driven by Playwright)."""

from __future__ import annotations

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


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """A demo of the Wuhan plant running for a few minutes of wall time, with its console on a free port: its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "sfsim", "demo", str(WUHAN), "--duration", "24h", "--speed", "240",
                             "--web-port", "0", "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    said = []
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
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


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
