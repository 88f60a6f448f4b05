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
import random
from types import TracebackType

import aiomqtt

from shopfloor import telemetry as contract
from shopfloor._publisher import Publisher, client_id, close_publishers, mqtt_client, now_ms, tls_context
from shopfloor.spool import Spool

from ._bridge import MachineBridge, Stats
from ._config import EdgeConfig
from ._outbox import SpoolOutbox
from ._source import EndpointState, OpcUaSource

log = logging.getLogger(__name__)

#: how often queued messages are committed to disk: what a killed gateway can lose at most
COMMIT_INTERVAL_S = 0.1


class EdgeGateway:
    """``async with EdgeGateway(config) as gateway: await gateway.serve()``."""

    def __init__(self, config: EdgeConfig) -> None:
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
        self._publisher_tasks: list[asyncio.Task[None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()

    async def __aenter__(self) -> EdgeGateway:
        c = self.config
        self.spool = Spool(c.spool_dir / f"{c.name}.sqlite", max_messages=c.spool_max_messages)
        leftovers = self.spool.streams()
        for path in leftovers:
            self.bridge_for(path)  # drain what an earlier run left behind
        if self.spool.count:
            log.info("spool %s: %d message(s) of %d machine(s) from an earlier run will be sent first",
                     self.spool.path, self.spool.count, len(leftovers))
        self._tasks = [
            *(asyncio.create_task(s.run(), name=f"opcua {s.url}") for s in self.sources),
            asyncio.create_task(self._commit_loop(), name="spool commit"),
            asyncio.create_task(self._health_loop(), name="health"),
        ]
        return self

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
            self._publisher_tasks.append(asyncio.create_task(publisher.run(), name=f"mqtt {path}"))
        return bridge

    async def serve(self) -> None:
        """Until cancelled (Ctrl-C, SIGTERM) or ``stop``."""
        await self._stopped.wait()

    def stop(self) -> None:
        """Make ``serve`` return; leaving ``async with`` then shuts the gateway down."""
        self._stopped.set()

    async def wait_connected(self, timeout_s: float) -> None:
        """Every endpoint connected and every machine's MQTT session up (for tests and benchmarks)."""
        async def ready() -> None:
            await asyncio.gather(*(s.connected.wait() for s in self.sources))
            while not all(p.connected.is_set() for p in self.publishers.values()):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(ready(), timeout_s)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Sources stop (machines go offline), then every outbox is drained and the spool closed."""
        sources, commit, health = self._tasks[:-2], self._tasks[-2], self._tasks[-1]
        for task in sources:
            task.cancel()
        await asyncio.gather(*sources, return_exceptions=True)
        assert self.spool is not None
        self.spool.commit()  # the offline statuses of the sources' machines are safe now
        # commits go on while the queue drains: a stop cut short by SIGKILL loses at most 0.1 s
        await close_publishers(self._publisher_tasks, list(self.publishers.values()),
                               timeout_s=self.config.shutdown_timeout_s)
        commit.cancel()
        await asyncio.gather(commit, return_exceptions=True)
        self.spool.commit()
        self._stopped.set()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(health, 5.0)
        left = self.spool.count
        self.spool.close()
        if left:
            log.warning("%d message(s) stay in %s and will be sent on the next start", left, self.spool.path)

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
        delay = c.mqtt.reconnect_min_s
        while not self._stopped.is_set():
            will = aiomqtt.Will(topic, self.health("offline"), qos=c.mqtt.qos, retain=True)
            try:
                async with mqtt_client(c.mqtt, f"{c.name}-health", will=will, tls=self._tls) as client:
                    delay = c.mqtt.reconnect_min_s
                    while not self._stopped.is_set():
                        await client.publish(topic, self.health("online"), qos=c.mqtt.qos, retain=True, timeout=3)
                        self._log_counts()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._stopped.wait(), c.health_interval_s)
                    await client.publish(topic, self.health("offline"), qos=c.mqtt.qos, retain=True, timeout=3)
                    return
            except aiomqtt.MqttError as e:
                log.debug("health: MQTT %s: %s", c.mqtt.url, e)
            except Exception:  # the health message must not take the gateway down, nor silently stop
                log.exception("health: publishing failed")
            self._log_counts()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, c.mqtt.reconnect_max_s)

    def _log_counts(self) -> None:
        n = self.counts()
        up = sum(s.state is EndpointState.CONNECTED for s in self.sources)
        log.info("edge %s: %d/%d endpoints up, %d machines; received %d, published %d, queued %d, replayed %d, "
                 "dropped %d, bad values %d, reconnects OPC UA %d / MQTT %d", self.config.name, up,
                 len(self.sources), len(self.bridges), n["received"], n["published"], n["queued"], n["replayed"],
                 n["dropped"], n["bad_values"], n["opcua_reconnects"], n["mqtt_reconnects"])
