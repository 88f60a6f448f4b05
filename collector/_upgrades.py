"""The fewest key-process machines whose upgrade to numerical control lifts a site's 关键工序数控化率 to a
target (the what-if's ``--target``, the report's recommendations)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._digitization import Equipment


def fewest_upgrades(entries: Sequence[Equipment], target: float) -> list[str]:
    """Paths of the fewest key-process machines of ``entries`` (one site's register, equipment basis) whose
    upgrade to NC reaches ``target``: none when it is reached, all that are not NC when even that falls short.

    The rule when several sets are as small: machines in the register's order (the plant file's: lines, stations
    in flow order) — an upgrade of control changes no simulated time, so no set does better for OEE than another."""
    key = [e for e in entries if e.key_process]
    need = math.ceil(round(target * len(key), 9)) - sum(e.nc for e in key)
    return [e.path for e in key if not e.nc][:max(need, 0)]
