"""The KPI engine on a hand-made plant: every number below is worked out by hand.

Plant (tests/acme.py): one site, one shift 08:00–16:00 (break 12:00–12:30), one line of two stations:
A (cycle 30 s) feeds B (cycle 60 s, the constraint). Times are Shanghai local, 2026-01-05.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector import Engine, KpiConfig, decode
from collector._config import GradingConfig
from shopfloor import load_plant
from shopfloor import telemetry as contract

from .acme import PLANT, A, B, ms

#: the start of machine B's hour results as a line of InfluxDB's protocol
B_HOUR = "kpi,area=a1,enterprise=acme,level=machine,line=l1,machine=B,site=s1,window=hour "


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    (tmp_path / "plant.yaml").write_text(PLANT, encoding="utf-8")
    return Engine(KpiConfig(plants=(load_plant(tmp_path / "plant.yaml"),), alarm_after_s=600, rolling_s=3600))


class Feed:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seq: dict[str, int] = {}

    def send(self, path: str, kind: str, payload: dict[str, Any]) -> None:
        """As the collector does: what the machine's stream admits as new is fed to the engine."""
        msg = decode(f"sfsim/v1/{path}/{kind}", json.dumps(payload).encode(), prefix="sfsim")
        if self.engine.streams.admit(msg, 0):
            self.engine.feed(msg, 0)

    def next_seq(self, path: str) -> int:
        self.seq[path] = self.seq.get(path, 0) + 1
        return self.seq[path]

    def state(self, path: str, hour: float, reason: int) -> None:
        self.send(path, "state", contract.state(ts_ms=ms(hour), seq=self.next_seq(path), reason=reason, product="P"))

    def counters(self, path: str, hour: float, total: int, good: int, ideal_s: float) -> None:
        self.send(path, "counters", contract.counters(ts_ms=ms(hour), seq=self.next_seq(path), total=total, good=good,
                                                      scrap=total - good, rework=0, energy_kwh=0.0, ideal_s=ideal_s))


def test_hour_shift_and_levels_by_hand(engine: Engine) -> None:
    f = Feed(engine)
    # B: producing from 08:00, breakdown 09:00–09:30, producing again; parts counted at the hour edges
    f.state(B, 8, 0)
    f.counters(B, 8, 0, 0, 0)
    f.counters(B, 9, 60, 58, 3600)
    f.state(B, 9, 10)
    f.state(B, 9.5, 0)
    f.counters(B, 10, 80, 76, 4800)
    # A: producing all along, 100 parts an hour at 30 s ideal = 3000 s of ideal time
    f.state(A, 8, 0)
    f.counters(A, 8, 0, 0, 0)
    f.counters(A, 9, 100, 100, 3000)
    f.counters(A, 10, 200, 200, 6000)
    results = {(r.level, r.unit, r.window, r.label): r for r in engine.results(ms(10), ms(8))}
    nine = "2026-01-05T09:00:00+08:00"
    b = results[("machine", B, "hour", nine)]
    # 09–10: APT 30 min, ADET 30 min → A = 0.5; 20 parts × 60 s = 1200 s ideal in 1800 s → P = 2/3; Q = 18/20
    assert (b.period.apt_s, b.period.adet_s, b.period.pq, b.period.gq) == (1800, 1800, 20, 18)
    assert b.kpis.availability == pytest.approx(0.5)
    assert b.kpis.effectiveness == pytest.approx(2 / 3)
    assert b.kpis.quality == pytest.approx(0.9)
    assert b.kpis.oee == pytest.approx(0.3)
    assert (b.period.failures, b.kpis.mttr_s, b.kpis.mtbf_s) == (1, 1800, 1800)
    a = results[("machine", A, "hour", nine)]
    assert (a.kpis.availability, a.kpis.effectiveness, a.kpis.quality) == (1.0, pytest.approx(5 / 6), 1.0)
    # the line is its constraint B; the area and the site combine the line's constraint
    for level, unit in (("line", "acme/s1/a1/l1"), ("area", "acme/s1/a1"), ("site", "acme/s1"),
                        ("enterprise", "acme")):
        window_results = [r for (lv, u, w, lb), r in results.items() if (lv, u, w) == (level, unit, "hour")
                          and lb == nine]
        assert len(window_results) == 1 and window_results[0].kpis.oee == pytest.approx(0.3), level
    # the shift so far (08:00–10:00, still open): B produced 90 of 120 min, 80 parts, 76 good
    shift = results[("machine", B, "shift", "2026-01-05/A")]
    assert not shift.final and shift.end_ms == ms(16)
    assert shift.period.pbt_s == 7200 and shift.kpis.availability == pytest.approx(0.75)
    assert shift.kpis.oee == pytest.approx(0.75 * (4800 / 5400) * (76 / 80))
    assert results[("machine", B, "hour", "2026-01-05T08:00:00+08:00")].final


