"""A site's shift calendar as a SimPy process that pauses and resumes its machines."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from shopfloor import Calendar, CalendarState, StopReason

if TYPE_CHECKING:
    from ._machine import MachineSim

CALENDAR_REASON = {
    CalendarState.BREAK: StopReason.PLANNED_BREAK,
    CalendarState.MAINTENANCE: StopReason.PLANNED_MAINTENANCE,
    CalendarState.NO_SHIFT: StopReason.NO_SHIFT,
}

# periods are fetched a day at a time so a live run can go on for ever
_CHUNK_S = 86400.0


class SiteClock:
    """Follows the calendar; machines read ``working`` and ``next_change``."""

    def __init__(self, env: simpy.Environment, calendar: Calendar, start_epoch: float) -> None:
        self.env = env
        self.calendar = calendar
        self.start_epoch = start_epoch
        self.working = False
        self.reason = StopReason.NO_SHIFT
        #: sim time of the next calendar boundary
        self.next_change = 0.0
        #: fires when work (re)starts
        self.resume = env.event()
        self.machines: list[MachineSim] = []
        # created before any machine, so it sets the state before they start
        env.process(self._run())

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            t0 = self.start_epoch + env.now
            for period in self.calendar.intervals(t0, t0 + _CHUNK_S):
                self._enter(period.state, period.end - self.start_epoch)
                yield env.timeout(max(0.0, self.next_change - env.now))

    def _enter(self, state: CalendarState, next_change: float) -> None:
        self.next_change = next_change
        was_working = self.working
        self.working = state is CalendarState.WORKING
        if not self.working:
            self.reason = CALENDAR_REASON[state]
        for machine in self.machines:
            machine.refresh()
        if self.working and not was_working:
            resume, self.resume = self.resume, self.env.event()
            resume.succeed()
