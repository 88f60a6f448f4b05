"""One fleet snapshot per interval, shared by every open page and the JSON API.

``console.fleet`` reads the whole engine (each site's 两化融合 rates over the last hour among it): computed once per
page and interval, a classroom of thirty pages cost thirty times one. The hub computes it once per interval, in
one task that runs only while a page is open, and hands the same JSON text to every stream.

A page that has the fleet gets only what changed since (``changes``: JSON Patch, RFC 6902): a thousand machines'
fleet is 636 KiB, and parsing it every second took a page's renderer most of its time per update
(bench/console.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

log = logging.getLogger(__name__)

#: the fleet now: a new value each call, sharing nothing mutable with the last one (the hub keeps the last to find
#: what changed; a list changed in place after it was returned would be seen as unchanged)
Snapshot = Callable[[], dict[str, Any]]
#: what a stream sends: the whole fleet, or the patch from the fleet before
Update = tuple[Literal["fleet", "patch"], str]


def _pointer(path: str, key: str | int) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def changes(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """What turns the JSON value ``old`` into ``new``, as JSON Patch (RFC 6902) operations of one kind, ``replace``:
    objects with the same keys and arrays of the same length are compared member by member, anything else is
    replaced whole (a machine born, a timeline that grew). Numbers compare as JSON's do (1 is 1.0); a subtree
    equal by Python's ``==`` is not looked into, so the fleet keeps each member's type (``true`` never turns 1)."""
    if old == new and (type(old) is type(new) or (_number(old) and _number(new))):
        return []
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys():
        return [op for key, value in new.items() for op in changes(old[key], value, _pointer(path, key))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [op for k, (a, b) in enumerate(zip(old, new, strict=True)) for op in changes(a, b, _pointer(path, k))]
    return [{"op": "replace", "path": path, "value": new}]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Hub:
    """The fleet as JSON text, computed by ``snapshot`` at most once per ``interval_s`` whoever asks: ``updates``
    for a page's stream, ``now`` for a single answer. Used from one event loop (the engine's)."""

    def __init__(self, snapshot: Snapshot, interval_s: float) -> None:
        self.snapshot = snapshot
        self.interval_s = interval_s
        self._fleet: dict[str, Any] | None = None
        #: ``_fleet`` as JSON text, made when a page or the API first asks for the whole of it
        self._text: str | None = None
        #: counts the snapshots; ``_patch`` turns the one before into this one
        self._version = 0
        self._patch = ""
        #: the loop time ``_fleet`` was computed at
        self._at = float("-inf")
        #: set (and replaced) when a new snapshot is there: every stream waiting wakes once
        self._fresh: asyncio.Event | None = None
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    def _age_s(self) -> float:
        return asyncio.get_running_loop().time() - self._at

    def _compute(self) -> bool:
        """A new snapshot now; False when it failed (logged: the pages keep the last one, the next interval tries
        again, and the engine's process goes on)."""
        try:
            fleet = self.snapshot()
            patch = "" if self._fleet is None else _json(changes(self._fleet, fleet))
        except Exception:
            log.exception("the fleet snapshot failed")
            return False
        self._fleet, self._text, self._patch = fleet, None, patch
        self._version += 1
        self._at = asyncio.get_running_loop().time()
        if self._fresh is not None:
            fresh, self._fresh = self._fresh, asyncio.Event()
            fresh.set()
        return True

    def _whole(self) -> str:
        assert self._fleet is not None
        if self._text is None:
            self._text = _json(self._fleet)
        return self._text

    def now(self) -> str:
        """The fleet now: this interval's text, computed if nobody has yet (``/api/fleet``); ``RuntimeError`` when
        the snapshot failed."""
        if (self._fleet is None or self._age_s() >= self.interval_s) and not self._compute():
            raise RuntimeError("the fleet snapshot failed (the console's log says why)")
        return self._whole()

    async def updates(self) -> AsyncIterator[Update]:
        """Every new snapshot while the caller iterates: the whole fleet first (this interval's, so that a page that
        opens gets it at once, not an interval later), then the patch from the one before (the whole fleet again
        for a caller that missed one)."""
        if self._fresh is None:
            self._fresh = asyncio.Event()
        self._listeners += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="console fleet snapshots")
        try:
            sent = None
            if self._fleet is not None and self._age_s() < self.interval_s:
                sent = self._version
                yield "fleet", self._whole()
            while True:
                await self._fresh.wait()
                if sent == self._version - 1:
                    yield "patch", self._patch
                else:
                    yield "fleet", self._whole()
                sent = self._version
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
            if self._fleet is None or self._age_s() >= self.interval_s / 2:
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


def _json(value: Any) -> str:
    # no spaces: a thousand machines' fleet is 8 % smaller
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


__all__ = ["Hub", "Snapshot", "Update", "changes"]
