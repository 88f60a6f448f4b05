"""Work units and their levels: a machine, its line, area, site and enterprise, and the fleet.

A unit is named by its path in the plant (``enterprise/site/area/line/machine``, cut at
its level) — a string, so it is a dictionary key and a tag value as it is — and the fleet
by ``fleet``. Everything that walks up the hierarchy asks a ``Unit``; no one splits paths.
"""

from __future__ import annotations

import functools
from enum import StrEnum

#: the path tags of a unit, top down (a machine has all five)
PATH_TAGS = ("enterprise", "site", "area", "line", "machine")


class Level(StrEnum):
    """The levels KPIs are computed for, each with how many path parts name a unit of it."""

    MACHINE = "machine"
    LINE = "line"
    AREA = "area"
    SITE = "site"
    ENTERPRISE = "enterprise"
    FLEET = "fleet"

    #: hashed as its value, in C (keys of every result): a level and its name find the same key
    __hash__ = str.__hash__

    @property
    def depth(self) -> int:
        """Path parts of a unit of this level (the fleet: none)."""
        return _DEPTH[self]


_DEPTH = {Level.MACHINE: 5, Level.LINE: 4, Level.AREA: 3, Level.SITE: 2, Level.ENTERPRISE: 1, Level.FLEET: 0}
_BY_DEPTH = {depth: level for level, depth in _DEPTH.items()}
#: the levels whose units lie within one site: what a site's own clock and calendar time
SITE_LEVELS = (Level.MACHINE, Level.LINE, Level.AREA, Level.SITE)
FLEET = "fleet"


class Unit(str):
    """A unit's path; its level is how deep the path goes (``fleet`` is the fleet)."""

    __slots__ = ()

    @property
    def parts(self) -> tuple[str, ...]:
        return () if self == FLEET else tuple(self.split("/"))

    @property
    def level(self) -> Level:
        return _BY_DEPTH[len(self.parts)]

    def up(self, level: Level) -> Unit:
        """The unit of ``level`` this one belongs to (itself at its own level)."""
        return _up(self, level.depth)

    @property
    def site(self) -> Unit:
        return self.up(Level.SITE)



FLEET_UNIT = Unit(FLEET)


@functools.lru_cache(maxsize=65_536)  # asked for every machine and result of every tick: paths repeat
def _up(unit: Unit, depth: int) -> Unit:
    if depth == 0:
        return FLEET_UNIT
    parts = unit.parts
    if len(parts) < depth:
        raise ValueError(f"{unit!r} is not within a {_BY_DEPTH[depth]}")
    return Unit("/".join(parts[:depth]))
