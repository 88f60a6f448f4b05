"""One machine's MQTT publisher session, shared by MQTT-native machines and the edge gateway.

Each machine is its own MQTT client, so each has its own last will (``status``
offline). The session connects, sends its greeting (birth and status), then
drains an outbox in order, a window at a time, acknowledging to the outbox only
what the broker acknowledged; after a lost connection it backs off with jitter,
reconnects and sends the unacknowledged messages again (with their seq). What
is queued and how it survives is the outbox's business: memory for a simulated
machine, a disk spool for the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ._aiomqtt_seam import TidyClient, connection_lost, cut_connection, publish_unawaited, when_acknowledged
from ._mqtt_settings import MqttSettings
from .lifecycle import Backoff
from .telemetry import MessageKind, machine_topic

log = logging.getLogger(__name__)

#: messages in flight per machine: aiomqtt/paho handle a few dozen pending publishes
#: cheaply, thousands not at all
WINDOW = 20
#: a publish not acknowledged by then counts as a lost connection: aiomqtt does not fail
#: pending publishes when the broker goes away, so without this a session would sit out
#: the whole client timeout before it reconnects
PUBLISH_TIMEOUT_S = 3.0
#: how long the broker keeps a persistent session after a disconnect
SESSION_EXPIRY_S = 86_400


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One encoded contract message a machine sends (what a consumer receives is ``collector.Message``)."""

    kind: MessageKind
    payload: bytes
    retain: bool = False


class Outbox(Protocol):
    """What a publisher session sends, as a transactional buffer: ``peek`` begins a batch, ``ack`` commits it."""

    def greeting(self) -> list[Outgoing]:
        """Sent first after every connect, before the outbox (birth and status)."""
        ...

    def greeted(self) -> None:
        """The broker acknowledged the greeting."""
        ...

    def will(self) -> Outgoing | None:
        """The last will to register with the next connection (the same message while it holds: the session
        reconnects to register a new one); None while there is nothing to will yet, so it does not connect."""
        ...

    def farewell(self) -> list[Outgoing]:
        """Sent on a clean shutdown, after the outbox is drained (nothing when the outbox said goodbye itself)."""
        ...

    def peek(self, n: int) -> list[Outgoing]:
        """The first ``n`` unacknowledged messages, in order; the same ones again until acknowledged."""
        ...

    def ack(self, n: int) -> None:
        """The first ``n`` messages of the last ``peek`` reached the broker."""
        ...

    def disconnected(self) -> None:
        """The connection was lost (a chance to drop what is not worth replaying)."""
        ...


def client_id(prefix: str, path: str, machine_id: str) -> str:
    """Short, distinct and stable: the path may be long, so a hash of it stands in."""
    digest = hashlib.sha1(path.encode("utf-8")).hexdigest()[:12]
    return f"{prefix}-{machine_id}-{digest}"


def tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    """One TLS context for all of a process's sessions: building one takes tens of milliseconds."""
    if not settings.tls:
        return None
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except OSError as e:
        raise ValueError(f"MQTT CA file {settings.ca_file}: {e.strerror or e}") from None


def mqtt_client(settings: MqttSettings, identifier: str, *, will: aiomqtt.Will | None,
                tls: ssl.SSLContext | None, persistent: bool = False) -> aiomqtt.Client:
    """An aiomqtt client for ``settings``; ``persistent`` keeps the broker-side session across reconnects."""
    s = settings
    v5 = s.version == "5"
    properties = None
    if persistent and v5:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
    return TidyClient(
        s.host,
        s.port,
        username=s.username,
        password=s.password,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        will=will,
        keepalive=s.keepalive_s,
        tls_context=tls,
        timeout=10,
        clean_session=None if v5 else not persistent,
        # paho refuses clean_start for 3.1.1, where clean_session says it
        clean_start=False if persistent and v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
        properties=properties,
    )


class _Acks:
    """Counts a batch's acknowledgements; aiomqtt calls ``set`` once per acknowledged message id."""

    __slots__ = ("future", "left")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        self.left = 0

    def expect(self) -> None:
        self.left += 1

    def set(self) -> None:
        self.left -= 1
        if self.left == 0 and not self.future.done():
            self.future.set_result(None)

    async def all(self, stall_s: float) -> None:
        """Until every message is acknowledged; fails only if none is for ``stall_s`` (a busy broker
        acknowledging a long replay slowly is not a lost connection)."""
        while self.left:
            before = self.left
            try:
                await asyncio.wait_for(asyncio.shield(self.future), stall_s)
            except TimeoutError:
                if self.left == before:
                    raise


