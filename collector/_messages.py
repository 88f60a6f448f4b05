"""Checking what arrives: a contract topic and payload in, a typed message or the reason it is invalid out.

Every check is explicit and cheap (the collector runs it on every message): a
payload that is not UTF-8 JSON, a missing or mistyped field, NaN or infinity, an
unknown message kind, a topic outside the contract or a payload over the size
limit is ``Invalid`` with a reason a person can act on. Strings that would end
up in InfluxDB must not carry control characters (line protocol has no way to
write a newline).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from shopfloor import REASONS, Control, Industry, Protocol
from shopfloor.telemetry import LEVEL, CounterSample, MessageKind, Origin, TopicParts, parse_topic

#: 64 KiB: a birth with a few hundred signals fits; anything bigger is not telemetry
DEFAULT_MAX_PAYLOAD = 65_536
INT64_MAX = 2**63 - 1
#: plausible instants: 2000-01-01 to 2100-01-01 (a clock far off is a broken message, not a KPI window)
TS_RANGE_MS = (946_684_800_000, 4_102_444_800_000)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_COUNTS = ("total", "good", "scrap", "rework")
_POWER_CLASSES = ("executing", "setup", "idle", "down", "standby")
#: what a state message must say with each stop-reason code (docs/states.md): the six fields agree or the
#: message contradicts itself
_STATE_FIELDS = ("state", "state_code", "mode", "mode_code", "reason", "reason_code")
_STATE_OF: dict[int, tuple[str, int, str, int, str, int]] = {
    int(code): (info.state.name, int(info.state), "None" if info.mode.name == "None_" else info.mode.name,
                int(info.mode), info.name, int(code))
    for code, info in REASONS.items()
}


class Invalid(ValueError):
    """A message that breaks the contract; ``str()`` is the reason."""


@dataclass(frozen=True, slots=True)
class Message:
    """A contract message as ``decode`` accepted it: its topic's levels and its JSON body."""

    topic: TopicParts
    body: dict[str, Any]
    #: a retained message delivered on subscribing (not a new event)
    retained: bool = False
    #: of the payload's bytes: a message re-sent is byte for byte the same (``Streams`` compares them)
    digest: int = 0

    @property
    def kind(self) -> MessageKind:
        """The message kind, from the topic."""
        return self.topic.kind

    @property
    def path(self) -> str:
        """The machine's ``enterprise/site/area/line/machine``, from the topic."""
        return self.topic.path

    @property
    def ts_ms(self) -> int:
        """The body's ``ts``, epoch ms (every kind has one)."""
        ts: int = self.body["ts"]
        return ts

    def counters(self) -> CounterSample:
        """The values of a ``counters`` message."""
        b = self.body
        return CounterSample(b["ts"], b["total"], b["good"], b["scrap"], b["rework"], b["energy_kwh"], b["ideal_s"])


#: topics repeat (a few per machine): each is parsed once
_parse_topic = functools.lru_cache(maxsize=65_536)(parse_topic)


def _reject_constant(name: str) -> Any:
    raise Invalid(f"{name} is not a number JSON allows")


