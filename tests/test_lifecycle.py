"""The backoff of every retry loop (shopfloor/lifecycle.py): capped, jittered, reset on success."""

from __future__ import annotations

import random

import pytest

from shopfloor.lifecycle import Backoff


def test_backoff_doubles_up_to_its_cap_each_wait_jittered_within_its_step() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(7))
    steps, waits = [], []
    for _ in range(8):
        steps.append(backoff.step)
        waits.append(backoff.next())
    assert steps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(step * 0.5 < wait <= step for step, wait in zip(steps, waits, strict=True)), waits
    assert backoff.failures == 8


def test_backoff_reset_starts_again_at_the_minimum() -> None:
    backoff = Backoff(0.2, 30.0)
    for _ in range(6):
        backoff.next()
    backoff.reset()
    assert (backoff.step, backoff.failures) == (0.2, 0)
    assert 0.1 < backoff.next() <= 0.2


def test_backoff_jitter_spreads_clients_that_failed_together() -> None:
    firsts = {Backoff(1.0, 30.0, rng=random.Random(seed)).next() for seed in range(100)}
    assert len(firsts) == 100 and min(firsts) > 0.5 and max(firsts) <= 1.0
    assert max(firsts) - min(firsts) > 0.3  # spread over the window, not bunched
    assert Backoff(1.0, 30.0, jitter=0).next() == 1.0


def test_backoff_bounds() -> None:
    assert Backoff(2.0, 1.0).next() <= 1.0  # a cap below the first step caps that one too
    for low, high in ((0, 1.0), (0.5, 0), (-1, 1.0)):
        with pytest.raises(ValueError, match="positive"):
            Backoff(low, high)
    with pytest.raises(ValueError, match="jitter"):
        Backoff(0.5, 1.0, jitter=1.0)
