"""What the engine has written, so that a tick writes only what changed — and deletes what no longer holds.

A result unchanged since it was last written is not written again. A stored ``kpi`` point
whose KPI became undefined (late data emptied a denominator) would keep the old value next
to the new point's fields: it is deleted first (``Retraction``). Likewise a machine's unknown
intervals (``gap`` points): one that late data filled is deleted, one that changed written again.

What a tick finds due counts as written only once its consumer has handed the lines on
(``commit``): lines lost with a consumer stopped half-way, or a store that failed, are found
due again by the next tick, which ``discard``s what the unfinished one found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ._encode import KPI_FIELDS, gap_tags, kpi_tags
from ._kpi import Period
from ._points import Retraction
from ._results import Result
from ._stream import OPEN, Interval, MachineStream

#: (level, unit, window, start): what a stored result point is known by
ResultKey = tuple[str, str, str, int]


def fields_mask(names: Iterable[str]) -> int:
    """KPI field names as bits of ``KPI_FIELDS`` (which fields a stored point holds)."""
    wanted = set(names)
    return sum(1 << i for i, name in enumerate(KPI_FIELDS) if name in wanted)


class ResultWrites:
    def __init__(self) -> None:
        self._written: dict[ResultKey, tuple[Period, bool]] = {}
        #: which KPI fields (bits of KPI_FIELDS) each result's stored point holds
        self._stored_fields: dict[ResultKey, int] = {}
        #: found due, not yet handed on: what each will be, and the fields its stored point will hold
        self._pending: dict[ResultKey, tuple[tuple[Period, bool], int]] = {}
        self.retractions: list[Retraction] = []

    def due(self, r: Result) -> bool:
        """Whether ``r`` must be written (and, if a stored KPI of it became undefined, the retraction first)."""
        key, value = r.key, (r.period, r.final)
        if self._written.get(key) == value:
            return False
        fields = fields_mask(n for n in KPI_FIELDS if getattr(r.kpis, n) is not None)
        if self._stored_fields.get(key, 0) & ~fields:
            self.retractions.append(Retraction("kpi", kpi_tags(r.level, r.unit, r.window), r.start_ms * 1000))
        self._pending[key] = (value, fields)
        return True

    def commit(self) -> None:
        """The lines (and retractions) of the results found due since the last commit were handed on."""
        for key, (value, fields) in self._pending.items():
            self._written[key] = value
            self._stored_fields[key] = fields
        self._pending.clear()

    def discard(self) -> None:
        """Forget what an unfinished tick found due: the next finds it again."""
        self._pending.clear()
        self.retractions.clear()

    def stored(self, key: ResultKey, fields: Iterable[str]) -> None:
        """The KPI fields a result's stored point holds, read back after a restart: the result is written again
        (deleted first if one of them is no longer defined)."""
        self._stored_fields[key] = self._stored_fields.get(key, 0) | fields_mask(fields)
        self._written.pop(key, None)

    def forget(self, gone: Callable[[ResultKey], bool]) -> None:
        """Forget the results ``gone`` says no tick will compute again."""
        for key in [k for k in self._written if gone(k)]:
            del self._written[key]
            self._stored_fields.pop(key, None)


class GapWrites:
    """The intervals written as ``gap`` points, per machine: (what, start) → (end, cause)."""

    def __init__(self) -> None:
        self._written: dict[str, tuple[int, dict[tuple[str, int], tuple[int, str]]]] = {}
        self._pending: dict[str, tuple[int, dict[tuple[str, int], tuple[int, str]]]] = {}
        self.retractions: list[Retraction] = []

    def commit(self) -> None:
        """The lines (and retractions) of the intervals found due since the last commit were handed on."""
        self._written.update(self._pending)
        self._pending.clear()

    def discard(self) -> None:
        """Forget what an unfinished tick found due: the next finds it again."""
        self._pending.clear()
        self.retractions.clear()

    def due(self, streams: Mapping[str, MachineStream], now_of: Callable[[str], int | None], keep_ms: int,
            ) -> list[tuple[str, str, int, int, str]]:
        """The closed intervals to write as (path, what, start, end, cause): ``what`` = ``state`` where the state
        is unknown, ``counts`` where only the counters went unseen."""
        out = []
        for path, stream in list(streams.items()):
            written = self._written.get(path)
            if written is not None and written[0] == stream.version:
                continue
            now = now_of(path)
            if now is None:
                continue
            before = written[1] if written is not None else {}
            state: list[Interval] = stream.unknown()
            after = {(what, start): (end, cause) for what, intervals in (("state", state), ("counts", [
                i for i in stream.unobserved() if i not in state])) for start, end, cause in intervals
                     if end != OPEN and end >= now - keep_ms}
            for what, start in before.keys() - after.keys():
                self.retractions.append(Retraction("gap", tuple(sorted(gap_tags(path, what).items())), start * 1000))
            out += [(path, what, start, end, cause) for (what, start), (end, cause) in after.items()
                    if before.get((what, start)) != (end, cause)]
            self._pending[path] = (stream.version, after)
        return out
