"""Machine states after OPC 40001-1 (OPC UA for Machinery) plus a stop-reason code.

The reason code is what the simulator records; state, operation mode, ISO 22400
time element and power class all follow from it through ``REASONS``, so no two
services can map a stop differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class MachineryItemState(IntEnum):
    """MachineryItemState_StateMachineType states (OPC 40001-1 §12), by StateNumber."""

    NotAvailable = 0
    OutOfService = 1
    NotExecuting = 2
    Executing = 3


class MachineryOperationMode(IntEnum):
    """MachineryOperationModeStateMachineType states (OPC 40001-1 §13), by StateNumber."""

    None_ = 0
    Maintenance = 1
    Setup = 2
    Processing = 3


class TimeElement(StrEnum):
    """Where a span of time goes in the ISO 22400-2 time model.

    ``no_shift`` lies outside the planned operation time (POT) and
    ``planned_down`` inside POT but outside the planned busy time (PBT); the
    other four partition PBT.
    """

    APT = "APT"
    AUST = "AUST"
    ADET = "ADET"
    ADOT = "ADOT"
    PLANNED_DOWN = "planned_down"
    NO_SHIFT = "no_shift"


class PowerClass(StrEnum):
    """Which entry of a machine's ``power_kw`` table applies."""

    EXECUTING = "executing"
    SETUP = "setup"
    IDLE = "idle"
    DOWN = "down"
    STANDBY = "standby"


class StopReason(IntEnum):
    """Why a machine is (or is not) producing; the code travels in telemetry."""

    PRODUCING = 0
    SETUP = 1
    BREAKDOWN = 10
    MICRO_STOP = 11
    QUALITY_HOLD = 12
    STARVED = 20
    BLOCKED = 21
    NO_ORDER = 22
    NO_OPERATOR = 23
    PLANNED_BREAK = 30
    PLANNED_MAINTENANCE = 31
    NO_SHIFT = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasonInfo:
    """What a stop reason means: its names (``name`` as in telemetry), and the state, operation mode, time
    element and power class that follow from it."""

    reason: StopReason
    name: str
    zh: str
    en: str
    state: MachineryItemState
    mode: MachineryOperationMode
    element: TimeElement
    power: PowerClass


def _r(
    reason: StopReason,
    zh: str,
    en: str,
    state: MachineryItemState,
    mode: MachineryOperationMode,
    element: TimeElement,
    power: PowerClass,
) -> ReasonInfo:
    return ReasonInfo(
        reason=reason,
        name=reason.name.lower(),
        zh=zh,
        en=en,
        state=state,
        mode=mode,
        element=element,
        power=power,
    )


_S = MachineryItemState
_M = MachineryOperationMode
_E = TimeElement
_P = PowerClass

REASONS: dict[StopReason, ReasonInfo] = {
    info.reason: info
    for info in (
        _r(StopReason.PRODUCING, "生产中", "producing", _S.Executing, _M.Processing, _E.APT, _P.EXECUTING),
        _r(StopReason.SETUP, "换型调整", "setup / changeover", _S.Executing, _M.Setup, _E.AUST, _P.SETUP),
        _r(StopReason.BREAKDOWN, "故障停机", "breakdown", _S.OutOfService, _M.Maintenance, _E.ADET, _P.DOWN),
        _r(StopReason.MICRO_STOP, "短暂停机", "micro-stop", _S.OutOfService, _M.Processing, _E.ADET, _P.IDLE),
        _r(StopReason.QUALITY_HOLD, "质量停机", "quality hold", _S.OutOfService, _M.Processing, _E.ADET, _P.IDLE),
        _r(StopReason.STARVED, "待料", "starved", _S.NotExecuting, _M.Processing, _E.ADOT, _P.IDLE),
        _r(StopReason.BLOCKED, "堵料", "blocked", _S.NotExecuting, _M.Processing, _E.ADOT, _P.IDLE),
        _r(StopReason.NO_ORDER, "无订单", "no order", _S.NotExecuting, _M.None_, _E.ADOT, _P.IDLE),
        _r(StopReason.NO_OPERATOR, "缺员", "no operator", _S.NotExecuting, _M.Processing, _E.ADOT, _P.IDLE),
        _r(
            StopReason.PLANNED_BREAK, "计划休息", "planned break", _S.NotAvailable, _M.None_, _E.PLANNED_DOWN,
            _P.STANDBY,
        ),
        _r(
            StopReason.PLANNED_MAINTENANCE,
            "计划维护",
            "planned maintenance",
            _S.OutOfService,
            _M.Maintenance,
            _E.PLANNED_DOWN,
            _P.DOWN,
        ),
        _r(StopReason.NO_SHIFT, "非生产时间", "no shift", _S.NotAvailable, _M.None_, _E.NO_SHIFT, _P.STANDBY),
    )
}
