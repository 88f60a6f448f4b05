"""Scenario files: what goes wrong in a run, and when — for a class, a demonstration or a what-if.

A scenario is a timeline of events against one plant: each has a start (``at``: a duration from the
run's start, or a wall-clock instant), a target (a machine, a line or a site, by id) and the
parameters of its kind (``EVENT_KINDS``). Read like plant files: every problem in the file is
listed with file, line, the path inside the document and what is wrong, before ``ScenarioError``
is raised; the same checks read one event given live (``parse_event``: ``sfsim inject``, the
control topic), so a bad target, kind or parameter never changes anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from ._durations import parse_duration
from ._kinds import Control, Protocol
from ._loader import (
    ConfigError,
    Issue,
    _bool,
    _Checker,
    _choice,
    _did_you_mean,
    _enum,
    _fraction,
    _id,
    _join,
    _name,
    _non_negative,
    _non_negative_duration,
    _number,
    _optional_duration,
    _positive,
    _positive_duration,
    _positive_int,
    _show,
    _text,
    machine_problems,
    read_text,
    read_yaml,
)
from ._model import Line, Machine, MachineAt, Name, Plant, Site

FORMAT_VERSION = 1


class ScenarioError(ConfigError):
    """A scenario (a file, or one event given live) could not be used; ``issues`` lists every problem found."""


class Level(StrEnum):
    """What an event acts on."""

    MACHINE = "machine"
    LINE = "line"
    SITE = "site"


class EventKind(StrEnum):
    """The kinds of event a scenario may hold (docs/scenarios.md says what each does)."""

    BREAKDOWN = "breakdown"
    MICRO_STOP_STORM = "micro_stop_storm"
    CHANGEOVER = "changeover"
    SPEED_LOSS = "speed_loss"
    QUALITY_DRIFT = "quality_drift"
    MATERIAL_SHORTAGE = "material_shortage"
    OPERATOR_ABSENCE = "operator_absence"
    SENSOR_FAULT = "sensor_fault"
    CLOCK_SKEW = "clock_skew"
    NETWORK_OUTAGE = "network_outage"
    DEGRADATION = "degradation"
    MAINTENANCE = "maintenance"
    CHANGE = "change"


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of an event kind: its converter, and whether an event must give it."""

    convert: Callable[[object], Any]
    required: bool = False
    help: str = ""


