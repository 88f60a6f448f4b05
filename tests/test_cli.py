"""The ``sfsim`` command as a user runs it: ``simulate``, and the exit codes every command shares."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sfsim import main
from sfsim._exit import Exit
from simulator import TRUTH_FORMAT

from .conftest import EXAMPLES
from .processes import MACHINES, Subscriber, edge, retained_statuses, serve_wuhan, sfsim, simulate, wait_for
from .servers import Mosquitto, find_program, free_port, free_ports


def test_simulate_prints_a_line_summary_and_writes_the_truth(tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    done = sfsim("simulate", str(EXAMPLES / "wuhan-machining.yaml"), "--duration", "8h", "--seed", "1",
                 "--truth", str(truth))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2026-01-05T08:00:00+08:00 → 2026-01-05T16:00:00+08:00" in out
    assert "产线汇总 Line summary" in out
    for header in ("产量", "Output", "可用率", "Availability", "性能", "Performance", "质量", "Quality", "OEE"):
        assert header in out
    doc = json.loads(truth.read_text(encoding="utf-8"))
    assert doc["format"] == TRUTH_FORMAT and doc["seed"] == 1 and doc["duration_s"] == 8 * 3600
    for line in doc["lines"]:
        row = next(r for r in out.splitlines() if f" {line['id']} " in r)
        assert f" {line['output']} " in row
        assert f"{100 * line['oee']:.1f} %" in row
        assert f"{100 * line['availability']:.1f} %" in row


@pytest.mark.slow  # two simulations of two days in processes of their own: seconds
def test_same_command_same_truth(tmp_path: Path) -> None:
    files = [tmp_path / "a.json", tmp_path / "b.json"]
    for f in files:
        assert sfsim("simulate", str(EXAMPLES / "ezhou-process.yaml"), "--duration", "2d", "--truth",
                     str(f)).returncode == 0
    assert files[0].read_bytes() == files[1].read_bytes()


@pytest.mark.slow  # a second of real-time pacing in a process: seconds
def test_simulate_at_a_speed_factor_and_from_a_chosen_start() -> None:
    done = sfsim("simulate", str(EXAMPLES / "hangzhou-electronics.yaml"), "--duration", "30m", "--speed", "1800",
                 "--start", "2026-03-02T08:30+08:00")
    assert done.returncode == 0, done.stderr
    assert "2026-03-02T08:30:00+08:00 → 2026-03-02T09:00:00+08:00" in done.stdout


@pytest.mark.slow  # five `sfsim` processes: seconds
def test_bad_arguments_and_bad_plants_get_clear_messages(tmp_path: Path) -> None:
    bad_duration = sfsim("simulate", str(EXAMPLES / "wuhan-machining.yaml"), "--duration", "8 hours")
    assert bad_duration.returncode == 2
    assert "argument --duration: expected a duration such as 45, 45s, 30m" in bad_duration.stderr
    bad_speed = sfsim("simulate", str(EXAMPLES / "wuhan-machining.yaml"), "--speed", "fast")
    assert "argument --speed: expected 'max' or a positive number, got 'fast'" in bad_speed.stderr
    bad_url = sfsim("simulate", str(EXAMPLES / "wuhan-machining.yaml"), "--mqtt", "http://x", "--duration", "1m")
    assert bad_url.returncode == 2
    assert "sfsim simulate: MQTT URL 'http://x': expected mqtt://host[:port] or mqtts://host[:port]" in bad_url.stderr
    bad_ca = sfsim("simulate", str(EXAMPLES / "wuhan-machining.yaml"), "--mqtt", "mqtts://127.0.0.1:1",
                   "--mqtt-ca", str(tmp_path / "missing.pem"), "--duration", "1m")
    assert bad_ca.returncode == 2 and "Traceback" not in bad_ca.stderr
    assert f"sfsim simulate: MQTT CA file {tmp_path / 'missing.pem'}: No such file or directory" in bad_ca.stderr
    plant = tmp_path / "p.yaml"
    plant.write_text("enterprise: {id: x}\nsites: [{id: s, lines: [{id: L, machines: [{id: M, kind: lathe}]}]}]\n")
    bad_plant = sfsim("simulate", str(plant))
    assert bad_plant.returncode == 2 and "Traceback" not in bad_plant.stderr
    assert f"{plant}:2: sites[0].lines[0].machines[0].kind: unknown kind 'lathe'" in bad_plant.stderr


BAD_PLANT = "enterprise: {id: x}\nsites: [{id: s, lines: [{id: L, machines: [{id: M, kind: lathe}]}]}]\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``sfsim ARGS`` in this process (the command's own code path, without an interpreter's start): code, stderr."""
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse's usage errors
        code = e.code if isinstance(e.code, int) else 1
    return code, capsys.readouterr().err


