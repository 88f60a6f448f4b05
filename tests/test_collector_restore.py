"""After a restart the engine reads back what the store holds — also what was stored after the last clock point.

A collector writes a site's clock once per KPI tick and stores telemetry all the time, so when
it is killed the store holds telemetry newer than the last clock point: acknowledged, never to
come again from the broker. The restart must restore it (the clock only says where "now" was).
"""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from collector import Engine, KpiConfig, StoreConfig, open_store
from collector._influx import Store
from collector._points import line
from collector._restore import apply_steps, read_back
from shopfloor.telemetry import CounterSample

from .servers import InfluxDB

pytestmark = pytest.mark.integration

T0 = 1_767_571_200_000
MIN = 60_000
TAGS = {"enterprise": "e", "site": "s", "area": "a", "line": "l", "machine": "m"}


def test_telemetry_stored_after_the_last_clock_point_is_restored(influxdb: InfluxDB) -> None:
    store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url))
    lines = [line("clock", {"level": "site", "enterprise": "e", "site": "s"}, {"now_ms": T0 + 10 * MIN}, T0 + 10 * MIN)]
    for minute, reason in ((0, 0), (5, 11), (6, 0), (12, 10)):  # the breakdown at 00:12: after the clock point
        lines.append(line("state", TAGS, {"reason_code": reason, "product": "P", "seq": minute}, T0 + minute * MIN))
    for minute in range(0, 14):
        lines.append(line("counters", TAGS, {"total": minute, "good": minute, "scrap": 0, "rework": 0,
                                             "energy_kwh": 0.0, "ideal_s": 60.0 * minute}, T0 + minute * MIN))
    store.write(gzip.compress(("\n".join(lines) + "\n").encode()))
    stored = read_back(store, 2 * 86400.0)
    assert stored.clocks == {"e/s": T0 + 10 * MIN}
    assert [ts for ts, _ in stored.states["e/s/a/l/m"]][-1] == T0 + 12 * MIN
    assert max(s.ts_ms for s in stored.samples["e/s/a/l/m"]) == T0 + 13 * MIN
    engine = Engine(KpiConfig())
    for _ in apply_steps(engine, stored):
        pass
    timeline = engine.machines["e/s/a/l/m"].timeline
    assert timeline.reason_at(T0 + 13 * MIN) == (10, T0 + 12 * MIN)
    assert timeline.period(T0, T0 + 13 * MIN).pq == 13
    store.close()


def test_a_restored_sample_keeps_its_own_time_so_a_redelivered_one_is_not_a_reset(influxdb: InfluxDB) -> None:
    # counters read back one per minute stand at the minute's edge — except the newest, which must stand at its
    # own time: a message stored after it in the same minute (a state here) must not move it later, or the
    # redelivered sample the killed collector never stored falls before it and reads as a counter reset
    store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url))
    lines = [line("state", TAGS, {"reason_code": 0, "product": "P", "seq": 0}, T0),
             line("state", TAGS, {"reason_code": 10, "product": "P", "seq": 1}, T0 + 13 * MIN + 40_000)]
    for minute in range(0, 14):
        lines.append(line("counters", TAGS, {"total": minute, "good": minute, "scrap": 0, "rework": 0,
                                             "energy_kwh": 0.0, "ideal_s": 60.0 * minute},
                          T0 + minute * MIN + 20_000))
    store.write(gzip.compress(("\n".join(lines) + "\n").encode()))
    stored = read_back(store, 2 * 86400.0)
    assert max(s.ts_ms for s in stored.samples["e/s/a/l/m"]) == T0 + 13 * MIN + 20_000
    engine = Engine(KpiConfig())
    for _ in apply_steps(engine, stored):
        pass
    timeline = engine.machines["e/s/a/l/m"].timeline
    timeline.add_counters(CounterSample(T0 + 13 * MIN + 30_000, 14, 14, 0, 0, 0.0, 840.0))  # redelivered
    assert timeline.period(T0, T0 + 14 * MIN).pq == 14
    store.close()


class _StoredMeanwhile:
    """The real store, into which the restarted collector's live feed writes while the read-back asks: right after
    the newest counters were asked for, a newer sample is stored (one the engine has already had live)."""

    def __init__(self, store: Store, meanwhile: str) -> None:
        self.store, self.meanwhile = store, meanwhile

    def query(self, influxql: str) -> list[dict[str, Any]]:
        answer = self.store.query(influxql)
        if self.meanwhile and 'FROM "counters"' in influxql and "DESC" in influxql:
            self.store.write(gzip.compress((self.meanwhile + "\n").encode()))
            self.meanwhile = ""
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_what_is_stored_while_reading_back_is_not_restored_out_of_place(influxdb: InfluxDB) -> None:
    # a killed collector's store holds counts up to 00:10:20; restarted, it stores live data as it reads back: a
    # sample of 00:20:30 stored between the queries must not come back at 00:10:20 (the newest the store had when
    # asked) — the redelivered samples of 00:11 … 00:19 would follow a higher count and read as a counter reset
    store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url))
    lines = [line("state", TAGS, {"reason_code": 0, "product": "P", "seq": 0}, T0)]
    for minute in range(0, 11):
        lines.append(line("counters", TAGS, {"total": minute, "good": minute, "scrap": 0, "rework": 0,
                                             "energy_kwh": 0.0, "ideal_s": 60.0 * minute}, T0 + minute * MIN + 20_000))
    store.write(gzip.compress(("\n".join(lines) + "\n").encode()))
    live = [CounterSample(T0 + minute * MIN + 30_000, minute, minute, 0, 0, 0.0, 60.0 * minute)
            for minute in range(11, 21)]
    later = live[-1]
    meanwhile = line("counters", TAGS, {"total": later.total, "good": later.good, "scrap": 0, "rework": 0,
                                        "energy_kwh": 0.0, "ideal_s": later.ideal_s}, later.ts_ms)
    engine = Engine(KpiConfig())
    stored = read_back(_StoredMeanwhile(store, meanwhile), 2 * 86400.0)
    assert max(s.ts_ms for s in stored.samples["e/s/a/l/m"]) == T0 + 10 * MIN + 20_000
    for _ in apply_steps(engine, stored):
        pass
    timeline = engine.machines["e/s/a/l/m"].timeline
    timeline.add_counters(later)  # had live before the read-back ended
    for sample in live[:-1]:  # the broker's redelivered backlog
        timeline.add_counters(sample)
    assert timeline.period(T0, T0 + 21 * MIN).pq == 20
    store.close()
