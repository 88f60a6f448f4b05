"""A machine's stream as the contract defines it: what is new, what is a repeat, what breaks it, what is unknown.

Every message goes through ``Streams.admit`` before it is stored or reaches the KPI engine, so
whatever it refuses is in neither (tests/test_collector_fuzz.py checks that against real
servers); here, by hand, what it decides and why.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector import Engine, Invalid, KpiConfig, decode
from collector._stream import MAX_GAP, OPEN, Streams
from shopfloor import telemetry as contract

PATH = "acme/s1/a1/l1/m1"
T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC
MIN = 60_000


def message(kind: str, payload: dict[str, Any], *, retained: bool = False, path: str = PATH) -> Any:
    return decode(f"sfsim/v1/{path}/{kind}", json.dumps(payload).encode(), prefix="sfsim", retained=retained)


def birth(session: int, seq: int = 0) -> dict[str, Any]:
    e, s, a, line, m = PATH.split("/")
    return {"ts": session, "seq": seq, "session": session,
            "machine": {"enterprise": e, "site": s, "area": a, "line": line, "id": m},
            "name": {"zh": "一号", "en": "one"}, "kind": "cnc_lathe",
            "kind_name": {"zh": "数控车床", "en": "CNC lathe"}, "control": "cnc", "key_process": True, "digital": True,
            "networked": True, "protocol": "mqtt",
            "process": "turning", "manufacturer": "", "model": "", "serial": "", "industry": "discrete",
            "ideal_cycle_s": {"P": 60.0}, "power_kw": {"executing": 5, "setup": 1, "idle": 1, "down": 0, "standby": 0},
            "signals": [], "sample_period_ms": 1000}


def counters(seq: int, minute: float, total: int, *, scrap: int = 0, energy: float = 0.0) -> dict[str, Any]:
    return contract.counters(ts_ms=T0 + round(minute * MIN), seq=seq, total=total, good=total - scrap, scrap=scrap,
                             rework=0, energy_kwh=energy, ideal_s=60.0 * total)


def state(seq: int, minute: float, reason: int = 0) -> dict[str, Any]:
    return contract.state(ts_ms=T0 + round(minute * MIN), seq=seq, reason=reason, product="P")


class Machine:
    """One machine's publisher, its stream at the collector, and a KPI engine fed what the stream admits."""

    def __init__(self, streams: Streams | None = None) -> None:
        self.engine = Engine(KpiConfig(), streams=streams or Streams())
        self.streams = self.engine.streams
        self.dead: list[str] = []

    def send(self, kind: str, payload: dict[str, Any], *, retained: bool = False, received_ms: int = T0) -> bool | None:
        """True: new; False: a repeat; None: refused (the reason in ``dead``)."""
        msg = message(kind, payload, retained=retained)
        try:
            new = self.streams.admit(msg, received_ms)
        except Invalid as e:
            self.dead.append(str(e))
            return None
        if new:
            self.engine.feed(msg, received_ms)
        return new

    def pq(self, start_minute: float, end_minute: float) -> int:
        timeline = self.engine.machines[PATH].timeline
        return timeline.period(T0 + round(start_minute * MIN), T0 + round(end_minute * MIN)).pq


def test_counters_going_backwards_within_a_session_are_refused_and_the_count_stays_exact() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 0))
    for seq, total in enumerate((10, 20, 30, 5, 40, 50), start=2):
        m.send("counters", counters(seq, seq, total))
    # taken as a reset, the 5 would count 30 + 50 − 10 = 70 parts; the machine made 40
    assert m.pq(0, 10) == 40
    assert m.dead == ["counters go backwards within session 1767571200000: total 5 after 30 (seq 4); counters never "
                      "reset within a session, a restarted machine begins a new one"]


def test_a_drop_in_scrap_alone_is_refused_too() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("counters", counters(1, 1, 10, scrap=2))
    assert m.send("counters", counters(2, 2, 11, scrap=1)) is None
    assert "scrap 1 after 2 (seq 1)" in m.dead[0]
    assert m.send("counters", counters(3, 3, 12, scrap=2)) is True
    assert m.pq(0, 5) == 2


def test_a_late_sample_is_checked_against_both_neighbours() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("counters", counters(1, 1, 10))
    m.send("counters", counters(5, 5, 50))
    assert m.send("counters", counters(2, 2, 55)) is None  # more than the sample sent after it
    assert "total 50 (seq 5) after 55 (this seq 2)" in m.dead[0]
    assert m.send("counters", counters(3, 6, 30)) is None  # newer than the sample sent after it
    assert "counters of seq 3 are newer (1767571560000) than those of seq 5" in m.dead[1]
    assert m.send("counters", counters(4, 4, 40)) is True
    # refused, but received: nothing is missing, and the same refused message again is only a repeat
    assert m.streams.missing() == {}
    assert m.send("counters", counters(2, 2, 55)) is False and len(m.dead) == 2


