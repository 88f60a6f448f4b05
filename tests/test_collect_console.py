"""``sfsim collect --web-port``: the live console served by a running collector, from its plant files' register or
from the births it has read (a real Mosquitto, the simulator's MQTT machines and collectors as processes)."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopfloor import Protocol, load_plant

from .processes import WUHAN, Process, sfsim, wait_for
from .servers import Mosquitto

WUHAN_PLANT = load_plant(WUHAN)
#: the Wuhan machines that publish over MQTT themselves (``sfsim simulate --mqtt`` serves them)
MQTT = {at.path: at.machine for at in WUHAN_PLANT.machines()
        if at.machine.networked and at.machine.protocol is Protocol.MQTT}


def collector_config(tmp_path: Path, name: str, broker: Mosquitto, plant: Path | None) -> Path:
    path = tmp_path / f"{name}.yaml"
    register = f"plant: '{plant}', " if plant is not None else ""
    path.write_text(f"""
collector: {name}
mqtt: {{url: "{broker.url}"}}
store: {{kind: files, directory: "{tmp_path / name}-data"}}
spool: {{dir: "{tmp_path / name}-spool"}}
dead_letter: {{file: "{tmp_path / name}-dead.jsonl", topic: false}}
kpi: {{{register}interval: 1s}}
""", encoding="utf-8")
    return path


def console_url(process: Process) -> str:
    found: list[str] = []

    def announced() -> bool:
        found[:] = re.findall(r"web console 网页控制台: (http://\S+)", process.text())
        return bool(found)
    wait_for(f"{process.log.stem} announcing its console", announced, 30, process.log)
    return found[0]


def subscribing(collector: Process) -> bool:
    return "subscribing to" in collector.text()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.headers["content-type"].startswith("application/json")
        return json.loads(answer.read())


def machines(fleet: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["path"]: m for site in fleet["sites"] for line in site["lines"] for m in line["machines"]}


@contextlib.contextmanager
def simulating(broker: Mosquitto, tmp_path: Path) -> Iterator[None]:
    """Wuhan's MQTT machines publishing on ``broker``, at 60 times real time from a past morning: a state changes
    every few seconds, and the timestamps stay behind the wall clock (the collector refuses them far ahead)."""
    simulate = Process("simulate", ["simulate", str(WUHAN), "--mqtt", broker.url, "--speed", "60",
                                    "--start", "2026-01-05T08:00+08:00"], tmp_path)
    simulate.start()
    try:
        yield
    finally:
        simulate.stop()


@pytest.mark.integration
def test_a_collector_serves_the_console_of_its_register_and_of_the_machines_it_knows_from_births(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    registered = Process("registered", ["collect", "--config", str(collector_config(tmp_path, "registered", mosquitto,
                                                                                      WUHAN)), "--web-port", "0"],
                         tmp_path)
    births = Process("births", ["collect", "--config", str(collector_config(tmp_path, "births", mosquitto, None)),
                                "--web-port", "0"], tmp_path)
    registered.start()
    births.start()
    stack = contextlib.ExitStack()
    try:
        with_plant, without = console_url(registered), console_url(births)
        for collector in (registered, births):  # subscribed before the machines' first states are published
            wait_for(f"{collector.log.stem} subscribing", functools.partial(subscribing, collector), 30, collector.log)
        stack.enter_context(simulating(mosquitto, tmp_path))
        with urllib.request.urlopen(with_plant, timeout=10) as page:
            assert b'src="/static/console.js"' in page.read()

        def live(url: str) -> bool:
            shown = machines(get_json(url + "api/fleet"))
            return all(shown.get(p, {}).get("condition", {}).get("key") not in (None, "no_state") for p in MQTT)
        wait_for("every MQTT machine's state on both consoles", lambda: live(with_plant) and live(without), 60,
                 registered.log, births.log)

        # the plant file's register: every machine of the plant, the silent ones saying so
        fleet = get_json(with_plant + "api/fleet")
        shown = machines(fleet)
        assert set(shown) == {at.path for at in WUHAN_PLANT.machines()}
        for at in WUHAN_PLANT.machines():
            assert shown[at.path]["name"] == {"zh": at.machine.name.zh, "en": at.machine.name.en}
            if not at.machine.networked:
                assert shown[at.path]["condition"]["key"] == "not_networked"
        assert [s["path"] for s in fleet["sites"]] == [f"{WUHAN_PLANT.enterprise.id}/{s.id}" for s in WUHAN_PLANT.sites]
        assert fleet["now_ms"] > 0

        # no plant file: the machines the births told of, with their names, kinds and lines
        fleet = get_json(without + "api/fleet")
        shown = machines(fleet)
        assert set(shown) == set(MQTT)
        for path, machine in MQTT.items():
            assert shown[path]["name"] == {"zh": machine.name.zh, "en": machine.name.en}
            assert shown[path]["networked"] is True
            assert shown[path]["kind"]["en"]
        lines = {line["path"]: line for site in fleet["sites"] for line in site["lines"]}
        assert set(lines) == {p.rsplit("/", 1)[0] for p in MQTT}
        for line in lines.values():  # the constraint the engine measures: the longest ideal cycle
            cycles = {m["id"]: sum(MQTT[m["path"]].cycle_time_s.values()) / len(MQTT[m["path"]].cycle_time_s)
                      for m in line["machines"]}
            assert cycles[line["constraint"]] == max(cycles.values())

        # no teacher controls on a collector's console
        request = urllib.request.Request(with_plant + "api/teacher/pause", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code in (404, 405)
    finally:
        stack.close()
        assert registered.stop() == 0, registered.text()
        assert births.stop() == 0, births.text()


def test_a_console_needs_the_kpi_engine_and_a_free_port(tmp_path: Path) -> None:
    off = tmp_path / "off.yaml"
    off.write_text("collector: c\nmqtt: {url: 'mqtt://127.0.0.1:1'}\nkpi: {enabled: false}\n", encoding="utf-8")
    refused = sfsim("collect", "--config", str(off), "--web-port", "0")
    assert refused.returncode == 2, refused.stderr
    assert "--web-port" in refused.stderr and "kpi.enabled" in refused.stderr

    on = tmp_path / "on.yaml"
    on.write_text("collector: c\nmqtt: {url: 'mqtt://127.0.0.1:1'}\n", encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = sfsim("collect", "--config", str(on), "--web-port", str(port))
    assert busy.returncode == 2, busy.stderr
    assert f"--web-host/--web-port: the console cannot listen on 127.0.0.1:{port}" in busy.stderr
