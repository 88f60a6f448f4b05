"""Serve a running simulation over the wire: the simulator's protocol adapters in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from ._feed import COUNTER_EDGE_S, Feed, MachineUpdate, TelemetrySink
from ._machine import MachineSim
from ._simulation import Pace, Simulation

log = logging.getLogger(__name__)


class LiveRun:
    """Runs ``sim`` against the clock while every sink serves its machines.

    State changes go out after every simulation step (about every 50 ms of wall
    time) with their exact simulated instants; counters and signals every
    ``sample_period_s`` of wall time, counters also on every whole half hour of
    plant time (so every hour, shift and day starts and ends with an exact count),
    and once more at the end so the last counters equal the ground truth.
    """

    def __init__(self, sim: Simulation, sinks: Sequence[tuple[TelemetrySink, Sequence[MachineSim]]],
                 *, sample_period_s: float = 1.0) -> None:
        self.sim = sim
        self.sinks = [sink for sink, _ in sinks]
        served = {id(m): m for _, machines in sinks for m in machines}
        self.feed = Feed(list(served.values()), sim.start_epoch)
        self.sample_period_s = sample_period_s
        self._next_sample = 0.0
        self._sinks = contextlib.AsyncExitStack()

    async def __aenter__(self) -> LiveRun:
        """Every sink entered (an error opening one closes those opened before it), then the state at the start,
        before any client looks."""
        async with contextlib.AsyncExitStack() as stack:
            for sink in self.sinks:
                await stack.enter_async_context(sink)
            await self.publish(sample=True)
            self._sinks = stack.pop_all()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """The last values, then every sink closed, the last opened first; an error closing one does not keep the
        others open, and is raised once all are closed."""
        try:
            await self.publish(sample=True)
        finally:
            await self._sinks.__aexit__(exc_type, exc, tb)

    def snapshot(self) -> list[MachineUpdate]:
        """Every served machine as the sinks were told so far (``Feed.snapshot``): what a restarted server writes
        before it accepts clients, so they see no reset and no new state, and then what follows in order."""
        return self.feed.snapshot(self.sim.now)

    async def publish(self, *, sample: bool, counters: bool = False) -> None:
        """Hand what changed since the last call to every sink: state changes, with counters and signals when
        ``sample``, counters alone when ``counters``."""
        updates = self.feed.collect(self.sim.now, sample=sample, counters=counters)
        if updates:
            for sink in self.sinks:
                await sink.publish(updates)

    async def _step(self, now: float) -> None:
        wall = time.monotonic()
        sample = wall >= self._next_sample
        if sample:
            # a fixed grid keeps the configured rate; a short stall is made up by the next step,
            # a long one is not replayed as a burst
            self._next_sample += self.sample_period_s
            if self._next_sample < wall - self.sample_period_s:
                self._next_sample = wall + self.sample_period_s
        # counters on every whole half hour of plant time: window edges get exact counts
        epoch = self.sim.start_epoch + now
        minute = abs(epoch - round(epoch / COUNTER_EDGE_S) * COUNTER_EDGE_S) < 1e-6
        await self.publish(sample=sample, counters=minute)

    async def run(self, until_s: float | None, *, speed: float | Pace | None,
                  on_step: Callable[[float], None] | None = None, catch_up: bool = False) -> None:
        """Run the simulation against the clock to sim time ``until_s`` (None: until cancelled), publishing after
        every step and calling ``on_step(now)``; ``speed`` and ``catch_up`` as for ``Simulation.run_live``."""
        async def step(now: float) -> None:
            await self._step(now)
            if on_step is not None:
                on_step(now)

        self._next_sample = time.monotonic() + self.sample_period_s
        await self.sim.run_live(until_s, speed=speed, on_step=step, catch_up=catch_up, boundary_s=COUNTER_EDGE_S)
        await asyncio.sleep(0)
