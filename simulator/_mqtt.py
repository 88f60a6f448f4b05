"""MQTT-native machines: each publishes the telemetry contract over its own connection.

Clients share the asyncio loop (aiomqtt wraps paho-mqtt), so a thousand
machines need no thousand threads. While the broker is away, state events and
the latest counters — and those of every whole half hour of plant time, where windows
begin and end — wait in a bounded memory outbox and go out in order after
the reconnect (signals are sampled again instead); birth and ``online`` are
re-published first. Sequence numbers are given at the first send attempt and
kept on retries, so a consumer can drop duplicates by seq.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from shopfloor import MessageKind, MqttSettings
from shopfloor import telemetry as contract
from shopfloor._publisher import Outgoing, Publisher, client_id, close_publishers, now_ms, tls_context
from shopfloor.lifecycle import Service, all_set

from ._feed import COUNTER_EDGE_S, MachineUpdate
from ._machine import MachineSim
from ._signals import signal_names

log = logging.getLogger(__name__)

#: unsent messages kept per machine while the broker is away (hours of state changes);
#: beyond it the oldest unsent ones are dropped, counted and logged
OUTBOX_LIMIT = 5_000
_EDGE_MS = round(COUNTER_EDGE_S * 1000)


@dataclass(slots=True)
class _Queued:
    kind: MessageKind
    payload: dict[str, Any]
    encoded: bytes | None = None


class MemoryOutbox:
    """A simulated machine's outbox: seqs given at the first send; offline, only the newest counters and those at
    window edges are kept."""

    def __init__(self, machine: MachineSim, session_ms: int, sample_period_ms: int) -> None:
        self.machine = machine
        self.session_ms = session_ms
        self.sample_period_ms = sample_period_ms
        self.queue: deque[_Queued] = deque()
        self.seq = 0
        self.online = False
        self.dropped = 0
        #: seqs of dropped messages, skipped at the next one sent: the loss shows as a seq gap where it happened
        self._skip = 0
        self._birth_seq: int | None = None
        self._will: Outgoing | None = None

    def enqueue(self, update: MachineUpdate) -> None:
        for event in update.states:
            self._put(_Queued(MessageKind.STATE, contract.state(ts_ms=event.ts_ms, seq=0, reason=event.reason,
                                                                product=event.product)))
        if update.counters is not None:
            c = update.counters
            payload = contract.counters(ts_ms=c.ts_ms, seq=0, total=c.total, good=c.good, scrap=c.scrap,
                                        rework=c.rework, energy_kwh=c.energy_kwh, ideal_s=c.ideal_s)
            last = self.queue[-1] if self.queue else None
            if (not self.online and last is not None and last.kind is MessageKind.COUNTERS and last.encoded is None
                    and last.payload["ts"] % _EDGE_MS):
                # cumulative: while offline only the newest one matters, but for the count at a window's edge
                last.payload = payload
            else:
                self._put(_Queued(MessageKind.COUNTERS, payload))
        if update.signals is not None and self.online:
            values = update.signals
            if update.bad_signals:  # a reading known to be bad is not sent
                values = {k: v for k, v in values.items() if k not in update.bad_signals}
            self._put(_Queued(MessageKind.SIGNALS, contract.signals(ts_ms=update.signals_ts_ms, seq=0,
                                                                    values=values)))

    def _put(self, message: _Queued) -> None:
        if len(self.queue) >= OUTBOX_LIMIT:
            # drop the oldest message not yet sent (sent ones are at the front)
            unsent = next((i for i, queued in enumerate(self.queue) if queued.encoded is None), None)
            if unsent is not None:
                del self.queue[unsent]
                self.dropped += 1
                self._skip += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("%s: MQTT outbox full, %d oldest unsent message(s) dropped", self.machine.path,
                            self.dropped)
        self.queue.append(message)

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq

    def _status(self, online: bool) -> Outgoing:
        payload = contract.status(online=online, ts_ms=now_ms(), session_ms=self.session_ms)
        return Outgoing(MessageKind.STATUS, contract.encode(payload), retain=True)

    def greeting(self) -> list[Outgoing]:
        m = self.machine
        if self._birth_seq is None:
            self._birth_seq = self._next_seq()
        nameplate = contract.nameplate(m.at, signals=signal_names(m), sample_period_ms=self.sample_period_ms,
                                       origin=contract.Origin.SIMULATED)
        birth = contract.birth(nameplate, ts_ms=now_ms(), seq=self._birth_seq, session_ms=self.session_ms)
        return [Outgoing(MessageKind.BIRTH, contract.encode(birth), retain=True), self._status(True)]

    def greeted(self) -> None:
        self._birth_seq = None  # acknowledged: a failed birth keeps its seq for the retry
        self.online = True

    def will(self) -> Outgoing:
        # one session per run: one will, its ts when the machine first connected
        if self._will is None:
            self._will = self._status(False)
        return self._will

    def farewell(self) -> list[Outgoing]:
        return [self._status(False)]

    def peek(self, n: int) -> list[Outgoing]:
        out: list[Outgoing] = []
        for queued in self.queue:
            if len(out) == n:
                break
            if queued.encoded is None:
                self.seq, self._skip = self.seq + self._skip, 0
                queued.payload["seq"] = self._next_seq()
                queued.encoded = contract.encode(queued.payload)
            out.append(Outgoing(queued.kind, queued.encoded))
        return out

    def ack(self, n: int) -> None:
        for _ in range(n):
            self.queue.popleft()

    def disconnected(self) -> None:
        self.online = False
        # signals are sampled anew after the reconnect, not replayed
        self.queue = deque(m for m in self.queue if m.kind is not MessageKind.SIGNALS or m.encoded is not None)


class MqttMachines(Service):
    """The MQTT adapter: every machine whose protocol is ``mqtt`` publishes on its own session.

    ``async with`` it starts the sessions (a task ``mqtt <path>`` each); ``ready`` once every one is connected (its
    birth and ``online`` acknowledged). The exit drains every outbox, says ``offline`` and disconnects; sessions
    still unconnected after ``shutdown_timeout_s`` are cancelled."""

    def __init__(self, machines: list[MachineSim], settings: MqttSettings, sample_period_s: float, *,
                 shutdown_timeout_s: float = 10.0) -> None:
        super().__init__(f"MQTT machines at {settings.url}")
        session_ms = now_ms()
        self.settings = settings
        self.shutdown_timeout_s = shutdown_timeout_s
        tls = tls_context(settings)
        self.outboxes = {m.path: MemoryOutbox(m, session_ms, round(sample_period_s * 1000)) for m in machines}
        self.sessions = {
            m.path: Publisher(m.path, self.outboxes[m.path], settings, tls=tls,
                              identifier=client_id("sfsim", m.path, m.at.machine.id))
            for m in machines
        }
        self._session_tasks: list[asyncio.Task[None]] = []

    async def _open(self) -> None:
        self._session_tasks = [self.spawn(f"mqtt {path}", s.run()) for path, s in self.sessions.items()]
        self.spawn("ready", self._until_ready())

    async def _until_ready(self) -> None:
        await all_set(lambda: [s.connected for s in self.sessions.values()])
        self._now_ready()

    async def publish(self, updates: list[MachineUpdate]) -> None:
        """Queue each update in its machine's outbox and wake that session; other machines' are ignored. A machine a
        network outage cut off has its session cut until the outage ends."""
        for path, box in self.outboxes.items():
            session, down = self.sessions[path], box.machine.network_down > 0
            if down and session.reachable.is_set():
                session.cut()
                # away from now on, not from when its session task sees the cut: no signal of the outage is taken
                box.disconnected()
            elif not down and not session.reachable.is_set():
                session.restore()
        for update in updates:
            path = update.machine.path
            outbox = self.outboxes.get(path)
            if outbox is not None:
                outbox.enqueue(update)
                self.sessions[path].notify()

    async def _close(self) -> None:
        await close_publishers(self._session_tasks, list(self.sessions.values()), self.shutdown_timeout_s)
