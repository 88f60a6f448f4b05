"""The collector under trouble: InfluxDB away for 30 s, the collector killed outright, two collectors sharing.

Each run is a shift through the whole pipeline (tests/pipeline.py); whatever
happens on the way, what InfluxDB holds at the end must be the ground truth.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collector import Collector
from simulator import Simulation

from .pipeline import (
    SHIFT_S,
    CollectorProcess,
    assert_stored_as_the_truth,
    process_config,
    run_pipeline,
)
from .servers import InfluxDB, Mosquitto

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


def test_the_broker_away_for_20_seconds_loses_nothing_and_the_missing_count_is_true(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    """Mosquitto (persistence on) stopped mid-run: the publishers keep what they could not send, the broker keeps
    the collector's plain persistent session and its subscription across its restart (a shared subscription it
    would not: docs/collector.md "Partitions"), and the store ends as an undisturbed run would."""
    async def outage(sim: Simulation, collectors: list[Collector], _: list[CollectorProcess]) -> None:
        await asyncio.sleep(5)
        await asyncio.to_thread(mosquitto.stop)
        await asyncio.sleep(20)
        await asyncio.to_thread(mosquitto.start)

    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=SHIFT_S, wall_s=40, chaos=outage)
    assert_stored_as_the_truth(run, influxdb)
    c = run.collectors[0].counts
    assert c["invalid"] == 0 and c["seq_missing"] == 0 and c["batches_rejected"] == 0
