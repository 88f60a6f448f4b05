"""Every seam to a dependency's internals (shopfloor/_seam_check.py), against the installed versions: each internal
it relies on exists, and its ``check()`` says nothing changed. A failure names the dependency's version and the
seam module to look at, not the callers (each seam's docstring says what each internal is used for)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from collector import _paho_seam
from shopfloor import _aiomqtt_seam, _asyncua_seam
from shopfloor._seam_check import Requirement, Seam

SEAMS: tuple[ModuleType, ...] = (_aiomqtt_seam, _asyncua_seam, _paho_seam)


@pytest.mark.parametrize(("seam", "requirement"), [(m.SEAM, r) for m in SEAMS for r in m.SEAM.requires],
                         ids=lambda x: x.module if isinstance(x, Seam) else str(x))
def test_the_installed_dependency_has_what_the_seam_relies_on(seam: Seam, requirement: Requirement) -> None:
    problem = seam.broken(requirement)
    assert problem is None, problem


@pytest.mark.parametrize("check", [m.check for m in SEAMS], ids=[m.__name__ for m in SEAMS])
def test_check_says_nothing_changed(check: Callable[[], list[str]]) -> None:
    assert check() == []
