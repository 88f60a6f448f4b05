"""The life cycle every service shares — the edge gateway, the collector, the simulator's adapters — and the
backoff of every retry loop.

``async with service:`` opens what the service needs and starts its background loops as named tasks of one
``asyncio.TaskGroup``, then hands over to the body. ``ready`` is set once the service really serves (each
service says what that means), so that a caller awaits it instead of polling and sleeping. The exit runs the
service's own shutdown, in its order (the sources before the outboxes they fill, say), shielded: a second
cancellation (Ctrl-C again) does not cut it short, and is raised once the shutdown is over.

A loop that ends with an error stops the service: the body of the ``async with`` is cancelled (as a TaskGroup
does it), the other loops go on until the shutdown stops them in its order, and the exit raises that error
with a note naming the service and the loop — not a log line while the service goes on without the loop,
not a hang. (Loops that must survive what a server does retry on their own, with a ``Backoff``; what ends a
loop is what no retry mends.)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Self

log = logging.getLogger(__name__)


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
        """The wait before the next try (seconds): the step, less up to ``jitter`` of it; the step doubles, to
        ``max_s``."""
        delay = self.step * (1.0 - self.jitter * self._random())
        self.step = min(self.step * 2, self.max_s)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits ``min_s`` again."""
        self.step = self.min_s
        self.failures = 0


async def all_set(events: Callable[[], Iterable[asyncio.Event]]) -> None:
    """Until every event ``events()`` names is set at the same time; asked again after each wait, as the events
    may change meanwhile (one cleared again, a new machine's session added)."""
    while True:
        unset = next((e for e in events() if not e.is_set()), None)
        if unset is None:
            return
        await unset.wait()