def test_a_bad_plant_file_exits_2_from_every_command_that_reads_one(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """One convention (README, "Exit codes"): a plant file that cannot be used is input to change, exit code 2,
    whichever command read it — and each says the same file, line, path and problem, with no traceback."""
    plant = tmp_path / "plant.yaml"
    plant.write_text(BAD_PLANT, encoding="utf-8")
    collector = tmp_path / "collector.yaml"
    collector.write_text("collector: c1\nmqtt: {url: 'mqtt://broker'}\nkpi: {plant: plant.yaml}\n",
                         encoding="utf-8")
    problem = f"{plant}:2: sites[0].lines[0].machines[0].kind: unknown kind 'lathe'"
    commands = {
        "validate": ["validate", str(plant)],
        "validate, a good plant beside it": ["validate", str(EXAMPLES / "wuhan-machining.yaml"), str(plant)],
        "simulate": ["simulate", str(plant)],
        "simulate, serving": ["simulate", str(plant), "--opcua", "--opcua-port", str(free_port())],
        "demo": ["demo", str(plant), "--out", str(tmp_path / "demo")],
        "assess": ["assess", str(plant), "--data", str(tmp_path)],
        "collect --check": ["collect", "--config", str(collector), "--check"],
        "collect": ["collect", "--config", str(collector)],
    }
    for name, args in commands.items():
        code, err = run(capsys, *args)
        assert code == Exit.INPUT == 2, (name, code, err)
        assert problem in err and "Traceback" not in err, (name, err)
    assert not (tmp_path / "demo").exists()  # nothing was started


def test_every_command_exits_2_for_unusable_input_and_1_when_what_it_needs_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plant = str(EXAMPLES / "wuhan-machining.yaml")
    (tmp_path / "empty").mkdir()
    nothing = f"http://127.0.0.1:{free_port()}"  # a server that is not there
    (tmp_path / "ledger.csv").write_bytes(b"\xff\xfe\x00")
    exists = tmp_path / "exists.yaml"
    exists.write_text("", encoding="utf-8")
    expected = {
        ("simulate",): (Exit.INPUT, "the following arguments are required: PLANT"),
        ("simulate", plant, "--speed", "fast"): (Exit.INPUT, "argument --speed"),
        ("validate", str(tmp_path / "missing.yaml")): (Exit.INPUT, "missing.yaml: no such file"),
        ("ledger", "import", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "p.yaml")):
            (Exit.INPUT, "missing.csv: cannot read"),
        ("ledger", "import", str(tmp_path / "ledger.csv"), "--out", str(exists)):
            (Exit.INPUT, "already exists; pass --force"),
        ("demo", "--duration", "soon", "--out", str(tmp_path / "demo")): (Exit.INPUT, "sfsim demo: --duration"),
        ("edge", "--config", str(tmp_path / "missing.yaml"), "--check"): (Exit.INPUT, "missing.yaml"),
        ("collect", "--config", str(tmp_path / "missing.yaml")): (Exit.INPUT, "missing.yaml"),
        ("assess", plant, "--data", str(tmp_path / "missing")): (Exit.INPUT, "--data"),
        ("assess", plant, "--data", str(tmp_path), "--from", "monday"): (Exit.INPUT, "--from 'monday'"),
        ("assess", plant, "--influx", "ftp://influx"): (Exit.INPUT, "--influx: expected http://"),
        ("assess", plant, "--data", str(tmp_path / "empty")): (Exit.FAILED, "no line protocol files"),
        ("assess", plant, "--influx", nothing): (Exit.FAILED, "Connection refused"),
        ("dashboards", "push", "--grafana-url", "grafana:3000", "--token", "t0ken"): (Exit.INPUT, "--grafana-url"),
        ("dashboards", "push", "--grafana-url", nothing, "--token", "t0ken"): (Exit.FAILED, "folder"),
        ("simulate", plant, "--control"): (Exit.INPUT, "--control needs --mqtt (the broker's control topic) or "
                                                       "--opcua"),
        ("simulate", plant, "--opcua", "--opcua-operator", "teacher:pw"):
            (Exit.INPUT, "--opcua-operator needs --opcua and --control"),
        ("simulate", plant, "--opcua", "--control", "--opcua-operator", "teacher"):
            (Exit.INPUT, "--opcua-operator expects USER:PASSWORD, got 'teacher'"),
        ("simulate", plant, "--opcua", "--control", "--opcua-user", "t:a", "--opcua-operator", "t:b"):
            (Exit.INPUT, "user t is given twice with different passwords"),
        ("demo", "--opcua-operator", "teacher:pw", "--out", str(tmp_path / "demo")):
            (Exit.INPUT, "--opcua-operator needs --control"),
        ("inject", "WH-C01", "breakdown"): (Exit.INPUT, "give one of --mqtt URL"),
        ("inject", "--opcua", "http://127.0.0.1:4840", "WH-C01", "breakdown"):
            (Exit.INPUT, "--opcua expects opc.tcp://[user:password@]host[:port][/path]"),
        ("inject", "--opcua", "opc.tcp://127.0.0.1:4840"): (Exit.INPUT, "missing target, kind"),
        ("inject", "--opcua", f"opc.tcp://t:s3cret-pw@127.0.0.1:{free_port()}", "WH-C01", "breakdown",
         "--timeout", "2"): (Exit.FAILED, "cannot connect to opc.tcp://***@127.0.0.1:"),
    }
    for args, (code, says) in expected.items():
        got, err = run(capsys, *args)
        assert (got, says in err, "Traceback" in err) == (code, True, False), (args, got, err)
    assert not (tmp_path / "demo").exists() and exists.read_text(encoding="utf-8") == ""


