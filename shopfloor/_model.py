"""The plant model: ISA-95 enterprise → site → area → line → machine.

Frozen, keyword-only dataclasses built once by the loader (``load_plant``) or
the ledger importer; nothing here reads files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from ._calendar import Calendar
from ._kinds import NC_CONTROLS, Control, Industry, Protocol
from ._states import PowerClass


@dataclass(frozen=True, slots=True, kw_only=True)
class Name:
    """A bilingual name; ``str()`` gives "zh / en", or one of them when the two are the same."""

    zh: str
    en: str

    def __str__(self) -> str:
        if self.zh == self.en:
            return self.zh
        return f"{self.zh} / {self.en}"


class FailureDistribution(StrEnum):
    """The distribution of a machine's operating time between failures (mean ``mtbf_s``)."""

    EXPONENTIAL = "exponential"
    WEIBULL = "weibull"


class RepairDistribution(StrEnum):
    """The distribution of a machine's repair times (mean ``mttr_s``; lognormal with ``repair_cv``)."""

    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerDraw:
    """Electrical power per power class, kW."""

    executing: float
    setup: float
    idle: float
    down: float
    standby: float

    def of(self, power_class: PowerClass) -> float:
        """The power drawn in ``power_class``, kW."""
        return float(getattr(self, power_class.value))


@dataclass(frozen=True, slots=True, kw_only=True)
class Machine:
    """One piece of equipment of a line: what the asset register says of it, and how the simulator runs it
    (times in seconds)."""

    id: str
    name: Name
    kind: str
    control: Control
    key_process: bool
    digital: bool
    networked: bool
    protocol: Protocol
    #: the process step this machine performs (key-process NC rate "by process")
    process: str
    manufacturer: str
    model: str
    serial: str
    #: ideal cycle time (PRI) per product id, seconds
    cycle_time_s: Mapping[str, float]
    #: coefficient of variation of the actual cycle time
    cycle_cv: float
    #: mean slow-down of actual cycles against the ideal (0.05 = 5 % slower)
    speed_loss: float
    #: mean operating time between failures; None = never fails
    mtbf_s: float | None
    mttr_s: float
    failure_distribution: FailureDistribution
    #: Weibull shape β (only for failure_distribution weibull)
    failure_shape: float
    repair_distribution: RepairDistribution
    repair_cv: float
    micro_stops_per_hour: float
    micro_stop_s: float
    scrap_rate: float
    rework_rate: float
    #: changeover time when the product changes
    setup_s: float
    power_kw: PowerDraw
    #: capacity of the buffer between this machine and the next station
    buffer: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """``quantity`` parts of ``product`` (an id) in a line's production plan."""

    product: str
    quantity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """A production line: its stations in flow order and the plan they work through."""

    id: str
    name: Name
    machines: tuple[Machine, ...]
    #: production plan, repeated in a cycle; the first station releases parts in this order
    orders: tuple[Order, ...]
    #: ``constraint``, once found: a frozen line's stations and plan never change, and a console asks for it many
    #: times a second (bench/console.py)
    _constraint: Machine | None = field(default=None, init=False, repr=False, compare=False)

    def mean_ideal_s(self, machine: Machine) -> float:
        """A station's ideal cycle time averaged over the line's order mix."""
        total = sum(o.quantity for o in self.orders)
        return sum(o.quantity * machine.cycle_time_s[o.product] for o in self.orders) / total

    @property
    def constraint(self) -> Machine:
        """The bottleneck: the station with the longest mean ideal cycle time (the last of equals)."""
        found = self._constraint
        if found is None:
            found = max(reversed(self.machines), key=self.mean_ideal_s)
            object.__setattr__(self, "_constraint", found)  # frozen: a cache, not a change
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Area:
    """An ISA-95 area (车间) and its lines."""

    id: str
    name: Name
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    """A product a site makes; machines' cycle times are given per product id."""

    id: str
    name: Name


#: the four municipalities (直辖市): a province and a city at once
MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")
_REGION = re.compile(r"(?P<province>.+?(?:省|自治区|特别行政区))?(?P<city>.+?(?:市|自治州|地区|盟))?")


@dataclass(frozen=True, slots=True)
class Region:
    """Where a site is: its province (省, 自治区, or a municipality, 直辖市) and city. A site is compared with
    the national targets and those of its own province and city, never with another region's."""

    province: str
    city: str | None = None

    def __str__(self) -> str:
        return self.province if self.city in (None, self.province) else f"{self.province}{self.city}"

    def within(self, other: Region) -> bool:
        """Is this region ``other`` or inside it (a city of the province ``other``)?"""
        return self.province == other.province and (other.city is None or self.city == other.city)


