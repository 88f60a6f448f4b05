"""What changed on each machine since the last look: the input of every protocol adapter.

The feed reads the machines' logs and counters between simulation steps; the
model itself is never asked to do I/O. State changes come out as events with
their exact simulated instant; counters and signals as samples.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from shopfloor.telemetry import CounterSample

from ._machine import MachineSim
from ._signals import readings

#: plant-time period of the extra counters samples: hours, days and shifts starting on the hour or the
#: half hour begin and end with an exact count
COUNTER_EDGE_S = 1800.0


@dataclass(frozen=True, slots=True)
class StateEvent:
    """A state change: the stop-reason code in force from ``ts_ms`` (epoch ms), and the product set up."""

    ts_ms: int
    reason: int
    product: str


@dataclass(slots=True)
class MachineUpdate:
    """What changed on one machine since the last look: its state changes in order, and its counters and signals
    when sampled (None when not; ``signals_ts_ms`` is when the signals were sampled)."""

    machine: MachineSim
    states: list[StateEvent] = field(default_factory=list)
    counters: CounterSample | None = None
    signals: dict[str, float] | None = None
    signals_ts_ms: int = 0
    #: signals whose reading carries a bad status (a failed sensor): OPC UA serves them with it, MQTT leaves them out
    bad_signals: frozenset[str] = frozenset()
    #: the feed's look it came from (1, 2, ...; 0: not from a feed); a snapshot bears the last look it includes
    batch: int = 0


class TelemetrySink(Protocol):
    """A protocol adapter, a service (shopfloor/lifecycle.py): ``async with`` it serves or publishes the machines it
    was given, ``ready`` once it does."""

    ready: asyncio.Event

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None: ...

    async def publish(self, updates: list[MachineUpdate]) -> None:
        """Send or serve the updates of its own machines (those of others are ignored)."""
        ...


class Feed:
    """Turns the machines' logs into updates, one call per simulation step."""

    def __init__(self, machines: list[MachineSim], start_epoch: float) -> None:
        self.machines = machines
        self.start_epoch = start_epoch
        self._cursor = {id(m): 0 for m in machines}
        #: looks so far: the number of the last one
        self.batch = 0

    def ms(self, t: float) -> int:
        """Sim time ``t`` (seconds) as epoch milliseconds."""
        return round((self.start_epoch + t) * 1000)

    def collect(self, now: float, *, sample: bool, counters: bool = False) -> list[MachineUpdate]:
        """State events since the last call; counters and signals too when ``sample``, counters alone when
        ``counters``."""
        self.batch += 1
        out = []
        for m in self.machines:
            key = id(m)
            start = self._cursor[key]
            end = len(m.log_t)
            update = None
            if end > start:
                update = MachineUpdate(m, batch=self.batch)
                update.states = [self._state(m, i) for i in range(start, end)]
                self._cursor[key] = end
            if sample:
                update = update or MachineUpdate(m, batch=self.batch)
                update.counters = self.counters(m, now)
                update.signals, update.bad_signals = readings(m)
                update.signals_ts_ms = self.ms(now) + m.clock_skew_ms
            elif counters:
                update = update or MachineUpdate(m, batch=self.batch)
                update.counters = self.counters(m, now)
            if update is not None:
                out.append(update)
        return out

    def snapshot(self, now: float) -> list[MachineUpdate]:
        """Every machine as the looks so far told it: the state in force at the last look (with the instant it
        began) and its counters at ``now``, bearing the last look's number.

        What a server restarted mid-run writes before it accepts clients: not the
        plant as it is now, which may be ahead of the last look (the changes since
        then come with the next one), so that what the next looks say follows it."""
        out = []
        for m in self.machines:
            update = MachineUpdate(m, counters=self.counters(m, now), batch=self.batch)
            seen = self._cursor[id(m)]
            if seen:
                update.states = [self._state(m, seen - 1)]
            out.append(update)
        return out

    def _state(self, m: MachineSim, i: int) -> StateEvent:
        """The machine's ``i``-th state change, stamped by its own clock."""
        return StateEvent(self.ms(m.log_t[i]) + m.clock_skew_ms, m.log_r[i], m.products[m.log_p[i]])

    def counters(self, m: MachineSim, now: float) -> CounterSample:
        """A machine's cumulative counters at sim time ``now``."""
        return CounterSample(self.ms(now) + m.clock_skew_ms, m.total, m.good, m.scrap, m.rework, m.energy_kwh(),
                             m.ideal_done_s)