def test_version() -> None:
    done = sfsim("--version")
    assert done.returncode == 0 and done.stdout.startswith("sfsim ")


OFFLINE = {
    "sfsim/v1/wuhan-auto-parts/wuhan-edz/welding/axle-weld/WH-P01/status": "offline",
    "sfsim/v1/wuhan-auto-parts/wuhan-edz/welding/axle-weld/WH-R01/status": "offline",
}


@pytest.mark.integration
def test_serving_until_ctrl_c_leaves_machines_offline(mosquitto: Mosquitto) -> None:
    serve = serve_wuhan(mosquitto)
    serve.send_signal(signal.SIGINT)
    out, err = serve.communicate(timeout=30)
    assert serve.returncode == 130, err
    assert "OPC UA  opc.tcp://127.0.0.1:" in err and f"MQTT    {mosquitto.url}" in err
    assert "(interrupted)" in out and "产线汇总 Line summary" in out
    assert retained_statuses(mosquitto) == OFFLINE


@pytest.mark.integration
def test_a_killed_simulator_is_reported_offline_by_its_last_will(mosquitto: Mosquitto) -> None:
    serve = serve_wuhan(mosquitto)
    serve.kill()  # no goodbye: the broker publishes each machine's will after the keepalive lapses
    serve.communicate(timeout=10)
    deadline = time.monotonic() + 60
    while retained_statuses(mosquitto) != OFFLINE:
        assert time.monotonic() < deadline, retained_statuses(mosquitto)
        time.sleep(0.5)


