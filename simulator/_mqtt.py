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
import contextlib
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

#: state events kept per machine while the broker is away (~ days of changes)
OUTBOX_LIMIT = 50_000


@dataclass(slots=True)
class _Message:
    kind: MessageKind
    payload: dict[str, Any]
    seq: int | None = None


class MqttMachine:
    """One machine's MQTT session: connect, birth, drain the outbox, reconnect."""

    def __init__(self, machine: MachineSim, settings: MqttSettings, session_ms: int, sample_period_ms: int) -> None:
        self.machine = machine
        self.settings = settings
        self.session_ms = session_ms
        self.sample_period_ms = sample_period_ms
        self.outbox: deque[_Message] = deque()
        self.seq = 0
        self.connected = asyncio.Event()
        self.wake = asyncio.Event()
        self.dropped = 0
        self.reconnects = 0
        self.client: aiomqtt.Client | None = None

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
            # counters are cumulative: while offline only the newest one matters
            if not self.connected.is_set():
                self.outbox = deque(m for m in self.outbox if m.kind is not MessageKind.COUNTERS or m.seq is not None)
            self._put(_Message(MessageKind.COUNTERS, payload))
        if update.signals is not None and self.connected.is_set():
            self._put(_Message(MessageKind.SIGNALS, contract.signals(ts_ms=update.signals_ts_ms, seq=0,
                                                                     values=update.signals)))
        self.wake.set()

    def _put(self, message: _Message) -> None:
        if len(self.outbox) >= OUTBOX_LIMIT:
            self.outbox.popleft()
            self.dropped += 1
            if self.dropped in (1, 1000) or self.dropped % 100_000 == 0:
                log.warning("%s: MQTT outbox full, %d oldest message(s) dropped", self.machine.path, self.dropped)
        self.outbox.append(message)

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq

    def _will(self) -> aiomqtt.Will:
        payload = contract.encode(contract.status(online=False, ts_ms=_now_ms(), session_ms=self.session_ms))
        return aiomqtt.Will(self.topic(MessageKind.STATUS), payload, qos=self.settings.qos, retain=True)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        tls_context = ssl.create_default_context(cafile=s.ca_file) if s.tls else None
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=f"sfsim-{self.machine.path.replace('/', '.')}"[:180],
            protocol=aiomqtt.ProtocolVersion.V5 if s.version == "5" else aiomqtt.ProtocolVersion.V311,
            will=self._will(),
            keepalive=s.keepalive_s,
            tls_context=tls_context,
            timeout=10,
        )

    async def run(self) -> None:
        delay = self.settings.reconnect_min_s
        first = True
        while True:
            try:
                async with self._client() as client:
                    self.client = client
                    if not first:
                        self.reconnects += 1
                        log.info("%s: reconnected to %s", self.machine.path, self.settings.url)
                    first = False
                    await self._publish_birth(client)
                    self.connected.set()
                    delay = self.settings.reconnect_min_s
                    await self._drain(client)
            except aiomqtt.MqttError as e:
                log.warning("%s: MQTT %s: %s; retrying in %.1f s", self.machine.path, self.settings.url, e, delay)
            finally:
                self.connected.clear()
                self.client = None
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter spreads a fleet's reconnects
            delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _publish_birth(self, client: aiomqtt.Client) -> None:
        m = self.machine
        birth = contract.birth(m.at, ts_ms=_now_ms(), seq=self._next_seq(), session_ms=self.session_ms,
                               signals=signal_names(m), sample_period_ms=self.sample_period_ms)
        qos = self.settings.qos
        await client.publish(self.topic(MessageKind.BIRTH), contract.encode(birth), qos=qos, retain=True)
        online = contract.status(online=True, ts_ms=_now_ms(), session_ms=self.session_ms)
        await client.publish(self.topic(MessageKind.STATUS), contract.encode(online), qos=qos, retain=True)

    async def _drain(self, client: aiomqtt.Client) -> None:
        qos = self.settings.qos
        while True:
            if not self.outbox:
                self.wake.clear()
                await self.wake.wait()
                continue
            batch = list(self.outbox)
            sends = []
            for message in batch:
                if message.seq is None:
                    message.seq = self._next_seq()
                    message.payload["seq"] = message.seq
                sends.append(client.publish(self.topic(message.kind), contract.encode(message.payload), qos=qos))
            # paho sends in call order; all of the batch is in flight at once
            results = await asyncio.gather(*sends, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise aiomqtt.MqttError(f"publish failed: {result}")
                self.outbox.popleft()

    async def offline(self) -> None:
        """Say goodbye: a retained ``offline`` status (the will covers the unclean case)."""
        client = self.client
        if client is None:
            return
        payload = contract.encode(contract.status(online=False, ts_ms=_now_ms(), session_ms=self.session_ms))
        with contextlib.suppress(aiomqtt.MqttError, asyncio.TimeoutError):
            await asyncio.wait_for(
                client.publish(self.topic(MessageKind.STATUS), payload, qos=self.settings.qos, retain=True), 5
            )


def _now_ms() -> int:
    return round(time.time() * 1000)


class MqttMachines:
    """The MQTT adapter: every machine whose protocol is ``mqtt`` publishes on its own session."""

    def __init__(self, machines: list[MachineSim], settings: MqttSettings, sample_period_s: float) -> None:
        session_ms = _now_ms()
        self.settings = settings
        self.sessions = {m.path: MqttMachine(m, settings, session_ms, round(sample_period_s * 1000)) for m in machines}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(s.run(), name=f"mqtt {path}") for path, s in self.sessions.items()
        ]

    async def wait_connected(self, timeout_s: float) -> None:
        await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in self.sessions.values())), timeout_s)

    async def publish(self, updates: list[MachineUpdate]) -> None:
        for update in updates:
            session = self.sessions.get(update.machine.path)
            if session is not None:
                session.enqueue(update)

    async def flush(self, timeout_s: float) -> bool:
        """Wait until every outbox is empty (or the timeout); True when all went out."""
        deadline = time.monotonic() + timeout_s
        while any(s.outbox for s in self.sessions.values()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        await self.flush(5.0)
        await asyncio.gather(*(s.offline() for s in self.sessions.values()))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