def test_the_break_is_planned_downtime_whatever_the_machine_says(engine: Engine) -> None:
    f = Feed(engine)
    f.state(B, 11.5, 0)
    f.counters(B, 11.5, 0, 0, 0)
    f.counters(B, 13, 60, 60, 3600)
    r = {(x.unit, x.window, x.label): x for x in engine.results(ms(13), ms(11.5))}
    twelve = r[(B, "hour", "2026-01-05T12:00:00+08:00")]
    # the machine kept "producing" through the break: 30 min planned down, 30 min APT
    assert (twelve.period.planned_down_s, twelve.period.apt_s, twelve.period.pbt_s) == (1800, 1800, 1800)


def test_alarm_after_ten_minutes_down_then_cleared(engine: Engine) -> None:
    f = Feed(engine)
    f.state(B, 9, 0)
    f.state(B, 9.1, 10)  # breakdown at 09:06
    f.counters(B, 9.2, 0, 0, 0)  # the telemetry clock reaches 09:12: down 6 min
    assert not any(p.startswith("alarm,") for p in engine.tick(0))
    f.counters(B, 9.3, 0, 0, 0)  # 09:18: down 12 min
    raised = [p for p in engine.tick(0) if p.startswith("alarm,")]
    assert len(raised) == 1 and "active=true" in raised[0] and "kind=down" in raised[0]
    assert raised[0].endswith(f" {ms(9.1) * 1000}")  # the alarm's point is at its start: raise and clear overwrite
    f.state(B, 9.4, 0)
    cleared = [p for p in engine.tick(0) if p.startswith("alarm,")]
    assert len(cleared) == 1 and "active=false" in cleared[0] and cleared[0].endswith(f" {ms(9.1) * 1000}")
    assert not any(p.startswith("alarm,") for p in engine.tick(0))


def _birth(path: str) -> dict[str, Any]:
    e, s, a, line, m = path.split("/")
    return {"ts": ms(9), "seq": 0, "session": ms(9), "machine": {"enterprise": e, "site": s, "area": a,
                                                                  "line": line, "id": m},
            "name": {"zh": "乙", "en": "B"}, "kind": "conventional_mill", "kind_name": {"zh": "铣", "en": "mill"},
            "control": "manual", "key_process": True, "digital": False, "networked": True, "protocol": "mqtt",
            "process": "milling", "manufacturer": "", "model": "", "serial": "", "industry": "discrete",
            "ideal_cycle_s": {"P": 60.0}, "power_kw": {"executing": 1, "setup": 1, "idle": 1, "down": 0,
                                                       "standby": 0}, "signals": [], "sample_period_ms": 1000}


def test_digitization_measured_from_what_was_heard_and_grading(engine: Engine) -> None:
    f = Feed(engine)
    f.state(A, 9, 0)
    f.counters(A, 9.5, 50, 50, 1500)
    rates = {(s.level, s.unit): s.indicators for s in engine.digitization(ms(9), ms(10))}
    site = rates[("site", "acme/s1")]
    # A is CNC, B a conventional mill: 1 of 2 key processes under NC; both declared networked, only A heard
    assert (site.nc_rate.numerator, site.nc_rate.denominator) == (1, 2)
    assert (site.networking_declared.value, site.networking_measured.value) == (1.0, 0.5)
    results = engine.results(ms(10), ms(9))
    grades = engine.grades(results, list(engine.digitization(ms(9), ms(10))))
    # line score = 0.5 × OEE(B: nothing heard → none) … only the parts with values count:
    # NC rate 0.5 (weight 0.25) and networking 0.5 (weight 0.25) → 0.5
    assert grades[("line", "acme/s1/a1/l1")][0] == pytest.approx(0.5)
    engine.config = KpiConfig(plants=engine.config.plants, grading=GradingConfig(method="thresholds"))
    assert engine.grades(results, list(engine.digitization(ms(9), ms(10))))[("site", "acme/s1")][1].value == "red"


