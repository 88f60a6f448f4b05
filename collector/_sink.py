"""Batches of points to the store, through a disk spool whenever the store is away.

A batch is *durable* once the store took it or it is committed to the spool; only
then is its ``done`` called (the collector acknowledges the MQTT messages it came
from there, so a collector killed at any moment loses nothing: what was not acked
is sent again by the broker). While anything is spooled, new batches queue behind
it so points reach the store in arrival order; the backlog is replayed oldest first
with capped, jittered exponential backoff between failed attempts. Points carry
their own timestamps, so a batch written twice (a crash between write and forget)
overwrites itself. A batch's retractions (points to delete before its lines are written,
``Retraction``) go first, and are spooled before it when the store is away.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shopfloor.spool import Spool

from ._influx import Rejected, Store, Unavailable
from ._points import Retraction

log = logging.getLogger(__name__)

_STREAM = "points"
_RETRACT = "retract"


@dataclass(slots=True)
class Batch:
    lines: list[str]
    #: only process values (what a full spool gives up first)
    signals_only: bool
    done: Callable[[], None]
    #: points to delete before the lines are written
    retract: list[Retraction] = field(default_factory=list)

    def body(self) -> bytes:
        return gzip.compress(("\n".join(self.lines) + "\n").encode("utf-8"), compresslevel=1)


class Sink:
    def __init__(self, store: Store, spool_path: Path, *, max_batches: int = 100_000, retry_min_s: float = 0.5,
                 retry_max_s: float = 30.0, queue_batches: int = 4, counts: Counter[str] | None = None) -> None:
        self.store = store
        self.spool = Spool(spool_path, max_messages=max_batches)
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(queue_batches)
        self._delay = 0.0
        self._closing = False
        #: the batch being written (a shutdown that interrupts the write writes or spools it again)
        self._current: Batch | None = None
        if self.spool.count:
            log.info("spool %s holds %d batches from before: replaying them first", spool_path, self.spool.count)

    @property
    def backlog(self) -> int:
        """Batches waiting in the spool."""
        return int(self.spool.count)

    async def put(self, batch: Batch) -> None:
        """Queue a batch (waits while the writer is busy: back-pressure for the ingest)."""
        await self._queue.put(batch)

    async def run(self) -> None:
        while True:
            if self.spool.count:
                await self._replay_one()
                continue
            batch = self._current = await self._queue.get()
            await self._write_new(batch)
            self._current = None

    async def _write_new(self, batch: Batch) -> None:
        body = batch.body()
        try:
            if batch.retract:
                await self._delete(batch.retract)
            await asyncio.to_thread(self.store.write, body)
            self._written(len(batch.lines))
        except Rejected as e:
            self._rejected(e, len(batch.lines))
        except Unavailable as e:
            self._spool(batch, body)
            self._failed(e)
        except Exception as e:  # not the store's known ways of failing: a bug must not stop the service
            log.exception("store %s: unexpected error writing a batch", self.store.config.target)
            self._rejected(e, len(batch.lines))
        batch.done()

    async def _delete(self, points: list[Retraction]) -> None:
        try:
            await asyncio.to_thread(self.store.delete, points)
            self.counts["points_retracted"] += len(points)
        except Rejected as e:  # the stale fields stay: logged, and the lines are still written
            log.error("store %s refused to delete %d point(s) that lost a field: %s", self.store.config.target,
                      len(points), e)

    def _spool(self, batch: Batch, body: bytes | None = None) -> None:
        if batch.retract:
            self.spool.append(_STREAM, _RETRACT, gzip.compress(
                json.dumps([p.to_json() for p in batch.retract]).encode(), compresslevel=1))
        self.spool.append(_STREAM, "signals" if batch.signals_only else "points", body or batch.body())
        self.spool.commit()
        self.counts["batches_spooled"] += 1

    async def _replay_one(self) -> None:
        rows = self.spool.read(_STREAM, 0, 1)
        if not rows:  # everything left was dropped to make room
            self.spool.commit()
            return
        row = rows[0]
        try:
            if row.kind == _RETRACT:
                await self._delete([Retraction.from_json(p) for p in json.loads(gzip.decompress(row.payload))])
                self.spool.forget([row.id])
                self.spool.commit()
                return
            await asyncio.to_thread(self.store.write, row.payload)
            self._written(None)
            self.counts["batches_replayed"] += 1
        except Unavailable as e:
            self._failed(e)
            await self._wait_spooling_new()
            return
        except Exception as e:  # Rejected, or a bug: retrying the same batch for ever would block the spool
            self._rejected(e, None)
        self.spool.forget([row.id])
        self.spool.commit()
        if not self.spool.count:
            log.info("store %s: backlog replayed", self.store.config.target)

    async def _wait_spooling_new(self) -> None:
        """The backoff pause; batches arriving meanwhile go straight to the spool (and are acknowledged)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._delay
        while (left := deadline - loop.time()) > 0 and not self._closing:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation (and lose the batch)
                async with asyncio.timeout(left):
                    batch = await self._queue.get()
            except TimeoutError:
                return
            self._spool(batch)
            batch.done()

    def _written(self, points: int | None) -> None:
        self.counts["batches_written"] += 1
        if points is not None:
            self.counts["points_written"] += points
        if self._delay:
            log.info("store %s is back", self.store.config.target)
        self._delay = 0.0

    def _rejected(self, error: Exception, points: int | None) -> None:
        self.counts["batches_rejected"] += 1
        log.error("store %s refused points of a batch of %s (the rest is stored; not retried): %s",
                  self.store.config.target, points if points is not None else "spooled", error)

    def _failed(self, error: Exception) -> None:
        first = not self._delay
        self._delay = min(self.retry_max_s, max(self.retry_min_s, self._delay * 2)) * random.uniform(0.5, 1.0)
        self.counts["write_failures"] += 1
        (log.warning if first else log.debug)("store %s unavailable (%s): spooling, next try in %.1f s",
                                              self.store.config.target, error, self._delay)

    async def close(self, timeout_s: float, pending: Sequence[Batch] = ()) -> None:
        """Write what is queued and ``pending`` (or spool it) within ``timeout_s``; the spool keeps the rest."""
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        batches = [self._current] if self._current is not None else []
        self._current = None
        while not self._queue.empty():
            batches.append(self._queue.get_nowait())
        for batch in [*batches, *pending]:
            if self.spool.count or loop.time() > deadline:
                self._spool(batch)
                batch.done()
            else:
                try:
                    async with asyncio.timeout(max(0.1, deadline - loop.time())):
                        await self._write_new(batch)
                except TimeoutError:
                    self._spool(batch)
                    batch.done()
        self.spool.close()
        await asyncio.to_thread(self.store.close)
