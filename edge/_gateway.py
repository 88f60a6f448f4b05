"""The edge gateway: OPC UA sources in, one MQTT publisher session per machine out, a disk spool between.

Every bridged machine gets its own MQTT client (its own last will), exactly as
an MQTT-native machine, so a consumer cannot tell them apart. Everything a
machine publishes goes through the spool first; a broker outage, a gateway
restart or a crash replays what was not acknowledged, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiomqtt

from shopfloor import telemetry as contract
from shopfloor._publisher import Publisher, client_id, close_publishers, mqtt_client, now_ms, tls_context
from shopfloor.lifecycle import Backoff, Service, all_set
from shopfloor.spool import Spool

from ._bridge import MachineBridge, Stats
from ._config import EdgeConfig
from ._outbox import SpoolOutbox
from ._source import EndpointState, OpcUaSource

log = logging.getLogger(__name__)

#: how often queued messages are committed to disk: what a killed gateway can lose at most
COMMIT_INTERVAL_S = 0.1
#: how long a stop waits for the health session to say ``offline``
HEALTH_FAREWELL_S = 5.0


class EdgeGateway(Service):
    """``async with EdgeGateway(config) as gateway: await gateway.serve()`` (until ``stop()`` or cancelled).

    ``ready`` is set once the gateway bridges everything it was given: every endpoint connected with its machines
    attached, every machine's MQTT session up (birth and status acknowledged) and the health session up. Its loops
    are the endpoints' sources (``opcua <url>``), the machines' sessions (``mqtt <path>``), ``spool commit`` and
    ``health``; one that fails stops the gateway with its error. A stop takes the sources down first (their
    machines go offline), then drains every outbox (up to ``shutdown_timeout``), commits and closes the spool."""

    def __init__(self, config: EdgeConfig) -> None:
        super().__init__(f"edge gateway {config.name}")
        self.config = config
        self.stats = Stats()
        self.bridges: dict[str, MachineBridge] = {}
        self.publishers: dict[str, Publisher] = {}
        self.outboxes: dict[str, SpoolOutbox] = {}
        cert_lock = asyncio.Lock()
        self.sources = [
            OpcUaSource(endpoint, self.bridge_for, self.stats, gateway=config.name,
                        reconnect_min_s=config.reconnect_min_s, reconnect_max_s=config.reconnect_max_s,
                        cert_lock=cert_lock, shard=config.shard)
            for endpoint in config.endpoints
        ]
        self.started_ms = now_ms()
        self.spool: Spool | None = None
        self._tls = tls_context(config.mqtt)
        self._source_tasks: list[asyncio.Task[None]] = []
        self._publisher_tasks: list[asyncio.Task[None]] = []
        self._commit_task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        #: the health session is up (its ``online`` acknowledged)
        self._health_up = asyncio.Event()
        #: the outboxes are drained: the health session says ``offline`` and ends
        self._health_done = asyncio.Event()

    async def _open(self) -> None:
        c = self.config
        self.spool = Spool(c.spool_dir / f"{c.name}.sqlite", max_messages=c.spool_max_messages)
        leftovers = self.spool.streams()
        for path in leftovers:
            self.bridge_for(path)  # drain what an earlier run left behind
        if self.spool.count:
            log.info("spool %s: %d message(s) of %d machine(s) from an earlier run will be sent first",
                     self.spool.path, self.spool.count, len(leftovers))
        self._source_tasks = [self.spawn(f"opcua {s.url}", s.run()) for s in self.sources]
        self._commit_task = self.spawn("spool commit", self._commit_loop())
        self._health_task = self.spawn("health", self._health_loop())
        self.spawn("ready", self._until_ready())

    async def _until_ready(self) -> None:
        # the sources first: a source attaches its machines (and their sessions join) before it counts as connected
        await all_set(lambda: [*(s.connected for s in self.sources), *(p.connected for p in self.publishers.values()),
                               self._health_up])
        self._now_ready()
        log.info("edge %s: ready: %d endpoint(s), %d machine(s) bridged", self.config.name, len(self.sources),
                 len(self.bridges))

    def bridge_for(self, path: str) -> MachineBridge:
        """The bridge of the machine at ``path``; the first call makes it, with its outbox in the spool and its
        MQTT session, which starts at once."""
        bridge = self.bridges.get(path)
        if bridge is None:
            assert self.spool is not None
            c = self.config
            outbox = self.outboxes[path] = SpoolOutbox(self.spool, path)
            publisher = self.publishers[path] = Publisher(
                path, outbox, c.mqtt, identifier=client_id(c.name, path, path.rsplit("/", 1)[-1]), tls=self._tls,
                persistent=True)
            bridge = self.bridges[path] = MachineBridge(path, outbox, publisher.notify, self.stats)
            self._publisher_tasks.append(self.spawn(f"mqtt {path}", publisher.run()))
        return bridge

    async def _close(self) -> None:
        """Sources stop (machines go offline), then every outbox is drained and the spool closed."""
        await self.stop_tasks(*self._source_tasks)
        spool = self.spool
        if spool is None:
            return  # it could not be opened: nothing was bridged
        try:
            spool.commit()  # the offline statuses of the sources' machines are safe now
            # commits go on while the queue drains: a stop cut short by SIGKILL loses at most 0.1 s
            await close_publishers(self._publisher_tasks, list(self.publishers.values()),
                                   timeout_s=self.config.shutdown_timeout_s)
            if self._commit_task is not None:
                await self.stop_tasks(self._commit_task)
            spool.commit()
            self._health_done.set()
            if self._health_task is not None:
                await asyncio.wait([self._health_task], timeout=HEALTH_FAREWELL_S)
        finally:
            if self._health_task is not None:
                await self.stop_tasks(self._health_task)  # its counts read the spool: before it closes
            left = spool.count
            spool.close()
            if left:
                log.warning("%d message(s) stay in %s and will be sent on the next start", left, spool.path)

    # ------------------------------------------------------------ housekeeping

    async def _commit_loop(self) -> None:
        assert self.spool is not None
        while True:
            await asyncio.sleep(COMMIT_INTERVAL_S)
            try:
                self.spool.commit()
            except Exception:  # a full disk, say: keep trying, and say so
                log.exception("spool %s: commit failed", self.spool.path)

    def counts(self) -> dict[str, int]:
        """The cumulative counts (``Stats``) as of now; commits the spool first, so that delivered messages have
        left the queued count."""
        s = self.stats
        assert self.spool is not None
        self.spool.commit()  # delivered messages leave the count at a commit
        s.queued = self.spool.count
        s.dropped = self.spool.dropped
        s.published = sum(p.published for p in self.publishers.values())
        s.replayed = sum(o.replayed for o in self.outboxes.values())
        s.mqtt_reconnects = sum(p.reconnects for p in self.publishers.values())
        return s.as_dict()

    def health(self, status: str) -> bytes:
        """The encoded health message, ``status`` online or offline, with the counts and endpoint states now."""
        return contract.encode(contract.health(
            ts_ms=now_ms(), gateway=self.config.name, status=status, started_ms=self.started_ms,
            counts=self.counts(), endpoints={s.url: s.state.value for s in self.sources}))

    async def _health_loop(self) -> None:
        """Logs the counts and keeps the retained health message fresh; its own MQTT session carries the will."""
        c = self.config
        topic = contract.gateway_topic(c.mqtt.prefix, c.name)
        backoff = Backoff(c.mqtt.reconnect_min_s, c.mqtt.reconnect_max_s)
        done = self._health_done
        while not done.is_set():
            will = aiomqtt.Will(topic, self.health("offline"), qos=c.mqtt.qos, retain=True)
            try:
                async with mqtt_client(c.mqtt, f"{c.name}-health", will=will, tls=self._tls) as client:
                    backoff.reset()
                    while not done.is_set():
                        await client.publish(topic, self.health("online"), qos=c.mqtt.qos, retain=True, timeout=3)
                        self._health_up.set()
                        self._log_counts()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(done.wait(), c.health_interval_s)
                    await client.publish(topic, self.health("offline"), qos=c.mqtt.qos, retain=True, timeout=3)
                    return
            except aiomqtt.MqttError as e:
                log.debug("health: MQTT %s: %s", c.mqtt.url, e)
            except Exception:  # the health message must not take the gateway down, nor silently stop
                log.exception("health: publishing failed")
            finally:
                self._health_up.clear()
            self._log_counts()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), backoff.next())

    def _log_counts(self) -> None:
        n = self.counts()
        up = sum(s.state is EndpointState.CONNECTED for s in self.sources)
        log.info("edge %s: %d/%d endpoints up, %d machines; received %d, published %d, queued %d, replayed %d, "
                 "dropped %d, bad values %d, reconnects OPC UA %d / MQTT %d", self.config.name, up,
                 len(self.sources), len(self.bridges), n["received"], n["published"], n["queued"], n["replayed"],
                 n["dropped"], n["bad_values"], n["opcua_reconnects"], n["mqtt_reconnects"])
