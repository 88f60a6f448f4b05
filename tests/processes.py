"""Our commands as processes (`sfsim ARGS`, `sfsim simulate`, `sfsim edge`) and mosquitto_sub, for tests of what
users see."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shopfloor import Protocol, load_plant
from simulator import Simulation

from .conftest import EXAMPLES
from .servers import Mosquitto, find_program, free_port

WUHAN = EXAMPLES / "wuhan-machining.yaml"
#: Wuhan's machines served over OPC UA
MACHINES = {m.path for m in Simulation(load_plant(WUHAN)).machines
            if m.at.machine.networked and m.at.machine.protocol is Protocol.OPCUA}


def sfsim(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``sfsim ARGS`` as a user runs it, with ``environ`` added to the environment."""
    return subprocess.run([sys.executable, "-m", "sfsim", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **(environ or {})}, timeout=120)


def retained_statuses(mosquitto: Mosquitto) -> dict[str, str]:
    """Retained status per machine, read by mosquitto_sub (a client we did not write)."""
    got = subprocess.run([find_program("mosquitto_sub", "mosquitto-clients"), "-p", str(mosquitto.port),
                          "-t", "sfsim/v1/+/+/+/+/+/status", "-v", "-W", "1"],
                         capture_output=True, text=True, check=False).stdout
    return {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1])["status"] for line in got.splitlines()}


def serve_wuhan(mosquitto: Mosquitto) -> subprocess.Popen[str]:
    """``sfsim simulate`` of the Wuhan plant at 60 times real time, its MQTT machines on ``mosquitto`` and its OPC UA
    server on a free port, returned once the MQTT machines' statuses are online."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "sfsim", "simulate", str(WUHAN), "--mqtt", mosquitto.url,
         "--opcua", "--opcua-port", str(free_port()), "--speed", "60", "--start", "2026-01-05T08:00+08:00"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while set(retained_statuses(mosquitto).values()) != {"online"} or len(retained_statuses(mosquitto)) < 2:
        assert time.monotonic() < deadline, (serve.stderr.read() if serve.stderr and serve.poll() is not None
                                             else "no online status")
        time.sleep(0.3)
    return serve


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float, *logs: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            shown = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
            raise AssertionError(f"{what}: not within {timeout_s} s\n{shown}")
        time.sleep(0.1)


class Process:
    """One of our commands in its own process, its output in a file."""

    def __init__(self, name: str, args: list[str], workdir: Path) -> None:
        self.args = [sys.executable, "-m", "sfsim", *args]
        self.log = workdir / f"{name}.log"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, cwd=self.workdir)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen process cannot handle the stop otherwise
            self.proc.send_signal(sig)
        return self.proc.wait(30)


class Subscriber:
    """mosquitto_sub on every machine topic (retained messages included), one "topic payload" a line."""

    def __init__(self, broker: Mosquitto, workdir: Path) -> None:
        self.out = workdir / "mosquitto_sub.txt"
        self.proc = subprocess.Popen(
            [find_program("mosquitto_sub", "mosquitto-clients"), "-h", "127.0.0.1", "-p", str(broker.port),
             "-t", "sfsim/v1/+/+/+/+/+/+", "-q", "1", "-v"], stdout=self.out.open("wb"))

    def messages(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(machine path, payload) of one kind, in arrival order."""
        out = []
        for line in self.out.read_text(encoding="utf-8", errors="replace").splitlines():
            topic, _, payload = line.partition(" ")
            if topic.endswith(f"/{kind}") and payload.endswith("}"):
                out.append((topic.split("/", 2)[2].rsplit("/", 1)[0], json.loads(payload)))
        return out

    def statuses(self) -> dict[str, list[dict[str, Any]]]:
        by: dict[str, list[dict[str, Any]]] = {}
        for path, payload in self.messages("status"):
            by.setdefault(path, []).append(payload)
        return by

    def all_are(self, status: str, since: int = 0) -> bool:
        """Every machine's latest status is ``status``, reached after its first ``since`` statuses."""
        s = self.statuses()
        return set(s) >= MACHINES and all(len(s[m]) > since and s[m][-1]["status"] == status for m in MACHINES)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def simulate(workdir: Path, port: int, *options: str) -> Process:
    """``sfsim simulate`` of the Wuhan plant serving OPC UA (default: 60 times real time, until stopped)."""
    return Process("simulate", ["simulate", str(WUHAN), "--opcua", "--opcua-port", str(port),
                                *(options or ("--speed", "60"))], workdir)


def edge(workdir: Path, broker: Mosquitto, port: int, publishing_interval: str = "100ms") -> Process:
    """``sfsim edge`` bridging the Wuhan server on ``port``."""
    config = workdir / "edge.yaml"
    config.write_text(f"""
gateway: edge-faults
mqtt: {{url: "{broker.url}"}}
spool: {{dir: spool}}
health_interval: 1s
reconnect_max: 1s
endpoints:
  - url: opc.tcp://127.0.0.1:{port}/sfsim/wuhan-edz
    publishing_interval: {publishing_interval}
""", encoding="utf-8")
    return Process("edge", ["edge", "--config", str(config)], workdir)
