"""The fewest key-process machines whose upgrade to numerical control lifts a site's 关键工序数控化率 to a
target (the what-if's ``--target``, the report's recommendations)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from shopfloor import NC_CONTROLS, Control, Industry

from ._digitization import Equipment

#: what an upgrade to NC sets: the industry's numerical control, and digital (an NC machine keeps data)
UPGRADE_CONTROL = {Industry.DISCRETE: Control.CNC, Industry.PROCESS: Control.DCS}


def fewest_upgrades(entries: Sequence[Equipment], target: float) -> list[str]:
    """Paths of the fewest key-process machines of ``entries`` (one site's register, equipment basis) whose
    upgrade to NC reaches ``target``: none when it is reached, all that are not NC when even that falls short.

    The rule when several sets are as small: machines in the register's order (the plant file's: lines, stations
    in flow order) — an upgrade of control changes no simulated time, so no set does better for OEE than another."""
    key = [e for e in entries if e.key_process]
    need = math.ceil(round(target * len(key), 9)) - sum(e.nc for e in key)
    return [e.path for e in key if not e.nc][:max(need, 0)]


def upgraded(entries: Sequence[Equipment], paths: Sequence[str]) -> list[Equipment]:
    """The register with the machines at ``paths`` upgraded to NC (``UPGRADE_CONTROL``) and digital."""
    chosen = set(paths)
    out = []
    for e in entries:
        if e.path in chosen:
            control = UPGRADE_CONTROL[e.industry]
            assert control in NC_CONTROLS[e.industry]
            e = dataclasses.replace(e, control=control, digital=True)
        out.append(e)
    return out
