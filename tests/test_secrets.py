"""Secrets appear in no log line at any level, whichever library writes the line.

The real processes run at ``-v`` (and with the libraries' own debug messages): the simulator serving OPC UA
with a user and MQTT with a password, ``sfsim edge`` logging in to both, and ``sfsim collect`` writing to an
InfluxDB that wants a password (1.x API) or a token (2.x API). Passwords and tokens come from config files,
from URLs (one percent-encoded) and from environment variables; every line each process wrote is searched
for every secret.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from .conftest import EXAMPLES
from .servers import InfluxDB, Mosquitto, V2Shim, free_port

OPC_PASSWORD = "opc-Pw-4b1d9e"
SIM_MQTT_PASSWORD = "sim-mqtt-Pw-77c2"
EDGE_MQTT_PASSWORD = "edge/mqtt@Pw:5e0f"  # given in a URL, percent-encoded
COLLECTOR_MQTT_PASSWORD = "coll-mqtt-Pw-a41f"
INFLUX_ADMIN_PASSWORD = "influx-admin-Pw-0c3a"
INFLUX_PASSWORD = "influx-writer-Pw-93be"
INFLUX_TOKEN = f"writer:{INFLUX_PASSWORD}"  # what a 1.x server takes as a 2.x token (servers.V2Shim)
SECRETS = (OPC_PASSWORD, SIM_MQTT_PASSWORD, EDGE_MQTT_PASSWORD, quote(EDGE_MQTT_PASSWORD, safe=""),
           COLLECTOR_MQTT_PASSWORD, INFLUX_ADMIN_PASSWORD, INFLUX_PASSWORD, INFLUX_TOKEN)


def start(args: list[str], log: Path, environ: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``sfsim ARGS`` in the log's folder, everything it writes going to the log."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "sfsim", *args], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(environ or {})}, cwd=log.parent)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.integration
@pytest.mark.parametrize("verbosity", [["-v"], ["-v", "--debug-libraries"]], ids=["verbose", "libraries"])
def test_no_secret_reaches_a_log_line(tmp_path: Path, verbosity: list[str]) -> None:
    (tmp_path / "mqtt").mkdir()
    broker = Mosquitto(tmp_path / "mqtt", users={"sim": SIM_MQTT_PASSWORD, "edge": EDGE_MQTT_PASSWORD,
                                                 "collector": COLLECTOR_MQTT_PASSWORD})
    influx = InfluxDB(tmp_path / "influxdb", admin=("admin", INFLUX_ADMIN_PASSWORD))
    broker.start()
    influx.start()
    shim = V2Shim(influx)
    influx.execute(f"CREATE USER writer WITH PASSWORD '{INFLUX_PASSWORD}'")
    for database in ("factory", "bucket"):
        influx.execute(f'CREATE DATABASE "{database}"')
        influx.execute(f'GRANT ALL ON "{database}" TO writer')
    opc_port = free_port()
    (tmp_path / "edge.yaml").write_text(
        "gateway: edge-1\n"
        f"mqtt: {{url: 'mqtt://edge:{quote(EDGE_MQTT_PASSWORD, safe='')}@127.0.0.1:{broker.port}'}}\n"
        "spool: {dir: edge-spool}\n"
        f"endpoints: [{{url: 'opc.tcp://127.0.0.1:{opc_port}/sfsim/wuhan-edz', username: edge}}]\n",
        encoding="utf-8")
    (tmp_path / "collector-v1.yaml").write_text(
        "collector: collector-v1\n"
        "mqtt: {max_ahead: none}\n"  # the simulation runs at 120x from now: ahead of the clock
        f"store: {{kind: influxdb-v1, url: '{influx.url}', username: writer, password: '{INFLUX_PASSWORD}', "
        "create_database: false}\n"
        "spool: {dir: spool-v1}\n"
        "dead_letter: {file: dead-v1.jsonl}\n"
        f"kpi: {{plant: '{EXAMPLES / 'wuhan-machining.yaml'}', interval: 1s}}\n", encoding="utf-8")
    (tmp_path / "collector-v2.yaml").write_text(
        "collector: collector-v2\n"
        f"mqtt: {{url: 'mqtt://collector@127.0.0.1:{broker.port}', password: '{COLLECTOR_MQTT_PASSWORD}', "
        "max_ahead: none}\n"
        f"store: {{kind: influxdb-v2, url: '{shim.url}', org: sfsim, bucket: bucket}}\n"
        "spool: {dir: spool-v2}\n"
        "dead_letter: {file: dead-v2.jsonl}\n"
        "kpi: {enabled: false}\n", encoding="utf-8")
    logs = {name: tmp_path / f"{name}.log" for name in ("simulate", "edge", "collect-v1", "collect-v2")}
    processes = [
        start([*verbosity, "collect", "--config", "collector-v1.yaml"], logs["collect-v1"],
              {"SFSIM_COLLECTOR_MQTT_URL": f"mqtt://collector:{COLLECTOR_MQTT_PASSWORD}@127.0.0.1:{broker.port}"}),
        start([*verbosity, "collect", "--config", "collector-v2.yaml"], logs["collect-v2"],
              {"SFSIM_COLLECTOR_STORE_TOKEN": INFLUX_TOKEN}),
        start([*verbosity, "simulate", str(EXAMPLES / "wuhan-machining.yaml"), "--speed", "120",
               "--opcua", "--opcua-port", str(opc_port), "--opcua-user", f"edge:{OPC_PASSWORD}",
               "--mqtt", f"mqtt://sim:{SIM_MQTT_PASSWORD}@127.0.0.1:{broker.port}"], logs["simulate"]),
        start([*verbosity, "edge", "--config", "edge.yaml"], logs["edge"], {"SFSIM_EDGE_OPCUA_PASSWORD": OPC_PASSWORD}),
    ]

    def machines_stored(database: str) -> int:
        return len(influx.rows('SELECT count("reason_code") FROM "state" GROUP BY "machine"', database=database))

    try:
        deadline = time.monotonic() + 60
        # both collectors store the states of the five networked machines: through the edge (OPC UA) and MQTT
        while min(machines_stored("factory"), machines_stored("bucket")) < 5:
            tails = {name: path.read_text(errors="replace")[-3000:] for name, path in logs.items()}
            assert time.monotonic() < deadline, tails
            assert all(p.poll() is None for p in processes), tails
            time.sleep(0.5)
    finally:
        for process in reversed(processes):
            stop(process)
        shim.close()
        influx.stop()
        broker.stop()
    texts = {name: path.read_text(encoding="utf-8", errors="replace") for name, path in logs.items()}
    for name, text in texts.items():
        assert re.search(r" (DEBUG|INFO) ", text), f"{name} wrote no log line"
        for secret in SECRETS:
            assert secret not in text, f"{name} logged the secret {secret!r}"
    libraries = [line for line in texts["edge"].splitlines() if " DEBUG asyncua" in line]
    if "--debug-libraries" in verbosity:
        # the libraries' debug lines are there (asyncua's, and every process's asyncio), what they carried redacted
        assert all(" DEBUG asyncio" in text for text in texts.values())
        assert any("ActivateSessionRequest" in line and "Password=***" in line for line in libraries)
    else:
        assert not libraries, libraries[:3]  # the libraries stay at WARNING under -v alone


@pytest.mark.integration
def test_a_dashboards_push_that_fails_names_no_token(tmp_path: Path) -> None:
    """The Grafana token, a Grafana URL's userinfo and the InfluxDB credentials of the datasource, at DEBUG
    with every library's messages, against a port where nothing listens."""
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "sfsim", "-v", "--debug-libraries", "dashboards", "push",
         "--grafana-url", f"http://admin:grafana-Pw-61d0@127.0.0.1:{port}", "--token", "glsa_Token_7f3e",
         "--influx-username", "grafana", "--influx-password", "influx-Pw-2b8c"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "SFSIM_INFLUX_TOKEN": "influx-Token-e91a"},
        check=False)
    assert done.returncode == 1 and "Connection refused" in done.stderr, done.stderr
    assert f"http://***@127.0.0.1:{port}" in done.stderr
    for secret in ("grafana-Pw-61d0", "glsa_Token_7f3e", "influx-Pw-2b8c", "influx-Token-e91a"):
        assert secret not in done.stdout + done.stderr, secret
