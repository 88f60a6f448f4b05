"""``sfsim edge``: its configuration (file and environment), the exact errors a user sees, and the command itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge import Field, load_edge_config
from shopfloor.config import ConfigError

from .conftest import EXAMPLES
from .processes import retained_statuses, serve_wuhan, sfsim
from .servers import Mosquitto, find_program, free_port


def issues(path: Path | None, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_edge_config(path, environ or {})
    return [str(i) for i in caught.value.issues]


def test_the_example_configurations_load() -> None:
    wuhan = load_edge_config(EXAMPLES / "edge" / "wuhan.yaml", {})
    assert wuhan.gateway == "edge-wuhan" and wuhan.mqtt.url == "mqtt://127.0.0.1:1883"
    (endpoint,) = wuhan.endpoints
    assert endpoint.discover and endpoint.publishing_interval_s == 0.5
    retrofit = load_edge_config(EXAMPLES / "edge" / "retrofit-node-map.yaml", {})
    (endpoint,) = retrofit.endpoints
    assert not endpoint.discover and endpoint.security == "sign-encrypt" and endpoint.deadband == 0.5
    lathe, press = endpoint.machines
    assert lathe.path == "wuhan-auto-parts/wuhan-edz/machining/brake-disc/WH-L01"
    assert lathe.nameplate["name"] == {"zh": "普通车床 粗车", "en": "rough turning lathe"}
    assert lathe.nameplate["signals"] == ["spindle_load_pct"]
    (state,) = [p for p in lathe.points if p.field is Field.STATE]
    assert state.states == {0: 32, 1: 0, 2: 10, 3: 20, 4: 1}  # no_shift, producing, breakdown, starved, setup
    assert {p.field for p in press.points} == {Field.REASON, Field.PRODUCT, Field.TOTAL, Field.SCRAP, Field.ENERGY,
                                                Field.SIGNAL}
    assert "change-me" not in repr(retrofit)  # secrets stay out of reprs and logs


def test_every_problem_in_a_config_file_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "plant.yaml").write_text((EXAMPLES / "wuhan-machining.yaml").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    bad = tmp_path / "edge.yaml"
    bad.write_text(
        "gateway: edge 1\n"
        "mqtt:\n"
        "  url: http://broker\n"
        "  qos: 3\n"
        "spool: {max_messages: 0}\n"
        "health_interval: soon\n"
        "endpoints:\n"
        "  - url: opc.tcp://plc:4840\n"
        "    security: sign_encrypt\n"
        "    publishing_interval: -1s\n"
        "    sesions: 2\n"
        "  - url: opc.tcp://plc:4840\n"
        "  - url: tcp://plc\n"
        "    plant: plant.yaml\n"
        "    machines:\n"
        "      - machine: WH-L99\n"
        "      - machine: WH-L01\n"
        "        state: {node: Lathe.RunState, states: {1: running}}\n"
        "        counters: {good: 'ns=2;s=x'}\n"
        "  - url: opc.tcp://plc2:4840\n"
        "    machines: [{machine: WH-L01, reason: 'ns=2;i=7'}]\n",
        encoding="utf-8",
    )
    f = str(bad)
    assert issues(bad) == [
        f"{f}:1: gateway: must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, got 'edge 1'",
        f"{f}:3: mqtt.url: MQTT URL 'http://broker': expected mqtt://host[:port] or mqtts://host[:port]",
        f"{f}:4: mqtt.qos: the gateway publishes with MQTT QoS 0 or 1, got 3",
        f"{f}:5: spool.max_messages: must be at least 1, got 0",
        f"{f}:6: health_interval: expected a duration such as 45, 45s, 30m, 1h30m, 8h or 7d (a bare number is "
        "seconds), got 'soon'",
        f"{f}:9: endpoints[0].security: unknown security 'sign_encrypt' (did you mean 'sign-encrypt'?); expected one "
        "of: none, sign, sign-encrypt",
        f"{f}:10: endpoints[0].publishing_interval: must be a positive duration, got '-1s'",
        f"{f}:11: endpoints[0].sesions: unknown field 'sesions' (did you mean 'sessions'?)",
        f"{f}:12: endpoints[1].url: opc.tcp://plc:4840 is already endpoints[0]; use sessions to open several "
        "sessions to one server",
        f"{f}:13: endpoints[2].url: expected opc.tcp://host[:port][/path], got 'tcp://plc'",
        f"{f}:16: endpoints[2].machines[0].machine: no machine 'WH-L99' in {tmp_path / 'plant.yaml'}",
        f"{f}:18: endpoints[2].machines[1].state.node: expected an OPC UA node id such as 'ns=2;s=Press1.Count', "
        "'ns=3;i=1001' or 'nsu=urn:vendor:plc;s=Count', got 'Lathe.RunState'",
        f"{f}:18: endpoints[2].machines[1].state.states.1: unknown stop reason 'running'; expected a code or one of: "
        "producing, setup, breakdown, micro_stop, quality_hold, starved, blocked, no_order, no_operator, "
        "planned_break, planned_maintenance, no_shift",
        f"{f}:19: endpoints[2].machines[1].counters: counters need at least total (good, scrap, rework, energy_kwh "
        "and ideal_s are optional)",
        f"{f}:20: endpoints[3].plant: a node map needs the plant file that names its machines (plant: FILE)",
    ]


def test_settings_come_from_the_environment_for_containers(tmp_path: Path) -> None:
    env = {"SFSIM_EDGE_ID": "edge-7", "SFSIM_EDGE_MQTT_URL": "mqtts://broker:8883", "SFSIM_EDGE_MQTT_USERNAME": "gw",
           "SFSIM_EDGE_MQTT_PASSWORD": "pw", "SFSIM_EDGE_OPCUA_ENDPOINTS": "opc.tcp://a:4840, opc.tcp://b:4841/x",
           "SFSIM_EDGE_OPCUA_SECURITY": "sign", "SFSIM_EDGE_OPCUA_USERNAME": "edge",
           "SFSIM_EDGE_OPCUA_PASSWORD": "s3cret", "SFSIM_EDGE_SPOOL_DIR": str(tmp_path / "spool"),
           "SFSIM_EDGE_SHARD": "1/3"}
    config = load_edge_config(None, env)
    assert config.shard == (1, 3) and config.name == "edge-7-1"  # the client ids, health topic and spool file
    assert (config.gateway, config.mqtt.url, config.mqtt.username, config.mqtt.password) == (
        "edge-7", "mqtts://broker:8883", "gw", "pw")
    assert [(e.url, e.security, e.username, e.password) for e in config.endpoints] == [
        ("opc.tcp://a:4840", "sign", "edge", "s3cret"), ("opc.tcp://b:4841/x", "sign", "edge", "s3cret")]
    assert config.spool_dir == tmp_path / "spool"
    # the environment wins over the file
    file = tmp_path / "edge.yaml"
    file.write_text("mqtt: {url: 'mqtt://file:1883'}\nendpoints: [{url: 'opc.tcp://file:4840'}]\n", encoding="utf-8")
    assert load_edge_config(file, {"SFSIM_EDGE_MQTT_URL": "mqtt://env:1884"}).mqtt.url == "mqtt://env:1884"
    # a bad value names its variable
    assert issues(None, {"SFSIM_EDGE_MQTT_URL": "mqtt://x:99999",
                         "SFSIM_EDGE_OPCUA_ENDPOINTS": "opc.tcp://a:4840,http://b",
                         "SFSIM_EDGE_OPCUA_SECURITY": "strong", "SFSIM_EDGE_SHARD": "2/2"}) == [
        "environment: SFSIM_EDGE_SHARD: expected K/N with 0 <= K < N, e.g. 0/2, got '2/2'",
        "environment: SFSIM_EDGE_MQTT_URL: MQTT URL 'mqtt://x:99999': the port is not a number from 1 to 65535",
        "environment: SFSIM_EDGE_OPCUA_SECURITY: unknown security 'strong'; expected one of: none, sign, sign-encrypt",
        "environment: SFSIM_EDGE_OPCUA_ENDPOINTS: expected opc.tcp://host[:port][/path], got 'http://b'",
    ]
    assert issues(None) == [
        "environment: mqtt.url: missing required field (or set SFSIM_EDGE_MQTT_URL)",
        "environment: endpoints: missing: list at least one OPC UA endpoint (or set SFSIM_EDGE_OPCUA_ENDPOINTS)",
    ]


@pytest.mark.slow  # three `sfsim` processes, one retrying for 3 s: seconds
def test_a_malformed_config_exits_2_and_an_unreachable_endpoint_does_not(tmp_path: Path) -> None:
    bad = tmp_path / "edge.yaml"
    bad.write_text("mqtt: {url: 'mqtt://127.0.0.1:1'}\nendpoints: [{url: 'opc.tcp://127.0.0.1:1', queue: 5}]\n",
                   encoding="utf-8")
    done = sfsim("edge", "--config", str(bad))
    assert done.returncode == 2
    assert done.stderr == f"{bad}:2: endpoints[0].queue: unknown field 'queue' (did you mean 'queue_size'?)\n"
    good = tmp_path / "good.yaml"
    good.write_text(f"mqtt: {{url: 'mqtt://127.0.0.1:{free_port()}'}}\n"
                    f"spool: {{dir: spool}}\nendpoints: [{{url: 'opc.tcp://127.0.0.1:{free_port()}'}}]\n",
                    encoding="utf-8")
    assert sfsim("edge", "--config", str(good), "--check").returncode == 0
    # nothing listens anywhere: the gateway keeps trying and says so, until it is told to stop
    gateway = subprocess.Popen([sys.executable, "-m", "sfsim", "edge", "--config", str(good)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    assert gateway.poll() is None
    gateway.send_signal(signal.SIGTERM)
    _, err = gateway.communicate(timeout=30)
    assert gateway.returncode == 0
    assert "connection refused (is the server running, is the port right?); retrying in about" in err


@pytest.mark.integration
def test_sfsim_edge_bridges_sfsim_simulate(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The README's pair of commands: a simulator serving OPC UA, a gateway bridging it to the broker."""
    serve = serve_wuhan(mosquitto)  # Wuhan: MQTT-native machines online, OPC UA served on a free port
    try:
        endpoint = next(line.split()[2] for line in _lines_until(serve, "OPC UA  "))
        env = {**os.environ, "SFSIM_EDGE_MQTT_URL": mosquitto.url, "SFSIM_EDGE_OPCUA_ENDPOINTS": endpoint,
               "SFSIM_EDGE_SPOOL_DIR": str(tmp_path / "spool"), "SFSIM_EDGE_ID": "edge-cli"}
        gateway = subprocess.Popen([sys.executable, "-m", "sfsim", "edge"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while sum(s == "online" for s in retained_statuses(mosquitto).values()) < 5:  # 2 native + 3 bridged
            assert time.monotonic() < deadline and gateway.poll() is None, retained_statuses(mosquitto)
            time.sleep(0.3)
        gateway.send_signal(signal.SIGTERM)
        _, err = gateway.communicate(timeout=30)
        assert gateway.returncode == 0, err
        assert f"edge edge-cli: 1 OPC UA endpoint(s) → {mosquitto.url}" in err
        statuses = retained_statuses(mosquitto)
        bridged = {t: s for t, s in statuses.items() if "/machining/" in t}
        assert sorted(t.split("/")[-2] for t in bridged) == ["WH-C01", "WH-M01", "WH-M02"]
        assert set(bridged.values()) == {"offline"}  # the gateway said goodbye for its machines
        health = subprocess.run([find_program("mosquitto_sub", "mosquitto-clients"), "-p", str(mosquitto.port),
                                 "-t", "sfsim/v1/_gateway/+/health", "-W", "1"], capture_output=True, text=True,
                                check=False).stdout
        last = json.loads(health.splitlines()[0])
        assert last["gateway"] == "edge-cli" and last["status"] == "offline" and last["counts"]["published"] > 0
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=30)


def _lines_until(proc: subprocess.Popen[str], marker: str) -> list[str]:
    assert proc.stderr is not None
    seen = []
    while True:
        line = proc.stderr.readline()
        assert line, "the simulator ended before printing " + marker
        seen.append(line)
        if line.startswith(marker):
            return [line]
