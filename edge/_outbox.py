"""A bridged machine's outbox: every message on disk until the broker acknowledged it.

Messages are encoded with their seq before they are queued, so what is replayed
after an outage or a gateway restart is byte for byte what would have been
sent, and a message the spool had to drop shows as a seq gap. Only the head of
each machine's queue is held in memory; a long backlog is read back from the
spool as it drains.
"""

from __future__ import annotations

import itertools
import json
from collections import deque

from shopfloor import MessageKind
from shopfloor import telemetry as contract
from shopfloor._publisher import Outgoing, now_ms
from shopfloor.spool import Spool

#: messages per machine held in memory; the rest of a backlog waits on disk only
MEMORY = 256


class SpoolOutbox:
    def __init__(self, spool: Spool, path: str) -> None:
        self.spool = spool
        self.path = path
        self.head: deque[tuple[int, Outgoing]] = deque()
        self.last_appended = spool.newest(path)
        #: messages beyond the head are on disk only (at start: whatever an earlier run left)
        self.spilled = self.last_appended > 0
        self.last_id = 0
        #: the session of the machine's current birth, and whether its OPC UA source is up
        self.session_ms = 0
        self.online = False
        #: messages queued before the last reconnect count as replayed when they go out
        self.replay_until = 0
        self.replayed = 0
        self.queued_while_away = self.spilled
        self.connected = False
        #: the session of the birth consumers last received (or, before any, of the first one queued): the will's
        self.will_session = 0
        self._will: Outgoing | None = None
        self._will_for = 0
        birth = spool.recall(path, "birth")
        if birth is not None:
            self.session_ms = self.will_session = int(json.loads(birth)["session"])

    def put(self, message: Outgoing) -> None:
        if message.kind is MessageKind.BIRTH and not self.will_session:
            self.will_session = self.session_ms  # the first birth: the first thing sent
        row = self.spool.append(self.path, message.kind.value, message.payload, retain=message.retain)
        self.last_appended = row
        if not self.connected:
            self.queued_while_away = True
        if not self.spilled and len(self.head) < MEMORY:
            self.head.append((row, message))
            self.last_id = row
        else:
            self.spilled = True

    def status(self, online: bool, session_ms: int | None = None) -> Outgoing:
        payload = contract.status(online=online, ts_ms=now_ms(), session_ms=session_ms or self.session_ms)
        return Outgoing(MessageKind.STATUS, contract.encode(payload), retain=True)

    def greeting(self) -> list[Outgoing]:
        # the birth that was current when the oldest queued message was made, then the status now;
        # newer births and statuses follow in the queue
        birth = self.spool.recall(self.path, "birth")
        if birth is None:
            return []  # never bridged yet: its birth and status are queued
        session = int(json.loads(birth)["session"])
        # online only if that is still the session under way (a restarted gateway has begun another, queued)
        status = contract.status(online=self.online and session == self.session_ms, ts_ms=now_ms(),
                                 session_ms=session)
        return [Outgoing(MessageKind.BIRTH, birth, retain=True),
                Outgoing(MessageKind.STATUS, contract.encode(status), retain=True)]

    def greeted(self) -> None:
        self.connected = True
        if self.queued_while_away:
            self.replay_until = self.last_appended
            self.queued_while_away = False

    def will(self) -> Outgoing | None:
        if not self.will_session:
            return None  # never bridged: no session to say offline for (its birth will be the first message)
        if self._will is None or self._will_for != self.will_session:
            self._will, self._will_for = self.status(False, self.will_session), self.will_session
        return self._will

    def farewell(self) -> list[Outgoing]:
        # a machine whose source is down had its offline queued then, and the queue is drained by now
        return [self.status(False)] if self.online else []

    def peek(self, n: int) -> list[Outgoing]:
        if len(self.head) < n and self.spilled:
            want = MEMORY - len(self.head)
            rows = self.spool.read(self.path, self.last_id, want)
            for row in rows:
                self.head.append((row.id, Outgoing(MessageKind(row.kind), row.payload, row.retain)))
                self.last_id = row.id
            if len(rows) < want:
                self.spilled = False
        return [m for _, m in itertools.islice(self.head, n)]

    def ack(self, n: int) -> None:
        ids = []
        for _ in range(n):
            row, message = self.head.popleft()
            ids.append(row)
            if row <= self.replay_until:
                self.replayed += 1
            if message.kind is MessageKind.BIRTH:
                self.spool.remember(self.path, "birth", message.payload)
                self.will_session = int(json.loads(message.payload)["session"])
        self.spool.forget(ids)

    def disconnected(self) -> None:
        self.connected = False
