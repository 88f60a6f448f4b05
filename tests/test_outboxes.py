"""Store-and-forward as a transactional buffer: one contract for every outbox, then what the disk spool adds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge._outbox import MEMORY, SpoolOutbox
from shopfloor import MessageKind
from shopfloor import telemetry as contract
from shopfloor._publisher import Outbox, Outgoing
from shopfloor.spool import Spool
from shopfloor.telemetry import CounterSample
from simulator import Simulation
from simulator._feed import MachineUpdate, StateEvent
from simulator._mqtt import MemoryOutbox

from .conftest import one_line

Put = Callable[[int], None]  # queue a state message stamped with this ts


def memory_outbox(tmp_path: Path) -> tuple[Outbox, Put]:
    machine = Simulation(one_line("- {id: M, kind: other, cycle_time: 10s}"), seed=1).machines[0]
    outbox = MemoryOutbox(machine, session_ms=1, sample_period_ms=1000)
    outbox.greeted()
    return outbox, lambda ts: outbox.enqueue(MachineUpdate(machine, states=[StateEvent(ts, 0, "part")]))


def spool_outbox(tmp_path: Path) -> tuple[Outbox, Put]:
    outbox = SpoolOutbox(Spool(tmp_path / "spool.sqlite", max_messages=100_000), "e/s/a/l/m")

    def put(ts: int) -> None:
        payload = contract.state(ts_ms=ts, seq=ts, reason=0, product="part")
        outbox.put(Outgoing(MessageKind.STATE, contract.encode(payload)))

    return outbox, put


@pytest.fixture(params=[memory_outbox, spool_outbox], ids=["memory", "spool"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Outbox, Put]:
    factory: Callable[[Path], tuple[Outbox, Put]] = request.param
    return factory(tmp_path)


def stamps(messages: list[Outgoing]) -> list[int]:
    return [json.loads(m.payload)["ts"] for m in messages]


def test_peek_begins_a_batch_that_stays_until_acknowledged(outbox: tuple[Outbox, Put]) -> None:
    box, put = outbox
    for ts in range(1, 26):
        put(ts)
    first = box.peek(10)
    assert stamps(first) == list(range(1, 11))
    assert box.peek(10) == first  # a failed send gets the very same messages (and seqs) again
    box.ack(4)
    assert stamps(box.peek(10)) == list(range(5, 15))
    box.ack(10)
    put(26)
    assert stamps(box.peek(100)) == list(range(15, 27))
    box.ack(12)
    assert box.peek(10) == []


def test_messages_queued_while_a_batch_is_in_flight_follow_it(outbox: tuple[Outbox, Put]) -> None:
    box, put = outbox
    put(1)
    put(2)
    in_flight = box.peek(10)
    put(3)
    box.ack(len(in_flight))
    assert stamps(box.peek(10)) == [3]


def test_seqs_are_kept_across_retries(outbox: tuple[Outbox, Put]) -> None:
    box, put = outbox
    for ts in (10, 20, 30):
        put(ts)
    seqs = [json.loads(m.payload)["seq"] for m in box.peek(3)]
    box.disconnected()
    assert [json.loads(m.payload)["seq"] for m in box.peek(3)] == seqs == sorted(set(seqs))


# ---------------------------------------------------------------- what only the disk spool does


def state(ts: int) -> Outgoing:
    return Outgoing(MessageKind.STATE, contract.encode(contract.state(ts_ms=ts, seq=ts, reason=0, product="p")))


def test_a_backlog_longer_than_memory_comes_back_from_disk_in_order(tmp_path: Path) -> None:
    box = SpoolOutbox(Spool(tmp_path / "s.sqlite", max_messages=100_000), "m")
    n = MEMORY * 5 + 7
    for ts in range(n):
        box.put(state(ts))
    assert len(box.head) == MEMORY and box.spilled
    got: list[int] = []
    while batch := box.peek(10):
        got += stamps(batch)
        box.ack(len(batch))
        if len(got) == MEMORY * 2:
            box.put(state(n))  # live messages join the end of the backlog
            n += 1
    assert got == list(range(n))
    box.spool.commit()
    assert box.spool.count == 0


def test_what_was_not_acknowledged_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    spool = Spool(path, max_messages=100_000)
    machines = {p: SpoolOutbox(spool, p) for p in ("e/s/a/l/m1", "e/s/a/l/m2")}
    birth = contract.birth({"machine": {}}, ts_ms=1, seq=0, session_ms=77)
    for box in machines.values():
        box.put(Outgoing(MessageKind.BIRTH, contract.encode(birth), retain=True))
        for ts in range(1, 301):
            box.put(state(ts))
        box.ack(len(box.peek(10)))  # the birth and nine states went out
    spool.close()  # a stop while the broker is away

    spool = Spool(path, max_messages=100_000)
    assert spool.streams() == ["e/s/a/l/m1", "e/s/a/l/m2"] and spool.count == 2 * 291
    for p in machines:
        box = SpoolOutbox(spool, p)
        assert box.session_ms == 77  # the session of the delivered birth
        greeting = box.greeting()
        assert [m.kind for m in greeting] == [MessageKind.BIRTH, MessageKind.STATUS]
        assert json.loads(greeting[1].payload)["status"] == "offline"  # not bridged yet in this run
        box.greeted()
        got: list[int] = []
        while batch := box.peek(10):
            got += stamps(batch)
            box.ack(len(batch))
        assert got == list(range(10, 301))
        assert box.replayed == 291
    spool.close()


def test_a_full_spool_drops_the_oldest_signals_first_and_counts_them(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "s.sqlite", max_messages=1000)
    box = SpoolOutbox(spool, "m")
    kinds: list[Any] = []
    for ts in range(1500):
        kind = MessageKind.SIGNALS if ts % 2 else MessageKind.STATE
        payload = contract.signals(ts_ms=ts, seq=ts, values={"x": 1.0}) if ts % 2 else \
            contract.state(ts_ms=ts, seq=ts, reason=0, product="p")
        box.put(Outgoing(kind, contract.encode(payload)))
        kinds.append(kind)
    assert spool.count <= 1000 and spool.dropped == 1500 - spool.count
    left = spool.read("m", 0, 2000)
    assert all(r.kind == "state" for r in left[:100])  # the oldest signals went first …
    assert sum(r.kind == "state" for r in left) == 750  # … and no state event was lost
    assert "spool" in caplog.text and "dropped the 10 oldest signals" in caplog.text


def test_offline_a_simulated_machine_keeps_the_newest_counters_and_those_at_window_edges(tmp_path: Path) -> None:
    """A broker outage from 09:50 to 10:20: the counters at 10:00 are where the 09:00 and 10:00 hours meet, so they
    go out after the reconnect with the newest; every other sample folds into the one after it."""
    machine = Simulation(one_line("- {id: M, kind: other, cycle_time: 10s}"), seed=1).machines[0]
    box = MemoryOutbox(machine, session_ms=1, sample_period_ms=1000)
    box.greeted()
    box.disconnected()
    nine = 1_767_603_600_000  # a whole hour, epoch ms
    for minute, total in ((50, 300), (55, 330), (60, 360), (65, 390), (70, 420), (80, 480)):
        sample = CounterSample(nine + minute * 60_000, total, total, 0, 0, 0.0, 0.0)
        box.enqueue(MachineUpdate(machine, counters=sample))
    sent = [json.loads(m.payload) for m in box.peek(100)]
    assert [((c["ts"] - nine) // 60_000, c["total"]) for c in sent] == [(60, 360), (80, 480)]


def test_messages_a_full_memory_outbox_drops_show_as_a_seq_gap_where_they_were(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("simulator._mqtt.OUTBOX_LIMIT", 5)
    machine = Simulation(one_line("- {id: M, kind: other, cycle_time: 10s}"), seed=1).machines[0]
    box = MemoryOutbox(machine, session_ms=1, sample_period_ms=1000)
    box.greeted()
    box.ack(len(box.peek(1)))  # nothing queued yet
    box.disconnected()
    for ts in range(1, 9):  # 8 state changes into 5 places: the 3 oldest go
        box.enqueue(MachineUpdate(machine, states=[StateEvent(ts, 0, "part")]))
    sent = [json.loads(m.payload) for m in box.peek(10)]
    assert [(p["ts"], p["seq"]) for p in sent] == [(4, 3), (5, 4), (6, 5), (7, 6), (8, 7)]
