"""Per-machine random streams.

Each machine draws from its own numpy ``SeedSequence`` keyed by the run seed
and a stable hash of its ISA-95 path, so adding or removing a machine changes
no other machine's numbers. Within a machine each purpose (cycle times,
quality, failures, …) has its own stream, so raising a scrap rate leaves the
breakdown times alone: a what-if compares like with like.

A scenario event's draws (a storm's micro-stops) are streams of their own too, but short ones, hundreds
in a run: they come from Python's generator, made in microseconds, where a numpy generator made while
the plant runs costs a hundred or more (measured: most of a micro-stop storm's cost).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from enum import IntEnum
from itertools import chain, count

import numpy as np

_BLOCK = 512


class Purpose(IntEnum):
    CYCLE = 0
    QUALITY = 1
    FAILURE = 2
    REPAIR = 3
    MICRO_STOP_GAP = 4
    MICRO_STOP_LENGTH = 5
    SIGNALS = 6
    #: a scenario event's own draws (a micro-stop storm's gaps)
    SCENARIO = 7
    SCENARIO_KEEP = 8


def stable_key(text: str) -> tuple[int, ...]:
    """Four 32-bit words from SHA-256: the same on every platform and run."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


class Stream:
    """Draws one at a time: ``stream.next()`` returns the next one."""

    __slots__ = ("next",)

    def __init__(self, draw: Callable[[], float]) -> None:
        self.next = draw


def _blocks(fill: Callable[[int], list[float]]) -> Stream:
    """Buffered draws from a numpy generator (numpy per-scalar calls are slow): each is a C-level iterator step."""
    return Stream(chain.from_iterable(fill(_BLOCK) for _ in count()).__next__)


def generator(seed: int, key: str, purpose: Purpose) -> np.random.Generator:
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(*stable_key(key), int(purpose)))
    return np.random.Generator(np.random.PCG64(seq))


def uniform(seed: int, key: str, purpose: Purpose) -> Stream:
    gen = generator(seed, key, purpose)
    return _blocks(lambda n: gen.random(n).tolist())


def exponential(seed: int, key: str, purpose: Purpose, mean: float) -> Stream:
    gen = generator(seed, key, purpose)
    return _blocks(lambda n: (gen.standard_exponential(n) * mean).tolist())


def _short(seed: int, key: str, purpose: Purpose) -> random.Random:
    # seeded by an int, random() gives the same sequence on every Python version (the random module's promise)
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}/{key}/{int(purpose)}".encode()).digest()[:16]))


def short_uniform(seed: int, key: str, purpose: Purpose) -> Stream:
    """A short stream of uniform draws in [0, 1) (a scenario event's)."""
    return Stream(_short(seed, key, purpose).random)


def short_exponential(seed: int, key: str, purpose: Purpose, mean: float) -> Stream:
    """A short stream of exponential draws of mean ``mean`` (a scenario event's)."""
    u = _short(seed, key, purpose).random
    return Stream(lambda: -math.log(1.0 - u()) * mean)


def weibull(seed: int, key: str, purpose: Purpose, mean: float, shape: float) -> Stream:
    scale = mean / math.gamma(1 + 1 / shape)
    gen = generator(seed, key, purpose)
    return _blocks(lambda n: (gen.weibull(shape, n) * scale).tolist())


def lognormal(seed: int, key: str, purpose: Purpose, mean: float, cv: float) -> Stream:
    """Lognormal with the given mean and coefficient of variation (cv 0 → constant)."""
    if cv == 0:
        return Stream(lambda: mean)
    sigma = math.sqrt(math.log1p(cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    gen = generator(seed, key, purpose)
    return _blocks(lambda n: gen.lognormal(mu, sigma, n).tolist())
