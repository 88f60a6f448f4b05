"""From OPC UA value changes to the telemetry contract, one machine at a time.

A bridged machine publishes exactly what an MQTT-native one does: a birth and
``online`` when its source is up, one ``state`` message per state change with
the change's source timestamp, cumulative ``counters`` and ``signals`` when
they change, ``offline`` when its source is gone. A session is an unbroken
observation of the machine: when its source was lost and is back (the server or
the network restarted, or the gateway itself), or its counters go backwards, a
new session begins with a new birth and seq 0, whose first values — the state in
force with the instant it began, the counters — tell a consumer where the machine
stands; what happened in between was seen by no one (docs/telemetry.md).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shopfloor import REASONS, MessageKind, StopReason
from shopfloor import telemetry as contract
from shopfloor._publisher import Outgoing, now_ms

from ._outbox import SpoolOutbox

log = logging.getLogger(__name__)

#: a bad value of one node is logged the first time and then every this many times
LOG_EVERY = 1000


class Field(StrEnum):
    """What an OPC UA variable means for the contract."""

    REASON = "reason"  # a stop-reason code (our servers' StopReason)
    STATE = "state"  # any value, turned into a stop reason by the node map's value table
    PRODUCT = "product"
    TOTAL = "total"
    GOOD = "good"
    SCRAP = "scrap"
    REWORK = "rework"
    ENERGY = "energy_kwh"
    IDEAL = "ideal_s"
    SIGNAL = "signal"


COUNT_FIELDS = (Field.TOTAL, Field.GOOD, Field.SCRAP, Field.REWORK)
COUNTER_FIELDS = (*COUNT_FIELDS, Field.ENERGY, Field.IDEAL)


@dataclass(frozen=True, slots=True)
class Point:
    """One monitored variable: which machine, which contract field, and how to read it."""

    path: str
    field: Field
    node: str
    #: signal name (for SIGNAL)
    name: str = ""
    #: source value → stop-reason code (for STATE)
    states: Mapping[Any, int] = dataclasses.field(default_factory=dict)


@dataclass(slots=True)
class Stats:
    """A gateway's cumulative counts, published in its health message."""

    received: int = 0
    bad_values: int = 0
    published: int = 0
    replayed: int = 0
    dropped: int = 0
    opcua_reconnects: int = 0
    mqtt_reconnects: int = 0
    queued: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name, as the health message carries them."""
        return {k: getattr(self, k) for k in self.__slots__}


class MachineBridge:
    def __init__(self, path: str, outbox: SpoolOutbox, notify: Callable[[], None], stats: Stats) -> None:
        self.path = path
        self.outbox = outbox
        self.notify = notify
        self.stats = stats
        self.nameplate: dict[str, Any] | None = None
        self.seq = 0
        self.fresh = False
        #: the next state value is the first after (re)subscribing
        self.resumed = False
        #: a session was begun in this run of the gateway
        self.started = False
        self.reason: int | None = None
        self.state_ts = 0
        self.product = ""
        #: the counters as the server last gave them: kept across a new session (the server still holds them, and
        #: one that did not change is not notified again), forgotten when the source is subscribed anew (then it
        #: sends every value)
        self.counts: dict[Field, float] = {}
        self.mapped: frozenset[Field] = frozenset()
        self.ideal_s = 0.0
        self.signals: dict[str, float] = {}
        self._bad: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------ source events

    def attach(self, nameplate: dict[str, Any], mapped: frozenset[Field]) -> None:
        """The machine's OPC UA source is up and its variables are subscribed."""
        self.nameplate = nameplate
        self.mapped = mapped
        # a signal that is no longer subscribed (gone from the server) is no longer sent
        self.signals = {k: v for k, v in self.signals.items() if k in nameplate.get("signals", ())}
        self.fresh = True
        self.resumed = True
        self.counts.clear()
        if not self.product:
            self.product = next(iter(nameplate.get("ideal_cycle_s") or {"": 0}))

    def detach(self) -> None:
        """The source is gone: ``offline`` until it is back."""
        if self.outbox.online:
            self.outbox.online = False
            self._put(self.outbox.status(False))
            self.notify()

    def link_lost(self, why: str) -> None:
        """The server says it cannot reach the machine (its state's status): ``offline`` until the state comes with a
        good status again, and then a new session (what it did meanwhile was not seen)."""
        if self.nameplate is None or (self.fresh and not self.outbox.online):
            return  # not bridged yet, or already cut off
        log.warning("%s: its server cannot reach it (%s); offline until it can", self.path, why)
        self.detach()
        self.fresh = True
        self.resumed = True

    def apply(self, changes: list[tuple[Point, Any, int]]) -> None:
        """Value changes of one publish response, in order: (point, value, source ts ms)."""
        if self.fresh:
            self._begin(changes)
        signals_ts = 0
        counts: list[tuple[int, Point, Any]] = []
        for point, value, ts in changes:
            self.stats.received += 1
            f = point.field
            if f in COUNTER_FIELDS:
                counts.append((ts, point, value))
                continue
            try:
                if f is Field.REASON or f is Field.STATE:
                    self._state(point, value, ts)
                elif f is Field.PRODUCT:
                    if not isinstance(value, str) or not value:
                        raise ValueError(f"{_show(value)} is not a product id")
                    self.product = value
                elif f is Field.SIGNAL:
                    self.signals[point.name] = _finite(value)
                    signals_ts = max(signals_ts, ts)
            except (ValueError, TypeError, ArithmeticError) as e:  # whatever a server sends, only this value is lost
                self.bad(point, str(e))
        # one counters message per source instant, oldest first: a response may hold several samples of the
        # counters (queued items), and the one at a window edge must not be folded into a later one
        counts.sort(key=lambda c: c[0])
        for k, (ts, point, value) in enumerate(counts):
            try:
                self._count(point.field, value)
            except (ValueError, TypeError, ArithmeticError) as e:
                self.bad(point, str(e))
            last_of_instant = k + 1 == len(counts) or counts[k + 1][0] != ts
            if last_of_instant and Field.TOTAL in self.counts:
                self._counters(ts)
        if signals_ts:
            payload = contract.signals(ts_ms=signals_ts, seq=self._next(), values=self.signals)
            self._put(Outgoing(MessageKind.SIGNALS, contract.encode(payload)))
        self.notify()

    def bad(self, point: Point, why: str) -> None:
        self.stats.bad_values += 1
        key = (point.node, why)
        n = self._bad[key] = self._bad.get(key, 0) + 1
        if n == 1 or n % LOG_EVERY == 0:
            log.warning("%s: %s %s: %s; value ignored (%d time%s)", self.path, point.field.value, point.node, why, n,
                        "" if n == 1 else "s")

    # ------------------------------------------------------------ messages

    def _begin(self, changes: list[tuple[Point, Any, int]]) -> None:
        """First values after (re)attaching: a new session (whatever the machine did while its source was away is
        not known), then birth and online."""
        assert self.nameplate is not None
        self.fresh = False
        if self.started:
            log.info("%s: its source is back: a new session (what it did meanwhile was not seen)", self.path)
        self.started = True
        self._new_session()
        self._birth()

    def _new_session(self) -> None:
        """Seq 0 under a new session id; its first values say where the machine stands, the state in force too."""
        self.outbox.session_ms = max(now_ms(), self.outbox.session_ms + 1)  # a new id even within a millisecond
        self.seq = 0
        self.ideal_s = 0.0
        self.reason = None

    def _birth(self) -> None:
        assert self.nameplate is not None
        birth = contract.birth(self.nameplate, ts_ms=now_ms(), seq=self._next(), session_ms=self.outbox.session_ms)
        self._put(Outgoing(MessageKind.BIRTH, contract.encode(birth), retain=True))
        self.outbox.online = True
        self._put(self.outbox.status(True))

    def _state(self, point: Point, value: Any, ts: int) -> None:
        if point.field is Field.STATE:
            key = _key(value)
            if key not in point.states:
                known = ", ".join(map(str, point.states))
                raise ValueError(f"{_show(value)} is not in the node map's states ({known})")
            reason = point.states[key]
        else:
            if isinstance(value, bool) or not isinstance(value, int) or value not in REASONS:
                raise ValueError(f"{_show(value)} is not a stop-reason code")
            reason = int(StopReason(value))
        resumed, self.resumed = self.resumed, False
        if reason == self.reason and (ts == self.state_ts or resumed):
            # the current state again, as a new subscription reports it (a server without source
            # timestamps stamps it anew)
            return
        self.reason, self.state_ts = reason, ts
        payload = contract.state(ts_ms=ts, seq=self._next(), reason=reason, product=self.product)
        self._put(Outgoing(MessageKind.STATE, contract.encode(payload)))

    def _count(self, f: Field, value: Any) -> None:
        x = _finite(value)
        if x < 0:
            raise ValueError(f"{_show(value)} is negative")
        if f in COUNT_FIELDS and x != int(x):
            raise ValueError(f"{_show(value)} is not a whole number of parts")
        if x < self.counts.get(f, 0):
            # reset or wrapped while the session was up: no cumulative value (energy and Σ PRI too) may go backwards
            # in a session
            log.info("%s: %s went from %g to %g: new session", self.path, f.value, self.counts[f], x)
            self._new_session()
            self._birth()
        if f is Field.TOTAL and Field.IDEAL not in self.mapped and Field.TOTAL in self.counts:
            # a foreign machine reports no ideal time: Σ PRI of the parts it made since the last value
            cycle = (self.nameplate or {}).get("ideal_cycle_s", {}).get(self.product, 0.0)
            self.ideal_s += max(0.0, x - self.counts[Field.TOTAL]) * cycle
        self.counts[f] = x

    def _counters(self, ts: int) -> None:
        c = self.counts
        total = int(c[Field.TOTAL])
        scrap = int(c.get(Field.SCRAP, 0))
        rework = int(c.get(Field.REWORK, 0))
        good = int(c[Field.GOOD]) if Field.GOOD in c else max(0, total - scrap - rework)
        ideal = c.get(Field.IDEAL, 0.0) if Field.IDEAL in self.mapped else self.ideal_s
        payload = contract.counters(ts_ms=ts, seq=self._next(), total=total, good=good, scrap=scrap, rework=rework,
                                    energy_kwh=c.get(Field.ENERGY, 0.0), ideal_s=ideal)
        self._put(Outgoing(MessageKind.COUNTERS, contract.encode(payload)))

    def _next(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq

    def _put(self, message: Outgoing) -> None:
        self.outbox.put(message)


def _key(value: Any) -> Any:
    # node-map tables are written in YAML: 2.0 from the server matches the key 2
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int | str | float):  # LocalizedText, arrays, structures: not a table key
        raise ValueError(f"{_show(value)} is not a number or text")
    return value


def _finite(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float):
        raise ValueError(f"{_show(value)} is not a number")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{_show(value)} is not a finite number")
    return x


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"
