"""Read and validate plant files.

Every problem in a file is collected, each with the file, the line, the path
inside the document (``sites[0].lines[1].machines[3].mttr``) and what is wrong,
before ``PlantError`` is raised; nothing here ever ends in a traceback for bad
input.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ._calendar import WEEKDAYS, Calendar, ClockRange, MaintenanceWindow, Shift
from ._durations import parse_duration
from ._kinds import KINDS, Control, Industry, Protocol
from ._model import (
    Area,
    AuxiliaryEquipment,
    AuxiliaryReason,
    Enterprise,
    FailureDistribution,
    Line,
    Machine,
    Name,
    Order,
    Plant,
    PowerDraw,
    Product,
    Region,
    RepairDistribution,
    Site,
    parse_region,
)
from .redaction import redact

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

FORMAT_VERSION = 1
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ID_RULE = "1 to 64 letters, digits, '_' or '-', starting with a letter or digit"
DEFAULT_BUFFER = 10
DEFAULT_ORDER_QUANTITY = 100
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_PRODUCT = Product(id="part", name=Name(zh="零件", en="part"))


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a plant file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A configuration file could not be used; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class PlantError(ConfigError):
    """A plant file could not be used; ``issues`` lists every problem found."""


# ---------------------------------------------------------------- converters
# Each takes the raw YAML value and returns the typed one or raises ValueError
# with the message a user sees after the path.


def _show(value: object) -> str:
    """A value as a message quotes it: without the credentials a URL or a mapping may carry."""
    return redact(repr(value) if isinstance(value, str) else str(value))


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_show(value)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {_show(value)}")
    return float(value)


def _positive(value: object) -> float:
    x = _number(value)
    if x <= 0:
        raise ValueError(f"must be greater than 0, got {_show(value)}")
    return x


def _non_negative(value: object) -> float:
    x = _number(value)
    if x < 0:
        raise ValueError(f"must not be negative, got {_show(value)}")
    return x


def _fraction(value: object) -> float:
    x = _number(value)
    if not 0 <= x < 1:
        raise ValueError(f"must be at least 0 and below 1, got {_show(value)}")
    return x


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {_show(value)}")
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {_show(value)}")
    return seconds


def _non_negative_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"must not be a negative duration, got {_show(value)}")
    return seconds


def _optional_duration(value: object) -> float | None:
    """``null``/``never`` switch failures off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("never", "none")):
        return None
    return _positive_duration(value)


def _bool(value: object) -> bool:
    # the environment gives text: SFSIM_COLLECTOR_KPI_ENABLED=false
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_show(value)}")
    return value


def _region(value: object) -> Region:
    if isinstance(value, dict):  # {province: 湖北省, city: 襄阳市}
        unknown = sorted(set(value) - {"province", "city"})
        if unknown or "province" not in value:
            raise ValueError(f"expected province and city (湖北省, 襄阳市), got {_show(value)}")
        text = _text(value["province"]) + (_text(value["city"]) if value.get("city") is not None else "")
        return parse_region(text)
    return parse_region(_text(value))


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected text, got {_show(value)}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


class _SourceInt(int):
    """An int from YAML that remembers how it was written (``010``, ``12:30:00``)."""

    text: str


class _Loader(yaml.SafeLoader):
    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        value = _SourceInt(super().construct_yaml_int(node))
        value.text = str(node.value)
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _source_text(value: object) -> object:
    return value.text if isinstance(value, _SourceInt) else value


def _id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        written = str(_source_text(value))
        if written != str(int(value)):
            raise ValueError(f"YAML reads {written} as the number {int(value)}; quote the id: '{written}'")
        value = written
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(f"must be {ID_RULE}, got {_show(value)}")
    return value


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _choice(what: str, choices: Collection[str]) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            word = value if isinstance(value, str) else str(value)
            raise ValueError(
                f"unknown {what} {_show(value)}{_did_you_mean(word, choices)}; expected one of: {', '.join(choices)}"
            )
        return value

    return convert


def _enum(what: str, enum: type[E]) -> Callable[[object], E]:
    pick = _choice(what, [e.value for e in enum])
    return lambda value: enum(pick(value))