class Service:
    """The shape of a long-running part: ``async with`` it, await ``ready``, ``serve()`` until ``stop()``.

    A subclass opens what it needs and starts its loops with ``spawn`` in ``_open``, sets ``ready`` once it
    really serves, and stops in its own order in ``_close`` (by default: its loops, newest first); loops still
    running after ``_close`` are cancelled. ``run()`` is ``async with service: await service.serve()``."""

    def __init__(self, name: str) -> None:
        #: what error notes and log lines call the service ("edge gateway plant-1", "collector c1")
        self.name = name
        #: set once the service really serves (each service documents what that means), cleared when it stops
        self.ready = asyncio.Event()
        #: the loops still running, by name
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        #: the task that entered ``async with``: a failing loop cancels it, as a TaskGroup would
        self._parent: asyncio.Task[Any] | None = None
        self._cancelled_parent = False
        #: errors of the loops that failed, in the order they failed
        self._failures: list[Exception] = []
        self._exiting = False
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------ for subclasses

    async def _open(self) -> None:
        """What the service needs before it serves, and its loops (``spawn``); it runs inside the TaskGroup, and a
        failure here closes what was opened (``_close`` runs) and is raised from the ``async with`` as it is."""

    async def _close(self) -> None:
        """The ordered shutdown; whatever it raises is raised from the exit once every loop has stopped."""
        await self.stop_tasks(*reversed(self.tasks.values()))

    def spawn(self, name: str, loop: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start ``loop`` as a task of the service's TaskGroup: if it ends with an error, the service stops and
        raises it."""
        group = self._group
        if group is None:
            loop.close()
            raise RuntimeError(f"{self.name}: {name!r} started while the service is not running")
        unique, n = name, 1
        while unique in self.tasks:
            n += 1
            unique = f"{name} ({n})"
        task = group.create_task(self._watched(unique, loop), name=unique)
        self.tasks[unique] = task
        task.add_done_callback(lambda t: self.tasks.pop(unique, None) if self.tasks.get(unique) is t else None)
        return task

    def _now_ready(self) -> None:
        """Set ``ready`` — unless the service is shutting down already."""
        if self.running:
            self.ready.set()

    async def stop_tasks(self, *tasks: asyncio.Task[None]) -> None:
        """Cancel ``tasks`` and wait until they ended; an error one ends with is raised from the exit, not here."""
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    @property
    def running(self) -> bool:
        """From the start of ``async with`` to the start of its exit (not while it shuts down)."""
        return self._group is not None and not self._exiting

    # ------------------------------------------------------------ for callers

    def stop(self) -> None:
        """Ends ``serve()`` (a signal handler's way to stop the service)."""
        self._stopping.set()

    async def serve(self) -> None:
        """Until ``stop()`` — or until a loop fails, which raises its error from the ``async with``."""
        await self._stopping.wait()

    async def run(self) -> None:
        """``async with`` the service and serve until ``stop()`` or cancelled."""
        async with self:
            await self.serve()

    async def wait_ready(self, timeout_s: float) -> None:
        """Until ``ready``; TimeoutError after ``timeout_s``."""
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
        async with asyncio.timeout(timeout_s):
            await self.ready.wait()

    async def __aenter__(self) -> Self:
        if self._group is not None:
            raise RuntimeError(f"{self.name} is running already")
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        self._parent = asyncio.current_task()
        self._cancelled_parent = False
        self._failures = []
        self._exiting = False
        self._stopping.clear()
        try:
            await self._open()
        except BaseException as e:
            await self._exit(type(e), e, e.__traceback__)
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._exit(exc_type, exc, tb)

    # ------------------------------------------------------------ inside

    async def _watched(self, name: str, loop: Coroutine[Any, Any, None]) -> None:
        """The loop; its error is kept for the exit to raise, and stops the service.

        Not left to the TaskGroup: it would cancel every other loop at once, before the shutdown could stop them
        in order (a gateway's sessions cancelled before they said their machines offline)."""
        try:
            await loop
        except Exception as e:
            e.add_note(f"{self.name}: its task {name!r} failed with this, which stopped the service")
            self._failures.append(e)
            self._stopping.set()
            parent = self._parent
            if not self._exiting and not self._cancelled_parent and parent is not None and not parent.done():
                self._cancelled_parent = True
                parent.cancel()  # the body of the async with ends now, and the exit runs

    async def _shut_down(self) -> None:
        try:
            await self._close()
        finally:
            await self.stop_tasks(*self.tasks.values())  # what the shutdown left running

    async def _exit(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                    tb: TracebackType | None) -> None:
        group, parent = self._group, self._parent
        assert group is not None
        self._exiting = True
        self.ready.clear()
        # its own task, shielded: a cancellation meanwhile (Ctrl-C again) must not leave the outboxes undrained or
        # the spool open; it is raised once the shutdown is over
        closing = asyncio.ensure_future(self._shut_down())
        interrupted = False
        while not closing.done():
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                interrupted = True
        errors: list[BaseException] = list(self._failures)
        cancelled: asyncio.CancelledError | None = None
        try:
            await group.__aexit__(exc_type, exc, tb)  # every loop has ended: this only hands the body's error on
        except BaseExceptionGroup as body:
            errors += body.exceptions
        except asyncio.CancelledError as e:
            cancelled = e
        finally:
            self._group = self._parent = None
            self.ready.clear()
        failure = None if closing.cancelled() else closing.exception()
        if failure is not None:
            errors.append(failure)
        ours_only = False  # the body was cancelled by a failing loop and by nothing else
        if self._cancelled_parent and parent is not None:
            self._cancelled_parent = False
            ours_only = parent.uncancel() == 0
        if errors:  # before a cancellation, as a TaskGroup has it
            first, *others = errors
            for other in others:
                log.error("%s: besides, %s: %s", self.name, type(other).__name__, other, exc_info=other)
            if first is exc:
                return  # the body's own error goes on as it was
            raise first from None
        if cancelled is not None and not ours_only:
            raise cancelled
        if interrupted and parent is not None and parent.cancelling():
            raise asyncio.CancelledError  # a cancellation that arrived during the shutdown, held until its end
