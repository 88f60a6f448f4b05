"""InfluxDB line protocol for telemetry and results (docs/storage.md is the schema).

Tags are few and of low cardinality (the ISA-95 path, kind, control, KPI level and
window); everything that varies per point is a field. Timestamps are the contract's
milliseconds, written as microseconds (``precision=u``) so that state changes within one
millisecond keep their order (seq mod 1000 µs); a point's series and instant come from
the message, so writing it twice overwrites it — replays are idempotent. Field types never change for a
key (integers carry ``i``), which InfluxDB requires.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shopfloor import REASONS, StopReason
from shopfloor.telemetry import MessageKind, Origin

from ._messages import Message
from ._units import PATH_TAGS, Unit

FieldValue = str | bool | int | float

# backslashes stay as they are: InfluxDB keeps a tag's "\\" as two characters (tags here are ids anyway)
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\"})


@functools.lru_cache(maxsize=65_536)  # keys and path levels repeat in every point
def escape_tag(text: str) -> str:
    """A tag key, tag value or field key (commas, equals signs and spaces escaped)."""
    return text.translate(_TAG_ESCAPES)


def _field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue | None], ts_ms: int,
         order_us: int = 0) -> str:
    """One point at ``ts_ms`` (+ ``order_us`` microseconds), written with microsecond precision; tags with
    empty values and fields that are None are left out (InfluxDB stores neither)."""
    head = measurement.translate(_MEASUREMENT_ESCAPES)
    tag_text = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v)
    field_text = ",".join(f"{escape_tag(k)}={_field(v)}" for k, v in fields.items() if v is not None)
    return f"{head}{tag_text} {field_text} {ts_ms * 1000 + order_us}"


@dataclass(frozen=True, slots=True)
class Retraction:
    """A stored point to delete before it is written again with fewer fields.

    InfluxDB merges the fields of a point written twice: a KPI that was defined (an
    effectiveness of 0 while a late machine seemed to be executing) and is undefined once
    the late data arrived would otherwise stay in the store for good."""

    measurement: str
    #: every tag of the point's series (a level tag tells results of different levels apart)
    tags: tuple[tuple[str, str], ...]
    time_us: int

    @property
    def series(self) -> str:
        """The series key as ``line`` writes it."""
        return self.measurement.translate(_MEASUREMENT_ESCAPES) + "".join(
            f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(self.tags) if v)

    def to_json(self) -> dict[str, Any]:
        return {"measurement": self.measurement, "tags": dict(self.tags), "time_us": self.time_us}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Retraction:
        return cls(str(data["measurement"]), tuple(sorted(data["tags"].items())), int(data["time_us"]))


def path_tags(path: str) -> dict[str, str]:
    return dict(zip(PATH_TAGS, Unit(path).parts, strict=True))


@functools.lru_cache(maxsize=65_536)
def _series(measurement: str, path: str) -> str:
    """``measurement,area=…,enterprise=…,line=…,machine=…,site=…``: what ``line`` writes for a path's tags."""
    tags = sorted(zip(PATH_TAGS, Unit(path).parts, strict=True))
    return measurement + "".join(f",{k}={escape_tag(v)}" for k, v in tags)


def _state_fields(code: int) -> str:
    info = REASONS[StopReason(code)]
    mode = "None" if info.mode.name == "None_" else info.mode.name
    return (f'state="{info.state.name}",state_code={int(info.state)}i,mode="{mode}",mode_code={int(info.mode)}i,'
            f'reason="{info.name}",reason_code={int(info.reason)}i')


_STATE_FIELDS = {int(code): _state_fields(code) for code in REASONS}


def telemetry(msg: Message, received_ms: int) -> list[str]:
    """The raw telemetry points of one valid message (none for a retained status seen again on subscribing).

    The frequent kinds are formatted directly (the same text ``line`` gives): they are most of the work."""
    b = msg.body
    kind = msg.kind
    if kind is MessageKind.COUNTERS:
        return [f"{_series('counters', msg.path)} total={b['total']}i,good={b['good']}i,scrap={b['scrap']}i,"
                f"rework={b['rework']}i,energy_kwh={float(b['energy_kwh'])!r},ideal_s={float(b['ideal_s'])!r},"
                f"seq={b['seq']}i {b['ts'] * 1000}"]
    if kind is MessageKind.SIGNALS:
        values = ",".join(f"{name}={float(v)!r}" for name, v in b["values"].items())  # names are ids: no escaping
        return [f"{_series('signals', msg.path)} {values}{',' if values else ''}seq={b['seq']}i {b['ts'] * 1000}"]
    if kind is MessageKind.STATE:
        # several changes within one millisecond (a zero-length state) keep their order by seq, even when
        # collectors sharing the load write them in another order; a replay still overwrites itself
        product = b["product"].translate(_STRING_ESCAPES)
        return [f'{_series("state", msg.path)} {_STATE_FIELDS[b["reason_code"]]},product="{product}",'
                f'seq={b["seq"]}i {b["ts"] * 1000 + b["seq"] % 1000}']
    tags = path_tags(msg.path)
    if kind is MessageKind.STATUS:
        if msg.retained:
            return []
        online = b["status"] == "online"
        # a will's ts is when its connection was made: the receive time says when the machine went away
        ts = b["ts"] if online else received_ms
        return [line("status", tags, {"status": b["status"], "online": online, "session": b["session"]}, ts)]
    return [_birth(tags, b)]


def _birth(tags: dict[str, str], b: Mapping[str, Any]) -> str:
    name, kind_name, power = b["name"], b["kind_name"], b["power_kw"]
    assert isinstance(name, dict) and isinstance(kind_name, dict) and isinstance(power, dict)
    signals = b["signals"]
    assert isinstance(signals, list)
    birth_tags = tags | {"kind": str(b["kind"]), "control": str(b["control"]),
                         "key_process": "true" if b["key_process"] else "false"}
    fields: dict[str, FieldValue | None] = {
        "name_zh": name["zh"], "name_en": name["en"], "kind_name_zh": kind_name["zh"], "kind_name_en": kind_name["en"],
        "digital": bool(b["digital"]), "networked": bool(b["networked"]), "industry": str(b["industry"]),
        "protocol": str(b["protocol"]), "process": str(b["process"]), "manufacturer": str(b["manufacturer"]),
        "model": str(b["model"]), "serial": str(b["serial"]),
        "ideal_cycle_s": json.dumps(b["ideal_cycle_s"], ensure_ascii=False, sort_keys=True),
        "signals": ",".join(str(s) for s in signals), "sample_period_ms": b["sample_period_ms"],
        "session": b["session"], "seq": b["seq"],
        # what a birth that does not say means (docs/telemetry.md), written out for the report to read
        "origin": str(b.get("origin", Origin.MEASURED.value)),
    }
    fields |= {f"power_{cls}_kw": float(power[cls]) for cls in ("executing", "setup", "idle", "down", "standby")}
    ts = b["ts"]
    assert isinstance(ts, int)
    return line("birth", birth_tags, fields, ts)
