"""Each machine's status now — what it is doing, since when — and its alarm: stopped too long, or offline.

A stop is timed by the site's telemetry clock (a plant simulated at 60× raises its alarms at
60× too); being offline by the wall clock (a plant whose machines all went silent has no
telemetry clock left to time it). A stop outside the site's planned working time raises
nothing. ``Alarms`` holds which alarms are active, and says what changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from shopfloor import REASONS, CalendarState, StopReason, TimeElement

from ._records import MachineRecord
from ._results import Calculator

log = logging.getLogger(__name__)

#: what a machine is doing, for a status grid: its reason's power class, or offline (or unknown before any state)
CONDITIONS = ("executing", "setup", "idle", "down", "standby", "offline", "unknown")
STOPPED = {TimeElement.ADET, TimeElement.ADOT}


@dataclass(frozen=True, slots=True)
class MachineStatus:
    """A machine now: its reason in force (None before any state) and since when, and the alarm it calls for."""

    machine: MachineRecord
    reason: int | None
    since_ms: int | None
    #: "down" or "offline", or None
    alarm: str | None
    #: the clock it was judged by (its site's)
    now_ms: int

    @property
    def condition(self) -> str:
        if self.machine.online is False:
            return "offline"
        return REASONS[StopReason(self.reason)].power.value if self.reason is not None else "unknown"

    @property
    def stopped_s(self) -> float:
        if self.reason is None or self.since_ms is None or REASONS[StopReason(self.reason)].element not in STOPPED:
            return 0.0
        return (self.now_ms - self.since_ms) / 1000


def status(m: MachineRecord, now_ms: int | None, wall_ms: int, alarm_ms: int, calculator: Calculator,
           ) -> MachineStatus:
    """The machine's status by the telemetry clock ``now_ms`` (None: no clock yet) and the wall clock."""
    at = m.timeline.reason_at(now_ms) if now_ms is not None else None
    reason, since = at if at is not None else (None, None)
    kind = None
    if m.online is False:
        since = m.offline_since if m.offline_since is not None else wall_ms
        if wall_ms - since >= alarm_ms:
            kind = "offline"
    elif now_ms is not None and reason is not None and since is not None \
            and REASONS[StopReason(reason)].element in STOPPED and now_ms - since >= alarm_ms:
        plan = calculator.plan(m, now_ms - 1, now_ms) if m.calendar is not None else []
        if not plan or plan[-1][2] is CalendarState.WORKING:
            kind = "down"
    return MachineStatus(m, reason, since, kind, now_ms if now_ms is not None else 0)


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """An alarm raised (``active``) or ended: (kind, since) as its point is keyed."""

    path: str
    kind: str
    since_ms: int
    active: bool


class Alarms:
    """The active alarm of each machine (at most one: offline outranks down)."""

    def __init__(self) -> None:
        self.active: dict[str, tuple[str, int]] = {}
        self.raised = 0

    def restore(self, path: str, kind: str, since_ms: int) -> None:
        """An alarm still active when the previous process stopped: ended (and written) when it ends."""
        self.active.setdefault(path, (kind, since_ms))

    def update(self, statuses: Iterable[MachineStatus]) -> list[AlarmChange]:
        """The alarms the statuses call for: what ended, what was raised, and every active one (its point carries
        how long it has lasted)."""
        out = []
        for s in statuses:
            path = s.machine.path
            previous = self.active.get(path)
            if s.alarm is not None and (previous is None or previous[0] != s.alarm):
                self.active[path] = (s.alarm, s.since_ms if s.since_ms is not None else s.now_ms)
                log.warning("alarm: %s %s since %s", path, s.alarm, self.active[path][1])
                self.raised += 1
            elif s.alarm is None and previous is not None:
                del self.active[path]
                log.info("alarm cleared: %s %s", path, previous[0])
            current = self.active.get(path)
            if previous is not None and current != previous:
                out.append(AlarmChange(path, *previous, active=False))
            if current is not None:
                out.append(AlarmChange(path, *current, active=True))
        return out
