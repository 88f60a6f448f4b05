"""The collector service: MQTT in, InfluxDB out, the KPI engine in between.

paho-mqtt runs on its own network thread (measured faster than driving it from asyncio
for a subscriber that only receives) and hands messages to the event loop, which checks
them against the contract and against each machine's stream so far (``Streams``: repeats,
contradictions, counters going backwards, timestamps from the future), turns the new ones into
points and batches them for the sink. Messages are acknowledged
(MQTT 5 manual acks, QoS 1) only once their batch is durable — in the store or in the
spool — so a collector killed at any moment loses nothing: its persistent session gets
the unacknowledged messages again. A message is seen by every reader of the stream (the KPI
engine, ``StreamConsumer``) before its batch is stored, so an acknowledged message has been
both stored and seen. Several collectors divide the fleet by site (``partition: K/N``), each
on plain topic filters of its own (``_partition``); the first also adds up the fleet.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import gzip
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shopfloor import MqttSettings
from shopfloor import telemetry as contract
from shopfloor._publisher import now_ms, tls_context
from shopfloor.lifecycle import Backoff, Service
from shopfloor.telemetry import MessageKind

from ._config import CollectorConfig
from ._consumer import StreamConsumer
from ._digitization import register as register_of
from ._encode import target_lines
from ._engine import Engine
from ._fleet import FleetStep
from ._influx import open_store
from ._messages import Invalid, Message, decode
from ._paho_seam import ReadAheadClient, send_pubacks
from ._partition import sites as _register_sites
from ._partition import topic_filters
from ._points import Retraction, telemetry
from ._restore import apply_steps, read_back
from ._shares import read_shares
from ._sink import Batch, Sink
from ._stream import Streams

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Arrival:
    """One message as paho handed it over. Made on paho's thread for every message: a slots dataclass takes
    0.21 µs to make (a bare tuple 0.04, a NamedTuple 0.33, a frozen dataclass 1.0) and reads a field in 0.01."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retained: bool
    received_ms: int


class LastWill(NamedTuple):
    topic: str
    payload: bytes


def collector_topic(prefix: str, collector: str, what: str) -> str:
    """``<prefix>/v1/_collector/<id>/<what>`` (health, dead-letter): outside every machine topic."""
    return f"{prefix}/{contract.CONTRACT_VERSION}/_collector/{collector}/{what}"