def test_a_real_restart_comes_with_a_new_session_and_counts_on_top() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 0))
    m.send("counters", counters(2, 1, 10))
    m.send("counters", counters(3, 2, 30))
    m.send("birth", birth(T0 + 2 * MIN + 1))  # the machine restarted: counters begin again
    m.send("state", state(1, 2))
    m.send("counters", counters(2, 3, 5))
    assert not m.dead and m.pq(0, 5) == 30 - 10 + 5


def test_the_same_values_again_at_an_earlier_instant_are_a_restatement_not_news() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("counters", counters(1, 2, 10))
    assert m.send("counters", counters(2, 1, 10)) is False  # a gateway re-subscribing reports them again
    assert m.send("counters", counters(3, 3, 10)) is True  # idle: the same values later are a new sample
    assert m.streams.counts["restated"] == 1 and m.streams.missing() == {}


def test_seq_gaps_are_counted_and_a_late_message_fills_its_gap() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    for seq in (1, 2, 5):
        m.send("state", state(seq, seq, reason=0 if seq % 2 else 11))
    assert m.streams.missing() == {PATH: 2} and m.streams.counts["seq_missing"] == 2
    assert m.send("state", state(3, 3, reason=0)) is True
    assert m.streams.missing() == {PATH: 1}
    assert m.send("state", state(3, 3, reason=0)) is False  # QoS 1 sends it again
    assert m.streams.counts["duplicates"] == 1


def test_a_seq_with_other_content_is_refused_and_the_first_copy_stands() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 1, reason=0))
    assert m.send("state", state(1, 1, reason=10)) is None
    assert m.dead == ["seq 1 of session 1767571200000 was received before with other content; the first copy "
                      "stands (docs/collector.md#what-a-machine-may-send)"]
    assert m.engine.machines[PATH].timeline.reason_at(T0 + 2 * MIN) == (0, T0 + MIN)


def test_a_seq_near_the_schema_maximum_is_a_broken_sequence_not_quintillions_missing() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 1))
    assert m.send("state", state(2**62, 2, reason=11)) is True
    assert m.send("state", state(2**62 + 1, 3)) is True
    assert m.streams.missing() == {} and m.streams.counts["seq_missing"] == 0
    assert m.streams.counts["seq_discontinuities"] == 1
    m.send("state", state(2**62 + 3 + MAX_GAP, 4, reason=11))  # a jump just over the bound: the same
    m.send("state", state(2**62 + 5 + MAX_GAP, 5))  # one missing after it: counted
    assert m.streams.missing() == {PATH: 1} and m.streams.counts["seq_discontinuities"] == 2


def test_after_a_restart_the_retained_birth_raises_no_false_alarm_of_loss() -> None:
    m = Machine()  # a collector that just started: the broker hands it the retained birth of a session under way
    m.send("birth", birth(T0), retained=True)
    m.send("status", {"ts": T0, "status": "online", "session": T0}, retained=True)
    for seq in range(500, 510):
        m.send("counters", counters(seq, seq - 499, seq))
    assert m.streams.missing() == {} and m.streams.counts["seq_missing"] == 0


def test_a_restarted_gateway_reporting_the_state_in_force_is_not_a_second_state_event() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 1, reason=10))
    m.send("counters", counters(2, 2, 0))
    m.send("status", {"ts": T0, "status": "offline", "session": T0})
    m.send("birth", birth(T0 + 5 * MIN))  # the gateway restarted: a new session …
    # … whose first state is the one in force, with the instant it began
    assert m.send("state", state(1, 1, reason=10)) is False
    assert m.streams.counts["restated"] == 1
    assert m.streams.unknown(PATH) == []  # it has been in force all along: nothing unknown


def test_a_timestamp_far_ahead_of_its_arrival_is_refused() -> None:
    m = Machine(Streams(max_ahead_ms=300_000))
    assert m.send("state", state(1, 4), received_ms=T0) is True
    assert m.send("state", state(2, 6, reason=11), received_ms=T0) is None
    assert m.dead == ["'ts' 1767571560000 is 360 s ahead of the time the message arrived (the limit, max_ahead, is "
                      "300 s): a clock running ahead, or a simulation faster than real time "
                      "(docs/collector.md#timestamps)"]


# ---------------------------------------------------------------- what is not known


def test_a_seq_gap_is_unknown_between_the_messages_either_side_until_it_is_filled() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 10))
    m.send("counters", counters(2, 20, 10))
    m.send("counters", counters(5, 50, 40))  # 3 and 4 lost
    assert m.streams.unknown(PATH) == [(T0 + 20 * MIN, T0 + 50 * MIN, "seq")]
    m.send("counters", counters(3, 30, 20))  # 3 arrives late: only what lies around 4 is still unknown
    assert m.streams.unknown(PATH) == [(T0 + 30 * MIN, T0 + 50 * MIN, "seq")]
    m.send("counters", counters(4, 40, 30))
    assert m.streams.unknown(PATH) == []


