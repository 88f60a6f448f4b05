"""One service life cycle (shopfloor/lifecycle.py): the backoff of every retry loop; a background task that fails
stops its service with that error, raised to whoever awaits it after the whole shutdown; a cancellation during
the shutdown waits for its end."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from shopfloor.lifecycle import Backoff, Service

# ------------------------------------------------------------------ Backoff


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


# ------------------------------------------------------------------ the shape itself


class _Steps(Service):
    """A service of two loops that logs its shutdown; ``fail`` makes the second loop raise it."""

    def __init__(self, fail: BaseException | None = None) -> None:
        super().__init__("steps")
        self.fail = fail
        self.log: list[str] = []

    async def _open(self) -> None:
        self.first = self.spawn("first", self._forever())
        self.spawn("second", self._second())
        self._now_ready()

    async def _forever(self) -> None:
        await asyncio.Event().wait()

    async def _second(self) -> None:
        await asyncio.sleep(0.05)
        if self.fail is not None:
            raise self.fail
        await asyncio.Event().wait()

    async def _close(self) -> None:
        self.log.append("close begins")
        await asyncio.sleep(0.1)  # a loop failing meanwhile must not cut this short
        await self.stop_tasks(self.first)
        self.log.append("close ends")


def test_a_failing_task_interrupts_the_body_and_its_error_is_raised_after_the_whole_shutdown() -> None:
    async def main() -> _Steps:
        service = _Steps(fail=RuntimeError("a bug in the second loop"))
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="a bug in the second loop") as raised:
            async with service:
                assert service.ready.is_set()
                await asyncio.sleep(30)  # interrupted
        assert time.monotonic() - started < 5
        assert any("'second' failed" in note for note in raised.value.__notes__)
        assert not service.ready.is_set() and not service.tasks and not service.running
        return service

    assert asyncio.run(main()).log == ["close begins", "close ends"]


def test_a_cancellation_during_the_shutdown_waits_for_its_end() -> None:
    async def main() -> _Steps:
        service = _Steps()

        async def body() -> None:
            async with service:
                await service.serve()

        task = asyncio.create_task(body())
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.sleep(0.05)  # in the shutdown now
        task.cancel()  # Ctrl-C again
        with pytest.raises(asyncio.CancelledError):
            await task
        return service

    assert asyncio.run(main()).log == ["close begins", "close ends"]


def test_stop_ends_serve_and_the_body_error_stays_the_body_error() -> None:
    async def main() -> None:
        service = _Steps()
        asyncio.get_running_loop().call_later(0.1, service.stop)
        await asyncio.wait_for(service.run(), 5)
        assert service.log == ["close begins", "close ends"]
        with pytest.raises(KeyError):
            async with _Steps():
                raise KeyError("the caller's own")

    asyncio.run(main())