def test_a_window_that_closed_between_ticks_is_written_once_more_final(engine: Engine) -> None:
    f = Feed(engine)
    f.state(B, 10, 0)
    f.counters(B, 10, 0, 0, 0)
    f.counters(B, 10.99, 59, 59, 3540)  # 10:59:24
    engine.tick(0)
    f.counters(B, 11, 60, 60, 3600)  # exactly at the edge: the 10:00 hour's last count
    f.counters(B, 11.1, 66, 66, 3960)
    ten = [p for p in engine.tick(0) if p.startswith("kpi,") and "level=machine" in p and "window=hour" in p
           and 'label="2026-01-05T10:00:00+08:00"' in p]
    assert len(ten) == 1 and "final=true" in ten[0] and "pq=60i" in ten[0] and "apt_s=3600.0" in ten[0]


def test_counters_arriving_late_at_a_windows_end_make_it_again(engine: Engine) -> None:
    """A sample at a window's end is that window's last count: when it comes after the clock has passed the end
    (its machine lagging), the window ending there is computed again."""
    f = Feed(engine)
    for path in (A, B):
        f.state(path, 10, 0)
        f.counters(path, 10, 0, 0, 0)
    f.counters(B, 10.99, 59, 59, 3540)  # 10:59:24
    f.counters(A, 11.1, 110, 110, 3300)
    f.state(B, 11.05, 11)  # B's news of 11:03 comes before its counters at the 11:00 edge: the clock is past 11:00
    assert [p for p in engine.tick(0) if p.startswith(B_HOUR) and p.endswith(f" {ms(10) * 1000}")] != []
    f.counters(B, 11, 60, 60, 3600)
    ten = [p for p in engine.tick(0) if p.startswith(B_HOUR) and p.endswith(f" {ms(10) * 1000}")]
    assert len(ten) == 1 and "pq=60i" in ten[0] and "final=true" in ten[0]


def test_a_tick_its_consumer_did_not_finish_is_written_whole_by_the_next(engine: Engine) -> None:
    """A collector stopped, or whose store failed, in the middle of a tick has not written the parts it had not
    handed on: the next tick (a stop's last one) writes them, and does not take them for written."""
    f = Feed(engine)
    for path in (A, B):
        f.state(path, 8, 0)
        f.counters(path, 8, 0, 0, 0)
    engine.tick(0)
    for hour in (9, 10, 11):  # a backlog: three hours arrive between two ticks
        f.counters(A, hour, (hour - 8) * 100, (hour - 8) * 100, (hour - 8) * 3000)
        f.counters(B, hour, (hour - 8) * 60, (hour - 8) * 60, (hour - 8) * 3600)
    steps = engine.tick_steps(0)
    next(steps)  # the consumer is cancelled while it stores the first part: nothing of this tick was written
    steps.close()
    written = [p for p in engine.tick(0) if p.startswith(B_HOUR)]
    assert sorted(p.rsplit(" ", 1)[1] for p in written) == [str(ms(h) * 1000) for h in (8, 9, 10, 11)]
    assert all("pq=60i" in p for p in written if not p.endswith(f" {ms(11) * 1000}"))


def test_windows_older_than_what_is_kept_are_not_rewritten(tmp_path: Path) -> None:
    (tmp_path / "plant.yaml").write_text(PLANT, encoding="utf-8")
    engine = Engine(KpiConfig(plants=(load_plant(tmp_path / "plant.yaml"),), keep_s=3 * 3600))
    f = Feed(engine)
    f.state(B, 8, 0)
    for hour in range(8, 15):
        f.counters(B, hour, (hour - 8) * 60, (hour - 8) * 60, (hour - 8) * 3600)
    engine.tick(0)
    f.counters(B, 14, 360, 360, 21600)  # a re-delivered sample: the 11:00 hour now straddles "keep"
    rewritten = [p for p in engine.tick(0) if p.startswith("kpi,") and "window=hour" in p]
    # only windows starting at or after 14:00 − 3 h = 11:00 may be written; none before it
    assert all('label="2026-01-05T1' in p and 'label="2026-01-05T10' not in p for p in rewritten)


