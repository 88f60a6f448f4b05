"""One machine's telemetry as step functions of time, and the ISO 22400 period of any window.

Fed with the contract's ``state`` events and cumulative ``counters`` in any order (a
gateway's backlog arrives late), a ledger answers: over [start, end), how long was the
machine producing, setting up, delayed, down — and how many parts, how much energy. The
planned busy time comes from the site's calendar, never from the machine: time the plan
does not call for work is left out whatever the machine reported, and time it does call
for work while the machine reports a break or no shift is down time (ADOT).
Counts are robust to lost messages (they are cumulative) and to counter resets (a value
below the previous one starts a new run of the counter, added on top).
"""

from __future__ import annotations

import bisect

from shopfloor import REASONS, Calendar, CalendarState, StopReason, TimeElement
from shopfloor.telemetry import CounterSample

from ._kpi import Period

_NOT_A_NEW_FAILURE = {StopReason.BREAKDOWN, StopReason.PLANNED_BREAK, StopReason.PLANNED_MAINTENANCE,
                      StopReason.NO_SHIFT}
_COUNTS = ("total", "good", "scrap", "rework", "energy_kwh", "ideal_s")
_TO_FIELD = {TimeElement.APT: "apt_s", TimeElement.AUST: "aust_s", TimeElement.ADET: "adet_s",
             TimeElement.ADOT: "adot_s"}


class MachineLedger:
    def __init__(self, calendar: Calendar | None = None) -> None:
        self.calendar = calendar
        self._state_ts: list[int] = []
        self._state_reason: list[int] = []
        self._samples: list[CounterSample] = []

    def add_state(self, ts_ms: int, reason: int) -> None:
        """A state change; the same change twice (a re-sent message) is kept once."""
        i = bisect.bisect_right(self._state_ts, ts_ms)
        if i and self._state_ts[i - 1] == ts_ms and self._state_reason[i - 1] == reason:
            return
        self._state_ts.insert(i, ts_ms)
        self._state_reason.insert(i, reason)

    def add_counters(self, sample: CounterSample) -> None:
        i = bisect.bisect_right([s.ts_ms for s in self._samples], sample.ts_ms)
        if i and self._samples[i - 1] == sample:
            return
        self._samples.insert(i, sample)

    # ------------------------------------------------------------ queries

    def _planned(self, start_ms: int, end_ms: int) -> list[tuple[int, int, CalendarState]]:
        if self.calendar is None:
            return [(start_ms, end_ms, CalendarState.WORKING)]
        return [(round(p.start * 1000), round(p.end * 1000), p.state)
                for p in self.calendar.periods(start_ms / 1000, end_ms / 1000)]

    def _states(self, start_ms: int, end_ms: int) -> list[tuple[int, int, int]]:
        """(from, to, reason) covering [start, end) as far as the machine has told us."""
        i = bisect.bisect_right(self._state_ts, start_ms) - 1
        out = []
        if i < 0:
            i = 0  # before the first event the state is unknown: the window starts with it
        for k in range(i, len(self._state_ts)):
            a = max(self._state_ts[k], start_ms)
            b = min(self._state_ts[k + 1] if k + 1 < len(self._state_ts) else end_ms, end_ms)
            if a >= end_ms:
                break
            if b > a:
                out.append((a, b, self._state_reason[k]))
        return out

    def _adjusted(self) -> list[tuple[int, dict[str, float]]]:
        """Cumulative values made monotonic across counter resets."""
        offset = dict.fromkeys(_COUNTS, 0.0)
        last = dict.fromkeys(_COUNTS, 0.0)
        out = []
        for s in self._samples:
            values = {k: float(getattr(s, k)) for k in _COUNTS}
            if values["total"] < last["total"]:  # a reset: what was counted before stays counted
                for k in _COUNTS:
                    offset[k] += last[k]
            last = values
            out.append((s.ts_ms, {k: values[k] + offset[k] for k in _COUNTS}))
        return out

    @staticmethod
    def _at(series: list[tuple[int, dict[str, float]]], ts_ms: int) -> dict[str, float]:
        i = bisect.bisect_right([t for t, _ in series], ts_ms) - 1
        if i < 0:
            return dict.fromkeys(_COUNTS, 0.0) if not series else series[0][1]
        return series[i][1]

    def period(self, start_ms: int, end_ms: int) -> Period:
        """The window's time elements (inside the plan) and counts (between the samples at its edges)."""
        seconds = {"apt_s": 0.0, "aust_s": 0.0, "adet_s": 0.0, "adot_s": 0.0, "planned_down_s": 0.0}
        breakdown_s = 0.0
        failures = 0
        states = self._states(start_ms, end_ms)
        for ps, pe, plan in self._planned(start_ms, end_ms):
            if plan is CalendarState.NO_SHIFT:
                continue
            if plan is not CalendarState.WORKING:
                seconds["planned_down_s"] += (pe - ps) / 1000
                continue
            for a, b, reason in states:
                lo, hi = max(a, ps), min(b, pe)
                if hi <= lo:
                    continue
                element = REASONS[StopReason(reason)].element
                field = _TO_FIELD.get(element, "adot_s")  # the plan wants work, the machine says it has none
                seconds[field] += (hi - lo) / 1000
                if reason == StopReason.BREAKDOWN:
                    breakdown_s += (hi - lo) / 1000
        previous = None
        for ts, reason in zip(self._state_ts, self._state_reason, strict=True):
            # a repair resumed after a break or the night is the same failure
            if reason == StopReason.BREAKDOWN and previous not in _NOT_A_NEW_FAILURE and start_ms <= ts < end_ms:
                failures += 1
            previous = reason
        series = self._adjusted()
        first, last = self._at(series, start_ms), self._at(series, end_ms)
        delta = {k: last[k] - first[k] for k in _COUNTS}
        return Period(
            calendar_s=(end_ms - start_ms) / 1000,
            pq=round(delta["total"]), gq=round(delta["good"]), sq=round(delta["scrap"]), rq=round(delta["rework"]),
            energy_kwh=delta["energy_kwh"], ideal_s=delta["ideal_s"], breakdown_s=breakdown_s, failures=failures,
            **seconds,
        )