class _Subscriber:
    """One paho client on its network thread; arrivals queue in ``inbox`` for the event loop.

    It reads the socket ahead and sends a batch's PUBACKs in one write through paho's internals, all of them
    in collector/_paho_seam.py.

    The loop is woken when the inbox stops being empty and when it holds ``batch`` arrivals, not for every
    message: a wake-up is a write to the loop's self-pipe and a turn of the loop, which cost more than the
    message itself; while a batch gathers, the loop sleeps until its deadline or until the batch is full."""

    def __init__(self, settings: MqttSettings, client_id: str, topics: list[str], *, manual_ack: bool,
                 session_expiry_s: float, will: LastWill | None = None, batch: int = 1,
                 not_ours: list[str] | None = None) -> None:
        """``not_ours``: filters a resumed session may still hold from an earlier division of the fleet, taken
        off at every connection."""
        self.settings = settings
        self.batch = batch
        self.topics = topics
        self.not_ours = [t for t in not_ours or [] if t not in topics]
        self.manual_ack = manual_ack
        self.inbox: collections.deque[Arrival] = collections.deque()
        self.connected = threading.Event()
        #: the broker acknowledged the subscription of the current connection
        self.subscribed = threading.Event()
        self._wake: Callable[[], None] | None = None
        self._on_subscribed: Callable[[], None] | None = None
        self._subscribe_mid: int | None = None
        v5 = settings.version == "5"
        self.client = ReadAheadClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
                                      clean_session=None if v5 else False, manual_ack=manual_ack)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password)
        context = tls_context(settings)
        if context is not None:
            self.client.tls_set_context(context)
        if will is not None:
            self.client.will_set(will.topic, will.payload, qos=1, retain=True)
        self.client.reconnect_delay_set(round(max(1.0, settings.reconnect_min_s)), round(settings.reconnect_max_s))
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._properties: Properties | None = None
        if v5:
            self._properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            self._properties.SessionExpiryInterval = round(session_expiry_s)
            # acks wait for the store: let the broker keep many messages in flight
            self._properties.ReceiveMaximum = 65535

    def start(self, wake: Callable[[], None], subscribed: Callable[[], None] | None = None) -> None:
        """Connect on paho's thread; ``wake`` when messages arrive, ``subscribed`` when the broker acknowledged the
        subscription (both called on paho's thread)."""
        self._wake = wake
        self._on_subscribed = subscribed
        s = self.settings
        if self._properties is not None:
            self.client.connect_async(s.host, s.port, s.keepalive_s, clean_start=False, properties=self._properties)
        else:
            self.client.connect_async(s.host, s.port, s.keepalive_s)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT %s refused the connection: %s", self.settings.url, reason)
            return
        log.info("MQTT %s connected (session %s); subscribing to %s", self.settings.url,
                 "resumed" if flags.session_present else "new", ", ".join(self.topics) or "nothing")
        if flags.session_present and self.not_ours:
            client.unsubscribe(self.not_ours)
        if self.topics:  # a partition the register gives no site takes nothing
            _, self._subscribe_mid = client.subscribe([(t, 1) for t in self.topics])
        self.connected.set()
        if not self.topics:
            self._subscribed()

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: list[Any], properties: Any) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [f"{topic} ({reason})" for topic, reason in zip(self.topics, reasons, strict=False)
                   if reason.is_failure]
        if refused:  # an ACL, say: not serving what it was configured to
            log.error("MQTT %s refused the subscription to %s", self.settings.url, ", ".join(refused))
            return
        self._subscribed()

    def _subscribed(self) -> None:
        self.subscribed.set()
        if self._on_subscribed is not None:
            self._on_subscribed()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if reason.is_failure or reason.value != 0:
            log.warning("MQTT %s connection lost (%s); reconnecting", self.settings.url, reason)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        inbox = self.inbox
        inbox.append(Arrival(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain), now_ms()))
        # only appends make the inbox grow, one at a time: a growing inbox passes through exactly 1 and batch
        n = len(inbox)
        if (n == 1 or n == self.batch) and self._wake is not None:
            self._wake()

    def ack(self, arrivals: list[Arrival]) -> None:
        if not self.manual_ack:
            return
        mids = []
        for arrival in arrivals:
            if arrival.qos == 1:
                mids.append(arrival.mid)
            elif arrival.qos:
                self.client.ack(arrival.mid, arrival.qos)
        send_pubacks(self.client, mids)  # the batch's PUBACKs in one write

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class DeadLetters:
    """Invalid messages, one JSON line each: when, topic, why, the payload's size and the payload (text, or
    base64) — its first ``EXCERPT`` bytes only, so a flood of huge messages cannot fill the disk or the topic."""

    EXCERPT = 4096

    def __init__(self, path: Path | None, publish: Callable[[bytes], None] | None) -> None:
        self.path = path
        self.publish = publish
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def add(self, topic: str, payload: bytes, reason: str, received_ms: int) -> None:
        """Record an invalid message (``reason``: why; ``received_ms``: epoch ms) in the file and on the topic, as
        configured."""
        entry: dict[str, Any] = {"received": received_ms, "topic": topic[:self.EXCERPT], "reason": reason,
                                 "size": len(payload)}
        excerpt = payload[:self.EXCERPT]
        try:
            payload.decode("utf-8")
            entry["payload"] = excerpt.decode("utf-8", "ignore")  # a cut may split a character
        except UnicodeDecodeError:
            entry["payload_base64"] = base64.b64encode(excerpt).decode()
        if len(excerpt) < len(payload):
            entry["truncated"] = True
        text = json.dumps(entry, ensure_ascii=False)
        if self._file is not None:
            self._file.write(text + "\n")
        if self.publish is not None:
            self.publish(text.encode())

    def add_points(self, points: list[tuple[bytes, str]], store: str, received_ms: int) -> None:
        """Points the store refused for good: one entry each, with the store and its reason (no topic)."""
        for line, reason in points:
            entry = {"received": received_ms, "store": store, "reason": reason, "size": len(line),
                     "points": line[:self.EXCERPT].decode("utf-8", "replace")}
            text = json.dumps(entry, ensure_ascii=False)
            if self._file is not None:
                self._file.write(text + "\n")
            if self.publish is not None:
                self.publish(text.encode())
        self.flush()

    def flush(self) -> None:
        """Write what is buffered to the file, if there is one."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Close the file, if there is one."""
        if self._file is not None:
            self._file.close()