def test_a_reset_of_any_counter_starts_a_new_run(engine: Engine) -> None:
    f = Feed(engine)
    f.state(B, 8, 0)
    f.send(B, "counters", contract.counters(ts_ms=ms(8), seq=90, total=0, good=0, scrap=0, rework=0, energy_kwh=5.0,
                                            ideal_s=0))
    f.send(B, "counters", contract.counters(ts_ms=ms(9), seq=91, total=0, good=0, scrap=0, rework=0, energy_kwh=6.0,
                                            ideal_s=0))
    # the machine restarted (a new publisher session): its counters begin again; total stayed 0 (idle), energy
    # went down
    f.send(B, "birth", _birth(B) | {"seq": 91, "session": ms(9.5)})
    f.state(B, 9.5, 0)
    f.send(B, "counters", contract.counters(ts_ms=ms(9.5), seq=92, total=0, good=0, scrap=0, rework=0,
                                            energy_kwh=0.2, ideal_s=0))
    f.send(B, "counters", contract.counters(ts_ms=ms(10), seq=93, total=0, good=0, scrap=0, rework=0,
                                            energy_kwh=0.5, ideal_s=0))
    r = {(x.unit, x.window, x.label): x for x in engine.results(ms(10), ms(8))}
    assert r[(B, "hour", "2026-01-05T09:00:00+08:00")].period.energy_kwh == pytest.approx(0.5)
    assert r[(B, "shift", "2026-01-05/A")].period.energy_kwh == pytest.approx(1.5)


def test_a_redelivered_zero_length_state_does_not_come_back(engine: Engine) -> None:
    f = Feed(engine)
    f.send(B, "birth", _birth(B))
    breakdown = contract.state(ts_ms=ms(9), seq=1, reason=10, product="P")
    producing = contract.state(ts_ms=ms(9), seq=2, reason=0, product="P")  # the same millisecond: repaired at once
    for body in (breakdown, producing, breakdown):  # QoS 1 sends the first one again
        f.send(B, "state", body)
    f.send(B, "counters", contract.counters(ts_ms=ms(10), seq=3, total=0, good=0, scrap=0, rework=0, energy_kwh=0,
                                            ideal_s=0))
    hour = next(x for x in engine.results(ms(10), ms(9)) if x.unit == B and x.window == "hour")
    assert (hour.period.apt_s, hour.period.adet_s, engine.counts["duplicates"]) == (3600, 0, 1)


def test_one_machine_far_in_the_future_does_not_move_the_clock(engine: Engine) -> None:
    f = Feed(engine)
    f.state(A, 9, 0)
    f.state(B, 9, 0)
    f.counters(B, 9, 0, 0, 0)
    f.counters(B, 10, 60, 60, 3600)
    f.counters(A, 10, 60, 60, 1800)
    f.send(A, "counters", contract.counters(ts_ms=ms(10) + 70 * 365 * 86_400_000, seq=99, total=61, good=61, scrap=0,
                                            rework=0, energy_kwh=0, ideal_s=1830))
    engine.tick(0)
    # two machines: the lower median, B, sets the site's clock; A's seventy years ahead move nothing
    assert engine.site_now_ms("acme/s1") == ms(10) and engine.now_ms == ms(10)
    assert engine.machines[B].timeline.period(ms(9), ms(10)).pq == 60  # nothing was pruned


def test_offline_is_timed_by_the_wall_clock_even_when_every_machine_is_silent(engine: Engine) -> None:
    f = Feed(engine)
    f.state(B, 9, 0)
    f.send(B, "status", {"ts": ms(9), "status": "offline", "session": 1})  # learnt at wall time 0 (Feed)
    assert not any(p.startswith("alarm,") for p in engine.tick(received_ms=599_000))
    raised = [p for p in engine.tick(received_ms=600_000) if p.startswith("alarm,")]
    assert len(raised) == 1 and "kind=offline" in raised[0] and "active=true" in raised[0]




