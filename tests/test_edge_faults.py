"""`sfsim edge` and `sfsim simulate --opcua` as processes, under real faults: a frozen server (SIGSTOP), a
server stopped, a gateway killed outright (SIGKILL). What consumers see is read by mosquitto_sub, a client we
did not write; what operators see is the gateway's log as the command prints it."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from .processes import MACHINES, Subscriber, edge, simulate, wait_for
from .servers import Mosquitto, free_port

pytestmark = pytest.mark.integration


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
    births: list[dict[str, set[int]]] = []
    try:
        for run in range(2):  # a first run (an empty spool), then a run that begins new sessions over old ones
            gateway.start()
            # online in a session of this run (a session of the run before may be replayed first: what the killed
            # gateway had sent but not yet committed as sent goes again)
            old = {m: {s["session"] for s in statuses} for m, statuses in sub.statuses().items()}
            wait_for(f"run {run}: machines online",
                     lambda old=old: sub.all_are("online") and all(s[-1]["session"] not in old.get(m, set())
                                                                   for m, s in sub.statuses().items()), 30,
                     server.log, gateway.log)
            # the sessions this run began (a source lost and back under load begins another: one more birth)
            seen: dict[str, set[int]] = {}
            for path, b in sub.messages("birth"):
                seen.setdefault(path, set()).add(b["session"])
            births.append({path: sessions - set().union(*(old.get(path, set()) for old in births))
                           for path, sessions in seen.items()})
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
            # the session of a birth of this run (the newest, once the machine reconnected to register its will)
            assert wills[run][m]["session"] in births[run][m] and 0 not in births[run][m], (
                run, m, wills[run][m], births[run][m])
    assert all(births[1][m] and not births[1][m] & births[0][m] for m in MACHINES)  # sessions of its own
