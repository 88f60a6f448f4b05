"""``sfsim collect|edge --check --connect``: every server tried with the configured credentials, nothing written.

Real Mosquitto (with users), a real InfluxDB 1.x with authentication (its 1.x API, and the 2.x API through
the test shim, which hands a ``USER:PASSWORD`` token on to the server's own check) and real asyncua servers
with a user; good and wrong credentials. While the checks run a subscriber watches every topic of the broker:
nothing may arrive, nothing may be left retained, no database may be created, no point written.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shopfloor import load_plant
from simulator import LiveRun, OpcUaServers, OpcUaSettings, Simulation

from .conftest import EXAMPLES
from .servers import InfluxDB, Mosquitto, V2Shim, find_program, free_port

pytestmark = pytest.mark.integration

USERS = {"collector": "mqtt-pw", "edge": "edge-pw", "watcher": "watch-pw"}


def sfsim(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sfsim", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(environ or {})}, check=False)


@contextmanager
def watching(broker: Mosquitto) -> Iterator[list[str]]:
    """Every message published on the broker while the block runs (as the lines mosquitto_sub prints)."""
    seen: list[str] = []
    sub = subprocess.Popen([find_program("mosquitto_sub", "mosquitto-clients"), "-p", str(broker.port),
                            "-u", "watcher", "-P", USERS["watcher"], "-t", "#", "-v"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield seen
    finally:
        sub.terminate()
        out, _ = sub.communicate(timeout=10)
        seen.extend(out.splitlines())


def retained(broker: Mosquitto) -> list[str]:
    done = subprocess.run([find_program("mosquitto_sub", "mosquitto-clients"), "-p", str(broker.port),
                           "-u", "watcher", "-P", USERS["watcher"], "-t", "#", "-v", "--retained-only", "-W", "2"],
                          capture_output=True, text=True, check=False)
    return done.stdout.splitlines()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    (tmp_path / "mqtt").mkdir()
    server = Mosquitto(tmp_path / "mqtt", users=USERS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secured_influxdb(tmp_path: Path) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path / "influxdb", admin=("admin", "admin-pw"))
    server.start()
    server.execute('CREATE DATABASE "factory"')
    for user, grant in (("writer", "ALL"), ("appender", "WRITE"), ("reader", "READ")):
        server.execute(f"CREATE USER {user} WITH PASSWORD '{user}-pw'")
        server.execute(f'GRANT {grant} ON "factory" TO {user}')
    yield server
    server.stop()


def collector_check(tmp_path: Path, broker: Mosquitto, store: str, *, mqtt_password: str = USERS["collector"],
                    kpi: bool = True) -> subprocess.CompletedProcess[str]:
    config = tmp_path / f"collector-{abs(hash((store, mqtt_password, kpi)))}.yaml"
    config.write_text(f"collector: c1\nmqtt: {{url: 'mqtt://collector@127.0.0.1:{broker.port}'}}\n"
                      f"store: {store}\nkpi: {{enabled: {'true' if kpi else 'false'}}}\n", encoding="utf-8")
    return sfsim("collect", "--config", str(config), "--check", "--connect",
                 environ={"SFSIM_COLLECTOR_MQTT_PASSWORD": mqtt_password})


def report(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The report's lines without the configuration line, ports and temporary paths replaced."""
    lines = done.stdout.splitlines()[1:]
    return [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line) for line in lines]


