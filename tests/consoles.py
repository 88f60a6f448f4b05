"""What the console's tests share: a demo running with its console on a free port, Debian's Chromium for
Playwright, and the console's HTTP API called as a page would (standard library only)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

WUHAN = Path(__file__).resolve().parents[1] / "examples" / "wuhan-machining.yaml"


def chromium() -> str:
    """The path of Debian's chromium (Playwright cannot download browsers here)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: apt-get install chromium (bash .ci/run does it)")
    return found


@contextlib.contextmanager
def running_demo(out: Path, *extra: str) -> Iterator[tuple[str, list[str]]]:
    """A demo of the Wuhan plant running for minutes of wall time with its console on a free port: its URL, and
    what it has said so far (the lines read up to the URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "sfsim", "demo", str(WUHAN), "--duration", "24h", "--speed", "240",
                             "--web-port", "0", "--out", str(out), *extra],
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


def until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Wait for ``condition``, failing after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def call(url: str, body: object = None, *, password: str | None = None, raw: bytes | None = None,
         method: str | None = None) -> tuple[int, Any]:
    """An HTTP request to the console (a JSON body, or ``raw`` bytes; POST when there is one, else GET): its status
    and its JSON answer (or its text when it is not JSON)."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers={"Content-Type": "application/json"})
    if password is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"teacher:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, text = answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def post(url: str, body: object = None, password: str | None = None) -> tuple[int, Any]:
    """A POST to the console with a JSON body (``{}`` when none): its status and its JSON answer."""
    return call(url, {} if body is None else body, password=password)


def fleet_now(url: str) -> Any:
    """The fleet as the console serves it now (``/api/fleet``)."""
    status, fleet = call(url + "api/fleet")
    assert status == 200, (status, fleet)
    return fleet
