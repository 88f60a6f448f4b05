"""Durations as people write them in plant files and on the command line."""

from __future__ import annotations

import math
import re

_UNIT_S = {"ms": 0.001, "s": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|min|s|m|h|d|w)")
_WHOLE = re.compile(r"\s*(?:(?:\d+(?:\.\d*)?|\.\d+)\s*(?:ms|min|s|m|h|d|w)\s*)+")

DURATION_HINT = "a duration such as 45, 45s, 30m, 1h30m, 8h or 7d (a bare number is seconds)"


def parse_duration(value: object) -> float:
    """Return seconds for ``45``, ``"45s"``, ``"30m"``, ``"1h30m"``, ``"8h"``, ``"7d"``.

    Raises ``ValueError`` naming what was given; the value may be zero or
    negative only if written that way (callers decide what they accept).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        sign = 1.0
        if text.startswith("-"):
            sign, text = -1.0, text[1:]
        try:
            seconds = sign * float(text)
        except ValueError:
            if not _WHOLE.fullmatch(text):
                raise ValueError(f"expected {DURATION_HINT}, got {value!r}") from None
            seconds = sign * sum(float(n) * _UNIT_S[u] for n, u in _PART.findall(text))
    else:
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Shortest exact-ish form: ``28800`` → ``"8h"``, ``5400`` → ``"1h30m"``."""
    if seconds < 60 or seconds != int(seconds):
        return f"{seconds:g}s"
    out = []
    rest = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)
