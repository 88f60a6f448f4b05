"""Build a plant's lines as SimPy processes and run them, fast or against the clock."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from types import EllipsisType
from typing import Any, Literal

import simpy

from shopfloor import Line, MachineAt, Plant
from shopfloor._scenario import Event, EventKind, at_an_instant_text, from_the_start_only, with_changes

from ._buffer import Buffer
from ._clock import SiteClock
from ._machine import MachineSim
from ._scenario import Injector
from ._truth import build_truth

#: default start of a run: the first shift on this Monday, in the first site's time zone
REFERENCE_DAY = dt.date(2026, 1, 5)


def default_start(plant: Plant) -> dt.datetime:
    """The first shift start on or after ``REFERENCE_DAY`` in the first site's calendar."""
    cal = plant.sites[0].calendar
    day0 = dt.datetime.combine(REFERENCE_DAY, dt.time(0), tzinfo=cal.tz).timestamp()
    shifts = cal.shift_instances(day0, day0 + 14 * 86400)
    first = next((s.start for s in shifts if s.start >= day0), day0)
    return dt.datetime.fromtimestamp(first, cal.tz)


class LineSim:
    """A line's machines in flow order and the buffers between them."""

    def __init__(self, path: str, site_id: str, line: Line, machines: list[MachineSim],
                 buffers: list[Buffer]) -> None:
        self.path = path
        self.site_id = site_id
        self.line = line
        self.machines = machines
        self.buffers = buffers
        self.constraint = next(m for m in machines if m.at.machine is line.constraint)

    def wip(self) -> list[int]:
        """Parts waiting in each buffer now."""
        return [len(b.items) for b in self.buffers]


class Pace:
    """How fast a live run goes, changed while it runs (a teacher's pause, resume and speed): sim seconds per
    wall second, None as fast as possible."""

    def __init__(self, speed: float | None = 1.0) -> None:
        self.speed = speed
        self.paused = False
        #: +1 on every change: the run takes its clock anew from there
        self.version = 0

    def set(self, *, speed: float | EllipsisType | None = ..., paused: bool | None = None) -> None:
        """Change the speed (``...``: keep it) and pause or resume (None: as it is)."""
        if not isinstance(speed, EllipsisType):
            if speed is not None and not (math.isfinite(speed) and speed > 0):
                raise ValueError(f"speed {speed!r}: expected sim seconds per wall second, more than 0")
            self.speed = speed
        if paused is not None:
            self.paused = paused
        self.version += 1


def live_refusal(event: Event) -> str:
    """Why ``event`` cannot be applied to a plant while it runs ("" when it can): a ``change`` of a field that
    applies from the start of a run only."""
    fixed = from_the_start_only(event.params["set"]) if event.kind is EventKind.CHANGE else []
    if fixed:
        return f"set.{fixed[0]}: applies from the start of a run only; live, a change may set {at_an_instant_text()}"
    return ""


