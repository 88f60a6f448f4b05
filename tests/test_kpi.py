"""The KPI core against hand-computed tables, the textbook shift and properties that hold for any input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector import Period, combine, kpis

MIN = 60.0


def test_the_textbook_shift() -> None:
    # 480 min shift, 60 min planned breaks, 47 min down, ideal rate 60 parts/min, 19,271 parts, 423 rejects
    shift = Period(apt_s=373 * MIN, adet_s=47 * MIN, planned_down_s=60 * MIN, calendar_s=480 * MIN,
                   pq=19_271, gq=19_271 - 423, sq=423, ideal_s=19_271 * 1.0)
    k = kpis(shift)
    assert round(100 * k.availability, 2) == 88.81  # type: ignore[operator]
    assert round(100 * k.effectiveness, 2) == 86.11  # type: ignore[operator]
    assert round(100 * k.quality, 2) == 97.80  # type: ignore[operator]
    assert round(100 * k.oee, 2) == 74.79  # type: ignore[operator]


def test_a_hand_computed_machine() -> None:
    # PBT 8 h: 6 h producing, 30 min setup, 1 h delays (40 min repairing 2 breakdowns), 30 min starved;
    # 600 parts at a 30 s PRI (5 h ideal), 570 good, 20 scrap, 10 rework; 120 kWh
    p = Period(apt_s=6 * 3600, aust_s=1800, adet_s=3600, adot_s=1800, breakdown_s=2400, failures=2,
               pq=600, gq=570, sq=20, rq=10, ideal_s=600 * 30.0, energy_kwh=120.0, calendar_s=24 * 3600)
    k = kpis(p)
    assert k.availability == pytest.approx(6 / 8)
    assert k.effectiveness == pytest.approx(5 / 6)
    assert k.quality == pytest.approx(570 / 600)
    assert k.oee == pytest.approx(0.75 * 5 / 6 * 0.95)
    assert k.nee == pytest.approx(6.5 / 8 * 5 / 6 * 0.95)
    assert k.technical_efficiency == pytest.approx(6 / 7)
    assert k.setup_rate == pytest.approx(0.5 / 6.5)
    assert (k.scrap_ratio, k.rework_ratio) == (pytest.approx(20 / 600), pytest.approx(10 / 600))
    assert (k.mtbf_s, k.mttr_s) == (3 * 3600, 1200)
    assert k.energy_per_good_kwh == pytest.approx(120 / 570)
    assert k.teep == pytest.approx(k.oee * 8 / 24)  # type: ignore[operator]
    losses = k.losses
    assert (losses.breakdowns_s, losses.setup_s, losses.minor_stops_s) == (2400, 1800, 1200 + 1800)
    assert losses.reduced_speed_s == 3600  # 6 h producing what takes 5 h ideally
    assert (losses.scrap_s, losses.rework_s, losses.valuable_s) == (600, 300, 570 * 30)


def test_nothing_planned_means_no_ratio_not_zero() -> None:
    k = kpis(Period())
    assert (k.availability, k.effectiveness, k.quality, k.oee, k.mtbf_s) == (None, None, None, None, None)


def test_a_group_is_time_weighted() -> None:
    busy = Period(apt_s=7 * 3600, adot_s=3600, pq=840, gq=840, ideal_s=840 * 30.0)
    idle = Period(apt_s=3600, adot_s=7 * 3600, pq=100, gq=90, sq=10, ideal_s=100 * 30.0)
    both = combine([busy, idle])
    assert both.pbt_s == 16 * 3600 and both.pq == 940 and both.sq == 10
    assert kpis(both).availability == pytest.approx(0.5)  # not the mean of 7/8 and 1/8 weighted otherwise


seconds = st.floats(min_value=0, max_value=86_400, allow_nan=False)


@st.composite
def periods(draw: st.DrawFn) -> Period:
    apt = draw(seconds)
    adet = draw(seconds)
    pq = draw(st.integers(min_value=0, max_value=10_000))
    gq = draw(st.integers(min_value=0, max_value=pq))
    sq = draw(st.integers(min_value=0, max_value=pq - gq))
    # PRI "right": the ideal time of what was made never exceeds the time spent making it
    ideal = draw(st.floats(min_value=0, max_value=1)) * apt
    return Period(apt_s=apt, aust_s=draw(seconds), adet_s=adet, adot_s=draw(seconds),
                  breakdown_s=draw(st.floats(min_value=0, max_value=1)) * adet, failures=draw(st.integers(0, 50)),
                  pq=pq, gq=gq, sq=sq, rq=pq - gq - sq, ideal_s=ideal if pq else 0.0)


@given(periods())
def test_oee_is_a_fraction_below_each_of_its_factors(p: Period) -> None:
    k = kpis(p)
    if k.oee is not None:
        assert 0 <= k.oee <= 1 + 1e-12
        assert k.oee <= min(k.availability, k.effectiveness, k.quality) + 1e-12  # type: ignore[type-var]
        assert k.nee is not None and k.oee <= k.nee + 1e-12


@given(periods())
def test_the_six_losses_and_the_valuable_time_add_up_to_pbt(p: Period) -> None:
    losses = kpis(p).losses
    total = (losses.breakdowns_s + losses.setup_s + losses.minor_stops_s + losses.reduced_speed_s + losses.scrap_s
             + losses.rework_s + losses.valuable_s)
    assert total == pytest.approx(p.pbt_s, rel=1e-9, abs=1e-6)


def test_the_ground_truth_rows_give_the_same_kpis() -> None:
    """Two implementations, one definition: the simulator's oracle and the collector's core agree."""
    from shopfloor import load_plant
    from simulator import Simulation

    from .conftest import EXAMPLES

    sim = Simulation(load_plant(EXAMPLES / "wuhan-machining.yaml"), seed=3)
    sim.run(86_400)
    for machine in sim.truth()["machines"]:
        for row in (machine["run"], *machine["windows"]["shift"], *machine["windows"]["hour"]):
            p = Period(apt_s=row["APT_s"], aust_s=row["AUST_s"], adet_s=row["ADET_s"], adot_s=row["ADOT_s"],
                       pq=row["PQ"], gq=row["GQ"], sq=row["SQ"], rq=row["RQ"], ideal_s=row["ideal_s"],
                       breakdown_s=row["reasons_s"].get("breakdown", 0.0), failures=row["failures"])
            k = kpis(p)
            for name in ("availability", "effectiveness", "quality", "oee", "mtbf_s", "mttr_s"):
                expected = row[name]
                got = getattr(k, name)
                assert (got is None) == (expected is None), (machine["path"], name)
                if expected is not None:
                    assert got == pytest.approx(expected, abs=2e-6), (machine["path"], row.get("label"), name)


def test_a_ledger_of_the_telemetry_gives_the_ground_truth_periods() -> None:
    """Time elements from the state events and the site calendar, for every hour and shift of a day."""
    from collector import CounterSample, MachineTimeline
    from shopfloor import load_plant
    from simulator import Simulation

    from .conftest import EXAMPLES

    sim = Simulation(load_plant(EXAMPLES / "wuhan-machining.yaml"), seed=3)
    sim.run(86_400)
    truth = {m["path"]: m for m in sim.truth()["machines"]}
    start_ms = round(sim.start_epoch * 1000)
    for m in sim.machines:
        timeline = MachineTimeline(m.at.site.calendar)
        # arrival order does not matter, nor do repeats
        events = [(round((sim.start_epoch + t) * 1000), r) for t, r in zip(m.log_t, m.log_r, strict=True)]
        for ts, reason in [*reversed(events), *events[:5]]:
            timeline.add_state(ts, reason)
        row = truth[m.path]["run"]
        timeline.add_counters(CounterSample(start_ms, 0, 0, 0, 0, 0.0, 0.0))
        timeline.add_counters(CounterSample(row["end_ms"], row["PQ"], row["GQ"], row["SQ"], row["RQ"],
                                          row["energy_kWh"], row["ideal_s"]))
        for expected in (row, *truth[m.path]["windows"]["shift"], *truth[m.path]["windows"]["hour"]):
            p = timeline.period(expected["start_ms"], expected["end_ms"])
            for name, key in (("apt_s", "APT_s"), ("aust_s", "AUST_s"), ("adet_s", "ADET_s"), ("adot_s", "ADOT_s"),
                              ("planned_down_s", "planned_down_s")):
                # the contract's timestamps are milliseconds: each state boundary may move by 0.5 ms
                assert getattr(p, name) == pytest.approx(expected[key], abs=0.001 * len(events)), (
                    m.path, expected.get("label"), name)
            assert p.failures == expected["failures"], (m.path, expected.get("label"))
            assert p.breakdown_s == pytest.approx(expected["reasons_s"].get("breakdown", 0.0), abs=0.001 * len(events))
        p = timeline.period(row["start_ms"], row["end_ms"])
        assert (p.pq, p.gq, p.sq, p.rq) == (row["PQ"], row["GQ"], row["SQ"], row["RQ"])
        if row["oee"] is not None:
            assert kpis(p).oee == pytest.approx(row["oee"], abs=1e-5)


def test_counts_survive_lost_messages_and_counter_resets() -> None:
    from collector import CounterSample, MachineTimeline

    timeline = MachineTimeline()
    for ts, total in ((0, 100), (1000, 120), (3000, 130), (4000, 5), (5000, 25)):  # 2000 was lost; reset at 4000
        timeline.add_counters(CounterSample(ts, total, total, 0, 0, total * 0.1, total * 30.0))
    p = timeline.period(0, 5000)
    assert p.pq == 30 + 25 and p.ideal_s == pytest.approx(55 * 30.0) and p.energy_kwh == pytest.approx(5.5)


def test_a_sample_read_back_after_a_restart_never_makes_a_reset_of_what_arrived_live() -> None:
    """A stored sample is read back as its minute's last, at the minute's end or (the newest) at its own time as
    the store knew it when asked — while the restarted collector stores and feeds live data all along. Whatever
    order they meet in, the counts are the stream's: a killed collector's shift once counted 1,549 parts for
    1,065, the read-back sample standing before live ones of its minute with lower counts."""
    from collector import CounterSample, MachineTimeline

    def sample(ts_s: float, total: int) -> CounterSample:
        return CounterSample(round(ts_s * 1000), total, total, 0, 0, total * 0.1, total * 30.0)

    stream = [sample(0, 0), sample(20, 480), sample(35, 482), sample(40, 484), sample(70, 490)]
    for restored in (sample(20, 484),  # the minute's last, stamped with the newest time the store gave earlier
                     sample(60, 484),  # the minute's last, at the minute's end
                     sample(60, 482),  # the last the store held when asked, at the minute's end
                     sample(40, 484)):  # exactly as it was
        for live_first in (True, False):
            t = MachineTimeline()
            if live_first:
                for s in stream:
                    t.add_counters(s)
                t.restore_counters(restored)
            else:
                t.restore_counters(sample(0, 0))
                t.restore_counters(restored)
                for s in stream:
                    t.add_counters(s)
            assert t.period(0, 120_000).pq == 490, (restored, live_first)
            assert t.period(0, 60_000).pq == 484, (restored, live_first)
    # a reset the stream really made (a new session) still counts once
    t = MachineTimeline()
    for s in (sample(0, 0), sample(30, 100), sample(90, 5)):
        t.restore_counters(s)
    t.add_counters(sample(100, 10))
    assert t.period(0, 120_000).pq == 110
