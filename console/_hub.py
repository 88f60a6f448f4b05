"""One fleet snapshot per interval, shared by every open page and the JSON API.

``console.fleet`` reads the whole engine (each site's 两化融合 rates over the last hour among it): computed once per
page and interval, a classroom of thirty pages cost thirty times one. The hub computes it once per interval, in
one task that runs only while a page is open, and hands the same JSON text to every stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger(__name__)

Snapshot = Callable[[], dict[str, Any]]


class Hub:
    """The fleet as JSON text, computed by ``snapshot`` at most once per ``interval_s`` whoever asks: ``updates``
    for a page's stream, ``now`` for a single answer. Used from one event loop (the engine's)."""

    def __init__(self, snapshot: Snapshot, interval_s: float) -> None:
        self.snapshot = snapshot
        self.interval_s = interval_s
        self._text: str | None = None
        #: the loop time ``_text`` was computed at
        self._at = float("-inf")
        #: set (and replaced) when a new text is there: every stream waiting wakes once
        self._fresh: asyncio.Event | None = None
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    def _age_s(self) -> float:
        return asyncio.get_running_loop().time() - self._at

    def _compute(self) -> str | None:
        """A new text now; None when the snapshot failed (logged: the pages keep the last one, the next interval
        tries again, and the engine's process goes on)."""
        try:
            # no spaces: a thousand machines' fleet is 8 % smaller, sent to every page every second
            text = json.dumps(self.snapshot(), ensure_ascii=False, separators=(",", ":"))
        except Exception:
            log.exception("the fleet snapshot failed")
            return None
        self._text, self._at = text, asyncio.get_running_loop().time()
        if self._fresh is not None:
            fresh, self._fresh = self._fresh, asyncio.Event()
            fresh.set()
        return text

    def now(self) -> str:
        """The fleet now: this interval's text, computed if nobody has yet (``/api/fleet``); ``RuntimeError`` when
        the snapshot failed."""
        if self._text is not None and self._age_s() < self.interval_s:
            return self._text
        text = self._compute()
        if text is None:
            raise RuntimeError("the fleet snapshot failed (the console's log says why)")
        return text

    async def updates(self) -> AsyncIterator[str]:
        """Every new text while the caller iterates, this interval's first (a page that opens gets the fleet at
        once, not an interval later)."""
        if self._fresh is None:
            self._fresh = asyncio.Event()
        self._listeners += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="console fleet snapshots")
        try:
            if self._text is not None and self._age_s() < self.interval_s:
                yield self._text
            while True:
                await self._fresh.wait()
                assert self._text is not None
                yield self._text
        finally:
            self._listeners -= 1
            if self._listeners == 0 and self._task is not None:
                # the last page closed: nothing is computed until the next one opens
                self._task.cancel()
                self._task = None

    async def _run(self) -> None:
        """A snapshot every interval on a fixed beat (not every interval plus the time a snapshot takes)."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            # a text ``now`` made within this half interval is this beat's: computing again would be twice
            # (and ``now`` woke the streams with it)
            if self._text is None or self._age_s() >= self.interval_s / 2:
                self._compute()
            # a snapshot slower than the interval skips the beats it missed rather than run them back to back
            due = max(due + self.interval_s, loop.time())
            await asyncio.sleep(due - loop.time())

    async def close(self) -> None:
        """Stop computing (the server has stopped)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


__all__ = ["Hub", "Snapshot"]
