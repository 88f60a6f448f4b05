"""The console of a collector (``sfsim collect --web-port``): its plant files' register, and the machines it knows
only from their births.

``console.fleet`` draws plants. A collector with no plant file (or machines its files do not list) has no plant for
them, but every machine's birth says where it is, its name, kind, control and ideal cycle times: ``Births`` keeps
them as the collector reads them, and ``plants`` makes a plant of them for the page, with the ids as the names of
their lines, areas, sites and enterprises (a birth names its machine only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from collector import Engine, Message
from shopfloor import (
    KINDS,
    Area,
    Calendar,
    Control,
    Enterprise,
    FailureDistribution,
    Industry,
    Line,
    Machine,
    Name,
    Order,
    Plant,
    PowerDraw,
    Product,
    Protocol,
    RepairDistribution,
    Site,
)
from shopfloor.telemetry import MessageKind

from ._view import fleet

#: the one product of a births plant: a machine's ideal cycle time is the mean of its birth's (as the KPI engine
#: takes it to find a line's constraint), so the page marks the constraint the engine measures
ANY_PRODUCT = "*"
#: a births plant is never simulated: its calendar plans nothing, and ``fleet`` does not read it
_NO_CALENDAR = Calendar(timezone="UTC", shifts=(), off_weekdays=frozenset(), off_dates=frozenset(), maintenance=())
#: a kind ``fleet`` can look up, for a machine whose birth names one this release does not know (its birth's
#: ``kind_name`` is shown all the same)
_SOME_KIND = next(iter(KINDS))


class Births:
    """The newest birth of every machine the collector admitted (a ``collector`` stream consumer: add it to
    ``Collector.consumers``); ``version`` changes with every machine learnt or renamed."""

    def __init__(self) -> None:
        self.nameplates: dict[str, dict[str, Any]] = {}
        self.version = 0

    def feed(self, msg: Message, received_ms: int) -> None:
        """Keep a birth (other messages say nothing of where a machine is or what it is called)."""
        if msg.topic.kind is not MessageKind.BIRTH:
            return
        body = {k: v for k, v in msg.body.items() if k not in ("ts", "seq", "session")}
        if self.nameplates.get(msg.topic.path) != body:
            self.nameplates[msg.topic.path] = body
            self.version += 1

    def tick_steps(self, received_ms: int) -> Iterator[list[str]]:
        """Nothing to store: the births are stored as telemetry already."""
        return iter(())

    def take_retractions(self) -> list[Any]:
        """Nothing to delete."""
        return []


def _machine(path: str, birth: Mapping[str, Any]) -> Machine:
    cycles = birth["ideal_cycle_s"]
    power = birth["power_kw"]
    return Machine(
        id=path.rsplit("/", 1)[1], name=Name(zh=birth["name"]["zh"], en=birth["name"]["en"]),
        kind=birth["kind"] if birth["kind"] in KINDS else _SOME_KIND, control=Control(birth["control"]),
        key_process=birth["key_process"], digital=birth["digital"], networked=birth["networked"],
        protocol=Protocol(birth["protocol"]), process=birth["process"], manufacturer=birth["manufacturer"],
        model=birth["model"], serial=birth["serial"],
        cycle_time_s={ANY_PRODUCT: sum(cycles.values()) / len(cycles)},
        # how it would be simulated: nothing, it is a real machine the page only shows
        cycle_cv=0.0, speed_loss=0.0, mtbf_s=None, mttr_s=0.0, failure_distribution=FailureDistribution.EXPONENTIAL,
        failure_shape=1.0, repair_distribution=RepairDistribution.EXPONENTIAL, repair_cv=0.0,
        micro_stops_per_hour=0.0, micro_stop_s=0.0, scrap_rate=0.0, rework_rate=0.0, setup_s=0.0,
        power_kw=PowerDraw(executing=power["executing"], setup=power["setup"], idle=power["idle"],
                           down=power["down"], standby=power["standby"]), buffer=0)


def _named(unit_id: str) -> Name:
    return Name(zh=unit_id, en=unit_id)


def births_plants(nameplates: Mapping[str, Mapping[str, Any]]) -> list[Plant]:
    """A plant per enterprise of these births (path → birth), its lines' machines by id, as the KPI engine orders
    the stations of a line it knows from births only."""
    tree: dict[str, dict[str, dict[str, dict[str, list[str]]]]] = {}
    for path in sorted(nameplates):
        enterprise, site, area, line, _ = path.split("/")
        tree.setdefault(enterprise, {}).setdefault(site, {}).setdefault(area, {}).setdefault(line, []).append(path)
    plants = []
    for enterprise, sites in tree.items():
        out = []
        for site, areas in sites.items():
            first = nameplates[next(iter(next(iter(areas.values())).values()))[0]]
            out.append(Site(
                id=site, name=_named(site), industry=Industry(first["industry"]), calendar=_NO_CALENDAR,
                products=(Product(id=ANY_PRODUCT, name=_named(ANY_PRODUCT)),), digital_design_tools=False,
                areas=tuple(Area(id=area, name=_named(area), lines=tuple(
                    Line(id=line, name=_named(line), orders=(Order(product=ANY_PRODUCT, quantity=1),),
                         machines=tuple(_machine(p, nameplates[p]) for p in paths))
                    for line, paths in lines.items())) for area, lines in areas.items())))
        plants.append(Plant(enterprise=Enterprise(id=enterprise, name=_named(enterprise)), sites=tuple(out),
                            source="births"))
    return plants


class CollectorFleet:
    """What a collector's console shows (``snapshot``): the plant files' sites the collector owns (``sites``; None:
    all), then the machines known from births alone, each with its birth's name and kind."""

    def __init__(self, engine: Engine, plants: Sequence[Plant], births: Births,
                 sites: Collection[str] | None = None) -> None:
        self.engine = engine
        self.births = births
        owned = None if sites is None else frozenset(sites)
        self.plants = [p for p in (dataclasses.replace(plant, sites=tuple(
            s for s in plant.sites if owned is None or f"{plant.enterprise.id}/{s.id}" in owned)) for plant in plants)
            if p.sites]
        self._registered = frozenset(at.path for plant in self.plants for at in plant.machines())
        self._version = -1
        self._extra: list[Plant] = []

    def _births_plants(self) -> list[Plant]:
        """Rebuilt only when a birth changed (a snapshot a second must not remake a thousand machines)."""
        if self._version != self.births.version:
            self._version = self.births.version
            self._extra = births_plants({path: birth for path, birth in self.births.nameplates.items()
                                         if path not in self._registered})
        return self._extra

    def snapshot(self) -> dict[str, Any]:
        """The fleet now, by the collector's telemetry clock."""
        extra = self._births_plants()
        out = fleet(self.engine, [*self.plants, *extra], self.engine.now_ms or 0)
        if extra:
            # the birth's own words for its kind, which this release may not know
            nameplates = self.births.nameplates
            for site in out["sites"]:
                for line in site["lines"]:
                    for machine in line["machines"]:
                        birth = nameplates.get(machine["path"])
                        if birth is not None and machine["path"] not in self._registered:
                            machine["kind"] = dict(birth["kind_name"])
        return out


__all__ = ["Births", "CollectorFleet", "births_plants"]
