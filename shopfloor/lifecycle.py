"""The backoff of every retry loop (the MQTT sessions, the OPC UA sources, the gateway's health session, the
collector's store and its read-back after a restart): one capped, jittered exponential backoff."""

from __future__ import annotations

import random


class Backoff:
    """Capped exponential backoff with jitter, for a loop that retries until it succeeds.

    ``next()`` is the wait before the next attempt: the current ``step`` — ``min_s``, doubling at each call up
    to ``max_s`` — times a random factor in (1 - ``jitter``, 1], so that the clients of a server that went away
    do not all come back at the same instant. ``reset()`` after a success starts again at ``min_s``. ``step``
    (the longest the next wait can be) is what a log line announces as "about"."""

    __slots__ = ("_random", "failures", "jitter", "max_s", "min_s", "step")

    def __init__(self, min_s: float, max_s: float, *, jitter: float = 0.5, rng: random.Random | None = None) -> None:
        if min_s <= 0 or max_s <= 0:
            raise ValueError(f"backoff bounds must be positive, got {min_s:g} and {max_s:g} s")
        if not 0 <= jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), got {jitter:g}")
        #: a cap below the first step caps that one too
        self.min_s = min(min_s, max_s)
        self.max_s = max_s
        self.jitter = jitter
        self.step = self.min_s
        #: waits since the last reset: 0 while all is well
        self.failures = 0
        self._random = (rng or random.Random()).random

    def next(self) -> float:
        delay = self.step * (1.0 - self.jitter * self._random())
        self.step = min(self.step * 2, self.max_s)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.step = self.min_s
        self.failures = 0
