"""Telemetry clocks per site that no one machine, or a few, can move.

KPI windows close by plant time, which the machines' timestamps carry (a plant simulated at
60× closes its hours at 60×). A site's clock is the **lower median** of the newest timestamps
of its machines that are live — heard within ``live_s`` of the newest arrival — and it never
goes back. So a machine whose clock runs days ahead is outvoted by the others, as is one
replaying an old backlog, and a machine that went silent does not hold the clock back. The
fleet's clock (enterprise and fleet windows) is the lower median of the clocks of the sites
with a live machine. A site of one machine follows that machine: it can only hurt itself; the
collector's ``max_ahead`` bounds how far any timestamp may run ahead of its arrival.
"""

from __future__ import annotations


def lower_median(values: list[int]) -> int:
    """The middle value, the lower of the two middle ones for an even count (a majority must move it)."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def fleet_clock(live_sites: list[int], before: int | None) -> int | None:
    """The fleet's clock: the lower median of the clocks of the sites with a live machine, never going back."""
    if not live_sites:
        return before
    return max(lower_median(live_sites), before or 0)


class Clocks:
    def __init__(self, live_s: float = 300.0) -> None:
        self.live_ms = round(live_s * 1000)
        #: site → machine → (newest timestamp, when its last message arrived)
        self._machines: dict[str, dict[str, tuple[int, int]]] = {}
        self._sites: dict[str, int] = {}
        self._fleet: int | None = None
        self._arrived: int | None = None
        #: the sites with a live machine at the last ``advance``
        self.live: frozenset[str] = frozenset()

    def saw(self, site: str, path: str, ts_ms: int, received_ms: int) -> None:
        machines = self._machines.setdefault(site, {})
        old = machines.get(path)
        machines[path] = (ts_ms, received_ms) if old is None else (max(ts_ms, old[0]), max(received_ms, old[1]))
        if self._arrived is None or received_ms > self._arrived:
            self._arrived = received_ms

    def advance(self) -> None:
        """Move every clock to what its live machines now say (never back)."""
        if self._arrived is None:
            return
        live_sites = []
        for site, machines in self._machines.items():
            live = [ts for ts, arrived in machines.values() if self._arrived - arrived <= self.live_ms]
            if not live:
                continue
            now = max(lower_median(live), self._sites.get(site, 0))
            self._sites[site] = now
            live_sites.append(site)
        self.live = frozenset(live_sites)
        self._fleet = fleet_clock([self._sites[s] for s in live_sites], self._fleet)

    def restore(self, site: str, now_ms: int) -> None:
        """A site's clock as the previous process left it (read back after a restart)."""
        self._sites[site] = max(now_ms, self._sites.get(site, now_ms))

    def site(self, site: str) -> int | None:
        """The site's clock (None before any of its machines sent a timestamp)."""
        return self._sites.get(site)

    @property
    def fleet(self) -> int | None:
        return self._fleet

    @property
    def sites(self) -> dict[str, int]:
        return dict(self._sites)
