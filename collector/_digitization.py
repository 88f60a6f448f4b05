"""两化融合 indicators of an enterprise (site) and of a fleet: pure functions of the asset register.

The register is every production machine, whether it sends telemetry or not (from the
plant model, an imported ledger, or births), so silent equipment still counts in the
denominators. "Networked" is given twice: as declared in the register, and as measured
— the machines whose telemetry actually arrived in the window.

The register also holds each site's auxiliary pool (``Site.auxiliary``: 空压机, 变压器, 行车,
叉车 … and equipment on no line), marked ``auxiliary``. The rates count production equipment
(生产设备: digital, or networked, production equipment ÷ all production equipment, as
工业和信息化部《中小企业数字化水平评测指标（2022年版）》 uses them). That auxiliary equipment (动力、起重、
运输) and equipment on no line are not production equipment is our reading, not a quotation: so the
pool is left out of the denominators unless ``indicators(…, auxiliary=True)`` asks for it, and a
report can show the rates both ways. It is never key-process equipment, so 关键工序数控化率 is the
same either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shopfloor import NC_CONTROLS, Control, Industry, Plant


class Basis(StrEnum):
    """How 关键工序数控化率 counts (the primary texts do not settle it: configurable, and reported)."""

    EQUIPMENT = "equipment"  # key-process machines under NC ÷ key-process machines
    PROCESS = "process"  # key processes all of whose machines are under NC ÷ key processes


@dataclass(frozen=True, slots=True)
class Equipment:
    """A machine's entry in the asset register: where it is and what the 两化融合 indicators count of it."""

    path: str
    enterprise: str
    site: str
    industry: Industry
    control: Control
    key_process: bool
    process: str
    digital: bool
    networked: bool
    #: in a site's auxiliary pool (not production equipment, or on no line): outside the production-equipment
    #: denominators unless asked for, never key-process equipment
    auxiliary: bool = False
    #: under numerical (discrete) or process (process industry) control
    nc: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nc", self.control in NC_CONTROLS[self.industry])  # asked every KPI tick


def register(plant: Plant) -> list[Equipment]:
    """The asset register of a plant file (or an imported ledger): the machines of the lines in file order, then
    the sites' auxiliary pools (``auxiliary``, never key-process equipment)."""
    return [*(Equipment(at.path, at.enterprise.id, at.site.id, at.site.industry, at.machine.control,
                        at.machine.key_process, at.machine.process, at.machine.digital, at.machine.networked)
              for at in plant.machines()),
            *(Equipment(at.path, at.enterprise.id, at.site.id, at.site.industry, at.equipment.control, False, "",
                        at.equipment.digital, at.equipment.networked, auxiliary=True)
              for at in plant.auxiliary())]


def from_birth(birth: Mapping[str, Any]) -> Equipment:
    """A register entry from a contract birth message."""
    m = birth["machine"]
    path = "/".join((m["enterprise"], m["site"], m["area"], m["line"], m["id"]))
    return Equipment(path, m["enterprise"], m["site"], Industry(birth["industry"]), Control(birth["control"]),
                     bool(birth["key_process"]), str(birth["process"]), bool(birth["digital"]),
                     bool(birth["networked"]))


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate with its counts, ``numerator`` of ``denominator`` machines (or key processes), for the evidence."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        """The rate, 0 to 1; None when the denominator is 0."""
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True, slots=True)
class Indicators:
    """One enterprise (site): each rate with its counts, so a report can show the evidence."""

    nc_rate: Rate  # 关键工序数控化率
    digitization: Rate  # 生产设备数字化率
    networking_declared: Rate  # 设备联网率, as declared
    networking_measured: Rate  # 设备联网率, telemetry received in the window
    digital_networking_declared: Rate  # 数字化生产设备联网率, as declared
    digital_networking_measured: Rate  # 数字化生产设备联网率, measured
    basis: Basis


def indicators(equipment: Sequence[Equipment], seen: Iterable[str] = (),
               basis: Basis = Basis.EQUIPMENT, *, auxiliary: bool = False) -> Indicators:
    """The rates of one enterprise or site; ``seen`` are the paths whose telemetry arrived in the window.

    Production equipment only, as the definitions count it (生产设备, MIIT 《中小企业数字化水平评测指标（2022年版）》):
    entries marked ``auxiliary`` are left out, unless ``auxiliary`` is true, which counts them too (to show the
    rates with the pool beside those without). They are never key-process equipment: 关键工序数控化率 does not
    change."""
    heard = set(seen)
    if not auxiliary:
        equipment = [e for e in equipment if not e.auxiliary]
    key = [e for e in equipment if e.key_process and not e.auxiliary]
    if basis is Basis.EQUIPMENT:
        nc = Rate(sum(e.nc for e in key), len(key))
    else:
        processes: dict[str, bool] = {}
        for e in key:
            processes[e.process] = processes.get(e.process, True) and e.nc
        nc = Rate(sum(processes.values()), len(processes))
    digital = [e for e in equipment if e.digital]
    return Indicators(
        nc_rate=nc,
        digitization=Rate(len(digital), len(equipment)),
        networking_declared=Rate(sum(e.networked for e in equipment), len(equipment)),
        networking_measured=Rate(sum(e.path in heard for e in equipment), len(equipment)),
        digital_networking_declared=Rate(sum(e.networked for e in digital), len(digital)),
        digital_networking_measured=Rate(sum(e.path in heard for e in digital), len(digital)),
        basis=basis,
    )


@dataclass(frozen=True, slots=True)
class FleetRate:
    """A region's (fleet's) rate two ways, labelled: the mean of enterprise rates (the official
    definition of 关键工序数控化率 for a region) and the rate over all equipment pooled."""

    mean_of_enterprises: float | None
    equipment_weighted: float | None
    enterprises: int


def fleet(rates: Iterable[Rate]) -> FleetRate:
    """Enterprises without a denominator (no key process, say) are left out of the mean."""
    counted = [r for r in rates if r.denominator]
    values = [r.value for r in counted if r.value is not None]
    total = sum(r.denominator for r in counted)
    return FleetRate(
        mean_of_enterprises=sum(values) / len(values) if values else None,
        equipment_weighted=sum(r.numerator for r in counted) / total if total else None,
        enterprises=len(counted),
    )
