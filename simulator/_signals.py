"""Process signals computed on demand from a machine's state and the time.

Nothing here is a SimPy event, so sampling at any rate never slows the model.
Each signal eases towards the target for the machine's current power class
(executing, setup, idle, down, standby) with its own time constant — spindles spin
up in seconds, furnaces cool over hours — plus small noise that is a pure
function of (seed, machine, signal, millisecond), so the same sample times give
the same values on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shopfloor import REASONS, PowerClass, StopReason

from ._machine import MachineSim


@dataclass(frozen=True, slots=True)
class SignalSpec:
    name: str
    #: target per power class: executing, setup, idle, down, standby
    targets: tuple[float, float, float, float, float]
    tau_s: float
    #: noise as a fraction of the value
    noise: float


_CLASSES = (PowerClass.EXECUTING, PowerClass.SETUP, PowerClass.IDLE, PowerClass.DOWN, PowerClass.STANDBY)
_CLASS_INDEX = {int(r): _CLASSES.index(info.power) for r, info in REASONS.items()}


def _s(name: str, targets: tuple[float, float, float, float, float], tau_s: float, noise: float = 0.02) -> SignalSpec:
    return SignalSpec(name, targets, tau_s, noise)


#: a spindle's or motor's vibration velocity (RMS): 1.6 mm/s running is ISO 10816 class II zone B
_VIBRATION = _s("vibration_mm_s", (1.6, 0.8, 0.3, 0, 0), 2, 0.06)


def _machining(rpm: float) -> tuple[SignalSpec, ...]:
    return (
        _s("spindle_speed_rpm", (rpm, rpm * 0.1, 0, 0, 0), 2),
        _s("spindle_load_pct", (55, 5, 1, 0, 0), 2, 0.08),
        _s("feed_rate_mm_min", (1200, 200, 0, 0, 0), 2, 0.03),
        _s("coolant_temp_c", (28, 25, 24, 22, 20), 900, 0.005),
        _VIBRATION,
    )


_WELDING = (
    _s("weld_current_a", (220, 0, 0, 0, 0), 0.5, 0.04),
    _s("wire_feed_m_min", (8, 0, 0, 0, 0), 0.5, 0.03),
)

SIGNALS: dict[str, tuple[SignalSpec, ...]] = {
    "cnc_machining_center": _machining(8000),
    "cnc_lathe": _machining(3000),
    "conventional_lathe": _machining(1200),
    "conventional_mill": _machining(1500),
    "robot_welding": _WELDING,
    "manual_welding": _WELDING,
    "press": (
        _s("ram_force_kn", (1500, 100, 0, 0, 0), 0.5, 0.05),
        _s("stroke_rate_spm", (30, 2, 0, 0, 0), 1),
        _s("hydraulic_oil_temp_c", (48, 44, 42, 35, 25), 1800, 0.005),
        _VIBRATION,
    ),
    "injection_molding": (
        _s("barrel_temp_c", (230, 230, 225, 150, 25), 1200, 0.005),
        _s("injection_pressure_bar", (900, 100, 0, 0, 0), 1, 0.04),
        _s("mould_temp_c", (60, 55, 55, 40, 25), 900, 0.01),
        _s("screw_motor_current_a", (45, 10, 5, 0, 0), 2, 0.04),
        _VIBRATION,
    ),
    "screen_printer": (
        _s("squeegee_pressure_kg", (6, 0, 0, 0, 0), 1, 0.03),
        _s("print_speed_mm_s", (50, 0, 0, 0, 0), 1, 0.02),
    ),
    "smt_placement": (
        _s("placement_rate_cph", (30000, 0, 0, 0, 0), 2, 0.04),
        _s("vacuum_kpa", (-80, -80, -60, 0, 0), 5, 0.02),
    ),
    "reflow_oven": (
        _s("peak_zone_temp_c", (245, 245, 240, 150, 25), 900, 0.003),
        _s("conveyor_speed_cm_min", (80, 80, 80, 0, 0), 10, 0.01),
    ),
    "aoi_inspection": (_s("inspections_per_min", (12, 0, 0, 0, 0), 2, 0.05),),
    "packaging": (
        _s("packs_per_min", (40, 0, 0, 0, 0), 2, 0.03),
        _s("seal_temp_c", (160, 160, 150, 80, 25), 600, 0.005),
    ),
    "furnace": (
        _s("furnace_temp_c", (1150, 1100, 1050, 600, 100), 3600, 0.002),
        _s("gas_flow_m3_h", (350, 200, 150, 20, 0), 60, 0.03),
    ),
    "reactor": (
        _s("reactor_temp_c", (180, 150, 120, 60, 25), 1800, 0.003),
        _s("reactor_pressure_bar", (8, 3, 1, 1, 1), 300, 0.01),
        _s("agitator_speed_rpm", (120, 60, 0, 0, 0), 5, 0.02),
        _VIBRATION,
    ),
    "rolling_mill": (
        _s("roll_force_kn", (12000, 500, 0, 0, 0), 1, 0.05),
        _s("strip_speed_m_s", (8, 1, 0, 0, 0), 2, 0.02),
        _s("main_motor_current_a", (2400, 300, 50, 0, 0), 2, 0.04),
        _VIBRATION,
    ),
    "mixer": (
        _s("mixer_speed_rpm", (60, 20, 0, 0, 0), 3, 0.02),
        _s("motor_current_a", (90, 30, 5, 0, 0), 3, 0.04),
        _VIBRATION,
    ),
    "manual_assembly": (),
    "manual_inspection": (),
    "other": (),
}

#: how a worn machine's running values move: value × (1 + gain × wear), wear 0 (new) to 1 (failing); the
#: normal band of each while running (what a degradation's out-of-band instant is measured against)
WEAR_GAIN: dict[str, float] = {
    "vibration_mm_s": 3.6,  # 1.6 → 7.4 mm/s: past ISO 10816 class II's 7.1 (zone D, damage)
    "spindle_load_pct": 0.45,
    "coolant_temp_c": 0.35,
    "hydraulic_oil_temp_c": 0.3,
    "screw_motor_current_a": 0.35,
    "main_motor_current_a": 0.3,
    "motor_current_a": 0.35,
    "barrel_temp_c": 0.1,
    "weld_current_a": 0.2,
    "vacuum_kpa": -0.4,  # a worn nozzle holds less vacuum
    "peak_zone_temp_c": 0.08,
    "seal_temp_c": 0.12,
    "reactor_temp_c": 0.08,
    "furnace_temp_c": 0.05,
}
#: the normal band while running, as a share of the running value: vibration has the ISO 10816 class II
#: zone B/C limit instead (2.8 mm/s: unsatisfactory for long-term operation)
BAND_SHARE = 0.15
BAND_LIMIT: dict[str, float] = {"vibration_mm_s": 2.8}


def wear_out_of_band(machine: MachineSim) -> float | None:
    """The wear (0 to 1) at which the first of the machine's running signals leaves its normal band; None when
    none does by wear 1."""
    found = []
    for spec in SIGNALS.get(machine.at.machine.kind, ()):
        gain, running = WEAR_GAIN.get(spec.name, 0.0), spec.targets[0]
        if not gain or not running:
            continue
        limit = BAND_LIMIT.get(spec.name)
        share = (limit / running - 1) if limit is not None else BAND_SHARE
        found.append(share / abs(gain))
    wear = min(found, default=None)
    return wear if wear is not None and wear <= 1 else None


_MASK = (1 << 64) - 1


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _gauss(key: int, t_ms: int) -> float:
    """A standard normal that depends only on its arguments (Box–Muller)."""
    a = _splitmix(key ^ t_ms)
    b = _splitmix(a)
    u1 = ((a >> 11) + 1) / 9007199254740993.0
    u2 = (b >> 11) / 9007199254740992.0
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


class _Eased:
    """Where one signal started easing from, and towards which class."""

    __slots__ = ("cls", "since", "value")

    def __init__(self, since: float, value: float, cls: int) -> None:
        self.since, self.value, self.cls = since, value, cls


def _eased(spec: SignalSpec, state: _Eased, t: float) -> float:
    target = spec.targets[state.cls]
    return target + (state.value - target) * math.exp(-(t - state.since) / spec.tau_s)


def signal_names(machine: MachineSim) -> list[str]:
    """The keys ``signals(machine)`` returns, in order."""
    return [spec.name for spec in SIGNALS.get(machine.at.machine.kind, ())] + ["power_kw", "last_cycle_time_s"]


@dataclass(slots=True)
class SensorFault:
    """A failed sensor of one signal (a scenario's ``sensor_fault``): what its reading does from ``since_s`` on."""

    mode: str
    since_s: float
    factor: float = 5.0
    every_s: float = 60.0
    rate: float = 0.1
    #: stuck: the reading it stuck at (the first one after the fault began); spike: when the next spike is due
    held: float | None = None
    next_spike_s: float = 0.0


def readings(machine: MachineSim) -> tuple[dict[str, float], frozenset[str]]:
    """What the machine's sensors report now: ``signals(machine)`` with its failed sensors applied (a dropped-out
    signal is left out), and the signals whose reading carries a bad status."""
    values = signals(machine)
    faults = machine.sensor_faults
    if not faults:
        return values, frozenset()
    t = float(machine.env.now)
    bad = []
    for name, fault in faults.items():
        if name not in values:
            continue
        if fault.mode == "stuck":
            if fault.held is None:
                fault.held = values[name]
            values[name] = fault.held
        elif fault.mode == "drift":
            values[name] = round(values[name] * (1.0 + fault.rate * (t - fault.since_s) / 3600.0), 3)
        elif fault.mode == "spike":
            if t >= fault.next_spike_s:
                values[name] = round(values[name] * fault.factor, 3)
                while fault.next_spike_s <= t:
                    fault.next_spike_s += fault.every_s
        elif fault.mode == "dropout":
            del values[name]
        else:
            bad.append(name)
    return values, frozenset(bad)


def signals(machine: MachineSim) -> dict[str, float]:
    """Process values of ``machine`` at the simulation's current time."""
    t = float(machine.env.now)
    specs = SIGNALS.get(machine.at.machine.kind, ())
    cls = _CLASS_INDEX[machine.reason if machine.reason >= 0 else int(StopReason.NO_SHIFT)]
    if machine.signal_state is None:
        machine.signal_state = [_Eased(machine.since, spec.targets[cls], cls) for spec in specs]
    key_base = machine.noise_key
    t_ms = round(machine.clock.start_epoch * 1000 + t * 1000)
    out: dict[str, float] = {}
    for i, (spec, state) in enumerate(zip(specs, machine.signal_state, strict=True)):
        if state.cls != cls:
            # the class changed at machine.since: restart easing from the value then
            state.value, state.since, state.cls = _eased(spec, state, machine.since), machine.since, cls
        value = _eased(spec, state, t)
        if machine.wear and cls == 0:
            value *= 1.0 + WEAR_GAIN.get(spec.name, 0.0) * machine.wear
        noise = spec.noise * _gauss(key_base + i * 0x1000193, t_ms)
        out[spec.name] = round(value * (1.0 + noise), 3)
    out["power_kw"] = round(machine.power_kw, 3)
    out["last_cycle_time_s"] = round(machine.last_cycle_s, 3)
    return out