class Simulation:
    """A running plant. Time ``now`` is seconds since ``start_epoch``.

    Protocol adapters read machine state from ``machines`` between steps; the
    model itself never does I/O.
    """

    def __init__(self, plant: Plant, *, seed: int = 1, start: dt.datetime | None = None,
                 shard: tuple[int, int] = (0, 1), events: Sequence[Event] = (),
                 opcua_per: Literal["site", "line"] = "site") -> None:
        """``shard=(k, n)`` builds only every n-th line, from the k-th: n processes share a plant.

        Each machine draws from its own random streams, so a machine's run in
        a shard is exactly its run in the whole plant. ``events``: a scenario's (``shopfloor.load_scenario``);
        its changes make the plant that runs, the others are scheduled (``ScenarioError`` for one that starts
        before ``start``); more can be injected while it runs (``inject``). ``opcua_per``: its OPC UA servers
        serve a site or a line each (``OpcUaSettings.per``), which an outage of server ``opcua:NAME`` cuts off.
        """
        plant = with_changes(plant, tuple(events))
        k, n = shard
        if not (n >= 1 and 0 <= k < n):
            raise ValueError(f"shard must be K/N with 0 <= K < N, got {k}/{n}")
        self.plant = plant
        self.seed = seed
        self.shard = shard
        self.opcua_per = opcua_per
        start = start or default_start(plant)
        if start.tzinfo is None:
            start = start.replace(tzinfo=plant.sites[0].calendar.tz)
        # whole seconds keep calendar boundaries exact in sim time
        self.start_epoch = float(int(start.timestamp()))
        self.env = simpy.Environment()
        self.machines: list[MachineSim] = []
        self.lines: list[LineSim] = []
        self.clocks: dict[str, SiteClock] = {}
        index = 0
        for site in plant.sites:
            clock = SiteClock(self.env, site.calendar, self.start_epoch)
            self.clocks[site.id] = clock
            for area in site.areas:
                for line in area.lines:
                    if index % n == k:
                        self._add_line(plant, clock, MachineAt(plant.enterprise, site, area, line, line.machines[0]))
                    index += 1
        self.injector = Injector(self)
        self.injector.check(events)
        for event in events:
            self.injector.schedule(event)
        # let every process take its first step, so machines have a state before anyone reads it
        while self.env.peek() <= self.env.now:
            self.env.step()

    def _add_line(self, plant: Plant, clock: SiteClock, first: MachineAt) -> None:
        line = first.line
        buffers = [Buffer(self.env, m.buffer) for m in line.machines[:-1]]
        sims = []
        for i, machine in enumerate(line.machines):
            at = first._replace(machine=machine)
            inbuf = buffers[i - 1] if i > 0 else None
            outbuf = buffers[i] if i < len(buffers) else None
            sims.append(MachineSim(self.env, at, clock, self.seed, inbuf, outbuf))
        self.machines.extend(sims)
        path = "/".join((plant.enterprise.id, first.site.id, first.area.id, line.id))
        self.lines.append(LineSim(path, first.site.id, line, sims, buffers))

    @property
    def now(self) -> float:
        """Sim time, seconds since ``start_epoch``."""
        return float(self.env.now)

    def epoch(self, t: float | None = None) -> float:
        """Wall-clock (POSIX) time of sim time ``t`` (default: now)."""
        return self.start_epoch + (self.now if t is None else t)

    def run(self, until_s: float, *, progress: Callable[[float], None] | None = None, steps: int = 100) -> None:
        """Run as fast as possible to sim time ``until_s``, calling ``progress(now)`` along the way."""
        if progress is None:
            self._advance(until_s)
            return
        start = self.now
        for k in range(1, steps + 1):
            self._advance(start + (until_s - start) * k / steps)
            progress(self.now)

    def _advance(self, until_s: float) -> None:
        if until_s > self.env.now:
            self.env.run(until=until_s)

    async def run_live(
        self,
        until_s: float | None = None,
        *,
        speed: float | Pace | None = 1.0,
        tick_s: float = 0.05,
        on_step: Callable[[float], Awaitable[None] | None] | None = None,
        catch_up: bool = False,
        boundary_s: float | None = None,
    ) -> None:
        """Advance in small steps from asyncio, never blocking the loop for long.

        ``speed`` is sim seconds per wall second (1 = real time); ``None``
        runs as fast as possible in slices of about ``tick_s`` wall time; a
        ``Pace`` may be paused or change its speed while the run goes on.
        ``catch_up`` first runs, as fast as possible, to the wall clock's
        present (for runs that start "now": setting up servers took time).
        ``boundary_s``: a step also ends on every multiple of it in epoch time
        (whole minutes, say), so ``on_step`` sees the plant exactly there.
        """
        loop = asyncio.get_running_loop()
        if catch_up:
            present = min(time.time() - self.start_epoch, float("inf") if until_s is None else until_s)
            await self.run_live(present, speed=None, tick_s=tick_s, on_step=on_step, boundary_s=boundary_s)
        pace = speed if isinstance(speed, Pace) else Pace(speed)
        wall0, sim0, seen = loop.time(), self.now, pace.version
        slice_s = 60.0
        end = float("inf") if until_s is None else until_s

        def next_boundary() -> float:
            if boundary_s is None:
                return end
            epoch = self.start_epoch + self.now
            return (math.floor(epoch / boundary_s + 1e-9) + 1) * boundary_s - self.start_epoch

        while self.now < end:
            if pace.version != seen:  # paused, resumed or a new speed: the clock goes on from here
                wall0, sim0, seen = loop.time(), self.now, pace.version
            if pace.paused:
                await asyncio.sleep(tick_s)
                continue
            speed = pace.speed
            if speed is None:
                t = time.perf_counter()
                self._advance(min(end, self.now + slice_s, next_boundary()))
                spent = time.perf_counter() - t
                # aim each slice at about tick_s of wall time
                slice_s = max(1.0, min(slice_s * 4, slice_s * tick_s / max(spent, 1e-6)))
                await asyncio.sleep(0)
            else:
                target = sim0 + (loop.time() - wall0) * speed
                boundary = next_boundary()
                self._advance(min(end, target, boundary))
                if self.now < end and boundary > target:
                    await asyncio.sleep(tick_s)
            if on_step is not None:
                result = on_step(self.now)
                if result is not None:
                    await result

    def inject(self, event: Event, *, after_s: float = 0.0) -> int:
        """Apply ``event`` now, or ``after_s`` seconds from now (its ``at`` is ignored; a ``change`` only of fields
        that act while the plant runs); its number in the truth's ``injected``."""
        refused = live_refusal(event)
        if refused:
            raise ValueError(refused)
        number = self.injector.schedule(dataclasses.replace(event, at_s=self.now + max(after_s, 0.0), at_epoch=None),
                                        live=True)
        while self.env.peek() <= self.env.now:  # it begins now, before anyone samples the plant
            self.env.step()
        return number

    def clear(self, number: int) -> None:
        """End injected event ``number`` now (``ValueError`` if it is not under way)."""
        self.injector.clear(number)
        while self.env.peek() <= self.env.now:  # its undo runs now, before anyone samples the plant
            self.env.step()

    def owns(self, event: Event) -> bool:
        """Does this run (this shard) have the event's machine or line?"""
        return self.injector.owns(event)

    def truth(self) -> dict[str, Any]:
        """Exact ISO 22400 time elements and counts so far (see docs/ground-truth.md)."""
        return build_truth(self)
