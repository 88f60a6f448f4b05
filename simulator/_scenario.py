"""A scenario's events applied to a running plant, and the truth of what was applied.

Each event is a SimPy process of its own: it waits for its start, acts on its machine or line
(a hold that stops it, a speed or quality factor), and undoes what it did at its end. Nothing
here draws from a machine's random streams — a storm's micro-stops have a stream of their own —
so a scenario changes only what it touches (common random numbers: a machine no event targets
runs exactly as without the scenario, unless its line's flow reaches it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import simpy

from shopfloor import Issue, StopReason
from shopfloor._scenario import Event, EventKind, ScenarioError

from . import _random as rnd
from ._machine import MachineSim

if TYPE_CHECKING:
    from ._simulation import Simulation

#: a quality drift's ramp moves in steps of this (or fewer, shorter steps for a short ramp)
RAMP_STEP_S = 60.0
_MIN_RAMP_STEPS = 10


@dataclasses.dataclass(slots=True)
class Injected:
    """An event as applied: where, from when to when (sim seconds; ``end_s`` None while it lasts)."""

    event: Event
    start_s: float
    end_s: float | None = None

    def truth(self, start_epoch: float) -> dict[str, Any]:
        """The truth's entry (docs/ground-truth.md "injected")."""
        return {"kind": self.event.kind.value, "target": self.event.path, "level": self.event.level.value,
                "start_ms": round((start_epoch + self.start_s) * 1000),
                "end_ms": None if self.end_s is None else round((start_epoch + self.end_s) * 1000),
                "params": {k: _plain(v) for k, v in self.event.params.items()}}


def _plain(value: Any) -> Any:
    """A parameter as JSON writes it (a change's fields: enums as their values)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.value if hasattr(value, "value") else value


class Injector:
    """Applies events to ``sim``: scripted ones (``schedule`` before the run) and live ones (``schedule`` at now)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.applied: list[Injected] = []
        self._machines = {m.path: m for m in sim.machines}
        self._firsts = {line.path: line.machines[0] for line in sim.lines}
        self._count = 0

    def start_s(self, event: Event) -> float:
        """The event's start in sim seconds."""
        return event.at_s if event.at_s is not None else float(event.at_epoch or 0.0) - self.sim.start_epoch

    def check(self, events: Sequence[Event], until_s: float | None = None) -> None:
        """``ScenarioError`` for events that start before the run, or (``until_s``) after its end."""
        issues: list[Issue] = []
        calendar = self.sim.plant.sites[0].calendar
        for event in events:
            start = self.start_s(event)
            if start < 0:
                issues.append(event.problem(f"starts at {calendar.iso(self.sim.start_epoch + start)}, before the "
                                            f"run's start ({calendar.iso(self.sim.start_epoch)})"))
            elif until_s is not None and start >= until_s:
                issues.append(event.problem(f"starts at {calendar.iso(self.sim.start_epoch + start)}, after the "
                                            f"run's end ({calendar.iso(self.sim.start_epoch + until_s)})"))
        if issues:
            raise ScenarioError(issues)

    def schedule(self, event: Event) -> Injected | None:
        """Start ``event``'s process (a ``change`` was applied to the plant before the run: recorded only); the
        record of a change, None for the others until they start."""
        self._count += 1
        if event.kind is EventKind.CHANGE:
            record = Injected(event, 0.0)
            self.applied.append(record)
            return record
        if self._targets(event) == []:
            return None  # a machine or line of another shard
        self.sim.env.process(self._run(event, self._count))
        return None

    def _targets(self, event: Event) -> list[MachineSim]:
        if event.kind is EventKind.MATERIAL_SHORTAGE:
            first = self._firsts.get(event.path)
            return [first] if first is not None else []
        m = self._machines.get(event.path)
        return [m] if m is not None else []

    def _run(self, event: Event, number: int) -> Generator[simpy.Event, Any, None]:
        env = self.sim.env
        delay = self.start_s(event) - env.now
        if delay > 0:
            yield env.timeout(delay)
        record = Injected(event, float(env.now))
        self.applied.append(record)
        (m,) = self._targets(event)
        duration = event.duration_s
        kind = event.kind
        if kind in _HELD:
            reason = _HELD[kind]
            if kind is EventKind.BREAKDOWN:
                m.fail_t.append(env.now)  # a failure like any other (MTBF, the failure count)
            m.hold(reason)
            yield env.timeout(duration or 0.0)
            m.release(reason)
        elif kind is EventKind.SPEED_LOSS:
            factor = float(event.params["factor"])
            m.speed *= factor
            if duration is None:
                return
            yield env.timeout(duration)
            m.speed /= factor
        elif kind is EventKind.QUALITY_DRIFT:
            yield from self._drift(m, event, duration)
            if duration is None:
                return  # it lasts to the end of the run
        elif kind is EventKind.MICRO_STOP_STORM:
            yield from self._storm(m, event, number)
        record.end_s = float(env.now)

    def _drift(self, m: MachineSim, event: Event, duration: float | None) -> Generator[simpy.Event, Any, None]:
        env = self.sim.env
        scrap0, rework0 = m.scrap_share, m.rework_share
        scrap1 = float(event.params.get("scrap_rate", scrap0))
        rework1 = float(event.params.get("rework_rate", rework0))
        ramp = float(event.params.get("ramp", 0.0))
        steps = max(_MIN_RAMP_STEPS, round(ramp / RAMP_STEP_S)) if ramp > 0 else 1
        for k in range(1, steps + 1):
            if ramp > 0:
                yield env.timeout(ramp / steps)
            f = k / steps
            m.set_quality(scrap0 + (scrap1 - scrap0) * f, rework0 + (rework1 - rework0) * f)
        if duration is None:
            return
        yield env.timeout(max(0.0, duration - ramp))
        m.set_quality(scrap0, rework0)

    def _storm(self, m: MachineSim, event: Event, number: int) -> Generator[simpy.Event, Any, None]:
        env = self.sim.env
        end = env.now + float(event.duration_s or 0.0)
        rate = float(event.params["rate"])
        stop = float(event.params.get("stop", m.at.machine.micro_stop_s))
        gaps = rnd.exponential(self.sim.seed, f"{m.path}/scenario/{number}", rnd.Purpose.SCENARIO, 3600.0 / rate)
        while True:
            gap = gaps.next()
            if env.now + gap >= end:
                yield env.timeout(end - env.now)
                return
            yield env.timeout(gap)
            if m.reason != int(StopReason.PRODUCING):
                continue  # a micro-stop interrupts production: a machine waiting or down has none
            m.micro_t.append(env.now)
            m.hold(int(StopReason.MICRO_STOP))
            yield env.timeout(min(stop, end - env.now))
            m.release(int(StopReason.MICRO_STOP))

    def truth(self) -> list[dict[str, Any]]:
        """Every event applied so far, in the order it started."""
        return [r.truth(self.sim.start_epoch) for r in sorted(self.applied, key=lambda r: r.start_s)]


_HELD = {
    EventKind.BREAKDOWN: int(StopReason.BREAKDOWN),
    EventKind.CHANGEOVER: int(StopReason.SETUP),
    EventKind.MATERIAL_SHORTAGE: int(StopReason.STARVED),
}
