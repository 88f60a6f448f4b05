"""Equipment kinds, control types and their defaults (bilingual)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Control(StrEnum):
    """How a machine is controlled (控制方式); ``NC_CONTROLS`` says which count as numerical control."""

    MANUAL = "manual"
    NC = "nc"
    CNC = "cnc"
    ROBOT_CONTROLLER = "robot_controller"
    PLC = "plc"
    DCS = "dcs"


class Protocol(StrEnum):
    """How a machine publishes telemetry: OPC UA (bridged by an edge gateway), MQTT itself, or not at all."""

    OPCUA = "opcua"
    MQTT = "mqtt"
    NONE = "none"


class Industry(StrEnum):
    """A site's industry type, discrete (离散) or process (流程): it decides which controls are NC."""

    DISCRETE = "discrete"
    PROCESS = "process"


CONTROL_NAMES: dict[Control, tuple[str, str]] = {
    Control.MANUAL: ("人工/手动", "manual"),
    Control.NC: ("数控", "NC"),
    Control.CNC: ("计算机数控", "CNC"),
    Control.ROBOT_CONTROLLER: ("机器人控制器", "robot controller"),
    Control.PLC: ("可编程控制器", "PLC"),
    Control.DCS: ("集散控制系统", "DCS"),
}

# Which controls count as "numerical control" of a key process (关键工序数控化).
# Discrete industry: NC/CNC and robot controllers; process industry: process
# control systems (DCS/PLC). See docs/indicators.md.
NC_CONTROLS: dict[Industry, frozenset[Control]] = {
    Industry.DISCRETE: frozenset({Control.NC, Control.CNC, Control.ROBOT_CONTROLLER}),
    Industry.PROCESS: frozenset({Control.PLC, Control.DCS}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class KindDefaults:
    """What a machine of a kind gets when the plant file says nothing."""

    zh: str
    en: str
    control: Control
    cycle_cv: float
    mtbf_s: float
    mttr_s: float
    micro_stops_per_hour: float
    micro_stop_s: float
    setup_s: float
    #: executing, setup, idle, down, standby (kW)
    power_kw: tuple[float, float, float, float, float]


_H = 3600.0
_MIN = 60.0


def _k(
    zh: str,
    en: str,
    control: Control,
    *,
    cv: float,
    mtbf_h: float,
    mttr_min: float,
    micro_per_h: float,
    micro_s: float,
    setup_min: float,
    power: tuple[float, float, float, float, float],
) -> KindDefaults:
    return KindDefaults(
        zh=zh,
        en=en,
        control=control,
        cycle_cv=cv,
        mtbf_s=mtbf_h * _H,
        mttr_s=mttr_min * _MIN,
        micro_stops_per_hour=micro_per_h,
        micro_stop_s=float(micro_s),
        setup_s=setup_min * _MIN,
        power_kw=power,
    )


C = Control
KINDS: dict[str, KindDefaults] = {
    "cnc_machining_center": _k("数控加工中心", "CNC machining centre", C.CNC, cv=0.04, mtbf_h=40, mttr_min=45,
                               micro_per_h=0.5, micro_s=90, setup_min=30, power=(18.0, 6.0, 4.0, 1.5, 0.3)),
    "cnc_lathe": _k("数控车床", "CNC lathe", C.CNC, cv=0.04, mtbf_h=50, mttr_min=40,
                    micro_per_h=0.5, micro_s=60, setup_min=20, power=(12.0, 4.0, 3.0, 1.0, 0.2)),
    "conventional_lathe": _k("普通车床", "conventional lathe", C.MANUAL, cv=0.15, mtbf_h=60, mttr_min=60,
                             micro_per_h=1.5, micro_s=120, setup_min=40, power=(7.5, 2.0, 1.0, 0.3, 0.0)),
    "conventional_mill": _k("普通铣床", "conventional milling machine", C.MANUAL, cv=0.15, mtbf_h=60,
                            mttr_min=60, micro_per_h=1.5, micro_s=120, setup_min=40, power=(7.5, 2.0, 1.0, 0.3, 0.0)),
    "robot_welding": _k("机器人焊接", "robotic welding cell", C.ROBOT_CONTROLLER, cv=0.02, mtbf_h=60, mttr_min=30,
                        micro_per_h=1.0, micro_s=45, setup_min=15, power=(15.0, 3.0, 2.0, 1.0, 0.2)),
    "manual_welding": _k("手工焊接", "manual welding", C.MANUAL, cv=0.20, mtbf_h=80, mttr_min=20,
                         micro_per_h=2.0, micro_s=60, setup_min=15, power=(9.0, 1.0, 0.5, 0.2, 0.0)),
    "press": _k("冲压机", "press", C.PLC, cv=0.02, mtbf_h=30, mttr_min=50,
                micro_per_h=2.0, micro_s=40, setup_min=45, power=(45.0, 10.0, 8.0, 2.0, 0.5)),
    "injection_molding": _k("注塑机", "injection moulding machine", C.PLC, cv=0.02, mtbf_h=45, mttr_min=40,
                            micro_per_h=1.0, micro_s=60, setup_min=60, power=(35.0, 12.0, 15.0, 3.0, 0.5)),
    "screen_printer": _k("锡膏印刷机", "solder paste printer", C.PLC, cv=0.03, mtbf_h=60, mttr_min=20,
                         micro_per_h=2.0, micro_s=30, setup_min=15, power=(3.0, 1.0, 1.0, 0.5, 0.1)),
    "smt_placement": _k("贴片机", "SMT placement machine", C.CNC, cv=0.03, mtbf_h=50, mttr_min=25,
                        micro_per_h=3.0, micro_s=30, setup_min=20, power=(5.0, 2.0, 1.5, 0.5, 0.1)),
    "reflow_oven": _k("回流焊炉", "reflow oven", C.PLC, cv=0.01, mtbf_h=120, mttr_min=40,
                      micro_per_h=0.2, micro_s=60, setup_min=30, power=(40.0, 30.0, 25.0, 5.0, 0.5)),
    "aoi_inspection": _k("自动光学检测", "automated optical inspection", C.PLC, cv=0.03, mtbf_h=100,
                         mttr_min=20, micro_per_h=1.0, micro_s=30, setup_min=10, power=(2.0, 1.0, 1.0, 0.3, 0.1)),
    "manual_inspection": _k("人工检验", "manual inspection", C.MANUAL, cv=0.20, mtbf_h=200, mttr_min=10,
                            micro_per_h=2.0, micro_s=60, setup_min=5, power=(0.5, 0.3, 0.3, 0.1, 0.0)),
    "manual_assembly": _k("人工装配", "manual assembly", C.MANUAL, cv=0.20, mtbf_h=200, mttr_min=15,
                          micro_per_h=3.0, micro_s=60, setup_min=10, power=(1.0, 0.5, 0.3, 0.1, 0.0)),
    "packaging": _k("包装机", "packaging machine", C.PLC, cv=0.03, mtbf_h=40, mttr_min=20,
                    micro_per_h=3.0, micro_s=40, setup_min=15, power=(6.0, 2.0, 1.5, 0.5, 0.1)),
    "furnace": _k("工业炉", "industrial furnace", C.DCS, cv=0.03, mtbf_h=200, mttr_min=120,
                  micro_per_h=0.1, micro_s=300, setup_min=60, power=(800.0, 400.0, 300.0, 50.0, 10.0)),
    "reactor": _k("反应釜", "reactor", C.DCS, cv=0.03, mtbf_h=250, mttr_min=120,
                  micro_per_h=0.1, micro_s=300, setup_min=60, power=(150.0, 60.0, 40.0, 10.0, 2.0)),
    "rolling_mill": _k("轧机", "rolling mill", C.PLC, cv=0.03, mtbf_h=80, mttr_min=90,
                       micro_per_h=0.5, micro_s=180, setup_min=45, power=(1200.0, 300.0, 200.0, 40.0, 10.0)),
    "mixer": _k("混料机", "mixer", C.PLC, cv=0.05, mtbf_h=150, mttr_min=60,
                micro_per_h=0.3, micro_s=120, setup_min=30, power=(55.0, 15.0, 10.0, 3.0, 0.5)),
    "other": _k("其他设备", "other equipment", C.MANUAL, cv=0.10, mtbf_h=100, mttr_min=30,
                micro_per_h=1.0, micro_s=60, setup_min=15, power=(5.0, 2.0, 1.0, 0.5, 0.0)),
}
del C
