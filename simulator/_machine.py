"""One machine as a SimPy process: parts in, cycles, stops, parts out.

The model does no I/O. It keeps an exact log of its reason code (state) and of
every finished part; ground truth, telemetry and signals are all read from it.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import simpy

from shopfloor import REASONS, FailureDistribution, Machine, MachineAt, RepairDistribution, StopReason

from . import _random as rnd
from ._buffer import Buffer
from ._clock import SiteClock

if TYPE_CHECKING:
    from ._signals import SensorFault  # the signals read the machine: no import at run time

PRODUCING = int(StopReason.PRODUCING)
SETUP = int(StopReason.SETUP)
BREAKDOWN = int(StopReason.BREAKDOWN)
MICRO_STOP = int(StopReason.MICRO_STOP)
STARVED = int(StopReason.STARVED)
BLOCKED = int(StopReason.BLOCKED)

GOOD, SCRAP, REWORK = 0, 1, 2
_EPS = 1e-9
_NEVER = float("inf")


class StateAt(NamedTuple):
    """What a machine was doing at an instant: its reason code and the product it was set up for."""

    reason: int
    product: str


class MachineSim:
    """Live state, cumulative counters and the exact logs of one machine."""

    def __init__(
        self,
        env: simpy.Environment,
        at: MachineAt,
        clock: SiteClock,
        seed: int,
        inbuf: Buffer | None,
        outbuf: Buffer | None,
    ) -> None:
        m = at.machine
        self.env = env
        self.at = at
        self.path = at.path
        self.clock = clock
        self.inbuf = inbuf
        self.outbuf = outbuf
        key = self.path
        self._cycle = rnd.lognormal(seed, key, rnd.Purpose.CYCLE, 1.0 + m.speed_loss, m.cycle_cv)
        self._quality = rnd.uniform(seed, key, rnd.Purpose.QUALITY)
        self._scrap_below = m.scrap_rate
        self._rework_below = m.scrap_rate + m.rework_rate
        #: a quality drift's ramp under way: (start s, end s, scrap from, to, rework from, to), None when none
        self._ramp: tuple[float, float, float, float, float, float] | None = None
        self._failure: rnd.Stream | None = None
        if m.mtbf_s is not None:
            if m.failure_distribution is FailureDistribution.WEIBULL:
                self._failure = rnd.weibull(seed, key, rnd.Purpose.FAILURE, m.mtbf_s, m.failure_shape)
            else:
                self._failure = rnd.exponential(seed, key, rnd.Purpose.FAILURE, m.mtbf_s)
        if m.repair_distribution is RepairDistribution.LOGNORMAL:
            self._repair = rnd.lognormal(seed, key, rnd.Purpose.REPAIR, m.mttr_s, m.repair_cv)
        else:
            self._repair = rnd.exponential(seed, key, rnd.Purpose.REPAIR, m.mttr_s)
        self._micro_gap: rnd.Stream | None = None
        if m.micro_stops_per_hour > 0:
            self._micro_gap = rnd.exponential(seed, key, rnd.Purpose.MICRO_STOP_GAP, 3600.0 / m.micro_stops_per_hour)
        self._micro_len = rnd.exponential(seed, key, rnd.Purpose.MICRO_STOP_LENGTH, m.micro_stop_s)
        self._seed = seed
        #: each draw of these streams × its factor: a change at an instant rescales them (the draws stay the same,
        #: so a changed mean moves every later failure, repair or stop in proportion)
        self._scale = {"failure": 1.0, "repair": 1.0, "micro_gap": 1.0, "micro_len": 1.0}
        # operating time left until the next failure / micro-stop
        self._to_failure = self._failure.next() if self._failure else _NEVER
        self._to_micro = self._micro_gap.next() if self._micro_gap else _NEVER
        #: kW drawn under each reason code (indexed by StopReason value)
        self.power_by_reason = [0.0] * (max(StopReason) + 1)
        for reason, info in REASONS.items():
            self.power_by_reason[reason] = m.power_kw.of(info.power)
        self.ideal_s = dict(m.cycle_time_s)
        self.setup_s = m.setup_s

        #: what the machine process is doing; the calendar, then a hold, may override it
        self.activity = STARVED
        #: injected stops in force (a scenario's breakdown, changeover, shortage …): the newest is the reason shown
        self.holds: list[int] = []
        #: succeeds when the last hold is lifted (made when the process first waits for it)
        self._released: simpy.Event | None = None
        #: seconds held (one hold or more in force) before the hold period under way, and when that began: a hold
        #: does not interrupt a cycle or a stop under way; the process, woken when it planned, adds the time held
        self._held_s = 0.0
        self._held_from = 0.0
        #: cycle times multiplied by this (a speed loss)
        self.speed = 1.0
        #: 0 (as new) to 1 (about to fail): a degradation's; the signals of a worn machine drift (``_signals``)
        self.wear = 0.0
        #: network outages under way that cut it off (a scenario's network_outage): it runs on, unheard
        self.network_down = 0
        #: when its network last went away or came back (sim s)
        self.network_changed_s = 0.0
        #: outages under way of the OPC UA server that serves it (a network_outage of ``opcua:NAME``): the server's
        #: endpoint is away, the machine and the server run on
        self.server_down = 0
        #: what its own clock is off by (a scenario's clock_skew): the timestamps it sends, not when things happen
        self.clock_skew_ms = 0
        #: failed sensors by signal name (``_signals.SensorFault``): what the machine reports, not what it does
        self.sensor_faults: dict[str, SensorFault] = {}
        #: effective reason code (StopReason value) and since when (sim s)
        self.reason = -1
        self.since = 0.0
        self.product = at.line.orders[0].product
        #: product ids by index, for the compact product log
        self.products = tuple(m.cycle_time_s)
        self._product_index = {p: i for i, p in enumerate(self.products)}
        #: Σ ideal cycle time over finished parts (PRI × PQ, summed per product)
        self.ideal_done_s = 0.0
        self.last_cycle_s = 0.0
        #: per-signal easing state, owned by the signals module
        self.signal_state: list[Any] | None = None
        self.noise_key = rnd.stable_key(f"signals/{seed}/{self.path}")[0] << 32
        #: parts taken from the input buffer (or released, at the first station)
        self.started = 0
        self.total = self.good = self.scrap = self.rework = 0
        self._energy_kwh = 0.0
        #: state log: the reason code in force from each instant on
        self.log_t = array("d")
        self.log_r = array("b")
        #: product (index into ``products``) the machine was set up for at each log entry
        self.log_p = array("H")
        #: finished parts: time, outcome (GOOD/SCRAP/REWORK), ideal cycle time
        self.done_t = array("d")
        self.done_q = array("b")
        self.done_ideal = array("d")
        #: onset of each breakdown and micro-stop
        self.fail_t = array("d")
        self.micro_t = array("d")
        clock.machines.append(self)
        self._process = env.process(self._run(self._plan() if inbuf is None else None))

    # ------------------------------------------------------------ state

    def _record(self, reason: int) -> None:
        if reason == self.reason:
            return
        self._log(reason)

    def _log(self, reason: int) -> None:
        now = self.env.now
        if self.reason >= 0:
            self._energy_kwh += self.power_by_reason[self.reason] * (now - self.since) / 3600.0
        self.reason = reason
        self.since = now
        self.log_t.append(now)
        self.log_r.append(reason)
        self.log_p.append(self._product_index[self.product])

    def _set_activity(self, reason: int) -> None:
        self.activity = reason
        if reason != self.reason and self.clock.working and not self.holds:
            self._log(reason)

    def refresh(self) -> None:
        """Re-derive the effective reason after a calendar change or a hold: the calendar's outside working time,
        else the newest hold's, else what the machine is doing."""
        clock = self.clock
        if not clock.working:
            self._record(int(clock.reason))
        else:
            self._record(self.holds[-1] if self.holds else self.activity)

    def change(self, spec: Machine) -> None:
        """From now on the machine runs as ``spec`` says (a scenario's change at an instant): its failures, repairs,
        micro-stops, set-up, speed, quality shares and cycle times. A failure or micro-stop clock under way keeps
        its progress, in proportion to the new mean."""
        old = self.at.machine
        self.at = self.at._replace(machine=spec)
        key = self.path
        if spec.mtbf_s != old.mtbf_s:
            if spec.mtbf_s is None:
                self._failure, self._to_failure = None, _NEVER
            elif self._failure is None or old.mtbf_s is None:
                self._failure = (rnd.weibull(self._seed, key, rnd.Purpose.FAILURE, spec.mtbf_s, spec.failure_shape)
                                 if spec.failure_distribution is FailureDistribution.WEIBULL
                                 else rnd.exponential(self._seed, key, rnd.Purpose.FAILURE, spec.mtbf_s))
                self._scale["failure"] = 1.0
                self._to_failure = self._failure.next()
            else:
                ratio = spec.mtbf_s / old.mtbf_s
                self._scale["failure"] *= ratio
                self._to_failure *= ratio
        if spec.micro_stops_per_hour != old.micro_stops_per_hour:
            if spec.micro_stops_per_hour == 0:
                self._micro_gap, self._to_micro = None, _NEVER
            elif self._micro_gap is None or old.micro_stops_per_hour == 0:
                self._micro_gap = rnd.exponential(self._seed, key, rnd.Purpose.MICRO_STOP_GAP,
                                                  3600.0 / spec.micro_stops_per_hour)
                self._scale["micro_gap"] = 1.0
                self._to_micro = self._micro_gap.next()
            else:
                ratio = old.micro_stops_per_hour / spec.micro_stops_per_hour
                self._scale["micro_gap"] *= ratio
                self._to_micro *= ratio
        self._scale["repair"] *= spec.mttr_s / old.mttr_s
        self._scale["micro_len"] *= spec.micro_stop_s / old.micro_stop_s
        self.speed *= (1.0 + spec.speed_loss) / (1.0 + old.speed_loss)
        if (spec.scrap_rate, spec.rework_rate) != (old.scrap_rate, old.rework_rate):
            self.set_quality(spec.scrap_rate, spec.rework_rate)
        self.setup_s = spec.setup_s
        self.ideal_s = dict(spec.cycle_time_s)

    def state_at(self, t: float) -> StateAt:
        """The reason code in force at ``t`` (sim s; the last change at that instant stands) and the product."""
        k = bisect.bisect_right(self.log_t, t) - 1
        if k < 0:
            return StateAt(max(self.reason, 0), self.product)
        return StateAt(int(self.log_r[k]), self.products[self.log_p[k]])

    @property
    def scrap_share(self) -> float:
        """The share of parts scrapped now."""
        if self._ramp is not None:
            self._ramp_to_now()
        return self._scrap_below

    @property
    def rework_share(self) -> float:
        """The share of parts reworked now."""
        if self._ramp is not None:
            self._ramp_to_now()
        return self._rework_below - self._scrap_below

    def set_quality(self, scrap: float, rework: float, *, over_s: float = 0.0) -> None:
        """Scrap and rework shares from now on, or reached linearly ``over_s`` from now (each part's draw stays the
        same: only the thresholds move)."""
        if over_s > 0:
            now = self.env.now
            self._ramp = (now, now + over_s, self.scrap_share, scrap, self.rework_share, rework)
            return
        self._ramp = None
        self._scrap_below = scrap
        self._rework_below = scrap + rework

    def _ramp_to_now(self) -> None:
        # evaluated when a part is judged, not stepped by events: a ramp costs the simulation nothing
        assert self._ramp is not None
        t0, t1, s0, s1, r0, r1 = self._ramp
        f = min(1.0, (self.env.now - t0) / (t1 - t0))
        scrap, rework = s0 + (s1 - s0) * f, r0 + (r1 - r0) * f
        self._scrap_below, self._rework_below = scrap, scrap + rework
        if f >= 1.0:
            self._ramp = None

    def hold(self, reason: int) -> None:
        """Stop the machine for ``reason`` at once, whatever it is doing, until ``release(reason)``: a cycle, a
        set-up or a repair under way pauses and goes on afterwards; the failure and micro-stop clocks stand still."""
        if not self.holds:
            self._held_from = self.env.now
        self.holds.append(reason)
        self.refresh()

    def release(self, reason: int) -> None:
        """Lift a hold begun with ``hold(reason)``."""
        self.holds.remove(reason)
        self.refresh()
        if not self.holds:
            self._held_s += self.env.now - self._held_from
            if self._released is not None:
                self._released.succeed()
                self._released = None

    def _held_since(self, held_s: float) -> float:
        """Seconds held since the held total was ``held_s``."""
        return self._held_s - held_s + (self.env.now - self._held_from if self.holds else 0.0)

    def energy_kwh(self) -> float:
        """Cumulative energy up to now."""
        return self._energy_kwh + self.power_by_reason[self.reason] * (self.env.now - self.since) / 3600.0

    @property
    def power_kw(self) -> float:
        """The power drawn now, kW (it follows the reason code in force)."""
        return self.power_by_reason[self.reason]

    # ------------------------------------------------------------ process

    def _plan(self) -> Iterator[str]:
        orders = self.at.line.orders
        while True:
            for order in orders:
                for _ in range(order.quantity):
                    yield order.product

    def _run(self, plan: Iterator[str] | None) -> Generator[simpy.Event, Any, None]:
        env = self.env
        timeout = env.timeout
        clock = self.clock
        inbuf = self.inbuf
        outbuf = self.outbuf
        cycle = self._cycle.next
        quality = self._quality.next
        done_t, done_q, done_ideal = self.done_t, self.done_q, self.done_ideal
        self._set_activity(STARVED if plan is None else PRODUCING)
        while True:
            if plan is not None:
                product = next(plan)
            else:
                if not inbuf.items:  # type: ignore[union-attr]
                    self._set_activity(STARVED)
                product = yield inbuf.get()  # type: ignore[union-attr]
            self.started += 1
            if product != self.product:
                self.product = product  # set up *for* the new product
                if self.setup_s > 0:
                    yield from self._work(self.setup_s, SETUP, False)
            ideal = self.ideal_s[product]
            duration = ideal * cycle() * self.speed
            if (
                clock.working
                and not self.holds
                and duration < self._to_failure
                and duration < self._to_micro
                and env.now + duration < clock.next_change
            ):
                # the common case, kept lean: nothing but a hold lengthens this cycle
                if self.activity != PRODUCING:
                    self._set_activity(PRODUCING)
                held_s = self._held_s
                yield timeout(duration)
                if held_s == self._held_s and not self.holds:
                    self._to_failure -= duration
                    self._to_micro -= duration
                else:  # held meanwhile: the cycle goes on for as long as it was held
                    held = self._held_since(held_s)
                    self._to_failure -= duration - held
                    self._to_micro -= duration - held
                    yield from self._work(held, PRODUCING, True)
            else:
                yield from self._work(duration, PRODUCING, True)
            self.last_cycle_s = duration
            self.ideal_done_s += ideal
            u = quality()
            if self._ramp is not None:
                self._ramp_to_now()
            self.total += 1
            done_t.append(env.now)
            done_ideal.append(ideal)
            if u < self._scrap_below:
                self.scrap += 1
                done_q.append(SCRAP)
            elif u < self._rework_below:
                self.rework += 1
                done_q.append(REWORK)
            else:
                self.good += 1
                done_q.append(GOOD)
                if outbuf is not None:
                    if len(outbuf.items) >= outbuf.capacity:
                        self._set_activity(BLOCKED)
                    yield outbuf.put(product)

    def _work(self, duration: float, reason: int, operating: bool) -> Generator[simpy.Event, Any, None]:
        """Spend ``duration`` of working time on ``reason``.

        Pauses outside planned working time; while ``operating`` the failure
        and micro-stop clocks (operating time, not calendar time) run down.
        """
        env = self.env
        clock = self.clock
        remaining = duration
        while remaining > _EPS:
            if not clock.working:
                yield clock.resume
                continue
            if self.holds:
                self._set_activity(reason)  # what it goes on with once released
                if self._released is None:
                    self._released = env.event()
                yield self._released
                continue
            self._set_activity(reason)
            step = remaining
            stop = -1
            if operating:
                if self._to_failure < step:
                    step, stop = self._to_failure, BREAKDOWN
                if self._to_micro < step:
                    step, stop = self._to_micro, MICRO_STOP
            until_calendar = clock.next_change - env.now
            if until_calendar < step:
                step, stop = max(until_calendar, 0.0), -1
            held_s = self._held_s
            yield env.timeout(step)
            if held_s != self._held_s or self.holds:  # held meanwhile: the planned stop has not come yet
                step, stop = step - self._held_since(held_s), -1
            remaining -= step
            if operating:
                self._to_failure -= step
                self._to_micro -= step
            if stop == BREAKDOWN:
                self.fail_t.append(env.now)
                yield from self._work(self._repair.next() * self._scale["repair"], BREAKDOWN, False)
                self._to_failure = self._failure.next() * self._scale["failure"] if self._failure else _NEVER
            elif stop == MICRO_STOP:
                self.micro_t.append(env.now)
                yield from self._work(self._micro_len.next() * self._scale["micro_len"], MICRO_STOP, False)
                self._to_micro = self._micro_gap.next() * self._scale["micro_gap"] if self._micro_gap else _NEVER