class Collector(Service):
    """``async with Collector(config) as collector: await collector.serve()`` (until ``stop()`` or cancelled), or
    ``await collector.run()``.

    ``ready`` is set once the collector serves: the broker acknowledged its subscription and its first batch (the
    KPI targets) is durable — stored, or spooled while the store is away. Its loops are ``sink``, ``ingest``,
    ``kpi``, ``restore`` and ``health``; one that fails stops the collector with its error. A stop stores (or
    spools) what was received, writes the last results and says ``offline``."""

    def __init__(self, config: CollectorConfig) -> None:
        super().__init__(f"collector {config.collector}")
        self.config = config
        self.counts: Counter[str] = Counter()
        self.prefix = prefix = config.mqtt.prefix
        self._started_ms = now_ms()
        max_ahead = round(config.max_ahead_s * 1000) if config.max_ahead_s is not None else None
        #: what the subscription has shown of each machine
        self.streams = Streams(max_ahead_ms=max_ahead, counts=self.counts)
        self.engine: Engine | None = None
        #: the fleet step of a divided fleet (its first partition's): adds up the shares every partition stored
        self.fleet: FleetStep | None = None
        if config.kpi.enabled:
            whole = config.partition.whole
            self.engine = Engine(config.kpi, self.counts, self.streams, sites=config.sites, adds_up=whole)
            if not whole and config.partition.adds_up_the_fleet:
                self.fleet = FleetStep(config.kpi)
        #: what reads the admitted stream beside storage, in order
        self.consumers: list[StreamConsumer] = [self.engine] if self.engine is not None else []
        self.store = open_store(config.store)
        self.sink = Sink(self.store, config.spool_dir / f"{config.collector}.sqlite",
                         max_batches=config.spool_max_batches, counts=self.counts, rejected=self._refused_by_store)
        client = f"sfsim-collector-{config.collector}"
        health = collector_topic(prefix, config.collector, "health")
        #: the sites this collector owns (None: all); a message of another is acknowledged and left to its owner
        self._own = frozenset(config.sites) if config.sites is not None else None
        every_site = [site for site, _ in _register_sites(config.kpi.plants)]
        self.storage = _Subscriber(config.mqtt, client, config.topics, manual_ack=config.ack_after_store,
                                   session_expiry_s=config.session_expiry_s,
                                   will=LastWill(health, self._health_payload("offline")),
                                   batch=config.batch_max_points,
                                   not_ours=topic_filters(prefix, None) + topic_filters(prefix, every_site))
        dead_topic = collector_topic(prefix, config.collector, "dead-letter")
        self.dead_letters = DeadLetters(
            config.dead_letter_file,
            (lambda b: self.storage.publish(dead_topic, b)) if config.dead_letter_topic else None)
        #: batches made from received messages, not yet handed to the sink
        self._unsent: list[Batch] = []
        #: the first batch is stored or spooled: the sink takes what comes
        self._sink_took_first = False

    # ------------------------------------------------------------ life cycle

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def waker(event: asyncio.Event) -> Callable[[], None]:
            # one hand-over per wake-up, not one per message: the network thread only flags a pending wake
            pending = threading.Event()

            def wake_in_loop() -> None:
                pending.clear()
                event.set()

            def wake() -> None:
                if not pending.is_set():
                    pending.set()
                    loop.call_soon_threadsafe(wake_in_loop)
            return wake

        def took_first() -> None:
            self._sink_took_first = True
            self._serving()

        def subscribed() -> None:  # on paho's thread
            loop.call_soon_threadsafe(self._serving)

        log.info("collector %s: %s → %s; %s", self.config.collector, self.config.mqtt.url, self.store.config.target,
                 self.config.subscription)
        await self.sink.put(Batch(target_lines(), False, took_first))
        self.storage.start(waker(arrived), subscribed)
        self.spawn("sink", self.sink.run())
        self.spawn("ingest", self._ingest(arrived))
        if self.engine is not None:
            self.spawn("kpi", self._kpi_loop())
            if self.config.store.kind != "files":
                self.spawn("restore", self._restore())
        self.spawn("health", self._health_loop())

    def _serving(self) -> None:
        """Subscribed and the sink took its first batch: ready (on the event loop)."""
        if self._sink_took_first and self.storage.subscribed.is_set():
            self._now_ready()

    async def _close(self) -> None:
        await self.stop_tasks(*self.tasks.values())
        await self._shutdown()

    async def _shutdown(self) -> None:
        """Store what was received (or spool it), write the last results, say goodbye; each step runs even if
        one before it failed."""
        batches: list[Batch] = list(self._unsent)
        self._unsent.clear()
        steps: list[tuple[str, Callable[[], Any]]] = []
        steps.append(("taking the last messages", lambda: self._drain_inbox_into(batches)))
        if self.engine is not None:
            steps.append(("writing the last results", lambda: self._final_results(batches)))
        for what, step in steps:
            try:
                step()
            except Exception:
                log.exception("shutdown: %s failed", what)
        try:
            await self.sink.close(self.config.shutdown_timeout_s, batches)
        except Exception:
            log.exception("shutdown: closing the store failed (the spool keeps what it holds)")
        if self.fleet is not None:
            try:  # the partitions' last shares are stored now (this one's too): the fleet's last figures
                await asyncio.to_thread(self._fleet_tick_into_store)
            except Exception as e:  # derived figures, computed again at the next start
                log.warning("shutdown: the fleet's last figures not written (%s: %s)", type(e).__name__, e)
        self.dead_letters.close()
        try:
            self.storage.publish(collector_topic(self.prefix, self.config.collector, "health"),
                                 self._health_payload("offline"), retain=True)
        finally:
            await asyncio.to_thread(self.storage.stop)
        self._log_counts()

    def _final_results(self, batches: list[Batch]) -> None:
        for consumer in self.consumers:
            lines = [p for part in consumer.tick_steps(now_ms()) for p in part]
            if lines:
                batches.append(Batch(lines, False, lambda: None, consumer.take_retractions()))

    def _fleet_lines(self) -> tuple[list[str], list[Retraction]]:
        """The fleet step's points from the shares stored (blocking: run it in a thread)."""
        assert self.fleet is not None
        shares = read_shares(self.store, self.config.kpi.keep_s, self.config.kpi.basis)
        register = [e for plant in self.config.kpi.plants for e in register_of(plant)]
        lines = self.fleet.tick(shares, register)
        retractions, self.fleet.writes.retractions = self.fleet.writes.retractions, []
        return lines, retractions

    def _fleet_tick_into_store(self) -> None:
        lines, retractions = self._fleet_lines()
        if retractions:
            self.store.delete(retractions)
        if lines:
            self.store.write(gzip.compress(("\n".join(lines) + "\n").encode()))
        assert self.fleet is not None
        self.fleet.writes.commit()

    # ------------------------------------------------------------ ingest

    async def _ingest(self, arrived: asyncio.Event) -> None:
        inbox = self.storage.inbox
        max_points = self.config.batch_max_points
        while True:
            await arrived.wait()
            arrived.clear()
            if not inbox:
                continue
            # gather for at most max_delay after the first arrival, or until a batch is full
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.config.batch_max_delay_s
            while len(inbox) < max_points and (left := deadline - loop.time()) > 0:
                try:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                    async with asyncio.timeout(left):
                        await arrived.wait()
                except TimeoutError:
                    break
                arrived.clear()
            self._drain_inbox_into(self._unsent)
            while self._unsent:  # what is not yet in the sink's hands stays here for a shutdown to take
                await self.sink.put(self._unsent[0])
                self._unsent.pop(0)
            if inbox:
                arrived.set()

    def _drain_inbox_into(self, batches: list[Batch]) -> None:
        inbox = self.storage.inbox
        max_points = self.config.batch_max_points
        while inbox:
            taken: list[Arrival] = []
            lines: list[str] = []
            signals_only = True
            while inbox and len(lines) < max_points:
                arrival = inbox.popleft()
                taken.append(arrival)
                msg = self._check(arrival)
                if msg is None:
                    continue
                try:
                    if not self.streams.admit(msg, arrival.received_ms):
                        continue  # received before: acknowledged with the batch, nothing more
                except Invalid as e:
                    self.counts["valid"] -= 1
                    log.warning("invalid message on %s: %s", arrival.topic, e)
                    self._dead(arrival, str(e))
                    continue
                try:
                    points = telemetry(msg, arrival.received_ms)
                    for consumer in self.consumers:
                        consumer.feed(msg, arrival.received_ms)
                except Exception as e:  # a message the checks let through and the code cannot take: not a crash
                    log.exception("message on %s could not be processed", arrival.topic)
                    self._dead(arrival, f"could not be processed: {type(e).__name__}: {e}")
                    continue
                signals_only &= msg.kind is MessageKind.SIGNALS
                lines += points
            self.dead_letters.flush()
            self.counts["points_queued"] += len(lines)

            def done(taken: list[Arrival] = taken) -> None:
                self.storage.ack(taken)
            batches.append(Batch(lines, signals_only and bool(lines), done))

    def _check(self, arrival: Arrival) -> Message | None:
        topic = arrival.topic
        self.counts["received"] += 1
        try:
            msg = decode(topic, arrival.payload, prefix=self.prefix, retained=arrival.retained,
                         max_payload=self.config.max_payload)
        except Invalid as e:
            log.warning("invalid message on %s: %s", topic, e)
            self._dead(arrival, str(e))
            return None
        except Exception as e:
            log.exception("message on %s could not be checked", topic)
            self._dead(arrival, f"could not be checked: {type(e).__name__}: {e}")
            return None
        if self._own is not None and f"{msg.topic.enterprise}/{msg.topic.site}" not in self._own:
            self.counts["other_partitions"] += 1  # a subscription of an earlier division, until it is taken off
            return None
        self.counts["valid"] += 1
        return msg

    def _refused_by_store(self, points: list[tuple[bytes, str]]) -> None:
        try:
            self.dead_letters.add_points(points, self.store.config.target, now_ms())
        except OSError as e:
            log.error("dead letters for %d point(s) the store refused not written: %s", len(points), e)

    def _dead(self, arrival: Arrival, reason: str) -> None:
        self.counts["invalid"] += 1
        try:
            self.dead_letters.add(arrival.topic, arrival.payload, reason, arrival.received_ms)
        except OSError as e:  # a full disk must not stop the service: the message is logged above
            log.error("dead letter for %s not written: %s", arrival.topic, e)

    # ------------------------------------------------------------ results and health

    async def _restore(self) -> None:
        """Read back the telemetry of the open windows once the spool is empty (so the store has it all)."""
        assert self.engine is not None
        backoff = Backoff(0.5, 30.0)
        while True:
            while self.sink.backlog:
                await asyncio.sleep(0.2)
            try:
                stored = await asyncio.to_thread(read_back, self.store, self.config.kpi.keep_s, self.config.sites)
            except Exception as e:  # the store away, or data it holds that is not ours: retry, never stop the service
                log.warning("reading back stored telemetry for the KPIs failed (%s: %s); retrying in about %.1f s",
                            type(e).__name__, e, backoff.step)
                await asyncio.sleep(backoff.next())
                continue
            machines = 0
            for done in apply_steps(self.engine, stored):  # the ingest runs between the parts
                machines += done
                await asyncio.sleep(0)
            if machines:
                log.info("KPI engine: restored %d machine(s)' telemetry since %d ms from %s", machines,
                         stored.since_ms, self.store.config.target)
            return

    async def _kpi_loop(self) -> None:
        """A tick every ``kpi.interval``, each part of it (a window of a site) its own batch so that telemetry
        batches go to the store in between."""
        while True:
            await asyncio.sleep(self.config.kpi.interval_s)
            for consumer in self.consumers:
                try:
                    for part in consumer.tick_steps(now_ms()):
                        await self._put_results(part, consumer.take_retractions())
                        await asyncio.sleep(0)  # the ingest runs between the parts of a tick
                except Exception:  # results stop for one tick, the telemetry keeps flowing
                    log.exception("%s: tick failed", type(consumer).__name__)
            if self.fleet is not None:
                try:
                    await self._put_results(*await asyncio.to_thread(self._fleet_lines))
                    self.fleet.writes.commit()
                except Exception as e:  # the store away: the next tick tries again
                    log.warning("fleet step: the partitions' shares not read (%s: %s)", type(e).__name__, e)

    async def _put_results(self, lines: list[str], retractions: list[Retraction]) -> None:
        for k in range(0, len(lines), self.config.batch_max_points):
            chunk = lines[k:k + self.config.batch_max_points]
            await self.sink.put(Batch(chunk, False, lambda: None, retractions if k == 0 else []))

    def _all_counts(self) -> Counter[str]:
        return Counter(self.counts)

    def _health_payload(self, status: str) -> bytes:
        problems = [p for p in (self.sink.problem,) if p]
        health: dict[str, Any] = {"ts": now_ms(), "collector": self.config.collector, "status": status,
                                  "started": self._started_ms, "counts": dict(self._all_counts()),
                                  "backlog_batches": self.sink.backlog, "problems": problems}
        if self.engine is not None:
            health["retention"] = self.engine.retention()
        return json.dumps(health,
                          separators=(",", ":")).encode()

    async def _health_loop(self) -> None:
        topic = collector_topic(self.prefix, self.config.collector, "health")
        while True:
            self.storage.publish(topic, self._health_payload("online"), retain=True)
            await asyncio.sleep(self.config.health_interval_s)
            self._log_counts()

    def _log_counts(self) -> None:
        c = self._all_counts()
        log.info("collector %s: %d received, %d invalid, %d points written, %d batches spooled (%d waiting), "
                 "%d missing by seq", self.config.collector, c["received"], c["invalid"], c["points_written"],
                 c["batches_spooled"], self.sink.backlog, c["seq_missing"])
