"""A scenario's events applied to a running plant, and the truth of what was applied.

Each event acts on its machine or line at its start (a hold that stops it, a speed or quality
factor) and undoes what it did at its end. Nothing
here draws from a machine's random streams — a storm's micro-stops have a stream of their own —
so a scenario changes only what it touches (common random numbers: a machine no event targets
runs exactly as without the scenario, unless its line's flow reaches it).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import simpy

from shopfloor import Control, Issue, Protocol, StopReason, opcua_server
from shopfloor._scenario import Event, EventKind, ScenarioError, changed, from_the_start

from . import _random as rnd
from ._machine import MachineSim
from ._signals import SensorFault, signal_names, wear_out_of_band

if TYPE_CHECKING:
    from ._simulation import Simulation

#: a degradation's wear moves in steps of this (or at least ``_MIN_WEAR_STEPS`` shorter ones)
WEAR_STEP_S = 60.0
_MIN_WEAR_STEPS = 10


@dataclasses.dataclass(slots=True)
class Injected:
    """An event as applied: where, from when to when (sim seconds; ``end_s`` None while it lasts)."""

    event: Event
    #: its number in the run (1, 2, …: in the order scheduled), what a live command's result names it by
    number: int
    start_s: float
    end_s: float | None = None
    #: a degradation's instants (sim seconds): its signals leave their band, it fails (None: not, or not yet)
    out_of_band_s: float | None = None
    failure_s: float | None = None
    #: a network outage's machines, by path: what the contract keeps of each while it is away
    cut_off: dict[str, dict[str, list[str]]] = dataclasses.field(default_factory=dict)
    #: an operator absence's stations, by path
    stopped: list[str] = dataclasses.field(default_factory=list)

    def truth(self, start_epoch: float) -> dict[str, Any]:
        """The truth's entry (docs/ground-truth.md "injected")."""
        def ms(t: float | None) -> int | None:
            return None if t is None else round((start_epoch + t) * 1000)

        entry: dict[str, Any] = {"id": self.number, "kind": self.event.kind.value, "target": self.event.path,
                 "level": self.event.level.value, "start_ms": ms(self.start_s), "end_ms": ms(self.end_s),
                 "params": {k: _plain(v) for k, v in self.event.params.items()}}
        if self.event.kind is EventKind.DEGRADATION:
            entry |= {"out_of_band_ms": ms(self.out_of_band_s), "failure_ms": ms(self.failure_s)}
        if self.event.kind is EventKind.NETWORK_OUTAGE:
            entry["machines"] = self.cut_off
            if self.event.server is not None:
                entry["server"] = self.event.server
        if self.event.kind is EventKind.OPERATOR_ABSENCE:
            entry["machines"] = self.stopped
        return entry


