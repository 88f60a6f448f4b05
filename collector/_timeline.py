"""One machine's telemetry as step functions of time, and the ISO 22400 period of any window.

Fed with the contract's ``state`` events and cumulative ``counters`` in any order (a
gateway's backlog arrives late), a timeline answers: over [start, end), how long was the
machine producing, setting up, delayed, down — and how many parts, how much energy. The
planned busy time comes from the site's calendar, never from the machine: time the plan
does not call for work is left out whatever the machine reported, and time it does call
for work while the machine reports a break or no shift is down time (ADOT).
Counts are robust to lost messages (they are cumulative) and to counter resets (a value
below the previous one starts a new run of that counter, added on top; the collector's
``Streams`` refuse a backward step within a publisher session, so one comes only with a
restart).

What the machine's stream does not cover — before its first state, and the *unknown
intervals* its ``Streams`` report (offline, lost messages, between sessions) — is neither
production nor stop: it is ``unknown_s``; and the parts counted across time in which the
counters went unseen (a count step whose interval overlaps an *unobserved* interval) are
``gap_*``, kept out of the ratios (``collector.kpis``).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence

from shopfloor import REASONS, Calendar, CalendarState, StopReason, TimeElement
from shopfloor.telemetry import CounterSample

from ._kpi import Period

#: [start, end) in ms and why: what the machine's stream does not cover (``Streams.unknown``)
Unknown = Sequence[tuple[int, int, str]]

_NOT_A_NEW_FAILURE = {StopReason.BREAKDOWN, StopReason.PLANNED_BREAK, StopReason.PLANNED_MAINTENANCE,
                      StopReason.NO_SHIFT}
_COUNTS = ("total", "good", "scrap", "rework", "energy_kwh", "ideal_s")
_TO_FIELD = {TimeElement.APT: "apt_s", TimeElement.AUST: "aust_s", TimeElement.ADET: "adet_s",
             TimeElement.ADOT: "adot_s"}


#: counters samples are kept one per minute (the last at or before each minute boundary): every
#: window edge (hours, shifts, days, the rolling window) falls on a minute, so no count is lost
SAMPLE_BUCKET_MS = 60_000


#: one sample's cumulative values, in the order of ``_COUNTS``
Row = tuple[float, float, float, float, float, float]
_WIDTH = len(_COUNTS)
_ZERO: Row = (0.0,) * _WIDTH  # type: ignore[assignment]


def _reset(before: Row, after: Row) -> bool:
    """Any cumulative value going down is a reset (a new publisher session, a restarted machine)."""
    return any(a < b for a, b in zip(after, before, strict=True))


def _bucket(ts_ms: int) -> int:
    return -(-ts_ms // SAMPLE_BUCKET_MS)  # (m-1, m] minute: a sample at an edge stays the edge's


def _row(sample: CounterSample) -> Row:
    return (float(sample.total), float(sample.good), float(sample.scrap), float(sample.rework),
            float(sample.energy_kwh), float(sample.ideal_s))


class MachineTimeline:
    """Kept compact, because it is kept for ``kpi.keep`` (days) for every machine: arrays of machine numbers,
    not Python objects (about 60 bytes a minute of counters and 9 bytes a state change)."""

    def __init__(self, calendar: Calendar | None = None) -> None:
        self.calendar = calendar
        self._state_ts = array("q")
        self._state_reason = array("B")
        self._sample_ts = array("q")
        #: the samples' cumulative values, ``_WIDTH`` per sample, in the order of ``_COUNTS``
        self._values = array("d")
        #: 1 for a sample read back from storage (its instant known to its minute only), 0 for one that arrived
        self._restored = array("B")
        #: (first sample of a counter run, what to add to its values): made again when a sample arrives
        self._runs: list[tuple[int, Row]] | None = None
        #: what pruned samples had counted before the first kept one's counter run
        self._offset: Row = _ZERO

    def add_state(self, ts_ms: int, reason: int) -> None:
        """A state change; the same change twice (a re-sent message) is kept once."""
        i = bisect.bisect_right(self._state_ts, ts_ms)
        if i and self._state_ts[i - 1] == ts_ms and self._state_reason[i - 1] == reason:
            return
        self._state_ts.insert(i, ts_ms)
        self._state_reason.insert(i, reason)

    def _raw(self, i: int) -> Row:
        return tuple(self._values[i * _WIDTH:(i + 1) * _WIDTH])  # type: ignore[return-value]

    def _put(self, i: int, ts_ms: int, row: Row, *, replace: bool = False, restored: bool = False) -> None:
        if replace:
            self._sample_ts[i] = ts_ms
            self._values[i * _WIDTH:(i + 1) * _WIDTH] = array("d", row)
            self._restored[i] = restored
        else:
            self._sample_ts.insert(i, ts_ms)
            self._values[i * _WIDTH:i * _WIDTH] = array("d", row)
            self._restored.insert(i, restored)
        self._runs = None

    def _drop(self, i: int) -> None:
        del self._sample_ts[i]
        del self._values[i * _WIDTH:(i + 1) * _WIDTH]
        del self._restored[i]
        self._runs = None

    def _minute(self, ts_ms: int) -> range:
        """The indexes of the samples in ``ts_ms``'s minute."""
        b = _bucket(ts_ms)
        return range(bisect.bisect_left(self._sample_ts, (b - 1) * SAMPLE_BUCKET_MS + 1),
                     bisect.bisect_right(self._sample_ts, b * SAMPLE_BUCKET_MS))

    def _met_restored(self, ts_ms: int, row: Row, *, restored: bool) -> bool:
        """A sample meeting one of the other kind in its minute — read back from storage, or arrived live — whose
        instant is not the stored one's own: ordered by their values, the newer stands, the older goes; True when
        that settled it (no counter reset is made of the two)."""
        for i in self._minute(ts_ms):
            if bool(self._restored[i]) == restored:
                continue
            held = self._raw(i)
            if all(h >= r for h, r in zip(held, row, strict=True)):
                return True  # the one held is as new or newer
            if all(h <= r for h, r in zip(held, row, strict=True)):
                at = ts_ms if not restored else max(ts_ms, self._sample_ts[i])  # a live instant is exact
                before = self._sample_ts[i - 1] if i else None
                after = self._sample_ts[i + 1] if i + 1 < len(self._sample_ts) else None
                if (before is None or before <= at) and (after is None or at <= after):
                    self._put(i, at, row, replace=True, restored=restored)
                    return True
        return False

    def add_counters(self, sample: CounterSample, *, restored: bool = False) -> None:
        """A cumulative sample; within a minute only the last is kept (and the last before a reset). ``restored``:
        read back from storage (``restore_counters``)."""
        ts, row, n = self._sample_ts, _row(sample), len(self._sample_ts)
        if n and self._restored[-1] != restored and _bucket(ts[-1]) >= _bucket(sample.ts_ms) - 1 \
                and self._met_restored(sample.ts_ms, row, restored=restored):
            return
        if n and sample.ts_ms > ts[-1]:  # in order, the common case: what the general case below does
            last = self._raw(n - 1)
            same_minute = _bucket(ts[-1]) == _bucket(sample.ts_ms) and not _reset(last, row)
            self._put(n - 1 if same_minute else n, sample.ts_ms, row, replace=same_minute, restored=restored)
            return
        i = bisect.bisect_right(ts, sample.ts_ms)
        if i and ts[i - 1] == sample.ts_ms and self._raw(i - 1) == row:
            return
        if i < n and _bucket(ts[i]) == _bucket(sample.ts_ms) and not _reset(row, self._raw(i)):
            return  # a later sample of the same minute, with no reset in between, already stands for it
        if self._met_restored(sample.ts_ms, row, restored=restored):
            return
        self._put(i, sample.ts_ms, row, restored=restored)
        if i and _bucket(ts[i - 1]) == _bucket(sample.ts_ms) and not _reset(self._raw(i - 1), row):
            self._drop(i - 1)

    def restore_counters(self, sample: CounterSample) -> None:
        """A sample read back from storage, whose instant is known only to its minute (it is the last of that
        minute the store held, and stands at the minute's end or, the newest, at its own time as the store gave
        it): it meets what arrived live in that minute by their values, never making a counter reset of the two
        — the newer stands (``_met_restored``)."""
        self.add_counters(sample, restored=True)

    def forget_before(self, ts_ms: int) -> None:
        """Drop what only windows ending before ``ts_ms`` need (the state in force then, and the sample at it, stay)."""
        k = bisect.bisect_right(self._state_ts, ts_ms) - 1
        if k > 0:
            del self._state_ts[:k], self._state_reason[:k]
        k = bisect.bisect_right(self._sample_ts, ts_ms) - 1
        if k > 0:
            # the cumulative values of a reset run must survive the samples they came from
            base = self._value(k)
            del self._sample_ts[:k], self._values[:k * _WIDTH], self._restored[:k]
            self._offset = tuple(b - r for b, r in zip(base, self._raw(0), strict=True))  # type: ignore[assignment]
            self._runs = None

    @property
    def retained_bytes(self) -> int:
        """What the timeline's arrays hold (their buffers; the few objects around them aside)."""
        return sum(a.itemsize * len(a) for a in (self._state_ts, self._state_reason, self._sample_ts, self._values,
                                                 self._restored))

    @property
    def last_counters(self) -> CounterSample | None:
        """The newest counters sample."""
        if not self._sample_ts:
            return None
        total, good, scrap, rework, energy, ideal = self._raw(len(self._sample_ts) - 1)
        return CounterSample(self._sample_ts[-1], int(total), int(good), int(scrap), int(rework), energy, ideal)

    @property
    def last_ts_ms(self) -> int | None:
        """The newest instant the machine told us about (state or counters)."""
        a = self._state_ts[-1] if self._state_ts else None
        b = self._sample_ts[-1] if self._sample_ts else None
        return max((x for x in (a, b) if x is not None), default=None)

    def reason_at(self, ts_ms: int) -> tuple[int, int] | None:
        """(reason, since) of the state in force at ``ts_ms``; None before the first state event."""
        i = bisect.bisect_right(self._state_ts, ts_ms) - 1
        if i < 0:
            return None
        since = i
        while since > 0 and self._state_reason[since - 1] == self._state_reason[i]:
            since -= 1
        return self._state_reason[i], self._state_ts[since]

    # ------------------------------------------------------------ queries

    def planned(self, start_ms: int, end_ms: int) -> list[tuple[int, int, CalendarState]]:
        """The site plan over a window: what every machine of the site shares (callers may cache it)."""
        if self.calendar is None:
            return [(start_ms, end_ms, CalendarState.WORKING)]
        return [(round(p.start * 1000), round(p.end * 1000), p.state)
                for p in self.calendar.intervals(start_ms / 1000, end_ms / 1000)]

    def _states(self, start_ms: int, end_ms: int, unknown: Unknown = ()) -> list[tuple[int, int, int]]:
        """(from, to, reason) covering [start, end) as far as the machine has told us: from its first state on,
        and outside the unknown intervals."""
        i = bisect.bisect_right(self._state_ts, start_ms) - 1
        out = []
        if i < 0:
            i = 0  # before the first event the state is not known
        for k in range(i, len(self._state_ts)):
            a = max(self._state_ts[k], start_ms)
            b = min(self._state_ts[k + 1] if k + 1 < len(self._state_ts) else end_ms, end_ms)
            if a >= end_ms:
                break
            if b > a:
                out.append((a, b, self._state_reason[k]))
        if not unknown:
            return out
        known = []
        for a, b, reason in out:
            j = bisect.bisect_right(unknown, a, key=lambda u: u[1])  # the first interval ending after a
            while a < b and j < len(unknown) and unknown[j][0] < b:
                u0, u1, _ = unknown[j]
                if u0 > a:
                    known.append((a, u0, reason))
                a = max(a, u1)
                j += 1
            if a < b:
                known.append((a, b, reason))
        return known

    def _gap_steps(self, start_ms: int, end_ms: int, unknown: Unknown,
                   ) -> tuple[dict[str, float], list[tuple[int, int]]]:
        """The count steps in (start, end] whose interval overlaps unknown time — parts made at an instant the
        counters cannot place: what they added, and their intervals (clipped to the window), in order."""
        added = [0.0] * _WIDTH
        spans: list[tuple[int, int]] = []
        ts = self._sample_ts
        if not unknown or not ts:
            return dict(zip(_COUNTS, added, strict=True)), spans
        first = max(bisect.bisect_right(ts, start_ms), 1)  # steps at samples after the window's first count
        last = bisect.bisect_right(ts, end_ms)
        for i in range(first, last):
            lo, hi = ts[i - 1], ts[i]
            j = bisect.bisect_right(unknown, lo, key=lambda u: u[1])
            if j < len(unknown) and unknown[j][0] < hi:
                after, before = self._value(i), self._value(i - 1)
                for k in range(_WIDTH):
                    added[k] += after[k] - before[k]
                spans.append((max(lo, start_ms), min(hi, end_ms)))
        return dict(zip(_COUNTS, added, strict=True)), spans

    def _run_offsets(self) -> list[tuple[int, Row]]:
        """Where each counter run begins and what it adds: a counter below its previous value was reset, and what
        it counted stays counted (cached until a sample arrives)."""
        if self._runs is not None:
            return self._runs
        offset = list(self._offset)
        runs: list[tuple[int, Row]] = [(0, self._offset)]
        previous = self._raw(0) if self._sample_ts else _ZERO
        for k in range(1, len(self._sample_ts)):
            row = self._raw(k)
            if _reset(previous, row):
                for j in range(_WIDTH):
                    if row[j] < previous[j]:
                        offset[j] += previous[j]
                runs.append((k, tuple(offset)))  # type: ignore[arg-type]
            previous = row
        self._runs = runs
        return runs

    def _value(self, i: int) -> Row:
        """Sample ``i``'s values made monotonic across resets."""
        runs = self._run_offsets()
        offset = runs[bisect.bisect_right(runs, i, key=lambda r: r[0]) - 1][1]
        return tuple(v + o for v, o in zip(self._raw(i), offset, strict=True))  # type: ignore[return-value]

    def _at(self, ts_ms: int) -> Row:
        if not self._sample_ts:
            return _ZERO
        i = bisect.bisect_right(self._sample_ts, ts_ms) - 1
        return self._value(max(i, 0))

    def period(self, start_ms: int, end_ms: int, plan: list[tuple[int, int, CalendarState]] | None = None,
               unknown: Unknown = (), unobserved: Unknown | None = None) -> Period:
        """The window's time elements (inside the plan, where the state is known: outside ``unknown``) and counts
        (between the samples at its edges; those counted across ``unobserved`` intervals — ``unknown`` when not
        given — also as ``gap_*``)."""
        seconds = {"apt_s": 0.0, "aust_s": 0.0, "adet_s": 0.0, "adot_s": 0.0, "planned_down_s": 0.0}
        breakdown_s = 0.0
        failures = 0
        working_s = 0.0
        #: production time inside the intervals of gap steps: its parts are among those the counters cannot place
        gap_apt_s = 0.0
        states = self._states(start_ms, end_ms, unknown)
        gap, gap_spans = self._gap_steps(start_ms, end_ms, unknown if unobserved is None else unobserved)
        for ps, pe, state in plan if plan is not None else self.planned(start_ms, end_ms):
            if state is CalendarState.NO_SHIFT:
                continue
            if state is not CalendarState.WORKING:
                seconds["planned_down_s"] += (pe - ps) / 1000
                continue
            working_s += (pe - ps) / 1000
            for a, b, reason in states:
                lo, hi = max(a, ps), min(b, pe)
                if hi <= lo:
                    continue
                element = REASONS[StopReason(reason)].element
                field = _TO_FIELD.get(element, "adot_s")  # the plan wants work, the machine says it has none
                seconds[field] += (hi - lo) / 1000
                if reason == StopReason.BREAKDOWN:
                    breakdown_s += (hi - lo) / 1000
                elif field == "apt_s":
                    gap_apt_s += sum(max(0, min(hi, g1) - max(lo, g0)) for g0, g1 in gap_spans) / 1000
        first_k = bisect.bisect_left(self._state_ts, start_ms)
        last_k = bisect.bisect_left(self._state_ts, end_ms)
        for k in range(first_k, last_k):
            # a repair resumed after a break or the night is the same failure
            previous = self._state_reason[k - 1] if k else None
            if self._state_reason[k] == StopReason.BREAKDOWN and previous not in _NOT_A_NEW_FAILURE:
                failures += 1
        first, last = self._at(start_ms), self._at(end_ms)
        delta = {key: b - a for key, a, b in zip(_COUNTS, first, last, strict=True)}
        known_s = seconds["apt_s"] + seconds["aust_s"] + seconds["adet_s"] + seconds["adot_s"]
        return Period(
            calendar_s=(end_ms - start_ms) / 1000,
            pq=round(delta["total"]), gq=round(delta["good"]), sq=round(delta["scrap"]), rq=round(delta["rework"]),
            energy_kwh=delta["energy_kwh"], ideal_s=delta["ideal_s"], breakdown_s=breakdown_s, failures=failures,
            unknown_s=max(0.0, round(working_s - known_s, 3)),  # ms boundaries: float dust is not unknown time
            gap_pq=round(gap["total"]), gap_gq=round(gap["good"]), gap_sq=round(gap["scrap"]),
            gap_rq=round(gap["rework"]), gap_ideal_s=gap["ideal_s"], gap_apt_s=gap_apt_s,
            **seconds,
        )