def test_the_collector_tries_the_broker_and_the_store_and_writes_nothing(
        tmp_path: Path, broker: Mosquitto, secured_influxdb: InfluxDB) -> None:
    influx = secured_influxdb
    shim = V2Shim(influx)
    v1 = f"{{kind: influxdb-v1, url: '{influx.url}'"
    v2 = f"{{kind: influxdb-v2, url: '{shim.url}', org: sfsim"
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "good": (f"{v1}, username: writer, password: writer-pw}}", {}),
        "wrong": (f"{v1}, username: writer, password: nope}}", {"mqtt_password": "nope"}),
        "appender": (f"{v1}, username: appender, password: appender-pw}}", {}),
        "appender alone": (f"{v1}, username: appender, password: appender-pw}}", {"kpi": False}),
        "reader": (f"{v1}, username: reader, password: reader-pw}}", {}),
        "missing": (f"{v1}, database: plant2, username: writer, password: writer-pw}}", {}),
        "admin": (f"{v1}, database: plant3, username: admin, password: admin-pw}}", {}),
        "token": (f"{v2}, bucket: factory, token: 'writer:writer-pw'}}", {}),
        "bad token": (f"{v2}, bucket: factory, token: 'writer:nope'}}", {}),
        "no bucket": (f"{v2}, bucket: plant4, token: 'writer:writer-pw'}}", {}),
        "files": (f"{{kind: files, directory: '{tmp_path / 'new' / 'data'}'}}", {}),
        "unreachable": (f"{{kind: influxdb-v1, url: 'http://127.0.0.1:{free_port()}'}}", {}),
    }
    try:
        with watching(broker) as published, ThreadPoolExecutor(4) as pool:
            done = dict(zip(cases, pool.map(lambda case: collector_check(tmp_path, broker, case[0], **case[1]),
                                            cases.values()), strict=True))
    finally:
        shim.close()
    good, wrong, appender, appender_alone, reader, missing, admin, token, bad_token, no_bucket, files, unreachable = (
        done.values())
    mqtt_ok = "MQTT mqtt://127.0.0.1:PORT: OK: connected as collector, MQTT 5; nothing subscribed or published"
    store = "store influxdb-v1 http://127.0.0.1:PORT"
    assert good.returncode == 0, good.stdout + good.stderr
    assert report(good) == [mqtt_ok, f"{store} (factory): OK: as writer, database factory takes writes and answers "
                                     "reads; nothing written"]
    assert wrong.returncode == 1
    assert report(wrong) == [
        "MQTT mqtt://127.0.0.1:PORT: FAILED: the broker refused the user name or password as collector "
        "(Not authorized)",
        f"{store} (factory): FAILED: the server refused the user name or password (as writer): authorization failed"]
    assert report(appender)[1] == (
        f"{store} (factory): FAILED: as appender: may write to database factory but not read it back (the KPI "
        "engine reads back after a restart): HTTP 403: error authorizing query: appender not authorized to execute "
        "statement 'SHOW MEASUREMENTS LIMIT 1', requires READ on factory")
    assert appender_alone.returncode == 0
    assert report(appender_alone)[1] == (f"{store} (factory): OK: as appender, database factory takes writes; "
                                         "nothing written")
    assert report(reader)[1] == (f"{store} (factory): FAILED: as reader: may not write to database factory: "
                                 "\"reader\" user is not authorized to write to database \"factory\"")
    assert report(missing)[1].startswith(
        f"{store} (plant2): FAILED: database plant2 does not exist, and as writer the collector may not create it "
        "(that needs an admin): error authorizing query: writer not authorized")
    assert admin.returncode == 0
    assert report(admin)[1] == (f"{store} (plant3): OK: database plant3 does not exist yet; the collector may "
                                "create it (as admin); nothing written")
    v2_store = "store influxdb-v2 http://127.0.0.1:PORT (factory)"
    assert report(token) == [mqtt_ok, f"{v2_store}: OK: the token may write to bucket factory and read it; "
                                      "nothing written"]
    assert report(bad_token)[1] == f"{v2_store}: FAILED: the server refused the token: authorization failed"
    assert report(no_bucket)[1] == ("store influxdb-v2 http://127.0.0.1:PORT (plant4): FAILED: no bucket plant4 in "
                                    "organisation sfsim: database not found: \"plant4\"")
    assert report(files)[1] == (f"store files {tmp_path / 'new' / 'data'}: OK: {tmp_path / 'new' / 'data'} will be "
                                f"created in {tmp_path}, which is writable; nothing written")
    assert unreachable.returncode == 1
    assert re.fullmatch(r"store influxdb-v1 http://127\.0\.0\.1:PORT \(factory\): FAILED: cannot connect: "
                        r".*Connection refused.*", report(unreachable)[1])
    # nothing was written anywhere
    assert published == [] and retained(broker) == []
    assert not any(influx.has_database(name) for name in ("plant2", "plant3", "plant4"))
    assert influx.query("SHOW MEASUREMENTS") == []
    assert not (tmp_path / "new").exists()
    assert not list(tmp_path.glob("**/*.sqlite")) and not (tmp_path / ".sfsim").exists()
    # each check had a clean session of its own: the broker keeps none of them
    log = (tmp_path / "mqtt" / "mosquitto.log").read_text()
    connected = re.findall(r"New client connected from \S+ as (\S+) \(p\d, c(\d)", log)
    checks = [(client, clean) for client, clean in connected if client.startswith("sfsim-check-")]
    assert len(checks) == 11 and all(clean == "1" for _, clean in checks) and "sfsim-collector-c1" not in log


