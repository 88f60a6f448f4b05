"""The MQTT telemetry contract, version 1 (docs/telemetry.md).

Topics carry the ISA-95 path; payloads are UTF-8 JSON with millisecond epoch
timestamps. Builders here are pure: simulator, edge gateway and any test build
exactly the same messages, and the JSON Schema in ``schema/`` checks them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any

from ._kinds import KINDS
from ._model import MachineAt
from ._states import REASONS, StopReason

__all__ = [
    "CONTRACT_VERSION",
    "DEFAULT_PREFIX",
    "CounterSample",
    "MessageKind",
    "Origin",
    "TopicParts",
    "birth",
    "check_prefix",
    "counters",
    "encode",
    "gateway_topic",
    "health",
    "json_schema",
    "machine_topic",
    "nameplate",
    "parse_topic",
    "signals",
    "state",
    "status",
    "subscription",
]

CONTRACT_VERSION = "v1"
DEFAULT_PREFIX = "sfsim"
#: one topic level of an id: the plant file's id rule
LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
PREFIX = re.compile(rf"{LEVEL.pattern}(/{LEVEL.pattern})*")


class MessageKind(StrEnum):
    """What a machine topic carries: its last level."""

    BIRTH = "birth"
    STATUS = "status"
    STATE = "state"
    COUNTERS = "counters"
    SIGNALS = "signals"


class Origin(StrEnum):
    """Where a machine's telemetry comes from (``origin`` of its birth): a simulation of the machine, or the
    machine itself. A birth that does not say is the machine's own: only a simulator claims to be one."""

    SIMULATED = "simulated"
    MEASURED = "measured"


def check_prefix(prefix: str) -> str:
    """``prefix`` itself if it is id levels separated by '/'; ``ValueError`` otherwise."""
    if not PREFIX.fullmatch(prefix):
        raise ValueError(
            f"MQTT topic prefix {prefix!r}: use levels of letters, digits, '_' or '-' separated by '/'"
        )
    return prefix


def machine_topic(prefix: str, path: str, kind: MessageKind) -> str:
    """``<prefix>/v1/<enterprise>/<site>/<area>/<line>/<machine>/<kind>``; ``path`` is ``MachineAt.path``."""
    return f"{prefix}/{CONTRACT_VERSION}/{path}/{kind.value}"


def gateway_topic(prefix: str, gateway: str) -> str:
    """``<prefix>/v1/_gateway/<gateway>/health``: retained health of an edge gateway (no machine topic matches it)."""
    return f"{prefix}/{CONTRACT_VERSION}/_gateway/{gateway}/health"


def control_topic(prefix: str, enterprise: str, what: str) -> str:
    """``<prefix>/v1/_control/<enterprise>/<what>``: a running plant's ``inject`` commands and their ``result``s
    (no machine topic matches it)."""
    if what not in ("inject", "result"):
        raise ValueError(f"control topic {what!r}: expected inject or result")
    return f"{prefix}/{CONTRACT_VERSION}/_control/{enterprise}/{what}"


def subscription(prefix: str, kind: MessageKind | None = None) -> str:
    """Topic filter for every machine's ``kind`` messages (all kinds when None)."""
    return f"{prefix}/{CONTRACT_VERSION}/+/+/+/+/+/{kind.value if kind else '+'}"


@dataclass(frozen=True, slots=True)
class TopicParts:
    """The levels of a machine topic, as ``parse_topic`` finds them."""

    prefix: str
    enterprise: str
    site: str
    area: str
    line: str
    machine: str
    kind: MessageKind
    #: ``enterprise/site/area/line/machine`` (asked for every message: made once)
    path: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", "/".join((self.enterprise, self.site, self.area, self.line, self.machine)))


def parse_topic(topic: str) -> TopicParts:
    """Split a contract topic; ``ValueError`` says what does not fit."""
    levels = topic.split("/")
    try:
        v = levels.index(CONTRACT_VERSION)
    except ValueError:
        raise ValueError(f"topic {topic!r} has no '{CONTRACT_VERSION}' level") from None
    rest = levels[v + 1 :]
    if v == 0 or len(rest) != 6:
        raise ValueError(f"topic {topic!r}: expected <prefix>/{CONTRACT_VERSION}/<enterprise>/<site>/<area>/"
                         "<line>/<machine>/<message>")
    enterprise, site, area, line, machine, kind = rest
    for level in rest[:5]:
        if not LEVEL.fullmatch(level):
            raise ValueError(f"topic {topic!r}: level {level!r} is not an id")
    try:
        message = MessageKind(kind)
    except ValueError:
        raise ValueError(f"topic {topic!r}: unknown message kind {kind!r}") from None
    return TopicParts("/".join(levels[:v]), enterprise, site, area, line, machine, message)


