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

When the spool's disk cannot take a batch (full, read-only) and the store is away too, the
batch is *held*: not durable, so not acknowledged — the broker keeps its messages — and no
new batch is taken (the collector takes no more messages than its MQTT receive window)
until the store or the disk is back; what was replayed but cannot be deleted from a full
spool is not written twice. Points the store refuses for good go to ``rejected`` (the
collector's dead letters) with the server's reason. ``problem`` says, for the health topic,
what keeps the sink from storing now.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shopfloor.lifecycle import Backoff
from shopfloor.spool import Spool, Unwritable

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
                 retry_max_s: float = 30.0, queue_batches: int = 4, counts: Counter[str] | None = None,
                 rejected: Callable[[list[tuple[bytes, str]]], None] | None = None) -> None:
        self.store = store
        self.spool_path = spool_path
        self.max_batches = max_batches
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.rejected = rejected
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(queue_batches)
        self._backoff = Backoff(retry_min_s, retry_max_s)
        #: the pause after the last failed attempt (0 while the store takes what it is sent)
        self._delay = 0.0
        self._closing = False
        #: the batch being written (a shutdown that interrupts the write writes or spools it again)
        self._current: Batch | None = None
        #: batches neither stored nor spooled: not acknowledged, kept in memory until the store or the disk is back
        self._held: list[Batch] = []
        #: spooled rows up to this id are stored (their deletion waits for room on the disk)
        self._replayed_to = 0
        self._store_problem: str | None = None
        self._spool_problem: str | None = None
        self._settings_logged: set[str] = set()
        self.spool: Spool | None = None
        self._open_spool()
        if self.spool is not None and self.spool.count:
            log.info("spool %s holds %d batches from before: replaying them first", spool_path, self.spool.count)

    def _open_spool(self) -> None:
        try:
            self.spool = Spool(self.spool_path, max_messages=self.max_batches)
        except (Unwritable, OSError) as e:
            self._cannot_keep(f"spool {self.spool_path} cannot be opened: {e}")

    @property
    def backlog(self) -> int:
        """Batches waiting in the spool (or held in memory when the spool cannot take them)."""
        return (int(self.spool.count) if self.spool is not None else 0) + len(self._held)

    @property
    def problem(self) -> str | None:
        """What keeps the sink from storing what it receives now (None: nothing)."""
        return self._spool_problem or self._store_problem

    async def put(self, batch: Batch) -> None:
        """Queue a batch (waits while the writer is busy: back-pressure for the ingest)."""
        await self._queue.put(batch)

    async def run(self) -> None:
        while True:
            if self.spool is None:
                self._open_spool()
            if self._held:
                await self._retry_held()
                continue
            waiting = False
            if self.spool is not None and self.spool.count:
                if self.spool.read(_STREAM, self._replayed_to, 1):
                    await self._replay_one()
                    continue
                self._forget_replayed()  # only stored rows left, waiting for room to be deleted: new batches go on
                waiting = bool(self.spool.count)
            if waiting:  # try the deletion again in a second, new batch or not
                try:
                    async with asyncio.timeout(1.0):
                        batch = await self._queue.get()
                except TimeoutError:
                    continue
            else:
                batch = await self._queue.get()
            self._current = batch
            await self._write_new(batch)
            self._current = None

    async def _write_new(self, batch: Batch) -> None:
        """Store the batch, or spool it, or hold it; ``done`` once it is stored or spooled."""
        body = batch.body()
        try:
            if batch.retract:
                await self._delete(batch.retract)
            await asyncio.to_thread(self.store.write, body)
            self._written(len(batch.lines))
        except Rejected as e:
            self._rejected(e, len(batch.lines))
        except Exception as e:  # Unavailable, or not the store's known ways of failing (a bug): kept, retried
            self._failed(e)
            if not self._keep(batch, body):
                return
        batch.done()

    def _keep(self, batch: Batch, body: bytes | None = None) -> bool:
        """Spool the batch; if the disk cannot take it, hold it (not done: its messages stay unacknowledged)."""
        try:
            if self.spool is None:
                raise Unwritable(f"spool {self.spool_path} is not open")
            self._spool(batch, body)
        except Unwritable as e:
            self._held.append(batch)
            self._cannot_keep(str(e))
            return False
        if self._spool_problem is not None:
            log.info("spool %s takes batches again", self.spool_path)
            self._spool_problem = None
        return True

    def _cannot_keep(self, why: str) -> None:
        self.counts["spool_errors"] += 1
        if self._spool_problem is None:
            log.error("%s — and the store is away: messages are no longer acknowledged (the broker keeps them) "
                      "until the store or room on the disk is back", why)
        self._spool_problem = f"{why}: messages not acknowledged until the store or room on the disk is back"

    async def _retry_held(self) -> None:
        """The oldest held batch to the store, else to the spool; until one works, a pause and nothing new."""
        batch = self._held[0]
        try:
            if batch.retract:
                await self._delete(batch.retract)
            await asyncio.to_thread(self.store.write, batch.body())
            self._written(len(batch.lines))
        except Rejected as e:
            self._rejected(e, len(batch.lines))
        except Exception as e:
            self._failed(e)
            self._held.pop(0)
            if not self._keep(batch):  # back at the end of the held ones: keep their order
                self._held.insert(0, self._held.pop())
                await self._pause()
                return
        else:
            self._held.pop(0)
            if self._spool_problem is not None and not self._held:
                log.info("store %s took the held batches: acknowledging again", self.store.config.target)
                self._spool_problem = None
        batch.done()

    async def _pause(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(self._delay, self.retry_min_s)
        while loop.time() < deadline and not self._closing:
            await asyncio.sleep(min(0.1, deadline - loop.time()))

    async def _delete(self, points: list[Retraction]) -> None:
        try:
            await asyncio.to_thread(self.store.delete, points)
            self.counts["points_retracted"] += len(points)
        except Rejected as e:  # the stale fields stay: logged, and the lines are still written
            log.error("store %s refused to delete %d point(s) that lost a field: %s", self.store.config.target,
                      len(points), e)

    def _spool(self, batch: Batch, body: bytes | None = None) -> None:
        assert self.spool is not None
        if batch.retract:
            self.spool.append(_STREAM, _RETRACT, gzip.compress(
                json.dumps([p.to_json() for p in batch.retract]).encode(), compresslevel=1))
        self.spool.append(_STREAM, "signals" if batch.signals_only else "points", body or batch.body())
        self.spool.commit()
        self.counts["batches_spooled"] += 1

    async def _replay_one(self) -> None:
        spool = self.spool
        assert spool is not None
        rows = spool.read(_STREAM, self._replayed_to, 1)
        if rows:
            row = rows[0]
            try:
                if row.kind == _RETRACT:
                    await self._delete([Retraction.from_json(p) for p in json.loads(gzip.decompress(row.payload))])
                else:
                    await asyncio.to_thread(self.store.write, row.payload)
                    self._written(None)
                    self.counts["batches_replayed"] += 1
            except Unavailable as e:
                self._failed(e)
                await self._wait_spooling_new()
                return
            except Rejected as e:
                self._rejected(e, None)
            except Exception as e:  # a bug: retrying the same batch for ever would block the spool
                log.exception("store %s: unexpected error replaying a batch (left out)", self.store.config.target)
                self._rejected(e, None)
            self._replayed_to = row.id  # stored: never written again, even if the disk is too full to delete it
            spool.forget([row.id])
        self._forget_replayed()

    def _forget_replayed(self) -> None:
        """Delete what was replayed (deleting needs room on the disk too: until there is, the rows stay, stored)."""
        spool = self.spool
        assert spool is not None
        try:
            spool.commit()
        except Unwritable as e:
            self.counts["spool_errors"] += 1
            if self._spool_problem is None:
                log.error("%s: replayed batches cannot be deleted from the spool until there is room (none is "
                          "written twice)", e)
            self._spool_problem = f"{e}: replayed batches wait for room on the disk to be deleted"
            return
        if self._spool_problem is not None and not self._held:
            log.info("spool %s writable again", self.spool_path)
            self._spool_problem = None
        if not spool.count:
            self._replayed_to = 0
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
            if self._keep(batch):
                batch.done()
            else:
                return

    def _written(self, points: int | None) -> None:
        self.counts["batches_written"] += 1
        if points is not None:
            self.counts["points_written"] += points
        if self._backoff.failures:
            log.info("store %s is back", self.store.config.target)
        self._backoff.reset()
        self._delay = 0.0
        self._store_problem = None

    def _rejected(self, error: Exception, points: int | None) -> None:
        self.counts["batches_rejected"] += 1
        refused = error.points if isinstance(error, Rejected) else []
        self.counts["points_rejected"] += len(refused)
        log.error("store %s refused %s of a batch of %s (the rest is stored; the refused ones are dead-lettered): "
                  "%s", self.store.config.target, f"{len(refused)} point(s)" if refused else "points",
                  points if points is not None else "spooled", error)
        if refused and self.rejected is not None:
            self.rejected(refused)

    def _failed(self, error: Exception) -> None:
        first = not self._backoff.failures
        self._delay = self._backoff.next()
        self.counts["write_failures"] += 1
        target = self.store.config.target
        setting = getattr(error, "setting", None)
        if not isinstance(error, Unavailable):
            self._store_problem = f"store {target}: unexpected error {type(error).__name__}: {error}"
            if first:
                log.error("store %s: unexpected error writing a batch (kept and retried)", target, exc_info=error)
        elif setting is not None:
            self._store_problem = f"store {target}: {error}"
            if setting not in self._settings_logged:  # one clear error per setting, not one per retry
                self._settings_logged.add(setting)
                log.error("store %s refuses the collector: %s; the points are kept and sent once it takes them", target,
                          error)
        else:
            self._store_problem = f"store {target} unavailable: {error}"
            (log.warning if first else log.debug)("store %s unavailable (%s): spooling, next try in %.1f s", target,
                                                  error, self._delay)

    async def close(self, timeout_s: float, pending: Sequence[Batch] = ()) -> None:
        """Write what is queued and ``pending`` (or spool it) within ``timeout_s``; the spool keeps the rest."""
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        batches = [self._current] if self._current is not None else []
        self._current = None
        while not self._queue.empty():
            batches.append(self._queue.get_nowait())
        held, self._held = self._held, []
        for batch in [*held, *batches, *pending]:
            if (self.spool is not None and self.spool.count) or self._held or loop.time() > deadline:
                if self._keep(batch):
                    batch.done()
            else:
                try:
                    async with asyncio.timeout(max(0.1, deadline - loop.time())):
                        await self._write_new(batch)
                except TimeoutError:
                    if self._keep(batch):
                        batch.done()
        if self._held:
            log.error("%d batch(es) neither stored nor spooled at shutdown: not acknowledged, the broker sends their "
                      "messages again", len(self._held))
        if self.spool is not None:
            try:
                self.spool.close()
            except Unwritable as e:
                log.error("%s: closing it failed; what it held before stays", e)
        await asyncio.to_thread(self.store.close)