def test_the_edge_tries_the_broker_and_every_endpoint_and_publishes_nothing(
        tmp_path: Path, broker: Mosquitto) -> None:
    async def main() -> list[subprocess.CompletedProcess[str]]:
        sim = Simulation(load_plant(EXAMPLES / "wuhan-machining.yaml"), seed=1)
        machines = [m for m in sim.machines if m.at.machine.protocol.value == "opcua" and m.at.machine.networked]
        servers = OpcUaServers(machines, OpcUaSettings(port=free_port(), users={"edge": "opc-pw"}))
        endpoint = servers.endpoints[0]
        edge = tmp_path / "edge.yaml"
        edge.write_text(
            f"gateway: e1\nmqtt: {{url: 'mqtt://edge@127.0.0.1:{broker.port}'}}\nspool: {{dir: spool}}\n"
            f"endpoints:\n  - {{url: '{endpoint}', username: edge}}\n"
            f"  - {{url: 'opc.tcp://127.0.0.1:{free_port()}/nothing', username: edge}}\n", encoding="utf-8")
        node_map = tmp_path / "node-map.yaml"
        (tmp_path / "plant.yaml").write_text((EXAMPLES / "wuhan-machining.yaml").read_text(encoding="utf-8"),
                                             encoding="utf-8")
        node_map.write_text(
            f"gateway: e2\nmqtt: {{url: 'mqtt://edge@127.0.0.1:{broker.port}'}}\nspool: {{dir: spool}}\n"
            f"endpoints:\n  - url: '{endpoint}'\n    username: edge\n    plant: plant.yaml\n    machines:\n"
            "      - machine: WH-C01\n"
            "        counters: {total: 'nsu=urn:sfsim:plant;s=wuhan-auto-parts/wuhan-edz/machining/brake-disc/"
            "WH-C01/Monitoring/PartsTotal'}\n", encoding="utf-8")

        async def check(config: Path, opc: str, mqtt: str) -> subprocess.CompletedProcess[str]:
            return await asyncio.to_thread(sfsim, "edge", "--config", str(config), "--check", "--connect",
                                           environ={"SFSIM_EDGE_OPCUA_PASSWORD": opc, "SFSIM_EDGE_MQTT_PASSWORD": mqtt})

        async with LiveRun(sim, [(servers, machines)]):
            return [await check(edge, "opc-pw", USERS["edge"]), await check(edge, "nope", "nope"),
                    await check(node_map, "opc-pw", USERS["edge"])]

    with watching(broker) as published:
        good, wrong, mapped = asyncio.run(main())
    assert good.returncode == 1, good.stdout + good.stderr  # the second endpoint is not there
    assert report(good) == [
        "MQTT mqtt://127.0.0.1:PORT: OK: connected as edge, MQTT 5; nothing subscribed or published",
        "OPC UA opc.tcp://127.0.0.1:PORT/sfsim/wuhan-edz: OK: 3 machine(s) found by browsing, security none, as edge; "
        "nothing subscribed",
        "OPC UA opc.tcp://127.0.0.1:PORT/nothing: FAILED: connection refused (is the server running, is the port "
        "right?)"]
    assert report(wrong)[:2] == [
        "MQTT mqtt://127.0.0.1:PORT: FAILED: the broker refused the user name or password as edge (Not authorized)",
        "OPC UA opc.tcp://127.0.0.1:PORT/sfsim/wuhan-edz: FAILED: the server refused the user name or password "
        "(BadUserAccessDenied)"]
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr
    assert report(mapped)[1] == ("OPC UA opc.tcp://127.0.0.1:PORT/sfsim/wuhan-edz: OK: 1 machine(s) of the node "
                                 "map resolved, security none, as edge; nothing subscribed")
    assert published == [] and retained(broker) == []
    assert not (tmp_path / "spool").exists()