# ---------------------------------------------------------------- payloads


def nameplate(at: MachineAt, *, signals: Sequence[str], sample_period_ms: int, origin: Origin) -> dict[str, Any]:
    """A machine's ``birth`` without its ts, seq and session: what the asset register says about it, and
    whether a simulation or the machine itself speaks (``origin``)."""
    m = at.machine
    kind = KINDS[m.kind]
    return {
        "machine": {
            "enterprise": at.enterprise.id,
            "site": at.site.id,
            "area": at.area.id,
            "line": at.line.id,
            "id": m.id,
        },
        "name": {"zh": m.name.zh, "en": m.name.en},
        "kind": m.kind,
        "kind_name": {"zh": kind.zh, "en": kind.en},
        "control": m.control.value,
        "key_process": m.key_process,
        "digital": m.digital,
        "networked": m.networked,
        "protocol": m.protocol.value,
        "process": m.process,
        "manufacturer": m.manufacturer,
        "model": m.model,
        "serial": m.serial,
        "industry": at.site.industry.value,
        "ideal_cycle_s": dict(m.cycle_time_s),
        "power_kw": {
            "executing": m.power_kw.executing,
            "setup": m.power_kw.setup,
            "idle": m.power_kw.idle,
            "down": m.power_kw.down,
            "standby": m.power_kw.standby,
        },
        "signals": list(signals),
        "sample_period_ms": sample_period_ms,
        "origin": origin.value,
    }


def birth(nameplate: Mapping[str, Any], *, ts_ms: int, seq: int, session_ms: int) -> dict[str, Any]:
    """A ``birth`` payload: the ``nameplate`` with its ts, seq and session (the epoch ms the session began)."""
    return {"ts": ts_ms, "seq": seq, "session": session_ms, **nameplate}


def status(*, online: bool, ts_ms: int, session_ms: int) -> dict[str, Any]:
    """A ``status`` payload, online or offline, of the session begun at ``session_ms``; it has no seq."""
    return {"ts": ts_ms, "status": "online" if online else "offline", "session": session_ms}


def state(*, ts_ms: int, seq: int, reason: int, product: str) -> dict[str, Any]:
    """A ``state`` payload: the stop-reason code with the state and mode that follow from it (``REASONS``), and
    the product the machine is set up for."""
    info = REASONS[StopReason(reason)]
    return {
        "ts": ts_ms,
        "seq": seq,
        "state": info.state.name,
        "state_code": int(info.state),
        "mode": "None" if info.mode.name == "None_" else info.mode.name,
        "mode_code": int(info.mode),
        "reason": info.name,
        "reason_code": int(info.reason),
        "product": product,
    }


@dataclass(frozen=True, slots=True)
class CounterSample:
    """A ``counters`` message's values: cumulative parts, energy and Σ ideal time at ``ts_ms``."""

    ts_ms: int
    total: int
    good: int
    scrap: int
    rework: int
    energy_kwh: float
    #: Σ ideal cycle time over produced parts, for effectiveness across a product mix
    ideal_s: float


def counters(*, ts_ms: int, seq: int, total: int, good: int, scrap: int, rework: int, energy_kwh: float,
             ideal_s: float) -> dict[str, Any]:
    """A ``counters`` payload: cumulative parts, energy (kWh) and Σ ideal cycle time (s), rounded to 6 places."""
    return {
        "ts": ts_ms,
        "seq": seq,
        "total": total,
        "good": good,
        "scrap": scrap,
        "rework": rework,
        "energy_kwh": round(energy_kwh, 6),
        "ideal_s": round(ideal_s, 6),
    }


def signals(*, ts_ms: int, seq: int, values: Mapping[str, float]) -> dict[str, Any]:
    """A ``signals`` payload: process signal values by name."""
    return {"ts": ts_ms, "seq": seq, "values": dict(values)}


def health(*, ts_ms: int, gateway: str, status: str, started_ms: int, counts: Mapping[str, int],
           endpoints: Mapping[str, str]) -> dict[str, Any]:
    """An edge gateway's health: ``status`` online/offline, cumulative counts, each OPC UA endpoint's state."""
    return {"ts": ts_ms, "gateway": gateway, "status": status, "started": started_ms, "counts": dict(counts),
            "endpoints": dict(endpoints)}


def encode(payload: Mapping[str, Any]) -> bytes:
    """A payload as compact UTF-8 JSON; ``ValueError`` on NaN or infinity, which JSON cannot carry."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def json_schema() -> dict[str, Any]:
    """The contract's JSON Schema (draft 2020-12); ``$defs`` has one schema per message kind."""
    text = resources.files("shopfloor").joinpath("schema/telemetry-v1.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
