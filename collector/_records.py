"""What the KPI engine holds of each machine: its place and register entry, its telemetry, whether it is online.

One ``MachineRecord`` per machine heard or registered; the engine's parts read it (results,
status, alarms), only the engine changes it.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field

from shopfloor import Calendar

from ._digitization import Equipment
from ._timeline import MachineTimeline
from ._units import Level, Unit

_MINUTE_MS = 60_000
#: station order of a machine known from its birth only
UNPLACED = 1_000_000


@dataclass(slots=True)
class MachineRecord:
    """One machine as the engine knows it."""

    path: Unit
    equipment: Equipment | None
    calendar: Calendar | None
    #: mean ideal cycle time (for finding a line's constraint) and position in the line
    ideal_s: float = 0.0
    order: int = UNPLACED
    timeline: MachineTimeline = field(init=False)
    online: bool | None = None
    #: the wall clock when the machine went offline
    offline_since: int | None = None
    #: minute buckets in which anything arrived (measured networking), kept for ``kpi.keep``: an array, not objects
    heard: array[int] = field(default_factory=lambda: array("q"))
    enterprise: Unit = field(init=False)
    site: Unit = field(init=False)
    area: Unit = field(init=False)
    line: Unit = field(init=False)

    def __post_init__(self) -> None:
        self.timeline = MachineTimeline(self.calendar)
        self.path = Unit(self.path)
        self.enterprise, self.site = self.path.up(Level.ENTERPRISE), self.path.up(Level.SITE)
        self.area, self.line = self.path.up(Level.AREA), self.path.up(Level.LINE)

    def unit(self, level: Level) -> Unit:
        """The unit of ``level`` the machine belongs to."""
        return self.path.up(level)

    def hear(self, ts_ms: int) -> None:
        bucket = ts_ms // _MINUTE_MS
        if self.heard and self.heard[-1] == bucket:  # the common case: this minute already heard
            return
        i = bisect.bisect_left(self.heard, bucket)
        if i == len(self.heard) or self.heard[i] != bucket:
            self.heard.insert(i, bucket)

    def heard_between(self, start_ms: int, end_ms: int) -> bool:
        i = bisect.bisect_left(self.heard, start_ms // _MINUTE_MS)
        return i < len(self.heard) and self.heard[i] * _MINUTE_MS < end_ms

    def forget_heard_before(self, ts_ms: int) -> None:
        del self.heard[:bisect.bisect_left(self.heard, ts_ms // _MINUTE_MS)]