def _fields(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of machine fields ({', '.join(CHANGEABLE)}), got {_show(value)}")
    return value


def _cycle_time(value: object) -> float | dict[str, float]:
    """A cycle time for every product the machine makes (a duration), or per product (a mapping)."""
    if isinstance(value, dict):
        return {str(product): _positive_duration(seconds) for product, seconds in value.items()}
    return _positive_duration(value)


def _offset(value: object) -> float:
    seconds = parse_duration(value)
    if seconds == 0:
        raise ValueError(f"must not be 0 (5m: ahead, -5m: behind), got {_show(value)}")
    return seconds


def _factor(value: object) -> float:
    x = _positive(value)
    if x < 1:
        raise ValueError(f"must be at least 1 (1.25: cycles take 25 % longer), got {_show(value)}")
    return x


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What an event kind acts on and the parameters it takes (``duration`` among them when it lasts)."""

    levels: tuple[Level, ...]
    params: Mapping[str, Param]
    help: str


#: what a failing sensor does (``sensor_fault``'s ``mode``)
SENSOR_FAULT_MODES = ("stuck", "spike", "dropout", "drift", "bad_status")

_DURATION = Param(_positive_duration, True, "how long it lasts")
_UNTIL_END = Param(_positive_duration, False, "how long it lasts (omitted: to the end of the run)")

EVENT_KINDS: Mapping[EventKind, KindSpec] = {
    EventKind.BREAKDOWN: KindSpec((Level.MACHINE,), {"duration": _DURATION},
                                  "the machine breaks down until repaired (ADET)"),
    EventKind.MICRO_STOP_STORM: KindSpec(
        (Level.MACHINE,),
        {"duration": _DURATION, "rate": Param(_positive, True, "micro-stops per hour"),
         "stop": Param(_positive_duration, False, "each stop's length (default: the machine's micro_stop)")},
        "a burst of micro-stops on top of the machine's own"),
    EventKind.CHANGEOVER: KindSpec((Level.MACHINE,), {"duration": _DURATION},
                                   "an unplanned changeover (set-up time, AUST)"),
    EventKind.SPEED_LOSS: KindSpec(
        (Level.MACHINE,), {"factor": Param(_factor, True, "cycle times multiplied by this"), "duration": _UNTIL_END},
        "cycles take longer (a reduced-speed loss)"),
    EventKind.QUALITY_DRIFT: KindSpec(
        (Level.MACHINE,),
        {"scrap_rate": Param(_fraction, False, "the scrap share it drifts to"),
         "rework_rate": Param(_fraction, False, "the rework share it drifts to"),
         "ramp": Param(_non_negative_duration, False, "how long the drift takes (default 0: at once)"),
         "duration": _UNTIL_END},
        "the scrap and rework shares drift to new values (tool wear)"),
    EventKind.MATERIAL_SHORTAGE: KindSpec((Level.LINE,), {"duration": _DURATION},
                                          "the line's first station gets no material (the line starves)"),
    EventKind.OPERATOR_ABSENCE: KindSpec(
        (Level.MACHINE, Level.LINE, Level.SITE), {"duration": _DURATION},
        "the operators of a manual station, a line's or a site's manual stations are away: those stations wait "
        "(no_operator, a delay: ADOT); machines under other control run on"),
    EventKind.SENSOR_FAULT: KindSpec(
        (Level.MACHINE,),
        {"signal": Param(_text, True, "the signal whose sensor fails (sfsim inject --list … or docs/simulator.md)"),
         "mode": Param(_choice("sensor fault mode", SENSOR_FAULT_MODES), True,
                       "stuck, spike, dropout, drift or bad_status"),
         "duration": _UNTIL_END,
         "factor": Param(_positive, False, "spike: the reading × this (default 5)"),
         "every": Param(_positive_duration, False, "spike: one spike this often (default 1m)"),
         "rate": Param(_number, False, "drift: the reading's error per hour, as a share of the value (default "
                                       "0.1)")},
        "a sensor fails: its reading sticks, spikes, drops out, drifts or carries a bad OPC UA status; the machine "
        "itself runs on"),
    EventKind.CLOCK_SKEW: KindSpec(
        (Level.MACHINE,),
        {"offset": Param(_offset, True, "how far the machine's clock is off: 5m ahead, -30s behind"),
         "duration": _UNTIL_END},
        "the machine's own clock is off: the timestamps it sends move, what it does does not"),
    EventKind.NETWORK_OUTAGE: KindSpec(
        (Level.MACHINE, Level.LINE, Level.SITE), {"duration": _DURATION},
        "the network of a machine, a line or a site, or an OPC UA server (target opcua:NAME), goes away and comes "
        "back: MQTT machines' sessions are cut (their wills say offline) and their outboxes keep what the contract "
        "keeps; a server's clients lose their sessions; the machines run on"),
    EventKind.DEGRADATION: KindSpec(
        (Level.MACHINE,),
        {"failure_after": Param(_positive_duration, True, "from the onset to the breakdown it ends in"),
         "repair": Param(_positive_duration, False, "the breakdown's length (default: the machine's mttr)"),
         "scrap_rate": Param(_fraction, False, "the scrap share just before the failure (default: 5 points up)"),
         "micro_stops_per_hour": Param(_non_negative, False, "extra micro-stops an hour just before the failure "
                                       "(default 6)")},
        "the machine wears: its signals drift out of band, micro-stops and scrap rise, and it breaks down after "
        "failure_after unless a maintenance comes first"),
    EventKind.MAINTENANCE: KindSpec((Level.MACHINE,), {"duration": _DURATION},
                                    "maintenance (planned down time): it ends a degradation under way"),
    EventKind.CHANGE: KindSpec((Level.MACHINE,), {"set": Param(_fields, True, "machine fields and their new values")},
                               "what-if: machine fields as a plant file writes them, from the start of the run (at: "
                               "0), or at an instant those that act while it runs"),
}

#: the machine fields a ``change`` may set: the plant file's name → (the model's attribute, converter)
CHANGEABLE: Mapping[str, tuple[str, Callable[[object], Any]]] = {
    "control": ("control", _enum("control", Control)),
    "key_process": ("key_process", _bool),
    "digital": ("digital", _bool),
    "networked": ("networked", _bool),
    "protocol": ("protocol", _enum("protocol", Protocol)),
    "process": ("process", _text),
    "speed_loss": ("speed_loss", _non_negative),
    "mtbf": ("mtbf_s", _optional_duration),
    "mttr": ("mttr_s", _positive_duration),
    "micro_stops_per_hour": ("micro_stops_per_hour", _non_negative),
    "micro_stop": ("micro_stop_s", _positive_duration),
    "scrap_rate": ("scrap_rate", _fraction),
    "rework_rate": ("rework_rate", _fraction),
    "setup_time": ("setup_s", _non_negative_duration),
    "buffer": ("buffer", _positive_int),
    "cycle_time": ("cycle_time_s", _cycle_time),
}

#: the model's attributes a ``change`` may set at an instant of a run (or live): those that act while it runs; the
#: register's fields and the buffers are the plant's from the start
AT_AN_INSTANT = frozenset({"speed_loss", "mtbf_s", "mttr_s", "micro_stops_per_hour", "micro_stop_s", "scrap_rate",
                           "rework_rate", "setup_s", "cycle_time_s"})


def from_the_start_only(fields: Mapping[str, Any]) -> list[str]:
    """The fields of a change's ``set`` (the model's attributes) that apply from the start of a run only, by their
    names in a plant file."""
    names = {attribute: name for name, (attribute, _) in CHANGEABLE.items()}
    return [names.get(attribute, attribute) for attribute in fields if attribute not in AT_AN_INSTANT]


def at_an_instant_text() -> str:
    """The plant-file names of the fields a change may set at an instant, for messages."""
    return ", ".join(name for name, (attribute, _) in CHANGEABLE.items() if attribute in AT_AN_INSTANT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One event of a scenario, checked against its plant."""

    kind: EventKind
    #: the target as written, and its ISA-95 path (``enterprise/site[/area/line[/machine]]``)
    target: str
    path: str
    level: Level
    #: the start: seconds from the run's start, or a wall-clock instant (POSIX seconds)
    at_s: float | None
    at_epoch: float | None
    #: the kind's parameters, typed (``duration`` in seconds, when the kind has one and it was given)
    params: Mapping[str, Any]
    #: where it was written: the file, its line and the path in the document (``events[2]``)
    origin: tuple[str, int | None, str]
    #: a network outage of an OPC UA server (target ``opcua:NAME``): its name, the site's id or, with a server per
    #: line, ``site-line``; the path is then the site's or the line's. None: the target's own network
    server: str | None = None

    @property
    def duration_s(self) -> float | None:
        """How long it lasts; None: to the end of the run (or no duration: a ``change``)."""
        value = self.params.get("duration")
        return None if value is None else float(value)

    def problem(self, message: str) -> Issue:
        """An issue with this event found later (when the run's start and length are known)."""
        return Issue(*self.origin, message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A checked scenario file."""

    id: str
    name: Name
    #: the plant file it was written for (resolved against the scenario's folder), if it names one
    plant: Path | None
    events: tuple[Event, ...]
    source: str = ""


class _Targets:
    """The plant's machines, lines and sites by id (a line also as ``site/line``)."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.machines: dict[str, MachineAt] = {at.machine.id: at for at in plant.machines()}
        self.lines: dict[str, list[tuple[Site, str, Line]]] = {}
        self.sites: dict[str, Site] = {s.id: s for s in plant.sites}
        for site in plant.sites:
            for area in site.areas:
                for line in area.lines:
                    self.lines.setdefault(line.id, []).append((site, area.id, line))

    def server(self, name: str) -> tuple[str, Level, Site]:
        """(path, level, site) of the machines of OPC UA server ``name``: a site's (a server per site) or a line's
        (``site-line``, a server per line); ``ValueError`` naming the servers there may be."""
        e = self.plant.enterprise.id
        if name in self.sites:
            return f"{e}/{name}", Level.SITE, self.sites[name]
        for site in self.plant.sites:
            for area in site.areas:
                for line in area.lines:
                    if name == f"{site.id}-{line.id}":
                        return f"{e}/{site.id}/{area.id}/{line.id}", Level.LINE, site
        names = [f"opcua:{site.id}" for site in self.plant.sites]
        lines = [f"opcua:{site.id}-{line.id}" for site in self.plant.sites for area in site.areas
                 for line in area.lines]
        raise ValueError(f"no OPC UA server '{name}' in plant {e}: a server per site is named by the site "
                         f"({', '.join(names)}), a server per line by site-line ({', '.join(lines[:3])}"
                         f"{', …' if len(lines) > 3 else ''})")

    def resolve(self, target: str, levels: tuple[Level, ...]) -> tuple[str, Level, Site]:
        """(path, level, site) of ``target``; ``ValueError`` saying what it could be instead."""
        e = self.plant.enterprise.id
        if Level.MACHINE in levels and target in self.machines:
            at = self.machines[target]
            return at.path, Level.MACHINE, at.site
        if Level.LINE in levels:
            site_id, _, line_id = target.rpartition("/")
            found = [(s, a, ln) for s, a, ln in self.lines.get(line_id, []) if not site_id or s.id == site_id]
            if len(found) == 1:
                site, area, line = found[0]
                return f"{e}/{site.id}/{area}/{line.id}", Level.LINE, site
            if len(found) > 1:
                raise ValueError(f"line '{target}' is in {len(found)} sites: write it as site/line "
                                 f"({', '.join(f'{s.id}/{line_id}' for s, _, _ in found)})")
        if Level.SITE in levels and target in self.sites:
            return f"{e}/{target}", Level.SITE, self.sites[target]
        what = " or ".join(level.value for level in levels)
        choices = [*(self.machines if Level.MACHINE in levels else ()), *(self.lines if Level.LINE in levels else ()),
                   *(self.sites if Level.SITE in levels else ())]
        other = self._other_level(target, levels)
        return_hint = f" ({other})" if other else _did_you_mean(target, choices)
        raise ValueError(f"no {what} '{target}' in plant {self.plant.enterprise.id}{return_hint}")

    def _other_level(self, target: str, levels: tuple[Level, ...]) -> str:
        for level, ids in ((Level.MACHINE, self.machines), (Level.LINE, self.lines), (Level.SITE, self.sites)):
            if level not in levels and target.rpartition("/")[2] in ids:
                wanted = " or ".join(v.value for v in levels)
                return f"'{target}' is a {level.value}; this kind acts on a {wanted}"
        return ""


def _at(value: object, timezone: dt.tzinfo) -> tuple[float | None, float | None]:
    """(seconds from the start, None) or (None, epoch seconds) from a duration or an ISO instant."""
    if isinstance(value, dt.datetime):  # YAML reads an unquoted ISO instant itself
        instant = value
    elif isinstance(value, str) and "T" in value.upper() and "-" in value:
        try:
            instant = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected a duration from the run's start (1h30m) or an ISO instant "
                             f"(2026-01-05T10:00), got {_show(value)}") from None
    else:
        try:
            return _non_negative_duration(value), None
        except ValueError:
            raise ValueError(f"expected a duration from the run's start (1h30m) or an ISO instant "
                             f"(2026-01-05T10:00), got {_show(value)}") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone)
    return None, instant.timestamp()


