"""The collector under trouble: InfluxDB away for 30 s, the collector killed outright, two collectors sharing.

Each run is a shift through the whole pipeline (tests/pipeline.py); whatever
happens on the way, what InfluxDB holds at the end must be the ground truth.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from collector import Collector
from shopfloor import load_plant
from simulator import Simulation

from .pipeline import (
    PLANT,
    SHIFT_S,
    CollectorProcess,
    assert_stored_as_the_truth,
    collector_config,
    process_config,
    run_pipeline,
)
from .servers import InfluxDB, Mosquitto, find_program

pytestmark = pytest.mark.integration


def test_influxdb_away_for_30_seconds_loses_nothing_and_duplicates_nothing(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    async def outage(sim: Simulation, collectors: list[Collector], _: list[CollectorProcess]) -> None:
        await asyncio.sleep(3)
        influxdb.stop()
        await asyncio.sleep(30)
        assert collectors[0].sink.backlog > 0  # spooled meanwhile
        influxdb.start()

    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=SHIFT_S, wall_s=40, chaos=outage)
    assert_stored_as_the_truth(run, influxdb)
    c = run.collectors[0].counts
    assert c["batches_spooled"] > 0 and c["batches_replayed"] == c["batches_spooled"]
    assert c["invalid"] == 0 and c["seq_missing"] == 0 and c["batches_rejected"] == 0


def test_a_collector_killed_outright_resumes_from_its_session_and_spool(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    process = CollectorProcess(process_config(mosquitto, influxdb, tmp_path), tmp_path / "collector.log")

    async def kill(sim: Simulation, _: list[Collector], processes: list[CollectorProcess]) -> None:
        await asyncio.sleep(5)
        processes[0].kill()  # SIGKILL: no goodbye, no flush
        await asyncio.sleep(3)
        processes[0].start()

    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=SHIFT_S, wall_s=15, processes=[process], chaos=kill)
    # the restarted collector got what the broker kept for its session and read the rest back from InfluxDB
    assert_stored_as_the_truth(run, influxdb)
    log = process.log.read_text()
    assert "restored" in log
    # the restarted collector heard the retained births of sessions under way: not one message is called missing
    counted = [line for line in log.splitlines() if "missing by seq" in line]
    assert counted and counted[-1].endswith(" 0 missing by seq"), counted[-1:]


def test_two_collectors_on_a_shared_subscription_store_every_message_exactly_once(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    plant = load_plant(PLANT)
    configs = [collector_config(mosquitto, influxdb, tmp_path, plant, name="a", group="g"),
               collector_config(mosquitto, influxdb, tmp_path, plant, name="b", group="g", kpi=False)]
    # a third-party subscriber in its own process counts what was published (-R: not the retained re-sends)
    sub = subprocess.Popen([find_program("mosquitto_sub", "mosquitto-clients"), "-p", str(mosquitto.port), "-h",
                            "127.0.0.1", "-t", "sfsim/v1/+/+/+/+/+/+", "-q", "1", "-R", "-v"],
                           stdout=(tmp_path / "published.txt").open("w"))
    time.sleep(0.5)
    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=SHIFT_S, wall_s=15, configs=configs)
    time.sleep(1.0)
    sub.terminate()
    sub.wait(10)
    published = (tmp_path / "published.txt").read_text(encoding="utf-8").splitlines()
    a, b = (c.counts for c in run.collectors)
    assert a["received"] > 0 and b["received"] > 0  # the load was shared
    assert a["received"] + b["received"] == len(published)  # and every message went to exactly one of them
    # the KPI collector saw everything through its own subscription: its results are still the truth
    assert_stored_as_the_truth(run, influxdb)