def test_a_kpi_that_late_data_makes_undefined_is_deleted_before_it_is_written_again(engine: Engine) -> None:
    f = Feed(engine)
    f.state(B, 8, 0)  # B producing from 08:00 …
    f.counters(B, 8, 0, 0, 0)
    f.state(A, 8, 0)
    f.counters(A, 9.5, 50, 50, 1500)  # … the clock reaches 09:30, B's counters too, while news of its state lags
    f.counters(B, 9.5, 0, 0, 0)
    nine = ms(9) * 1000
    first = [p for p in engine.tick(0) if p.startswith(B_HOUR) and p.endswith(f" {nine}")]
    # B seemed to produce 09:00–09:30 without a part: effectiveness 0, and it is stored
    assert len(first) == 1 and "effectiveness=0.0," in first[0] and not engine.take_retractions()
    f.state(B, 8.5, 10)  # the late news: B broke down at 08:30, it never produced after 09:00
    again = [p for p in engine.tick(0) if p.startswith(B_HOUR) and p.endswith(f" {nine}")]
    assert len(again) == 1 and "effectiveness=" not in again[0] and "apt_s=0.0," in again[0]
    # InfluxDB would merge the new point's fields into the old one and keep the stale 0: the old one goes first
    retracted = engine.take_retractions()
    mine = [r for r in retracted if r.time_us == nine and dict(r.tags)["level"] == "machine"]
    assert [(r.measurement, dict(r.tags)) for r in mine] == [
        ("kpi", {"level": "machine", "enterprise": "acme", "site": "s1", "area": "a1", "line": "l1", "machine": "B",
                 "window": "hour"})]
    assert mine[0].series == again[0].rsplit(" ", 2)[0]
    # B is the line's constraint: the line and every level above lose the value too
    assert sorted(dict(r.tags)["level"] for r in retracted if r.time_us == nine) == [
        "area", "enterprise", "fleet", "line", "machine", "site"]
    f.counters(A, 9.6, 55, 55, 1650)  # results that only change value are overwritten in place
    engine.tick(0)
    assert not [r for r in engine.take_retractions() if dict(r.tags).get("machine") == "B"]


def test_after_a_restart_stored_kpi_fields_that_are_no_longer_defined_are_deleted(engine: Engine) -> None:
    f = Feed(engine)
    f.state(B, 8, 0)
    f.state(B, 8.5, 10)
    f.counters(B, 8, 0, 0, 0)
    f.state(A, 8, 0)
    f.counters(A, 9.5, 50, 50, 1500)
    f.counters(B, 9.5, 0, 0, 0)
    engine.tick(0)
    assert not engine.take_retractions()  # nothing known to be stored: nothing to delete
    # read back from the store: the previous process wrote B's 09:00 hour while B seemed to produce
    engine.restore_stored_fields("machine", B, "hour", ms(9), {"availability", "effectiveness"})
    f.counters(A, 9.6, 55, 55, 1650)
    engine.tick(0)
    assert [dict(r.tags)["machine"] for r in engine.take_retractions() if r.time_us == ms(9) * 1000] == ["B"]


def test_the_status_grid_condition_and_machines_per_condition(engine: Engine) -> None:
    f = Feed(engine)
    f.state(A, 9, 0)  # A producing
    f.state(B, 9, 10)  # B broken down …
    f.counters(B, 9.1, 0, 0, 0)
    engine.set_online(A, True)
    engine.set_online(B, False, 0)  # … and gone offline
    points = engine.tick(0)
    status = {p.split(",machine=")[1].split(",")[0]: p for p in points if p.startswith("machine_status,")}
    assert 'condition="executing"' in status["A"] and 'condition="offline"' in status["B"]
    fleet = next(p for p in points if p.startswith("fleet_status,level=fleet "))
    assert "executing=1i," in fleet and "offline=1i," in fleet and "down=0i," in fleet and "machines=2i" in fleet
    line_counts = next(p for p in points if p.startswith("fleet_status,") and "level=line" in p)
    assert "line=l1" in line_counts and "machines=2i" in line_counts
