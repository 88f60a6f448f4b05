"""Terminal output shared by the commands."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from shopfloor import Issue


def print_issues(issues: Iterable[Issue]) -> None:
    for issue in issues:
        print(issue, file=sys.stderr)


def percent(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"