def parse_region(text: str) -> Region:
    """``湖北省襄阳市`` → (湖北省, 襄阳市); ``湖北省`` → (湖北省, None); ``上海市`` → (上海市, 上海市). ``ValueError``
    saying how to write it."""
    text = re.sub(r"\s+", "", text)
    if text in MUNICIPALITIES:
        return Region(text, text)
    found = _REGION.fullmatch(text)
    if found is None or not found.group("province"):
        hint = "; give the province too" if found and found.group("city") else ""
        raise ValueError(f"expected a province and a city as written in Chinese (湖北省襄阳市, 浙江省杭州市, 湖北省, "
                         f"上海市), got {text!r}{hint}")
    return Region(found.group("province"), found.group("city"))


class AuxiliaryReason(StrEnum):
    """Why a piece of equipment is in a site's auxiliary pool rather than on a line."""

    #: auxiliary equipment (辅助设备: 动力、起重、运输 — 空压机, 变压器, 行车, 叉车 …): not production equipment
    NON_PRODUCTION = "non_production"
    #: equipment the asset register places on no production line
    NO_LINE = "no_line"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuxiliaryEquipment:
    """Equipment of a site outside its production lines: in the asset register (as declared), but never simulated,
    sending no telemetry, never key-process equipment, and outside the production-equipment denominators of the
    两化融合 rates unless they are asked to include it (``collector.indicators(…, auxiliary=True)``)."""

    id: str
    name: Name
    reason: AuxiliaryReason
    #: what it is, as the ledger writes it (设备类别 such as 动力设备, or a kind's name); "" when not said
    category: str
    #: the area (车间) it belongs to, an id; None when not said
    area: str | None
    control: Control
    digital: bool
    networked: bool
    #: the protocol it is declared to speak, as written (Modbus TCP, OPC UA …); "" for none. Never served.
    protocol: str
    manufacturer: str
    model: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """An ISA-95 site (厂区): its industry, shift calendar, products, areas, and the equipment outside its lines."""

    id: str
    name: Name
    industry: Industry
    calendar: Calendar
    products: tuple[Product, ...]
    areas: tuple[Area, ...]
    #: declared: the enterprise uses digital R&D / design tools (数字化研发设计工具)
    digital_design_tools: bool
    #: where it is (None: not said; then it is compared with the national targets only)
    region: Region | None = None
    #: the auxiliary pool: equipment of the site on no line (``AuxiliaryEquipment``), in file order
    auxiliary: tuple[AuxiliaryEquipment, ...] = ()

    def is_nc(self, control: Control) -> bool:
        """Does ``control`` count as numerical control of a key process here?"""
        return control in NC_CONTROLS[self.industry]


@dataclass(frozen=True, slots=True, kw_only=True)
class Enterprise:
    """The ISA-95 enterprise: the first level of every machine's path."""

    id: str
    name: Name


class MachineAt(NamedTuple):
    """A machine with its place in the ISA-95 hierarchy."""

    enterprise: Enterprise
    site: Site
    area: Area
    line: Line
    machine: Machine

    @property
    def path(self) -> str:
        """``enterprise/site/area/line/machine`` ids: the machine's levels in topics (``machine_topic``)."""
        return "/".join((self.enterprise.id, self.site.id, self.area.id, self.line.id, self.machine.id))


#: the line segment of a pool item's path: not an id (ids start with a letter or digit), so never a line's
NO_LINE_SEGMENT = "-"


class AuxiliaryAt(NamedTuple):
    """A piece of a site's auxiliary pool with its place."""

    enterprise: Enterprise
    site: Site
    equipment: AuxiliaryEquipment

    @property
    def path(self) -> str:
        """``enterprise/site/area/-/id`` (``-`` for a missing area too): the shape of a machine's path, with ``-``,
        which is never an id, where the line would be."""
        return "/".join((self.enterprise.id, self.site.id, self.equipment.area or NO_LINE_SEGMENT, NO_LINE_SEGMENT,
                         self.equipment.id))


@dataclass(frozen=True, slots=True, kw_only=True)
class Plant:
    """An enterprise and its sites, as one plant file describes them."""

    enterprise: Enterprise
    sites: tuple[Site, ...]
    #: file the plant was read from, for messages ("" when built in memory)
    source: str = ""

    def machines(self) -> Iterator[MachineAt]:
        """Every machine of the lines with its place, in file order (the auxiliary pool is not among them)."""
        for site in self.sites:
            for area in site.areas:
                for line in area.lines:
                    for machine in line.machines:
                        yield MachineAt(self.enterprise, site, area, line, machine)

    def auxiliary(self) -> Iterator[AuxiliaryAt]:
        """Every site's auxiliary pool, in file order: equipment that is not simulated (not in ``machines()``)."""
        for site in self.sites:
            for equipment in site.auxiliary:
                yield AuxiliaryAt(self.enterprise, site, equipment)
