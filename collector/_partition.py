"""Partitions: collectors that each own a share of the fleet's sites, for storage and KPIs alike.

With ``partition: K/N`` a collector takes the messages of the sites the plant register assigns
to partition K of N, on plain topic filters of its own (``<prefix>/v1/<enterprise>/<site>/+/+/+/+``)
in one persistent session. Plain filters are what every broker keeps across its own restart
(Mosquitto's persistence does not keep shared subscriptions: docs/collector.md "Partitions").

A **site** is the unit of division: its machines share one calendar and one telemetry clock,
and a line's, an area's and the site's KPIs need all of its machines, so a site's figures are
whole in one partition. The assignment is deterministic from the register alone — every
collector, given the same plant files, computes the same one: sites by machine count, largest
first (ties by path), each to the partition with the fewest machines so far (ties to the lowest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shopfloor import CONTRACT_VERSION, Plant, subscription

_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class Partition:
    """Partition ``index`` (from 1) of ``count``."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"partition {self.index}/{self.count}: K/N needs 1 ≤ K ≤ N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def whole(self) -> bool:
        """One collector takes the whole fleet."""
        return self.count == 1

    @property
    def adds_up_the_fleet(self) -> bool:
        """Whether this partition's collector also runs the fleet step (the first one does)."""
        return self.index == 1

    @classmethod
    def parse(cls, value: object) -> Partition:
        """``"K/N"`` (as configured, or from ``SFSIM_COLLECTOR_PARTITION``)."""
        match = _FORM.fullmatch(str(value)) if isinstance(value, str | int) else None
        if match is None:
            raise ValueError(f"must be K/N, this collector's partition K of N (like 1/3), got {value!r}")
        return cls(int(match[1]), int(match[2]))


def sites(plants: Iterable[Plant]) -> list[tuple[str, int]]:
    """Every site of the register as (``enterprise/site``, machines), in file order."""
    out: dict[str, int] = {}
    for plant in plants:
        for at in plant.machines():
            site = f"{at.enterprise.id}/{at.site.id}"
            out[site] = out.get(site, 0) + 1
    return list(out.items())


def assign(register: Sequence[tuple[str, int]], count: int) -> dict[str, int]:
    """Each site's partition (1 … count): largest sites first, each to the least loaded partition."""
    load = [0] * count
    out = {}
    for site, machines in sorted(register, key=lambda s: (-s[1], s[0])):
        k = min(range(count), key=lambda i: (load[i], i))
        load[k] += machines
        out[site] = k + 1
    return out


def owned(plants: Iterable[Plant], partition: Partition) -> list[str]:
    """The sites of ``partition``, in path order."""
    return sorted(site for site, k in assign(sites(plants), partition.count).items() if k == partition.index)


def topic_filters(prefix: str, own: Sequence[str] | None) -> list[str]:
    """The subscription of a partition owning the sites ``own`` (None: the whole fleet)."""
    if own is None:
        return [subscription(prefix)]
    return [f"{prefix}/{CONTRACT_VERSION}/{site}/+/+/+/+" for site in own]
