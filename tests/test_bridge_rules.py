"""How a bridged machine turns value changes into contract messages: sessions, seqs and bad values (no servers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asyncua import ua

from edge import Field, Point, Stats
from edge._bridge import MachineBridge
from edge._outbox import SpoolOutbox
from shopfloor.spool import Spool

PATH = "e/s/a/l/m"
NAMEPLATE: dict[str, Any] = {"machine": {"enterprise": "e", "site": "s", "area": "a", "line": "l", "id": "m"},
                             "ideal_cycle_s": {"P": 10.0}}
TOTAL = Point(PATH, Field.TOTAL, "ns=2;s=Count")
STATE = Point(PATH, Field.STATE, "ns=2;s=Mode", states={0: 32, 1: 0})


def bridge(tmp_path: Path) -> tuple[MachineBridge, SpoolOutbox, Stats]:
    outbox = SpoolOutbox(Spool(tmp_path / "s.sqlite", max_messages=1000), PATH)
    stats = Stats()
    b = MachineBridge(PATH, outbox, lambda: None, stats)
    b.attach(dict(NAMEPLATE), frozenset({Field.TOTAL, Field.STATE}))
    return b, outbox, stats


def sent(outbox: SpoolOutbox) -> list[tuple[str, dict[str, Any]]]:
    out = []
    while batch := outbox.peek(20):
        out += [(m.kind.value, json.loads(m.payload)) for m in batch]
        outbox.ack(len(batch))
    return out


def test_a_counter_going_backwards_mid_session_begins_a_new_session(tmp_path: Path) -> None:
    b, outbox, _ = bridge(tmp_path)
    b.apply([(STATE, 1, 1000), (TOTAL, 5, 1000)])
    b.apply([(TOTAL, 7, 2000)])
    b.apply([(TOTAL, 2, 3000)])  # the PLC reset its counter while connected
    messages = sent(outbox)
    kinds = [(k, p.get("seq"), p.get("total")) for k, p in messages]
    assert kinds == [("birth", 0, None), ("status", None, None), ("state", 1, None), ("counters", 2, 5),
                     ("counters", 3, 7), ("birth", 0, None), ("status", None, None), ("counters", 1, 2)]
    first, second = (p["session"] for k, p in messages if k == "birth")
    assert second > first
    # Σ ideal time restarts with the session: only the parts made since the reset are counted
    assert messages[-1][1]["ideal_s"] == 0.0 and messages[4][1]["ideal_s"] == 20.0


def test_values_of_any_shape_are_refused_one_by_one(tmp_path: Path) -> None:
    b, outbox, stats = bridge(tmp_path)
    b.apply([(STATE, ua.LocalizedText("Running"), 1000), (STATE, [1, 2], 1000), (TOTAL, float("inf"), 1000),
             (TOTAL, 1e400, 1000), (TOTAL, 3, 1000), (STATE, 1, 1000)])
    assert stats.bad_values == 4
    kinds = [(k, p.get("total"), p.get("reason")) for k, p in sent(outbox)]
    assert kinds == [("birth", None, None), ("status", None, None), ("state", None, "producing"),
                     ("counters", 3, None)]