def test_offline_is_unknown_from_the_last_message_until_the_stream_goes_on() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 10))
    m.send("counters", counters(2, 20, 10))
    m.send("status", {"ts": T0, "status": "offline", "session": T0})
    assert m.streams.unknown(PATH) == [(T0 + 20 * MIN, OPEN, "offline")]
    # the same session goes on where it stopped (the publisher kept its messages): nothing was missed
    m.send("birth", birth(T0, seq=3))
    m.send("counters", counters(4, 40, 30))
    assert m.streams.unknown(PATH) == []


def test_between_publisher_sessions_the_state_is_unknown_until_the_new_session_says_it() -> None:
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 10, reason=10))
    m.send("counters", counters(2, 20, 10))
    m.send("status", {"ts": T0, "status": "offline", "session": T0})
    m.send("birth", birth(T0 + 45 * MIN))  # restarted 25 min later: repaired meanwhile, and since when?
    m.send("counters", counters(1, 45, 25))
    assert m.streams.unknown(PATH) == [(T0 + 20 * MIN, OPEN, "session")]
    m.send("state", state(2, 35, reason=0))  # producing since 08:35: the first state of the new session
    assert m.streams.unknown(PATH) == [(T0 + 20 * MIN, T0 + 35 * MIN, "session")]


def test_unknown_time_is_in_no_element_and_its_parts_in_no_ratio() -> None:
    """Shift 00:00–01:00 by hand. Producing 00:00; breakdown 00:20; the gateway dies at 00:30 (last counters);
    meanwhile repaired at 00:32, broken again at 00:40, repaired at 00:50; the restarted gateway reports the
    state in force (producing since 00:50) and the counters at 01:00. The counters made 20 parts by 00:20 and 18
    more (00:32–00:40, 00:50–01:00) that they can only place in (00:30, 01:00]."""
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 0))
    m.send("counters", counters(2, 0, 0))
    m.send("counters", counters(3, 20, 20))
    m.send("state", state(4, 20, reason=10))
    m.send("counters", counters(5, 30, 20))
    m.send("status", {"ts": T0, "status": "offline", "session": T0})
    m.send("birth", birth(T0 + 61 * MIN))
    m.send("state", state(1, 50))
    m.send("counters", counters(2, 60, 38))
    period = m.engine.machines[PATH].timeline.period(T0, T0 + 60 * MIN, unknown=m.streams.unknown(PATH))
    # known: 00:00–00:20 producing, 00:20–00:30 down, 00:50–01:00 producing; 00:30–00:50 unknown
    assert (period.apt_s, period.adet_s, period.unknown_s) == (1800, 600, 1200)
    assert (period.pq, period.gap_pq, period.gap_apt_s) == (38, 18, 600)
    kpis = m.engine.over(T0, T0 + 60 * MIN)[0].kpis
    assert kpis.coverage == pytest.approx(2400 / 3600)
    assert kpis.availability == pytest.approx(1800 / 2400)
    # the 20 parts placed were made in the 1,200 s of production they can be placed in: 100 %, not 38 × 60 / 1800
    assert kpis.effectiveness == pytest.approx(1.0)
    assert kpis.quality == pytest.approx(1.0)


def test_between_sessions_the_counters_go_unseen_even_when_the_state_was_in_force_all_along() -> None:
    """Producing since 00:00; the gateway restarts between 00:20 and 00:50 and reports the same state (since 00:00)
    and the counters at 00:50: the state is known throughout, the 30 parts of 00:20–00:50 cannot be placed."""
    m = Machine()
    m.send("birth", birth(T0))
    m.send("state", state(1, 0))
    m.send("counters", counters(2, 0, 0))
    m.send("counters", counters(3, 20, 20))
    m.send("status", {"ts": T0, "status": "offline", "session": T0})
    m.send("birth", birth(T0 + 50 * MIN))
    assert m.send("state", state(1, 0)) is False  # the state in force, restated
    m.send("counters", counters(2, 50, 50))
    m.send("counters", counters(3, 60, 60))
    assert m.streams.unknown(PATH) == []
    assert m.streams.unobserved(PATH) == [(T0 + 20 * MIN, T0 + 50 * MIN, "session")]
    kpis = m.engine.over(T0, T0 + 60 * MIN)[0]
    assert (kpis.period.apt_s, kpis.period.unknown_s, kpis.period.pq, kpis.period.gap_pq) == (3600, 0, 60, 30)
    assert kpis.kpis.coverage == 1.0 and kpis.kpis.availability == 1.0
    # 30 parts placed in the 1,800 s of production outside the unseen step (00:20–00:50): 60 s each, as made
    assert kpis.kpis.effectiveness == pytest.approx(1.0)