class Publisher:
    """One machine's MQTT session: connect, greet, drain the outbox, reconnect, say goodbye."""

    def __init__(self, path: str, outbox: Outbox, settings: MqttSettings, *, identifier: str,
                 tls: ssl.SSLContext | None, persistent: bool = False) -> None:
        self.path = path
        self.outbox = outbox
        self.settings = settings
        self.identifier = identifier
        self.tls = tls
        self.persistent = persistent
        self.connected = asyncio.Event()
        self.wake = asyncio.Event()
        self.closing = False
        self._closed = asyncio.Event()
        self.reconnects = 0
        self.published = 0
        #: the network to the broker is there (a simulated outage clears it: ``cut``, ``restore``)
        self.reachable = asyncio.Event()
        self.reachable.set()
        self._client: aiomqtt.Client | None = None

    def topic(self, kind: MessageKind) -> str:
        return machine_topic(self.settings.prefix, self.path, kind)

    async def run(self) -> None:
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        first = True
        last_try = False
        renewing = False
        while True:
            if not self.reachable.is_set():
                if self.closing:
                    return  # closing in an outage: the outbox keeps what is left, as with the broker away
                await self._until_reachable()
                continue
            will = self.outbox.will()
            if will is None:
                if self.closing:
                    return
                self.wake.clear()
                await self.wake.wait()  # notified when the outbox has something (a birth, a session)
                continue
            try:
                client = mqtt_client(self.settings, self.identifier, tls=self.tls, persistent=self.persistent,
                                     will=aiomqtt.Will(self.topic(will.kind), will.payload, qos=self.settings.qos,
                                                       retain=will.retain))
                async with client:
                    self._client = client
                    if not first and not renewing:
                        self.reconnects += 1
                        log.info("%s: reconnected to %s", self.path, self.settings.url)
                    first, renewing = False, False
                    await self._send(client, self.outbox.greeting())
                    self.outbox.greeted()
                    self.connected.set()
                    backoff.reset()
                    renewing = not await self._drain(client, will)
                    if not renewing:
                        await self._send(client, self.outbox.farewell())
                        return
            except aiomqtt.MqttError as e:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                log.warning("%s: MQTT %s: %s; retrying in about %.1f s", self.path, self.settings.url, e,
                            backoff.step)
            except Exception:  # a bug or a library surprise must not silence a machine for good
                log.exception("%s: MQTT session failed; retrying in about %.1f s", self.path, backoff.step)
            finally:
                self._client = None
                if self.connected.is_set():
                    self.connected.clear()
                    self.outbox.disconnected()
            if renewing:
                continue  # a new will to register: connect again at once (a clean disconnect sends no will)
            if last_try:
                return  # closing and the broker still away: the outbox keeps what is left
            if not self.closing:
                # jitter spreads a fleet's reconnects; a close ends the wait for one last try
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), backoff.next())
            last_try = self.closing

    async def _send(self, client: aiomqtt.Client, messages: list[Outgoing]) -> None:
        """Publish in order, the whole list in flight at once; return when the broker acknowledged all.

        Straight to paho with one waiter for the batch (shopfloor/_aiomqtt_seam.py): aiomqtt's ``publish``
        costs an event, a coroutine and a timeout task per message, which halved the replay rate of a long
        backlog."""
        qos = self.settings.qos
        acks = _Acks(asyncio.get_running_loop())
        for m in messages:
            info = publish_unawaited(client, self.topic(m.kind), m.payload, qos, m.retain)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise aiomqtt.MqttCodeError(info.rc, "could not publish")
            if qos and not info.is_published():
                acks.expect()
                when_acknowledged(client, info.mid, acks)
        try:
            await acks.all(PUBLISH_TIMEOUT_S)
        except TimeoutError:
            raise aiomqtt.MqttError(f"no acknowledgement for {PUBLISH_TIMEOUT_S:g} s") from None
        self.published += len(messages)

    async def _drain(self, client: aiomqtt.Client, will: Outgoing) -> bool:
        """Send the outbox in order, a window at a time: True when closing and empty, False when the outbox's
        will is no longer ``will`` (a new session's birth went out: the broker must hold its will instead)."""
        while True:
            batch = self.outbox.peek(WINDOW)
            if not batch:
                if self.closing:
                    return True
                self.wake.clear()
                await self._idle(client)
                continue
            # a birth ends a batch: what follows it belongs to its session, and goes out under that session's will
            end = next((k + 1 for k, m in enumerate(batch) if m.kind is MessageKind.BIRTH), len(batch))
            await self._send(client, batch[:end])
            self.outbox.ack(end)
            if self.outbox.will() != will:
                return False

    async def _idle(self, client: aiomqtt.Client) -> None:
        """Until there is something to send, or the connection is lost (a quiet machine must notice too)."""
        lost = connection_lost(client)
        woken = asyncio.ensure_future(self.wake.wait())
        either: list[asyncio.Future[Any]] = [woken, lost]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        if lost.done():
            raise aiomqtt.MqttError("connection lost")

    def cut(self) -> None:
        """The network to the broker goes away (a scenario's outage): the connection ends with no goodbye, so the
        broker publishes the will, and the session stays away until ``restore``; the outbox keeps what it keeps
        while offline."""
        self.reachable.clear()
        if self._client is not None:
            cut_connection(self._client)

    def restore(self) -> None:
        """The network is back: the session reconnects at once."""
        self.reachable.set()

    async def _until_reachable(self) -> None:
        closed = asyncio.ensure_future(self._closed.wait())
        back = asyncio.ensure_future(self.reachable.wait())
        try:
            await asyncio.wait([closed, back], return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            back.cancel()

    def notify(self) -> None:
        """New messages are in the outbox."""
        self.wake.set()

    def close(self) -> None:
        self.closing = True
        self._closed.set()
        self.wake.set()


async def close_publishers(tasks: list[asyncio.Task[None]], publishers: list[Publisher], timeout_s: float) -> None:
    """Drain, say goodbye and disconnect; sessions still unconnected at the timeout are cancelled. The tasks are a
    service's (shopfloor/lifecycle.py): an error one ended with is raised from the service's exit, not here."""
    for p in publishers:
        p.close()
    _, pending = await asyncio.wait(tasks, timeout=timeout_s) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


def now_ms() -> int:
    return round(time.time() * 1000)