_EVENT_FIELDS = ("at", "kind", "target")
#: a target that names an OPC UA server: ``opcua:NAME``
OPCUA_SERVER = "opcua:"


def opcua_server(at: MachineAt, per: Literal["site", "line"]) -> str:
    """The name of the simulator's OPC UA server that serves the machine at ``at``, with a server per site or per
    line: what its endpoint ends in, and what a scenario's ``opcua:NAME`` names."""
    return at.site.id if per == "site" else f"{at.site.id}-{at.line.id}"


def _event(c: _Checker, raw: object, path: str, targets: _Targets) -> Event | None:
    before = len(c.issues)
    if not isinstance(raw, dict):
        c.error(path, f"expected an event (at, kind, target and its parameters), got {_show(raw)}")
        return None
    kind = c.field(raw, "kind", path, _enum("event kind", EventKind), fallback=None)
    spec = EVENT_KINDS.get(kind) if kind is not None else None
    c.mapping(raw, path, (*_EVENT_FIELDS, *(spec.params if spec else ())) if spec else (*raw.keys(),))
    target = c.field(raw, "target", path, _text, fallback="")
    resolved = None
    server = target.removeprefix(OPCUA_SERVER) if target.startswith(OPCUA_SERVER) else None
    if spec is not None and target:
        try:
            if server is not None and kind is not EventKind.NETWORK_OUTAGE:
                raise ValueError(f"'{target}' is an OPC UA server; only a network_outage acts on one")
            resolved = targets.server(server) if server is not None else targets.resolve(target, spec.levels)
        except ValueError as e:
            c.error(_join(path, "target"), str(e))
    tz = resolved[2].calendar.tz if resolved else targets.plant.sites[0].calendar.tz
    from_start: tuple[float | None, float | None] = (0.0, None)
    at_s, at_epoch = c.field(raw, "at", path, lambda v: _at(v, tz), from_start)
    params: dict[str, Any] = {}
    if spec is not None:
        for name, param in spec.params.items():
            if param.required or name in raw:
                params[name] = c.field(raw, name, path, param.convert, fallback=None)
        _check_kind(c, kind, params, path, at_s)
    if len(c.issues) > before or kind is None or resolved is None:
        return None
    return Event(kind=kind, target=target, path=resolved[0], level=resolved[1], at_s=at_s, at_epoch=at_epoch,
                 params=params, origin=(c.source, c.lines.get(path), path), server=server)


