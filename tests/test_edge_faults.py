"""`sfsim edge` and `sfsim simulate --opcua` as processes, under real faults: a frozen server (SIGSTOP), a
server stopped, a gateway killed outright (SIGKILL). What consumers see is read by mosquitto_sub, a client we
did not write; what operators see is the gateway's log as the command prints it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shopfloor import Protocol, load_plant
from simulator import Simulation

from .conftest import EXAMPLES
from .servers import Mosquitto, find_program, free_port

pytestmark = pytest.mark.integration

WUHAN = EXAMPLES / "wuhan-machining.yaml"
#: Wuhan's machines served over OPC UA
MACHINES = {m.path for m in Simulation(load_plant(WUHAN)).machines
            if m.at.machine.networked and m.at.machine.protocol is Protocol.OPCUA}


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


def simulate(workdir: Path, port: int) -> Process:
    return Process("simulate", ["simulate", str(WUHAN), "--opcua", "--opcua-port", str(port), "--speed", "60"],
                   workdir)


def edge(workdir: Path, broker: Mosquitto, port: int) -> Process:
    config = workdir / "edge.yaml"
    config.write_text(f"""
gateway: edge-faults
mqtt: {{url: "{broker.url}"}}
spool: {{dir: spool}}
health_interval: 1s
reconnect_max: 1s
endpoints:
  - url: opc.tcp://127.0.0.1:{port}/sfsim/wuhan-edz
    publishing_interval: 100ms
""", encoding="utf-8")
    return Process("edge", ["edge", "--config", str(config)], workdir)


def test_the_gateway_says_what_happened_to_a_frozen_then_stopped_server(mosquitto: Mosquitto,
                                                                          tmp_path: Path) -> None:
    port = free_port()
    server, gateway, sub = simulate(tmp_path, port), edge(tmp_path, mosquitto, port), Subscriber(mosquitto, tmp_path)
    server.start()
    gateway.start()
    try:
        wait_for("machines online", lambda: sub.all_are("online"), 30, server.log, gateway.log)
        # frozen: the process is there, its socket open, nothing answers
        server.send(signal.SIGSTOP)
        seen = {m: len(s) for m, s in sub.statuses().items()}
        wait_for("machines offline", lambda: sub.all_are("offline", since=min(seen.values())), 15, gateway.log)
        frozen = gateway.text()
        server.send(signal.SIGCONT)
        seen = {m: len(s) for m, s in sub.statuses().items()}
        wait_for("machines online again", lambda: sub.all_are("online", since=min(seen.values())), 20, gateway.log)
        # stopped: the server says goodbye and closes its sockets
        seen = {m: len(s) for m, s in sub.statuses().items()}
        assert server.stop(signal.SIGINT) == 130
        wait_for("machines offline again", lambda: sub.all_are("offline", since=min(seen.values())), 15,
                 gateway.log)
        time.sleep(0.5)
    finally:
        server.stop()
        gateway.stop()
        sub.stop()
    log = gateway.text()
    assert f"opc.tcp://127.0.0.1:{port}/sfsim/wuhan-edz: the server stopped answering (frozen, overloaded, or the " \
           "network is cut); 3 machine(s) offline until it is back" in frozen, frozen
    assert "the server closed the connection (stopped or restarting?); 3 machine(s) offline until it is back" \
        in log[len(frozen):], log
    # the gateway's own words only: no library traceback, no status code pretending the server ended something
    assert "Traceback" not in log and "BadShutdown" not in log and "ended by the server" not in log, log


def test_a_killed_gateways_last_will_carries_the_session_of_the_birth_it_follows(mosquitto: Mosquitto,
                                                                                 tmp_path: Path) -> None:
    port = free_port()
    server, gateway, sub = simulate(tmp_path, port), edge(tmp_path, mosquitto, port), Subscriber(mosquitto, tmp_path)
    server.start()
    wills: list[dict[str, dict[str, Any]]] = []
    births: list[dict[str, int]] = []
    try:
        for run in range(2):  # a first run (an empty spool), then a run that begins new sessions over old ones
            gateway.start()
            wait_for(f"run {run}: machines online", lambda n=2 * run: sub.all_are("online", since=n), 30,
                     server.log, gateway.log)
            births.append({path: b["session"] for path, b in sub.messages("birth")})
            gateway.stop(signal.SIGKILL)  # no goodbye: the broker publishes each machine's will
            wait_for(f"run {run}: wills", lambda n=2 * run + 1: sub.all_are("offline", since=n), 15,
                     gateway.log)
            wills.append({m: s[-1] for m, s in sub.statuses().items()})
    finally:
        server.stop()
        if gateway.proc is not None and gateway.proc.poll() is None:
            gateway.stop()
        sub.stop()
    assert births[0].keys() == births[1].keys() == MACHINES
    for run in range(2):
        for m in MACHINES:
            assert wills[run][m]["session"] == births[run][m] != 0, (run, m, wills[run][m], births[run][m])
    assert all(births[1][m] != births[0][m] for m in MACHINES)  # each run began sessions of its own
