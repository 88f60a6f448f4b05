"""A disk-backed, bounded, ordered store-and-forward queue (SQLite, in the standard library).

Messages are appended to named streams (one per machine, say) and read back in
order per stream; a consumer deletes them only once they were delivered, so a
crash or an outage replays rather than loses. Writes are committed at most
``commit_interval_s`` apart (the owner calls ``commit`` on a timer): a process
killed outright loses nothing older than that; SQLite's write-ahead log keeps
the file consistent after a power cut.

When ``max_messages`` are queued, room is made by deleting the oldest
``signals`` first (process values are the least valuable to replay), then the
oldest messages of any kind; each deleted message is counted in ``dropped``
and shows as a seq gap to consumers.

When the disk cannot take a write (full, read-only, failing), the transaction is
rolled back and ``Unwritable`` raised: what was appended since the last commit is
not kept (its owner must not call it delivered), what was forgotten is forgotten
again at the next commit, and the spool stays as it was at the last commit.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: what one round of making room deletes, as a share of the limit
ROOM_SHARE = 0.01
#: the kind deleted first when full
CHEAPEST_KIND = "signals"


class Unwritable(OSError):
    """The spool's disk cannot take the write (``str()`` says why: disk full, read-only, I/O error)."""


@dataclass(frozen=True, slots=True)
class Row:
    """A queued message as ``read`` returns it; ``retain``: to be published as MQTT's retained message."""

    id: int
    kind: str
    payload: bytes
    retain: bool


class Spool:
    """One SQLite file of queued messages; every method is quick and runs on the caller's thread."""

    def __init__(self, path: str | Path, *, max_messages: int) -> None:
        if max_messages < 1:
            raise ValueError(f"spool max_messages must be at least 1, got {max_messages}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self.db = sqlite3.connect(self.path, isolation_level=None)
        with self._writing():
            self._create()
        self.count = self.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        self.dropped = 0
        self._in_transaction = False
        self._delivered: list[int] = []
        self._count_at_begin = self.count
        self._delivered_at_begin: list[int] = []

    def _create(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                stream TEXT NOT NULL,
                kind TEXT NOT NULL,
                retain INTEGER NOT NULL,
                payload BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS messages_by_stream ON messages (stream, id);
            CREATE INDEX IF NOT EXISTS messages_by_kind ON messages (kind, id);
            CREATE TABLE IF NOT EXISTS meta (
                stream TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (stream, key)
            );
            """
        )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write the disk may refuse: then everything since the last commit is undone and ``Unwritable`` raised."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if getattr(self, "_in_transaction", False):
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                self._in_transaction = False
                self.count = self._count_at_begin
                self._delivered = self._delivered_at_begin + self._delivered
            raise Unwritable(f"spool {self.path}: {e}") from e

    def _begin(self) -> None:
        if not self._in_transaction:
            self.db.execute("BEGIN")
            self._in_transaction = True
            self._count_at_begin = self.count
            self._delivered_at_begin = []

    def commit(self) -> None:
        """Make what was appended, remembered and forgotten since the last commit durable; ``Unwritable`` if
        the disk cannot take it."""
        with self._writing():
            if self._delivered:
                self._begin()
                self._delete_delivered()
            if self._in_transaction:
                self.db.execute("COMMIT")
                self._in_transaction = False

    def append(self, stream: str, kind: str, payload: bytes, *, retain: bool = False) -> int:
        """Queue a message; returns its id (ids only grow)."""
        with self._writing():
            self._begin()
            if self.count >= self.max_messages:
                self._make_room()
            cursor = self.db.execute("INSERT INTO messages (stream, kind, retain, payload) VALUES (?, ?, ?, ?)",
                                     (stream, kind, int(retain), payload))
        self.count += 1
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _make_room(self) -> None:
        self._delete_delivered()
        if self.count < self.max_messages:
            return
        n = max(1, int(self.max_messages * ROOM_SHARE))
        what = CHEAPEST_KIND
        deleted = self.db.execute(
            "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE kind = ? ORDER BY id LIMIT ?)",
            (CHEAPEST_KIND, n),
        ).rowcount
        if deleted == 0:
            what = "messages"
            deleted = self.db.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)", (n,)
            ).rowcount
        self.count -= deleted
        self.dropped += deleted
        log.warning("spool %s full (%d messages): dropped the %d oldest %s; %d dropped so far", self.path,
                    self.max_messages, deleted, what, self.dropped)

    def read(self, stream: str, after_id: int, limit: int) -> list[Row]:
        """Up to ``limit`` queued messages of ``stream`` with ids above ``after_id``, oldest first."""
        rows = self.db.execute(
            "SELECT id, kind, payload, retain FROM messages WHERE stream = ? AND id > ? ORDER BY id LIMIT ?",
            (stream, after_id, limit),
        ).fetchall()
        return [Row(i, kind, bytes(payload), bool(retain)) for i, kind, payload, retain in rows]

    def forget(self, ids: Iterable[int]) -> None:
        """Delivered messages: deleted at the next commit, together (ids already dropped are ignored)."""
        self._delivered.extend(ids)

    def _delete_delivered(self) -> None:
        if self._delivered:
            cursor = self.db.executemany("DELETE FROM messages WHERE id = ?", ((i,) for i in self._delivered))
            self.count -= max(cursor.rowcount, 0)
            self._delivered_at_begin += self._delivered  # forgotten again if the transaction is rolled back
            self._delivered = []

    def streams(self) -> list[str]:
        """Streams with queued messages or remembered values."""
        rows = self.db.execute("SELECT DISTINCT stream FROM messages UNION SELECT DISTINCT stream FROM meta")
        return sorted(r[0] for r in rows)

    def newest(self, stream: str) -> int:
        """The id of the newest queued message of ``stream`` (0 when none)."""
        row = self.db.execute("SELECT MAX(id) FROM messages WHERE stream = ?", (stream,)).fetchone()
        return int(row[0] or 0)

    def remember(self, stream: str, key: str, value: bytes) -> None:
        """Keep a small value with the queue (e.g. the last delivered birth)."""
        with self._writing():
            self._begin()
            self.db.execute("INSERT OR REPLACE INTO meta (stream, key, value) VALUES (?, ?, ?)",
                            (stream, key, value))

    def recall(self, stream: str, key: str) -> bytes | None:
        """The value last remembered for ``stream`` and ``key``; None when there is none."""
        row = self.db.execute("SELECT value FROM meta WHERE stream = ? AND key = ?", (stream, key)).fetchone()
        return bytes(row[0]) if row else None

    def close(self) -> None:
        """Commit, then close the file."""
        self.commit()
        self.db.close()