def _check_kind(c: _Checker, kind: EventKind, params: dict[str, Any], path: str, at_s: float | None) -> None:
    """What a kind needs beyond its parameters one by one."""
    if kind is EventKind.QUALITY_DRIFT and "scrap_rate" not in params and "rework_rate" not in params:
        c.error(path, "a quality_drift needs scrap_rate, rework_rate or both")
    if kind is EventKind.CHANGE:
        changes = params.get("set")
        if isinstance(changes, dict):
            params["set"] = fields = _changes(c, changes, _join(path, "set"))
            if at_s != 0.0:
                for name in from_the_start_only(fields):
                    c.error(_join(_join(path, "set"), name), f"applies from the start of the run (at: 0) only; at an "
                                                      f"instant a change may set {at_an_instant_text()}")


def _changes(c: _Checker, raw: dict[str, Any], path: str) -> dict[str, Any]:
    """A ``change``'s fields, converted: the model's attribute → value."""
    if not raw:
        c.error(path, f"a change needs at least one field ({', '.join(CHANGEABLE)})")
    out = {}
    for key in c.mapping(raw, path, CHANGEABLE):
        if key in CHANGEABLE:
            attribute, convert = CHANGEABLE[key]
            out[attribute] = c.field(raw, key, path, convert, fallback=None)
    return out