def _plain(value: Any) -> Any:
    """A parameter as JSON writes it (a change's fields: enums as their values)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.value if hasattr(value, "value") else value


class Injector:
    """Applies events to ``sim``: scripted ones (``schedule`` before the run) and live ones (``schedule`` at now).

    No event has a SimPy process: each step of one (its start, its end, a storm's next stop, a wear step) is the
    callback of a timeout. A process per event would cost SimPy several events each, and the collector of cycles
    a walk over the whole plant now and then (measured: most of the scenario cost, docs/simulator.md).
    """

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.applied: list[Injected] = []
        self._machines = {m.path: m for m in sim.machines}
        self._firsts = {line.path: line.machines[0] for line in sim.lines}
        self._count = 0
        #: the degradation under way on each machine (a maintenance ends it)
        self._wearing: dict[str, Injected] = {}
        #: the events under way, by number: their record and what undoes them, newest first (its end or a clear)
        self._active: dict[int, tuple[Injected, list[Callable[[], None]]]] = {}
        #: the events still to start, by their start (sim s) and number: one timeout at a time waits for the first
        #: (a timeout per event from the start would crowd SimPy's queue and make every step of the run dearer)
        self._waiting: list[tuple[float, int, Event]] = []
        #: when that timeout fires (None: none waiting)
        self._wakes_at: float | None = None

    def start_s(self, event: Event) -> float:
        """The event's start in sim seconds."""
        return event.at_s if event.at_s is not None else float(event.at_epoch or 0.0) - self.sim.start_epoch

    def check(self, events: Sequence[Event], until_s: float | None = None) -> None:
        """``ScenarioError`` for events that start before the run, or (``until_s``) after its end, and for a sensor
        fault of a signal its machine does not have."""
        issues: list[Issue] = []
        calendar = self.sim.plant.sites[0].calendar
        for event in events:
            problem = self._problem(event)
            if problem:
                issues.append(event.problem(problem))
            start = self.start_s(event)
            if start < 0:
                issues.append(event.problem(f"starts at {calendar.iso(self.sim.start_epoch + start)}, before the "
                                            f"run's start ({calendar.iso(self.sim.start_epoch)})"))
            elif until_s is not None and start >= until_s:
                issues.append(event.problem(f"starts at {calendar.iso(self.sim.start_epoch + start)}, after the "
                                            f"run's end ({calendar.iso(self.sim.start_epoch + until_s)})"))
        if issues:
            raise ScenarioError(issues)

    def _problem(self, event: Event, *, live: bool = False) -> str:
        """What keeps ``event`` from applying to this run's machines, found once they are built ("" when nothing)."""
        if event.kind is EventKind.NETWORK_OUTAGE:
            if self._targets(event) or not self.owns_path(event.path):
                return ""
            if event.server is None:
                return f"target: {event.target} has no networked machine"
            served = sorted({opcua_server(m.at, self.sim.opcua_per) for m in self.sim.machines
                             if m.at.machine.networked and m.at.machine.protocol is Protocol.OPCUA})
            if event.level.value != self.sim.opcua_per:
                return (f"target: this run has a server per {self.sim.opcua_per}, not {event.target} "
                        f"({', '.join(f'opcua:{name}' for name in served) or 'none'})")
            return f"target: {event.target} serves no networked machine (OPC UA) in this run"
        if event.kind is EventKind.OPERATOR_ABSENCE:
            if self._targets(event) or not self.owns_path(event.path):
                return ""
            machine = self._machines.get(event.path)
            if machine is not None:
                return (f"target: {event.target} is not a manual station (its control is "
                        f"{machine.at.machine.control.value}): an operator absence stops manual stations")
            return f"target: {event.target} has no manual station (control: manual)"
        if event.kind is EventKind.CHANGE and (live or not from_the_start(event)):
            at = self._machines.get(event.path)
            problems = changed(at.at.machine, event.params["set"])[1] if at is not None else []
            return "; ".join(f"set.{field}: {message}" for field, message in problems)
        if event.kind is not EventKind.SENSOR_FAULT:
            return ""
        machine = self._machines.get(event.path)
        name = str(event.params["signal"])
        if machine is None or name in signal_names(machine):
            return ""
        return f"signal: {event.target} has no signal '{name}' (it has {', '.join(signal_names(machine))})"

    def schedule(self, event: Event, *, live: bool = False) -> int:
        """Schedule ``event`` (a ``change`` from the start, not ``live``, was applied to the plant before the run:
        recorded only); its number. It starts at its instant, or (``live``, or due) within the current one, after
        what SimPy has already scheduled for it. ``ScenarioError`` for a sensor fault of a signal its machine does
        not have, a change its machine cannot take."""
        problem = self._problem(event, live=live)
        if problem:
            raise ScenarioError([event.problem(problem)])
        self._count += 1
        if from_the_start(event) and not live:
            self.applied.append(Injected(event, self._count, 0.0))
        elif self.owns(event):  # not a machine or line of another shard
            heapq.heappush(self._waiting, (max(self.start_s(event), self.sim.env.now), self._count, event))
            self._wake()
        return self._count

    def _after(self, delay: float, then: Callable[[simpy.Event], None]) -> None:
        """Call ``then`` ``delay`` seconds from now."""
        self.sim.env.timeout(max(0.0, delay)).callbacks.append(then)

    def _wake(self) -> None:
        """Wait for the first event to start, unless already waiting for it or for an earlier one."""
        if self._waiting and (self._wakes_at is None or self._waiting[0][0] < self._wakes_at):
            self._wakes_at = self._waiting[0][0]
            self._after(self._wakes_at - self.sim.env.now, self._start_due)

    def _start_due(self, fired: simpy.Event) -> None:
        now = self.sim.env.now
        if self._wakes_at is not None and self._wakes_at <= now:
            self._wakes_at = None  # else this timeout was outrun by a sooner event's, and one for later is waiting
        while self._waiting and self._waiting[0][0] <= now:
            _, number, event = heapq.heappop(self._waiting)
            self._begin(event, number)
        self._wake()

    def owns_path(self, path: str) -> bool:
        """Does this run (shard) have a machine at or under ``path``?"""
        return any(m.path == path or m.path.startswith(path + "/") for m in self.sim.machines)

    def owns(self, event: Event) -> bool:
        """Does this run have the event's machine or line (a shard has only some)?"""
        return event.kind is EventKind.CHANGE or bool(self._targets(event))

    def _targets(self, event: Event) -> list[MachineSim]:
        if event.kind is EventKind.NETWORK_OUTAGE and event.server is not None:  # the machines that server serves
            return [m for m in self.sim.machines if m.at.machine.networked and m.at.machine.protocol is Protocol.OPCUA
                    and opcua_server(m.at, self.sim.opcua_per) == event.server]
        if event.kind is EventKind.NETWORK_OUTAGE:  # every networked machine at or under the target
            return [m for m in self.sim.machines
                    if m.at.machine.networked and (m.path == event.path or m.path.startswith(event.path + "/"))]
        if event.kind is EventKind.OPERATOR_ABSENCE:  # every manual station at or under the target
            return [m for m in self.sim.machines if m.at.machine.control is Control.MANUAL
                    and (m.path == event.path or m.path.startswith(event.path + "/"))]
        if event.kind is EventKind.MATERIAL_SHORTAGE:
            first = self._firsts.get(event.path)
            return [first] if first is not None else []
        m = self._machines.get(event.path)
        return [m] if m is not None else []

    def clear(self, number: int) -> None:
        """End event ``number`` now, as if its time were up (``ValueError`` if it is not under way): what it held
        is released, what it changed goes back; a degradation ends without its failure."""
        if number not in self._active:
            raise ValueError(f"event {number} is not under way" if 0 < number <= self._count else f"no event {number}")
        self._end(number)

    def _end(self, number: int) -> None:
        """Undo what event ``number`` did, newest first, and note its end (nothing if it has ended already)."""
        under_way = self._active.pop(number, None)
        if under_way is None:
            return
        record, undo = under_way
        for step in reversed(undo):
            step()
        record.end_s = float(self.sim.env.now)

    def _end_after(self, duration: float | None, number: int) -> None:
        """Its end ``duration`` from now (None: at the end of the run, or when cleared)."""
        if duration is not None:
            self._after(duration, lambda _: self._end(number))

    def _begin(self, event: Event, number: int) -> None:
        env = self.sim.env
        record = Injected(event, number, float(env.now))
        self.applied.append(record)
        targets = self._targets(event)
        m = targets[0]
        if event.kind is EventKind.CHANGE:  # at an instant, for good: nothing to undo, never under way
            m.change(changed(m.at.machine, event.params["set"])[0])
            return
        #: what to undo at the end, newest first (a clear runs it too)
        undo: list[Callable[[], None]] = []
        self._active[number] = (record, undo)
        duration = event.duration_s
        kind = event.kind
        if kind in _HELD or kind is EventKind.MAINTENANCE:
            reason = _HELD.get(kind, int(StopReason.PLANNED_MAINTENANCE))
            if kind is EventKind.BREAKDOWN:
                m.fail_t.append(env.now)  # a failure like any other (MTBF, the failure count)
            m.hold(reason)
            undo.append(_released(m, reason))
            if kind is EventKind.MAINTENANCE and m.path in self._wearing:
                self._end(self._wearing[m.path].number)  # restored: the wear ends with no failure
        elif kind is EventKind.SPEED_LOSS:
            factor = float(event.params["factor"])
            m.speed *= factor
            undo.append(lambda: setattr(m, "speed", m.speed / factor))
        elif kind is EventKind.QUALITY_DRIFT:
            scrap0, rework0 = m.scrap_share, m.rework_share
            undo.append(lambda: m.set_quality(scrap0, rework0))
            scrap1 = float(event.params.get("scrap_rate", scrap0))
            m.set_quality(scrap1, float(event.params.get("rework_rate", rework0)),
                          over_s=float(event.params.get("ramp", 0.0)))
        elif kind is EventKind.MICRO_STOP_STORM:
            self._storm(m, record, undo)
        elif kind is EventKind.DEGRADATION:
            self._degrade(m, record, undo)
            return  # it ends with its repair, or when a maintenance or a clear ends it
        elif kind is EventKind.SENSOR_FAULT:
            name, p = str(event.params["signal"]), event.params
            m.sensor_faults[name] = SensorFault(str(p["mode"]), float(env.now), float(p.get("factor", 5.0)),
                                                float(p.get("every", 60.0)), float(p.get("rate", 0.1)),
                                                next_spike_s=float(env.now))
            undo.append(_mended(m, name))
        elif kind is EventKind.NETWORK_OUTAGE and event.server is not None:
            for served in targets:
                served.server_down += 1
                undo.append(_server_back(served))
                # its clients lose their sessions; new ones after it read the state in force and the cumulative
                # counters (counts across unknown time)
                record.cut_off[served.path] = {"kept": [], "lost": ["state", "counters", "signals"]}
        elif kind is EventKind.NETWORK_OUTAGE:
            for cut in targets:
                cut.network_down += 1
                cut.network_changed_s = float(env.now)
                undo.append(_reconnects(cut))
                # what the contract keeps: an MQTT machine's outbox; an OPC UA machine's new session after it
                # (its cumulative counters come back, as counts across unknown time)
                record.cut_off[cut.path] = (
                    {"kept": ["state", "counters"], "lost": ["signals"]} if cut.at.machine.protocol.value == "mqtt"
                    else {"kept": [], "lost": ["state", "counters", "signals"]})
        elif kind is EventKind.OPERATOR_ABSENCE:
            for waiting in targets:
                waiting.hold(int(StopReason.NO_OPERATOR))
                undo.append(_released(waiting, int(StopReason.NO_OPERATOR)))
                record.stopped.append(waiting.path)
        elif kind is EventKind.CLOCK_SKEW:
            offset = round(float(event.params["offset"]) * 1000)
            m.clock_skew_ms += offset
            undo.append(lambda: setattr(m, "clock_skew_ms", m.clock_skew_ms - offset))
        self._end_after(duration, number)

    def _storm(self, m: MachineSim, record: Injected, undo: list[Callable[[], None]]) -> None:
        """Micro-stops at ``rate`` an hour while the machine produces, from the event's own stream, until its end."""
        env, event = self.sim.env, record.event
        end = env.now + float(event.duration_s or 0.0)
        rate = float(event.params["rate"])
        stop = float(event.params.get("stop", m.at.machine.micro_stop_s))
        gaps = rnd.short_exponential(self.sim.seed, f"{m.path}/scenario/{record.number}", rnd.Purpose.SCENARIO,
                               3600.0 / rate)
        micro_stop = int(StopReason.MICRO_STOP)

        def wait(_: simpy.Event | None = None) -> None:
            gap = gaps.next()
            if env.now + gap < end:
                self._after(gap, stops)

        def stops(_: simpy.Event) -> None:
            if record.end_s is not None:
                return
            if m.reason != int(StopReason.PRODUCING):  # a micro-stop interrupts production: not a machine waiting
                wait()
                return
            m.micro_t.append(env.now)
            m.hold(micro_stop)
            undo.append(_released(m, micro_stop))
            self._after(min(stop, end - env.now), goes_on)

        def goes_on(_: simpy.Event) -> None:
            if record.end_s is None:  # else its end released it
                undo.pop()()
                wait()

        wait()

    def _degrade(self, m: MachineSim, record: Injected, undo: list[Callable[[], None]]) -> None:
        """Wear growing as the square of the time since the onset (wear accelerates): the signals drift
        (``_signals.WEAR_GAIN``), scrap climbs to ``scrap_rate`` and extra micro-stops to ``micro_stops_per_hour``,
        and at ``failure_after`` the machine breaks down for ``repair``; repaired, it is as new."""
        env, event = self.sim.env, record.event
        onset, span = float(env.now), float(event.params["failure_after"])
        scrap0, rework0 = m.scrap_share, m.rework_share
        scrap1 = float(event.params.get("scrap_rate", min(scrap0 + 0.05, 0.99 - rework0)))
        storm = float(event.params.get("micro_stops_per_hour", 6.0))
        band = wear_out_of_band(m)
        record.out_of_band_s = None if band is None else onset + span * math.sqrt(band)
        self._wearing[m.path] = record
        step = min(WEAR_STEP_S, span / _MIN_WEAR_STEPS)

        def as_new() -> None:
            self._wearing.pop(m.path, None)
            m.wear = 0.0
            m.set_quality(scrap0, rework0)

        def wears(_: simpy.Event) -> None:
            if record.end_s is None:
                m.wear = min(1.0, ((env.now - onset) / span) ** 2)
                m.set_quality(scrap0 + (scrap1 - scrap0) * m.wear, rework0)
                goes_on()

        def goes_on() -> None:
            elapsed = env.now - onset
            if elapsed < span - 1e-9:
                self._after(min(step, span - elapsed), wears)
                return
            as_new()
            record.failure_s = float(env.now)
            m.fail_t.append(env.now)
            m.hold(int(StopReason.BREAKDOWN))
            undo.append(_released(m, int(StopReason.BREAKDOWN)))
            self._end_after(float(event.params.get("repair", m.at.machine.mttr_s)), record.number)

        undo.append(as_new)
        if storm > 0:
            self._worn_stops(m, record, storm)
        goes_on()

    def _worn_stops(self, m: MachineSim, record: Injected, rate: float) -> None:
        """Micro-stops at ``rate`` × wear an hour while producing (thinning: candidates at ``rate``, each kept
        with probability wear), from the event's own streams, until it fails or ends."""
        env = self.sim.env
        key = f"{m.path}/scenario/{record.number}"
        gaps = rnd.short_exponential(self.sim.seed, key, rnd.Purpose.SCENARIO, 3600.0 / rate)
        keep = rnd.short_uniform(self.sim.seed, key, rnd.Purpose.SCENARIO_KEEP)
        stop = m.at.machine.micro_stop_s
        micro_stop = int(StopReason.MICRO_STOP)

        def candidate(_: simpy.Event) -> None:
            if record.end_s is not None or record.failure_s is not None:
                return
            if keep.next() >= m.wear or m.reason != int(StopReason.PRODUCING):
                self._after(gaps.next(), candidate)
                return
            m.micro_t.append(env.now)
            m.hold(micro_stop)
            self._after(stop, goes_on)

        def goes_on(_: simpy.Event) -> None:
            m.release(micro_stop)  # a worn stop outlasts the wear's end: it is the machine's, not the event's
            self._after(gaps.next(), candidate)

        self._after(gaps.next(), candidate)

    def truth(self) -> list[dict[str, Any]]:
        """Every event applied so far, in the order it started."""
        return [r.truth(self.sim.start_epoch) for r in sorted(self.applied, key=lambda r: r.start_s)]


def _released(m: MachineSim, reason: int) -> Callable[[], None]:
    """The end of ``m``'s hold for ``reason``."""
    return lambda: m.release(reason)


def _mended(m: MachineSim, signal: str) -> Callable[[], None]:
    """The end of ``m``'s sensor fault of ``signal``."""
    def mended() -> None:
        m.sensor_faults.pop(signal, None)
    return mended


def _server_back(m: MachineSim) -> Callable[[], None]:
    """The end of one outage of the OPC UA server serving ``m``."""
    def back() -> None:
        m.server_down -= 1
    return back


def _reconnects(m: MachineSim) -> Callable[[], None]:
    """The end of one outage of ``m``'s network."""
    def back() -> None:
        m.network_down -= 1
        m.network_changed_s = float(m.env.now)
    return back


_HELD = {
    EventKind.BREAKDOWN: int(StopReason.BREAKDOWN),
    EventKind.CHANGEOVER: int(StopReason.SETUP),
    EventKind.MATERIAL_SHORTAGE: int(StopReason.STARVED),
}