def _clock(value: object, *, allow_24: bool = False) -> dt.time | None:
    """``"08:00"`` → time; ``"24:00"`` (ends only) → None, meaning midnight at the end of the day."""
    # YAML 1.1 reads an unquoted 12:30 as the base-60 number 750: use what was written
    value = _source_text(value)
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value.strip()):
        raise ValueError(f"expected a clock time HH:MM, got {_show(value)}")
    parts = [int(p) for p in value.strip().split(":")]
    if allow_24 and parts[0] == 24 and not any(parts[1:]):
        return None
    try:
        return dt.time(parts[0], parts[1], parts[2] if len(parts) > 2 else 0)
    except ValueError:
        raise ValueError(f"expected a clock time HH:MM between 00:00 and 23:59, got {_show(value)}") from None


def _start_clock(value: object) -> dt.time:
    t = _clock(value)
    assert t is not None
    return t


def _end_clock(value: object) -> dt.time | None:
    return _clock(value, allow_24=True)


def _timezone(value: object) -> str:
    text = _text(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {_show(value)} (use an IANA name such as Asia/Shanghai)") from None
    return text


def _day(value: object) -> int | dt.date:
    """A weekday name (mon … sun) or an ISO date."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        for names in (WEEKDAYS, _FULL_DAYS):
            if word in names:
                return names.index(word)
        try:
            return dt.date.fromisoformat(word)
        except ValueError:
            pass
    raise ValueError(f"expected a weekday (mon … sun) or a date YYYY-MM-DD, got {_show(value)}")


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# ---------------------------------------------------------------- checker

_REQUIRED: Any = object()
_LAST_STEP = re.compile(r"(\.[^.\[]+|\[\d+\])$")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Checker:
    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines
        self.issues: list[Issue] = []

    def error(self, path: str, message: str) -> None:
        self.issues.append(Issue(self.source, self._line(path), path, message))

    def _line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            parent = _LAST_STEP.sub("", path)
            path = "" if parent == path else parent
        return self.lines.get("")

    def mapping(self, value: object, path: str, fields: Collection[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping of fields ({', '.join(fields)}), got {_show(value)}")
            return {}
        for key in value:
            if isinstance(key, bool):
                self.error(
                    _join(path, str(key)),
                    f"unknown field '{key}' (YAML reads unquoted yes/no/on/off as true/false; quote the key)",
                )
            elif key not in fields:
                hint = _did_you_mean(str(key), fields)
                self.error(_join(path, str(key)), f"unknown field '{key}'{hint}")
        return value

    def sequence(self, value: object, path: str, *, required: bool = False) -> list[Any]:
        if value is None:
            if required:
                self.error(path, "missing required list")
            return []
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {_show(value)}")
            return []
        return value

    def field(
        self,
        m: Mapping[str, Any],
        key: str,
        path: str,
        convert: Callable[[object], T],
        default: T = _REQUIRED,
        *,
        fallback: Any = None,
    ) -> T:
        """``m[key]`` converted; a missing key gives ``default`` or a missing-field error."""
        p = _join(path, key)
        if key not in m:
            if default is _REQUIRED:
                self.error(p, "missing required field")
                return cast(T, fallback)  # only ever seen when errors are raised
            return default
        try:
            return convert(m[key])
        except ValueError as e:
            self.error(p, str(e))
            return default if default is not _REQUIRED else cast(T, fallback)

    def unique(self, seen: dict[str, str], what: str, value: str, path: str) -> None:
        if value in seen:
            self.error(path, f"duplicate {what} id '{value}' (first used at {seen[value]})")
        else:
            seen[value] = path


def _name(c: _Checker, m: Mapping[str, Any], path: str, default: Name) -> Name:
    """``name: 车床 / lathe`` (one text) or ``name: {zh: 车床, en: lathe}``."""
    if "name" not in m:
        return default
    raw = m["name"]
    p = _join(path, "name")
    if isinstance(raw, dict):
        parts = c.mapping(raw, p, ("zh", "en"))
        zh = c.field(parts, "zh", p, _text, "")
        en = c.field(parts, "en", p, _text, "")
        if not zh and not en:
            c.error(p, "needs zh or en (or both)")
        return Name(zh=zh or en, en=en or zh)
    try:
        text = _text(raw)
    except ValueError as e:
        c.error(p, str(e))
        return default
    return Name(zh=text, en=text)


# ---------------------------------------------------------------- sections

_ENTERPRISE_FIELDS = ("id", "name")
_SITE_FIELDS = (
    "id", "name", "industry", "region", "timezone", "calendar", "products", "areas", "lines", "digital_design_tools",
    "auxiliary",
)
_CALENDAR_FIELDS = ("shifts", "non_working_days", "planned_maintenance")
_SHIFT_FIELDS = ("id", "name", "start", "end", "breaks")
_RANGE_FIELDS = ("start", "end")
_MAINTENANCE_FIELDS = ("days", "start", "end")
_LINE_FIELDS = ("id", "name", "area", "orders", "machines")
_ORDER_FIELDS = ("product", "quantity")
_POWER_FIELDS = ("executing", "setup", "idle", "down", "standby")
_AUXILIARY_FIELDS = (
    "id", "name", "reason", "category", "area", "control", "digital", "networked", "protocol", "manufacturer", "model",
)  # fmt: skip
_MACHINE_FIELDS = (
    "id", "name", "kind", "control", "key_process", "digital", "networked", "protocol", "process",
    "manufacturer", "model", "serial", "cycle_time", "cycle_cv", "speed_loss", "mtbf", "mttr",
    "failure_distribution", "failure_shape", "repair_distribution", "repair_cv", "micro_stops_per_hour",
    "micro_stop", "scrap_rate", "rework_rate", "setup_time", "power_kw", "buffer",
)  # fmt: skip

_DEFAULT_SHIFTS = (
    Shift(
        id="A",
        zh="早班",
        en="day shift",
        hours=ClockRange(start=dt.time(8), end=dt.time(16)),
        breaks=(ClockRange(start=dt.time(12), end=dt.time(12, 30)),),
    ),
    Shift(
        id="B",
        zh="中班",
        en="evening shift",
        hours=ClockRange(start=dt.time(16), end=None),
        breaks=(ClockRange(start=dt.time(20), end=dt.time(20, 30)),),
    ),
)


def _clock_range(c: _Checker, raw: object, path: str, fields: Collection[str]) -> tuple[dict[str, Any], ClockRange]:
    m = c.mapping(raw, path, fields)
    start = c.field(m, "start", path, _start_clock, fallback=dt.time(0))
    end = c.field(m, "end", path, _end_clock, fallback=dt.time(1))
    if start == end:
        c.error(_join(path, "end"), "must differ from start")
    return m, ClockRange(start=start, end=end)


def _within(inner: ClockRange, outer: ClockRange) -> bool:
    os_, oe = outer.minutes()
    is_, ie = inner.minutes()
    if is_ < os_:
        is_, ie = is_ + 1440, ie + 1440
    return os_ <= is_ and ie <= oe


def _overlap(a: ClockRange, b: ClockRange) -> bool:
    a0, a1 = a.minutes()
    b0, b1 = b.minutes()
    return any(a0 < b1 + k and b0 + k < a1 for k in (-1440, 0, 1440))


def _calendar(c: _Checker, raw: object, path: str, timezone: str) -> Calendar:
    m = c.mapping(raw, path, _CALENDAR_FIELDS)
    shifts: list[Shift] = []
    seen: dict[str, str] = {}
    shift_list = c.sequence(m.get("shifts"), _join(path, "shifts"))
    for i, raw_shift in enumerate(shift_list):
        p = _join(_join(path, "shifts"), i)
        sm, hours = _clock_range(c, raw_shift, p, _SHIFT_FIELDS)
        sid = c.field(sm, "id", p, _id, fallback=f"shift{i}")
        c.unique(seen, "shift", sid, _join(p, "id"))
        name = _name(c, sm, p, Name(zh=sid, en=sid))
        breaks = []
        for j, raw_break in enumerate(c.sequence(sm.get("breaks"), _join(p, "breaks"))):
            bp = _join(_join(p, "breaks"), j)
            _, brk = _clock_range(c, raw_break, bp, _RANGE_FIELDS)
            if not _within(brk, hours):
                c.error(bp, "break lies outside its shift")
            breaks.append(brk)
        for other in shifts:
            if _overlap(hours, other.hours):
                c.error(p, f"shift '{sid}' overlaps shift '{other.id}'")
        shifts.append(Shift(id=sid, zh=name.zh, en=name.en, hours=hours, breaks=tuple(breaks)))
    if "shifts" not in m:
        shifts = list(_DEFAULT_SHIFTS)
    elif not shift_list:
        c.error(_join(path, "shifts"), "a calendar needs at least one shift (leave shifts out for the default two)")
    off_days = m.get("non_working_days", ["sat", "sun"])
    weekdays: set[int] = set()
    dates: set[dt.date] = set()
    for i, day in enumerate(c.sequence(off_days, _join(path, "non_working_days"))):
        try:
            d = _day(day)
        except ValueError as e:
            c.error(_join(_join(path, "non_working_days"), i), str(e))
            continue
        (weekdays.add(d) if isinstance(d, int) else dates.add(d))
    windows = []
    for i, raw_window in enumerate(c.sequence(m.get("planned_maintenance"), _join(path, "planned_maintenance"))):
        p = _join(_join(path, "planned_maintenance"), i)
        wm, hours = _clock_range(c, raw_window, p, _MAINTENANCE_FIELDS)
        w_days: set[int] = set()
        w_dates: set[dt.date] = set()
        for j, day in enumerate(c.sequence(wm.get("days"), _join(p, "days"), required=True)):
            try:
                d = _day(day)
            except ValueError as e:
                c.error(_join(_join(p, "days"), j), str(e))
                continue
            (w_days.add(d) if isinstance(d, int) else w_dates.add(d))
        windows.append(MaintenanceWindow(weekdays=frozenset(w_days), dates=frozenset(w_dates), hours=hours))
    return Calendar(
        timezone=timezone,
        shifts=tuple(shifts),
        off_weekdays=frozenset(weekdays),
        off_dates=frozenset(dates),
        maintenance=tuple(windows),
    )


@dataclass(frozen=True, slots=True)
class _LineContext:
    products: Mapping[str, Product]
    ordered: frozenset[str]
    line_path: str


def _cycle_times(c: _Checker, m: Mapping[str, Any], path: str, ctx: _LineContext) -> dict[str, float]:
    p = _join(path, "cycle_time")
    if "cycle_time" not in m:
        c.error(p, "missing required field")
        return {}
    raw = m["cycle_time"]
    if not isinstance(raw, dict):
        try:
            seconds = _positive_duration(raw)
        except ValueError as e:
            c.error(p, str(e))
            return {}
        return {pid: seconds for pid in ctx.products if pid in ctx.ordered}
    out = {}
    for key, value in raw.items():
        kp = _join(p, str(key))
        if key not in ctx.products:
            c.error(kp, f"unknown product '{key}'; site products: {', '.join(ctx.products)}")
            continue
        try:
            out[key] = _positive_duration(value)
        except ValueError as e:
            c.error(kp, str(e))
    for pid in sorted(ctx.ordered - out.keys()):
        if pid not in raw:
            c.error(p, f"no cycle time for product '{pid}', which {ctx.line_path} makes")
    return out


def _machine(c: _Checker, raw: object, path: str, ctx: _LineContext) -> Machine:
    problems_before = len(c.issues)
    m = c.mapping(raw, path, _MACHINE_FIELDS)
    mid = c.field(m, "id", path, _id, fallback="?")
    kind_id = c.field(m, "kind", path, _choice("kind", KINDS), fallback="other")
    kind = KINDS[kind_id]
    name = _name(c, m, path, Name(zh=f"{kind.zh} {mid}", en=f"{kind.en} {mid}"))
    control = c.field(m, "control", path, _enum("control", Control), kind.control)
    digital = c.field(m, "digital", path, _bool, control is not Control.MANUAL)
    networked = c.field(m, "networked", path, _bool, digital)
    protocol = c.field(
        m, "protocol", path, _enum("protocol", Protocol), Protocol.OPCUA if networked else Protocol.NONE
    )
    scrap = c.field(m, "scrap_rate", path, _fraction, 0.0)
    rework = c.field(m, "rework_rate", path, _fraction, 0.0)
    power_path = _join(path, "power_kw")
    pm = c.mapping(m.get("power_kw"), power_path, _POWER_FIELDS)
    power = PowerDraw(
        **{key: c.field(pm, key, power_path, _non_negative, default) for key, default in zip(
            _POWER_FIELDS, kind.power_kw, strict=True)}
    )
    machine = Machine(
        id=mid,
        name=name,
        kind=kind_id,
        control=control,
        key_process=c.field(m, "key_process", path, _bool, False),
        digital=digital,
        networked=networked,
        protocol=protocol,
        process=c.field(m, "process", path, _text, kind_id),
        manufacturer=c.field(m, "manufacturer", path, _text, ""),
        model=c.field(m, "model", path, _text, ""),
        serial=c.field(m, "serial", path, _text, ""),
        cycle_time_s=_cycle_times(c, m, path, ctx),
        cycle_cv=c.field(m, "cycle_cv", path, _fraction, kind.cycle_cv),
        speed_loss=c.field(m, "speed_loss", path, _non_negative, 0.0),
        mtbf_s=c.field(m, "mtbf", path, _optional_duration, cast("float | None", kind.mtbf_s)),
        mttr_s=c.field(m, "mttr", path, _positive_duration, kind.mttr_s),
        failure_distribution=c.field(
            m, "failure_distribution", path, _enum("failure distribution", FailureDistribution),
            FailureDistribution.EXPONENTIAL,
        ),
        failure_shape=c.field(m, "failure_shape", path, _positive, 1.5),
        repair_distribution=c.field(
            m, "repair_distribution", path, _enum("repair distribution", RepairDistribution),
            RepairDistribution.LOGNORMAL,
        ),
        repair_cv=c.field(m, "repair_cv", path, _positive, 0.5),
        micro_stops_per_hour=c.field(m, "micro_stops_per_hour", path, _non_negative, kind.micro_stops_per_hour),
        micro_stop_s=c.field(m, "micro_stop", path, _positive_duration, kind.micro_stop_s),
        scrap_rate=scrap,
        rework_rate=rework,
        setup_s=c.field(m, "setup_time", path, _non_negative_duration, kind.setup_s),
        power_kw=power,
        buffer=c.field(m, "buffer", path, _positive_int, DEFAULT_BUFFER),
    )
    # cross-field rules only judge fields that are valid themselves: one typo, one message
    if len(c.issues) == problems_before:
        for field, message in machine_problems(machine):
            c.error(_join(path, field), message)
    return machine


def _connection_problems(protocol: str, networked: bool, digital: bool) -> list[tuple[str, str]]:
    """(field, what is wrong) for the rules tying protocol, networked and digital (``protocol``: "" or none)."""
    out = []
    if protocol not in ("", Protocol.NONE) and not networked:
        out.append(("protocol", f"protocol '{protocol}' on a machine that is not networked (set networked: true "
                                f"or protocol: none)"))
    if networked and not digital:
        out.append(("networked", "a networked machine must be digital (set digital: true)"))
    return out


def machine_problems(m: Machine) -> list[tuple[str, str]]:
    """(field, what is wrong) for each rule across a machine's fields it breaks (a scenario's ``change`` too)."""
    out = _connection_problems(m.protocol, m.networked, m.digital)
    if m.scrap_rate + m.rework_rate >= 1:
        out.append(("rework_rate", f"scrap_rate + rework_rate must be below 1, got {m.scrap_rate + m.rework_rate:g}"))
    return out


def _auxiliary(c: _Checker, raw: object, path: str, machine_ids: dict[str, str],
               declared_areas: Mapping[str, Name]) -> AuxiliaryEquipment:
    """One piece of the site's auxiliary pool: what the register says of it (no kind, no cycle time: it is never
    simulated)."""
    problems_before = len(c.issues)
    m = c.mapping(raw, path, _AUXILIARY_FIELDS)
    aid = c.field(m, "id", path, _id, fallback="?")
    c.unique(machine_ids, "machine", aid, _join(path, "id"))
    reason = c.field(m, "reason", path, _enum("reason", AuxiliaryReason), AuxiliaryReason.NON_PRODUCTION)
    category = c.field(m, "category", path, _text, "")
    area = c.field(m, "area", path, _id, cast("str | None", None))
    if area is not None and declared_areas and area not in declared_areas:
        c.error(_join(path, "area"), f"unknown area '{area}'{_did_you_mean(area, declared_areas)}; "
                                     f"declared areas: {', '.join(declared_areas)}")
    control = c.field(m, "control", path, _enum("control", Control), Control.MANUAL)
    digital = c.field(m, "digital", path, _bool, control is not Control.MANUAL)
    networked = c.field(m, "networked", path, _bool, digital)
    protocol = c.field(m, "protocol", path, _text, "")
    if protocol.lower() == Protocol.NONE:
        protocol = ""
    if len(c.issues) == problems_before:
        for field, message in _connection_problems(protocol, networked, digital):
            c.error(_join(path, field), message)
    named = f"{category} {aid}" if category else aid
    return AuxiliaryEquipment(
        id=aid,
        name=_name(c, m, path, Name(zh=named, en=named)),
        reason=reason,
        category=category,
        area=area,
        control=control,
        digital=digital,
        networked=networked,
        protocol=protocol,
        manufacturer=c.field(m, "manufacturer", path, _text, ""),
        model=c.field(m, "model", path, _text, ""),
    )


def _line(
    c: _Checker, raw: object, path: str, products: Mapping[str, Product], machine_ids: dict[str, str]
) -> tuple[str, Line]:
    m = c.mapping(raw, path, _LINE_FIELDS)
    lid = c.field(m, "id", path, _id, fallback="?")
    orders = []
    for i, raw_order in enumerate(c.sequence(m.get("orders"), _join(path, "orders"))):
        p = _join(_join(path, "orders"), i)
        om = c.mapping(raw_order, p, _ORDER_FIELDS)
        product = c.field(om, "product", p, _choice("product", products), fallback="")
        orders.append(Order(product=product, quantity=c.field(om, "quantity", p, _positive_int, fallback=1)))
    if not orders:
        orders = [Order(product=pid, quantity=DEFAULT_ORDER_QUANTITY) for pid in products]
    ctx = _LineContext(products, frozenset(o.product for o in orders if o.product in products), f"line '{lid}'")
    machines = []
    machine_list = c.sequence(m.get("machines"), _join(path, "machines"), required=True)
    if "machines" in m and not machine_list:
        c.error(_join(path, "machines"), "a line needs at least one machine")
    for i, raw_machine in enumerate(machine_list):
        p = _join(_join(path, "machines"), i)
        machine = _machine(c, raw_machine, p, ctx)
        c.unique(machine_ids, "machine", machine.id, _join(p, "id"))
        machines.append(machine)
    area = c.field(m, "area", path, _id, "main")
    return area, Line(id=lid, name=_name(c, m, path, Name(zh=lid, en=lid)), machines=tuple(machines),
                      orders=tuple(orders))


def _site(c: _Checker, raw: object, path: str, machine_ids: dict[str, str]) -> Site:
    m = c.mapping(raw, path, _SITE_FIELDS)
    sid = c.field(m, "id", path, _id, fallback="?")
    timezone = c.field(m, "timezone", path, _timezone, DEFAULT_TIMEZONE)
    products: dict[str, Product] = {}
    for i, raw_product in enumerate(c.sequence(m.get("products"), _join(path, "products"))):
        p = _join(_join(path, "products"), i)
        pm = c.mapping(raw_product, p, ("id", "name"))
        pid = c.field(pm, "id", p, _id, fallback=f"?{i}")
        if pid in products:
            c.error(_join(p, "id"), f"duplicate product id '{pid}'")
        products[pid] = Product(id=pid, name=_name(c, pm, p, Name(zh=pid, en=pid)))
    if not products:
        products = {DEFAULT_PRODUCT.id: DEFAULT_PRODUCT}
    declared_areas: dict[str, Name] = {}
    for i, raw_area in enumerate(c.sequence(m.get("areas"), _join(path, "areas"))):
        p = _join(_join(path, "areas"), i)
        am = c.mapping(raw_area, p, ("id", "name"))
        aid = c.field(am, "id", p, _id, fallback=f"?{i}")
        if aid in declared_areas:
            c.error(_join(p, "id"), f"duplicate area id '{aid}'")
        declared_areas[aid] = _name(c, am, p, Name(zh=aid, en=aid))
    by_area: dict[str, list[Line]] = {}
    line_ids: dict[str, str] = {}
    line_list = c.sequence(m.get("lines"), _join(path, "lines"), required=True)
    if "lines" in m and not line_list:
        c.error(_join(path, "lines"), "a site needs at least one line")
    for i, raw_line in enumerate(line_list):
        p = _join(_join(path, "lines"), i)
        area_id, line = _line(c, raw_line, p, products, machine_ids)
        c.unique(line_ids, "line", line.id, _join(p, "id"))
        if declared_areas and area_id not in declared_areas:
            c.error(
                _join(p, "area"),
                f"unknown area '{area_id}'{_did_you_mean(area_id, declared_areas)}; "
                f"declared areas: {', '.join(declared_areas)}",
            )
        by_area.setdefault(area_id, []).append(line)
    areas = tuple(
        Area(id=aid, name=declared_areas.get(aid, Name(zh=aid, en=aid)), lines=tuple(lines))
        for aid, lines in by_area.items()
    )
    auxiliary = tuple(
        _auxiliary(c, raw_item, _join(_join(path, "auxiliary"), i), machine_ids, declared_areas)
        for i, raw_item in enumerate(c.sequence(m.get("auxiliary"), _join(path, "auxiliary")))
    )
    return Site(
        id=sid,
        name=_name(c, m, path, Name(zh=sid, en=sid)),
        industry=c.field(m, "industry", path, _enum("industry", Industry), Industry.DISCRETE),
        calendar=_calendar(c, m.get("calendar"), _join(path, "calendar"), timezone),
        products=tuple(products.values()),
        areas=areas,
        digital_design_tools=c.field(m, "digital_design_tools", path, _bool, False),
        region=c.field(m, "region", path, _region, None),
        auxiliary=auxiliary,
    )


def build_plant(data: object, *, source: str = "<plant>", lines: Mapping[str, int] | None = None) -> Plant:
    """Validate already-parsed plant data (e.g. from the ledger importer) into a ``Plant``."""
    c = _Checker(source, lines or {})
    return _build(c, data)


def _build(c: _Checker, data: object) -> Plant:
    fields = ("version", "enterprise", "sites")
    if not isinstance(data, dict):
        c.error("", f"expected a mapping of fields ({', '.join(fields)}), got {_show(data)}")
        raise PlantError(c.issues)
    m = c.mapping(data, "", fields)
    version = c.field(m, "version", "", _positive_int, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        c.error("version", f"unsupported plant file version {version}; this release reads version {FORMAT_VERSION}")
    em = c.mapping(m.get("enterprise"), "enterprise", _ENTERPRISE_FIELDS)
    if "enterprise" not in m:
        c.error("enterprise", "missing required field")
    eid = c.field(em, "id", "enterprise", _id, fallback="?") if "enterprise" in m else "?"
    enterprise = Enterprise(id=eid, name=_name(c, em, "enterprise", Name(zh=eid, en=eid)))
    machine_ids: dict[str, str] = {}
    site_ids: dict[str, str] = {}
    sites = []
    site_list = c.sequence(m.get("sites"), "sites", required=True)
    if "sites" in m and not site_list:
        c.error("sites", "a plant needs at least one site")
    for i, raw_site in enumerate(site_list):
        site = _site(c, raw_site, _join("sites", i), machine_ids)
        c.unique(site_ids, "site", site.id, f"sites[{i}].id")
        sites.append(site)
    if c.issues:
        raise PlantError(sorted(c.issues, key=lambda i: i.line or 0))
    return Plant(enterprise=enterprise, sites=tuple(sites), source=c.source)


# ---------------------------------------------------------------- YAML


def _line_map(node: yaml.Node, path: str, lines: dict[str, int], c: _Checker) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = _join(path, key)
            lines[child] = key_node.start_mark.line + 1
            if key in seen:
                c.error(child, f"duplicate key '{key}' (YAML keeps only the last one)")
            seen.add(key)
            _line_map(value_node, child, lines, c)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, _join(path, i), lines, c)


def read_yaml(text: str, *, source: str, what: str,
              error: type[ConfigError] = ConfigError) -> tuple[object, _Checker]:
    """Parse YAML text into data and a checker that knows every path's line; ``what`` names an empty file's needs."""
    c = _Checker(source, {})
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        c.issues.append(Issue(source, mark.line + 1 if mark else None, "", f"not valid YAML: {problem}"))
        raise error(c.issues) from None
    if node is None:
        raise error([Issue(source, None, "", f"the file is empty; {what}")])
    lines: dict[str, int] = {}
    c.lines = lines
    _line_map(node, "", lines, c)
    return data, c


def read_text(path: str | Path, error: type[ConfigError] = ConfigError) -> str:
    """A UTF-8 file's text; problems raised as ``error`` naming the file."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error([Issue(source, None, "", "no such file")]) from None
    except UnicodeDecodeError as e:
        raise error([Issue(source, None, "", f"not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    except OSError as e:
        raise error([Issue(source, None, "", f"cannot read: {e.strerror}")]) from None


def parse_plant(text: str, *, source: str = "<plant>") -> Plant:
    """Parse and validate plant YAML text."""
    data, c = read_yaml(text, source=source, what="a plant needs enterprise and sites", error=PlantError)
    return _build(c, data)


def load_plant(path: str | Path) -> Plant:
    """Read and validate a plant file; raises ``PlantError`` listing every problem."""
    return parse_plant(read_text(path, PlantError), source=str(path))