def _build(c: _Checker, data: object, plant: Plant, source_dir: Path | None) -> Scenario:
    fields = ("version", "id", "name", "plant", "events")
    if not isinstance(data, dict):
        c.error("", f"expected a mapping of fields ({', '.join(fields)}), got {_show(data)}")
        raise ScenarioError(c.issues)
    m = c.mapping(data, "", fields)
    version = c.field(m, "version", "", _positive_int, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        c.error("version", f"unsupported scenario file version {version}; this release reads version "
                           f"{FORMAT_VERSION}")
    sid = c.field(m, "id", "", _id, fallback="?")
    name = _name(c, m, "", Name(zh=sid, en=sid))
    plant_file = c.field(m, "plant", "", _text, None)
    targets = _Targets(plant)
    events = []
    for i, raw in enumerate(c.sequence(m.get("events"), "events", required=True)):
        event = _event(c, raw, _join("events", i), targets)
        if event is not None:
            events.append(event)
    if c.issues:
        raise ScenarioError(sorted(c.issues, key=lambda i: i.line or 0))
    where = (source_dir / plant_file) if plant_file and source_dir else Path(plant_file) if plant_file else None
    return Scenario(id=sid, name=name, plant=where, events=tuple(events), source=c.source)


def parse_scenario(text: str, plant: Plant, *, source: str = "<scenario>", base: Path | None = None) -> Scenario:
    """Parse and check scenario YAML text against ``plant`` (``base``: the folder its ``plant`` is relative to)."""
    data, c = read_yaml(text, source=source, what="a scenario needs id and events", error=ScenarioError)
    return _build(c, data, plant, base)


def load_scenario(path: str | Path, plant: Plant) -> Scenario:
    """Read and check a scenario file against ``plant``; raises ``ScenarioError`` listing every problem."""
    return parse_scenario(read_text(path, ScenarioError), plant, source=str(path), base=Path(path).parent)


def parse_event(data: object, plant: Plant, *, source: str = "<event>") -> Event:
    """One event given live (a command's arguments, a control message), checked as a scenario file's are."""
    c = _Checker(source, {})
    event = _event(c, data, "event", _Targets(plant))
    if c.issues or event is None:
        raise ScenarioError(c.issues or [Issue(source, None, "event", "not an event")])
    return event


def from_the_start(event: Event) -> bool:
    """A ``change`` the run starts with (the others apply at their instant)."""
    return event.kind is EventKind.CHANGE and event.at_s == 0.0


def changed(machine: Machine, fields: Mapping[str, Any]) -> tuple[Machine, list[tuple[str, str]]]:
    """``machine`` with a change's fields set, and the plant-file rules it then breaks as (field, message)."""
    fields = dict(fields)
    cycle = fields.get("cycle_time_s")
    problems = []
    if isinstance(cycle, float):
        fields["cycle_time_s"] = dict.fromkeys(machine.cycle_time_s, cycle)
    elif isinstance(cycle, dict):
        unknown = sorted(set(cycle) - set(machine.cycle_time_s))
        if unknown:
            problems.append(("cycle_time", f"{machine.id} makes no product {', '.join(map(repr, unknown))} (it makes "
                                           f"{', '.join(machine.cycle_time_s)})"))
        fields["cycle_time_s"] = {**machine.cycle_time_s, **{p: s for p, s in cycle.items() if p not in unknown}}
    m = dataclasses.replace(machine, **fields)
    return m, problems + machine_problems(m)


def with_changes(plant: Plant, events: tuple[Event, ...]) -> Plant:
    """The plant with the fields of every ``change`` from the start set (what-if: the run then starts from that
    plant).

    ``ScenarioError`` if a changed machine breaks a plant file's rule (a networked machine must be digital, …)."""
    changes: dict[str, tuple[Event, dict[str, Any]]] = {}
    for event in events:
        if from_the_start(event):
            fields = changes.setdefault(event.path, (event, {}))[1]
            fields.update(event.params["set"])
    if not changes:
        return plant
    issues: list[Issue] = []

    def machine(at: MachineAt) -> Machine:
        if at.path not in changes:
            return at.machine
        event, fields = changes[at.path]
        m, problems = changed(at.machine, fields)
        issues.extend(event.problem(f"{field}: {message}") for field, message in problems)
        return m

    sites = []
    for site in plant.sites:
        areas = []
        for area in site.areas:
            lines = [dataclasses.replace(line, machines=tuple(
                machine(MachineAt(plant.enterprise, site, area, line, m)) for m in line.machines))
                for line in area.lines]
            areas.append(dataclasses.replace(area, lines=tuple(lines)))
        sites.append(dataclasses.replace(site, areas=tuple(areas)))
    if issues:
        raise ScenarioError(issues)
    return dataclasses.replace(plant, sites=tuple(sites))