def decode(topic: str, payload: bytes, *, prefix: str, retained: bool = False,
           max_payload: int = DEFAULT_MAX_PAYLOAD) -> Message:
    """The message, or ``Invalid`` naming the first thing wrong with it."""
    try:
        parts = _parse_topic(topic)
    except ValueError as e:
        raise Invalid(str(e)) from None
    if parts.prefix != prefix:
        raise Invalid(f"topic {topic!r}: prefix {parts.prefix!r} is not this collector's {prefix!r}")
    if len(payload) > max_payload:
        raise Invalid(f"payload of {len(payload)} bytes is over the limit of {max_payload}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid(f"payload is not UTF-8 ({e.reason} at byte {e.start})") from None
    try:  # orjson: three times faster than json on the messages that are fine, which are nearly all
        body = orjson.loads(text)
        if isinstance(body, dict):
            _CHECKS[parts.kind](body, parts)
            return Message(parts, body, retained, hash(payload))
    except (orjson.JSONDecodeError, Invalid):
        pass
    # something is wrong: json, whose numbers are Python's own, names it exactly
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise Invalid(f"payload is not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except (ValueError, RecursionError) as e:  # an integer of thousands of digits, nesting thousands deep
        raise Invalid(f"payload is not usable JSON ({str(e)[:80]})") from None
    if not isinstance(body, dict):
        raise Invalid(f"payload is a JSON {type(body).__name__}, expected an object")
    _CHECKS[parts.kind](body, parts)
    return Message(parts, body, retained, hash(payload))


# ---------------------------------------------------------------- field checks


def _int(body: dict[str, Any], key: str) -> int:
    if key not in body:
        raise Invalid(f"missing {key!r}")
    v = body[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise Invalid(f"{key!r} must be a whole number, got {_show(v)}")
    if v < 0:
        raise Invalid(f"{key!r} must not be negative, got {v}")
    if v > INT64_MAX:  # InfluxDB integers are 64-bit
        raise Invalid(f"{key!r} is too large for a 64-bit integer: {_show(v)}")
    return v


def _ts(body: dict[str, Any]) -> int:
    ts = _int(body, "ts")
    if not TS_RANGE_MS[0] <= ts < TS_RANGE_MS[1]:
        raise Invalid(f"'ts' {ts} is not an epoch millisecond between 2000 and 2100")
    return ts


def _number(container: dict[str, Any], key: str, where: str = "") -> float:
    if key not in container:
        raise Invalid(f"missing {where}{key!r}")
    v = container[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise Invalid(f"{where}{key!r} must be a number, got {_show(v)}")
    try:
        value = float(v)  # an integer beyond a float's range overflows
    except OverflowError:
        raise Invalid(f"{where}{key!r} is too large, got {_show(v)}") from None
    if not math.isfinite(value):  # e.g. 1e999 parses as inf
        raise Invalid(f"{where}{key!r} must be finite, got {v}")
    return value


def _text(container: dict[str, Any], key: str, where: str = "") -> str:
    if key not in container:
        raise Invalid(f"missing {where}{key!r}")
    v = container[key]
    if not isinstance(v, str):
        raise Invalid(f"{where}{key!r} must be text, got {_show(v)}")
    if _CONTROL_CHARS.search(v):
        raise Invalid(f"{where}{key!r} contains a control character: {v!r}")
    return v


def _flag(body: dict[str, Any], key: str) -> bool:
    v = body.get(key)
    if not isinstance(v, bool):
        raise Invalid(f"{key!r} must be true or false, got {_show(v)}")
    return v


def _show(v: object) -> str:
    text = json.dumps(v, ensure_ascii=False) if not isinstance(v, float) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_birth(b: dict[str, Any], parts: TopicParts) -> None:
    _ts(b)
    for key in ("seq", "session", "sample_period_ms"):
        _int(b, key)
    m = b.get("machine")
    if not isinstance(m, dict):
        raise Invalid(f"'machine' must be an object of ISA-95 ids, got {_show(m)}")
    ids = tuple(m.get(k) for k in ("enterprise", "site", "area", "line", "id"))
    expected = (parts.enterprise, parts.site, parts.area, parts.line, parts.machine)
    if ids != expected:
        raise Invalid(f"'machine' {_show(m)} does not match the topic's {'/'.join(expected)}")
    if len(m) != 5:
        raise Invalid(f"'machine' must hold only enterprise, site, area, line and id, got {_show(sorted(m))}")
    for key in ("name", "kind_name"):
        v = b.get(key)
        if not isinstance(v, dict) or sorted(v) != ["en", "zh"]:
            raise Invalid(f"{key!r} must be an object with zh and en (and nothing else), got {_show(v)}")
        _text(v, "zh", f"{key}."), _text(v, "en", f"{key}.")
    for key in ("protocol", "process", "manufacturer", "model", "serial"):
        _text(b, key)
    if not isinstance(b.get("kind"), str) or not LEVEL.fullmatch(b["kind"]):  # a tag: an id, as in the plant file
        raise Invalid(f"'kind' must be an equipment kind id (letters, digits, '_', '-'), got {_show(b.get('kind'))}")
    for key in ("key_process", "digital", "networked"):
        _flag(b, key)
    if "origin" in b and b["origin"] not in {o.value for o in Origin}:
        raise Invalid(f"'origin' must be one of {', '.join(o.value for o in Origin)}, got {_show(b['origin'])}")
    for key, values in (("control", Control), ("industry", Industry), ("protocol", Protocol)):
        if b.get(key) not in {v.value for v in values}:
            raise Invalid(f"{key!r} must be one of {', '.join(v.value for v in values)}, got {_show(b.get(key))}")
    cycles = b.get("ideal_cycle_s")
    if not isinstance(cycles, dict) or not cycles:
        raise Invalid(f"'ideal_cycle_s' must be an object of product: seconds, got {_show(cycles)}")
    for product in cycles:
        if _number(cycles, product, "ideal_cycle_s.") <= 0 or _CONTROL_CHARS.search(product):
            raise Invalid(f"ideal_cycle_s.{product!r} must be a positive number of seconds for a product id")
    power = b.get("power_kw")
    if not isinstance(power, dict):
        raise Invalid(f"'power_kw' must be an object of power class: kW, got {_show(power)}")
    for cls in _POWER_CLASSES:
        if _number(power, cls, "power_kw.") < 0:
            raise Invalid(f"power_kw.{cls} must not be negative, got {power[cls]}")
    for cls in power:
        if cls not in _POWER_CLASSES:
            _number(power, cls, "power_kw.")  # the schema allows more classes: numbers too
            if power[cls] < 0:
                raise Invalid(f"power_kw.{cls!r} must not be negative, got {power[cls]}")
    signals = b.get("signals")
    if not isinstance(signals, list) or not all(isinstance(s, str) and _signal_name(s) for s in signals):
        raise Invalid(f"'signals' must be a list of signal names (letters, digits, '_', '-'; not 'seq'), "
                      f"got {_show(signals)}")
    if b["sample_period_ms"] == 0:
        raise Invalid("'sample_period_ms' must be above 0, got 0")


def _check_status(b: dict[str, Any], parts: TopicParts) -> None:
    _ts(b)
    _int(b, "session")
    if b.get("status") not in ("online", "offline"):
        raise Invalid(f"'status' must be online or offline, got {_show(b.get('status'))}")


def _check_state(b: dict[str, Any], parts: TopicParts) -> None:
    product = b.get("product")
    code = b.get("reason_code")
    # the six fields compared by type too: 3.0 and True equal 3 and 1 in Python, not in the contract
    if (_plain_head(b) and type(code) is int and code in _STATE_OF
            and type(product) is str and not _CONTROL_CHARS.search(product)
            and all(type(got := b.get(k)) is type(want) and got == want
                    for k, want in zip(_STATE_FIELDS, _STATE_OF[code], strict=True))):
        return
    _ts(b)
    _int(b, "seq")
    code = _int(b, "reason_code")
    if code not in REASONS:
        raise Invalid(f"'reason_code' {code} is not a stop reason of the contract (docs/states.md)")
    expected = dict(zip(_STATE_FIELDS, _STATE_OF[code], strict=True))
    for key in _STATE_FIELDS[:-1]:
        if key not in b:
            raise Invalid(f"missing {key!r}")
        value = b[key]
        if type(value) is not type(expected[key]) or value != expected[key]:
            raise Invalid(f"{key!r} is {_show(value)} but reason_code {code} ({expected['reason']}) means "
                          f"{key} {_show(expected[key])} (docs/states.md)")
    _text(b, "product")


def _plain_int(v: object) -> TypeGuard[int]:
    return type(v) is int and 0 <= v <= INT64_MAX  # type(…) is int: a bool is not a count


def _plain_number(v: object) -> TypeGuard[int | float]:
    return (type(v) is float and math.isfinite(v)) or (type(v) is int and -INT64_MAX <= v <= INT64_MAX)


def _plain_head(b: dict[str, Any]) -> bool:
    ts = b.get("ts")
    return type(ts) is int and TS_RANGE_MS[0] <= ts < TS_RANGE_MS[1] and _plain_int(b.get("seq"))


def _check_counters(b: dict[str, Any], parts: TopicParts) -> None:
    # the common case in one pass; anything unusual takes the checks below, which say what is wrong
    total, energy, ideal = b.get("total"), b.get("energy_kwh"), b.get("ideal_s")
    good, scrap, rework = b.get("good"), b.get("scrap"), b.get("rework")
    if (_plain_head(b) and _plain_int(total) and _plain_int(good) and _plain_int(scrap) and _plain_int(rework)
            and good + scrap + rework == total and _plain_number(energy) and energy >= 0
            and _plain_number(ideal) and ideal >= 0):
        return
    _ts(b)
    _int(b, "seq")
    total = _int(b, "total")
    parts_sum = sum(_int(b, k) for k in _COUNTS[1:])
    if parts_sum != total:
        raise Invalid(f"good + scrap + rework = {parts_sum} but total = {total}")
    for key in ("energy_kwh", "ideal_s"):
        if _number(b, key) < 0:
            raise Invalid(f"{key!r} must not be negative, got {b[key]}")


@functools.lru_cache(maxsize=4096)  # signal names repeat in every message
def _signal_name(name: str) -> bool:
    return name != "seq" and LEVEL.fullmatch(name) is not None


def _check_signals(b: dict[str, Any], parts: TopicParts) -> None:
    values = b.get("values")
    if _plain_head(b) and type(values) is dict and all(
            type(k) is str and _signal_name(k) and _plain_number(v) for k, v in values.items()):
        return
    _ts(b)
    _int(b, "seq")
    if not isinstance(values, dict):
        raise Invalid(f"'values' must be an object of signal: number, got {_show(values)}")
    for name in values:
        if not LEVEL.fullmatch(name) or name == "seq":
            raise Invalid(f"signal name {name!r} is not a name of letters, digits, '_' or '-' (or is 'seq')")
        _number(values, name, "values.")


_CHECKS = {
    MessageKind.BIRTH: _check_birth,
    MessageKind.STATUS: _check_status,
    MessageKind.STATE: _check_state,
    MessageKind.COUNTERS: _check_counters,
    MessageKind.SIGNALS: _check_signals,
}