@pytest.mark.integration
def test_an_announced_opcua_endpoint_accepts_connections_at_once() -> None:
    """Scripts wait for the endpoint line and connect: the server must be listening by then."""
    import socket
    import urllib.parse

    serve = subprocess.Popen(
        [sys.executable, "-m", "sfsim", "simulate", str(EXAMPLES / "hangzhou-electronics.yaml"), "--opcua",
         "--opcua-port", str(free_ports(3)), "--opcua-per", "line", "--speed", "60"],  # a port per line
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stderr is not None
        announced, said = [], []
        for line in serve.stderr:
            said.append(line)
            if line.startswith("OPC UA  "):
                endpoint = line.split()[2]
                with socket.socket() as s:  # one try, straight after the line: no waiting, no retry
                    port = urllib.parse.urlsplit(endpoint).port
                    assert s.connect_ex(("127.0.0.1", port)) == 0, f"{endpoint} announced before it listens"
                announced.append(endpoint)
                if len(announced) == 3:  # three lines in the Hangzhou plant
                    break
        assert len(announced) == 3, "".join(said)
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=30)


@pytest.mark.integration
def test_a_served_runs_final_counters_reach_a_bridging_gateway(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """`sfsim simulate --opcua --duration` ends only after subscribers took the last values (a gateway with the
    default publishing interval, in a process of its own), so the counters it publishes last are the truth's."""
    port = free_port()
    sub = Subscriber(mosquitto, tmp_path)
    gateway = edge(tmp_path, mosquitto, port, publishing_interval="500ms")
    truth = tmp_path / "truth.json"
    server = simulate(tmp_path, port, "--duration", "2h", "--speed", "900", "--start", "2026-01-05T08:00+08:00",
                      "--truth", str(truth))
    gateway.start()
    server.start()
    try:
        assert server.proc is not None and server.proc.wait(60) == 0, server.text()
        runs = {m["path"]: m["run"] for m in json.loads(truth.read_text(encoding="utf-8"))["machines"]}

        def last_counters() -> dict[str, tuple[int, int, int, int]]:
            newest: dict[str, dict[str, Any]] = {}
            for path, c in sub.messages("counters"):
                if c["ts"] >= newest.get(path, {"ts": -1})["ts"]:
                    newest[path] = c
            return {p: (c["total"], c["good"], c["scrap"], c["rework"]) for p, c in newest.items()}

        expected = {p: (runs[p]["PQ"], runs[p]["GQ"], runs[p]["SQ"], runs[p]["RQ"]) for p in MACHINES}
        assert all(total > 0 for total, *_ in expected.values())
        # what the gateway took in before the server went, it forwards: nothing more can come
        with contextlib.suppress(AssertionError):
            wait_for("the final counters", lambda: last_counters() == expected, 10)
        assert last_counters() == expected
    finally:
        gateway.stop()
        sub.stop()


@pytest.mark.integration
def test_a_broker_outage_leaves_no_unretrieved_exception(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Mosquitto killed outright and started again while `sfsim simulate --mqtt` serves: the machines come back,
    and nothing is left in asyncio's "Future exception was never retrieved" log."""
    err = tmp_path / "simulate.err"
    with err.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "sfsim", "simulate", str(EXAMPLES / "wuhan-machining.yaml"), "--mqtt", mosquitto.url,
             "--speed", "60", "--start", "2026-01-05T08:00+08:00"], stdout=subprocess.DEVNULL, stderr=out)
    try:
        deadline = time.monotonic() + 20
        while set(retained_statuses(mosquitto).values()) != {"online"} or len(retained_statuses(mosquitto)) < 2:
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.3)
        assert mosquitto.proc is not None
        mosquitto.proc.kill()  # no goodbye to the clients: their connections break
        mosquitto.proc.wait(10)
        mosquitto.proc = None
        time.sleep(3)  # publishes fail, sessions retry
        mosquitto.start()
        # both machines publish again (-R: not the retained messages the broker kept)
        fresh = subprocess.run([find_program("mosquitto_sub", "mosquitto-clients"), "-p", str(mosquitto.port),
                                "-t", "sfsim/v1/+/+/+/+/+/counters", "-v", "-R", "-C", "6", "-W", "30"],
                               capture_output=True, text=True, check=False).stdout
        assert len({line.split(" ", 1)[0] for line in fresh.splitlines()}) == 2, (fresh, err.read_text())
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(30)
    text = err.read_text()
    assert "never retrieved" not in text and "Traceback" not in text, text
