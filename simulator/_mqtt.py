"""MQTT-native machines: each publishes the telemetry contract over its own connection.

One MQTT client per machine, as on a real shop floor, so each has its own last
will (``status`` offline). Clients share the asyncio loop (aiomqtt wraps
paho-mqtt), so a thousand machines need no thousand threads. While the broker is
away, state events and the latest counters wait in a bounded outbox and go out
in order after the reconnect (signals are sampled again instead); birth and
``online`` are re-published first. Sequence numbers are given at the first
send attempt and kept on retries, so a consumer can drop duplicates by seq.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import random
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiomqtt

from shopfloor import MessageKind, MqttSettings, machine_topic
from shopfloor import telemetry as contract

from ._feed import MachineUpdate
from ._machine import MachineSim
from ._signals import signal_names

log = logging.getLogger(__name__)

#: unsent messages kept per machine while the broker is away (hours of state changes);
#: beyond it the oldest unsent ones are dropped, counted and logged
OUTBOX_LIMIT = 5_000
#: messages in flight per machine: aiomqtt/paho handle a few dozen pending publishes
#: cheaply, thousands not at all
WINDOW = 10
#: a publish not acknowledged by then counts as a lost connection: aiomqtt does not fail
#: pending publishes when the broker goes away, so without this a session would sit out
#: the whole client timeout before it reconnects
PUBLISH_TIMEOUT_S = 3.0


@dataclass(slots=True)
class _Message:
    kind: MessageKind
    payload: dict[str, Any]
    seq: int | None = None


class MqttMachine:
    """One machine's MQTT session: connect, birth, drain the outbox, reconnect, say goodbye."""

    def __init__(self, machine: MachineSim, settings: MqttSettings, session_ms: int, sample_period_ms: int,
                 tls_context: ssl.SSLContext | None) -> None:
        self.machine = machine
        self.settings = settings
        self.session_ms = session_ms
        self.sample_period_ms = sample_period_ms
        self.tls_context = tls_context
        self.outbox: deque[_Message] = deque()
        self.seq = 0
        self._birth_seq: int | None = None
        self.connected = asyncio.Event()
        self.wake = asyncio.Event()
        self.closing = False
        self.dropped = 0
        self.reconnects = 0
        # ids are unique per machine: the path may be long, so a hash keeps the id short and distinct
        digest = hashlib.sha1(machine.path.encode("utf-8")).hexdigest()[:12]
        self.client_id = f"sfsim-{machine.at.machine.id}-{digest}"

    def topic(self, kind: MessageKind) -> str:
        return machine_topic(self.settings.prefix, self.machine.path, kind)

    def enqueue(self, update: MachineUpdate) -> None:
        for event in update.states:
            self._put(_Message(MessageKind.STATE, contract.state(ts_ms=event.ts_ms, seq=0, reason=event.reason,
                                                                 product=event.product)))
        if update.counters is not None:
            c = update.counters
            payload = contract.counters(ts_ms=c.ts_ms, seq=0, total=c.total, good=c.good, scrap=c.scrap,
                                        rework=c.rework, energy_kwh=c.energy_kwh, ideal_s=c.ideal_s)
            last = self.outbox[-1] if self.outbox else None
            if not self.connected.is_set() and last is not None and last.kind is MessageKind.COUNTERS \
                    and last.seq is None:
                last.payload = payload  # cumulative: while offline only the newest one matters
            else:
                self._put(_Message(MessageKind.COUNTERS, payload))
        if update.signals is not None and self.connected.is_set():
            self._put(_Message(MessageKind.SIGNALS, contract.signals(ts_ms=update.signals_ts_ms, seq=0,
                                                                     values=update.signals)))
        self.wake.set()

    def _put(self, message: _Message) -> None:
        if len(self.outbox) >= OUTBOX_LIMIT:
            # drop the oldest message that is not in flight (in-flight ones are at the front)
            for i, queued in enumerate(self.outbox):
                if queued.seq is None:
                    del self.outbox[i]
                    break
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("%s: MQTT outbox full, %d oldest unsent message(s) dropped", self.machine.path,
                            self.dropped)
        self.outbox.append(message)

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq

    def _will(self) -> aiomqtt.Will:
        # the will is registered at connect time: its ts is when the session (re)connected
        payload = contract.encode(contract.status(online=False, ts_ms=_now_ms(), session_ms=self.session_ms))
        return aiomqtt.Will(self.topic(MessageKind.STATUS), payload, qos=self.settings.qos, retain=True)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if s.version == "5" else aiomqtt.ProtocolVersion.V311,
            will=self._will(),
            keepalive=s.keepalive_s,
            tls_context=self.tls_context,
            timeout=10,
        )

    async def run(self) -> None:
        delay = self.settings.reconnect_min_s
        first = True
        while not self.closing:
            try:
                async with self._client() as client:
                    if not first:
                        self.reconnects += 1
                        log.info("%s: reconnected to %s", self.machine.path, self.settings.url)
                    first = False
                    await self._publish_birth(client)
                    self.connected.set()
                    delay = self.settings.reconnect_min_s
                    await self._drain(client)
                    await self._goodbye(client)
                    return
            except aiomqtt.MqttError as e:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                log.warning("%s: MQTT %s: %s; retrying in about %.1f s", self.machine.path, self.settings.url, e,
                            delay)
            finally:
                if self.connected.is_set():
                    self.connected.clear()
                    # signals are sampled anew after the reconnect, not replayed
                    self.outbox = deque(
                        m for m in self.outbox if m.kind is not MessageKind.SIGNALS or m.seq is not None
                    )
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter spreads a fleet's reconnects
            delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _publish_birth(self, client: aiomqtt.Client) -> None:
        m = self.machine
        if self._birth_seq is None:
            self._birth_seq = self._next_seq()
        birth = contract.birth(m.at, ts_ms=_now_ms(), seq=self._birth_seq, session_ms=self.session_ms,
                               signals=signal_names(m), sample_period_ms=self.sample_period_ms)
        qos = self.settings.qos
        await client.publish(self.topic(MessageKind.BIRTH), contract.encode(birth), qos=qos, retain=True)
        self._birth_seq = None  # acknowledged: a failed birth keeps its seq for the retry
        online = contract.status(online=True, ts_ms=_now_ms(), session_ms=self.session_ms)
        await client.publish(self.topic(MessageKind.STATUS), contract.encode(online), qos=qos, retain=True)

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Send the outbox in order, a window at a time, until closing and empty."""
        qos = self.settings.qos
        while True:
            if not self.outbox:
                if self.closing:
                    return
                self.wake.clear()
                await self.wake.wait()
                continue
            batch = list(itertools.islice(self.outbox, WINDOW))
            sends = []
            for message in batch:
                if message.seq is None:
                    message.seq = self._next_seq()
                    message.payload["seq"] = message.seq
                sends.append(client.publish(self.topic(message.kind), contract.encode(message.payload), qos=qos,
                                            timeout=PUBLISH_TIMEOUT_S))
            # paho sends in call order; the window is in flight at once
            results = await asyncio.gather(*sends, return_exceptions=True)
            for message, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    raise aiomqtt.MqttError(f"publish failed: {result}")
                if self.outbox and self.outbox[0] is message:
                    self.outbox.popleft()

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """A retained ``offline`` status on a clean shutdown (the will covers the unclean case)."""
        payload = contract.encode(contract.status(online=False, ts_ms=_now_ms(), session_ms=self.session_ms))
        await client.publish(self.topic(MessageKind.STATUS), payload, qos=self.settings.qos, retain=True)

    def close(self) -> None:
        self.closing = True
        self.wake.set()


def _now_ms() -> int:
    return round(time.time() * 1000)


class MqttMachines:
    """The MQTT adapter: every machine whose protocol is ``mqtt`` publishes on its own session."""

    def __init__(self, machines: list[MachineSim], settings: MqttSettings, sample_period_s: float) -> None:
        session_ms = _now_ms()
        self.settings = settings
        tls_context = None
        if settings.tls:
            # once for all machines: building a context takes tens of milliseconds
            try:
                tls_context = ssl.create_default_context(cafile=settings.ca_file)
            except OSError as e:
                raise ValueError(f"MQTT CA file {settings.ca_file}: {e.strerror or e}") from None
        self.sessions = {
            m.path: MqttMachine(m, settings, session_ms, round(sample_period_s * 1000), tls_context) for m in machines
        }
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(s.run(), name=f"mqtt {path}") for path, s in self.sessions.items()]

    async def wait_connected(self, timeout_s: float) -> None:
        await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in self.sessions.values())), timeout_s)

    async def publish(self, updates: list[MachineUpdate]) -> None:
        for update in updates:
            session = self.sessions.get(update.machine.path)
            if session is not None:
                session.enqueue(update)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Drain, say ``offline`` and disconnect; sessions still unconnected at the timeout are cancelled."""
        for session in self.sessions.values():
            session.close()
        done, pending = await asyncio.wait(self._tasks, timeout=timeout_s) if self._tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("%s ended with an error", task.get_name(), exc_info=task.exception())
