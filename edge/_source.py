"""One OPC UA endpoint: connect, find machines, subscribe, and start over when anything breaks.

The gateway does its own recovery instead of asyncua's auto-reconnect: when a
session dies (server restarted, network cut, keep-alive missed) every machine of
the endpoint goes ``offline``, the sessions are closed, and after a capped,
jittered backoff the gateway connects anew, resolves node ids again (browsing
or node map) and re-creates **all** subscriptions; machines come back with a
birth and ``online``.

Notifications arrive a publish response at a time; each response is handed to
the machines' bridges in order and in one piece, so a state change and the
product written before it stay together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import time
import zlib
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.common.subscription import Subscription
from asyncua.crypto import security_policies, uacrypto
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from shopfloor._asyncua_seam import abort, keep_watched, quiet_lost_connections
from shopfloor.lifecycle import Backoff

from ._bridge import Field, MachineBridge, Point, Stats
from ._config import EndpointConfig
from ._discover import DiscoveryError, Found, discover, resolve

log = logging.getLogger(__name__)

#: monitored items per CreateMonitoredItems request
ITEMS_PER_REQUEST = 1000
#: status codes worth a plain-language hint
_HINTS = {
    "BadUserAccessDenied": "the server refused the user name or password",
    "BadIdentityTokenInvalid": "the server refused the user name or password",
    "BadIdentityTokenRejected": "the server does not accept this kind of login (anonymous or user name)",
    "BadSecurityPolicyRejected": "the server does not accept this security policy",
    "BadSecurityChecksFailed": "security checks failed (certificate not trusted by the server?)",
    "BadCertificateUntrusted": "the server does not trust the gateway's certificate",
    "BadTooManySessions": "the server has too many sessions",
}

#: status changes a server sends when it ends a subscription
_ENDED = {
    "BadTimeout": "its lifetime expired (the server went too long without our publish requests)",
    "BadShutdown": "the server is shutting down",
    "GoodSubscriptionTransferred": "it was transferred to another session",
}


class EndpointState(StrEnum):
    """Where an endpoint's connection stands, as the gateway's health message reports it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class SetupError(Exception):
    """A problem the user must fix on the server or in the config; retried all the same."""


BridgeFor = Callable[[str], MachineBridge]


class Loss:
    """The end of an endpoint's connection, once, with what ended it in plain words."""

    def __init__(self) -> None:
        self.why = ""
        self._event = asyncio.Event()

    def set(self, why: str) -> None:
        if not self._event.is_set():  # the first cause is the one that counts
            self.why = why
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


class _BatchSubscription(Subscription):  # type: ignore[misc]
    """Hands each publish response's data changes over in one call, in the server's order."""

    def __init__(self, session: Any, params: ua.CreateSubscriptionParameters,
                 deliver: Callable[[list[ua.MonitoredItemNotification]], None], lost: Loss) -> None:
        super().__init__(session, params, None)
        self.deliver = deliver
        self.lost = lost

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        self.last_publish_at = time.monotonic()
        data = publish_result.NotificationMessage.NotificationData
        if not data:
            return
        self.last_sequence_number = int(publish_result.NotificationMessage.SequenceNumber)
        items: list[ua.MonitoredItemNotification] = []
        for notification in data:
            if isinstance(notification, ua.DataChangeNotification):
                items.extend(notification.MonitoredItems)
            elif isinstance(notification, ua.StatusChangeNotification) and not self.lost.is_set():
                # (asyncua also tells its subscriptions of a lost connection, as BadShutdown, after the
                # connection-lost callback: that loss is already known and said)
                self.lost.set(_ended(notification.Status, self.subscription_id))
        if items:
            self.deliver(items)


class OpcUaSource:
    def __init__(self, config: EndpointConfig, bridge_for: BridgeFor, stats: Stats, *, gateway: str,
                 reconnect_min_s: float, reconnect_max_s: float, cert_lock: asyncio.Lock | None = None,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.config = config
        self.bridge_for = bridge_for
        self.stats = stats
        self.gateway = gateway
        self.shard = shard
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.state = EndpointState.CONNECTING
        self.attached: list[MachineBridge] = []
        #: connections that were up and were lost (each loss begins new sessions for the machines: telemetry.md)
        self.losses = 0
        self.machines = 0
        self.items = 0
        self.subscriptions = 0
        self._handles: dict[int, Point] = {}
        self._bridges: dict[str, MachineBridge] = {}
        #: notifications waiting while subscriptions are made (None: delivered at once)
        self._held: list[list[ua.MonitoredItemNotification]] | None = None
        self._warned_trust = False
        #: endpoints sharing a certificate directory must not generate the gateway's key at once
        self._cert_lock = cert_lock or asyncio.Lock()
        self._last_problem = ""
        self.connected = asyncio.Event()
        # a server gone away is said by this class, not by an asyncua traceback
        quiet_lost_connections()

    @property
    def url(self) -> str:
        return self.config.url

    async def run(self) -> None:
        backoff = Backoff(self.reconnect_min_s, self.reconnect_max_s)
        first = True
        while True:
            lost = Loss()
            clients: list[Client] = []
            try:
                self.state = EndpointState.CONNECTING
                for _ in range(self.config.sessions):
                    clients.append(await self._connect(lost))
                if not first:
                    self.stats.opcua_reconnects += 1
                await self._subscribe(clients, lost)
                self.state = EndpointState.CONNECTED
                self.connected.set()
                self._last_problem = ""
                first = False
                backoff.reset()
                await lost.wait()
                self.losses += 1
                log.warning("%s: %s; %d machine(s) offline until it is back", self.url, lost.why,
                            len(self.attached))
            except Exception as e:  # whatever a server does, the endpoint is retried, never given up
                problem = _describe(e)
                if not isinstance(e, OSError | TimeoutError | ua.UaError | SetupError | DiscoveryError):
                    log.exception("%s: unexpected error", self.url)
                # the same problem again is not news: the health topic shows the endpoint is down
                level = logging.DEBUG if problem == self._last_problem else logging.WARNING
                self._last_problem = problem
                log.log(level, "%s: %s; retrying in about %.1f s", self.url, problem, backoff.step)
            finally:
                self.state = EndpointState.DISCONNECTED
                self.connected.clear()
                for bridge in self.attached:
                    bridge.detach()
                self.attached = []
                await asyncio.gather(*(_close(c) for c in clients))
            await asyncio.sleep(backoff.next())

    async def check(self) -> str:
        """Open one session as configured (security, user), find the machines as a start would (browsing or the
        node map), and close it, subscribing to nothing: what was found; raises what the server answered."""
        client = await self._connect(Loss())
        try:
            if self.config.discover:
                found = await discover(client, round(self.config.publishing_interval_s * 1000))
            else:
                found = await resolve(client, self.config.machines)
        finally:
            await _close(client)
        how = "found by browsing" if self.config.discover else "of the node map resolved"
        user = f", as {self.config.username}" if self.config.username else ""
        return f"{len(found)} machine(s) {how}, security {self.config.security}{user}; nothing subscribed"

    # ------------------------------------------------------------ connecting

    async def _connect(self, lost: Loss) -> Client:
        c = self.config
        client = Client(c.url, timeout=c.timeout_s)
        client.application_uri = f"urn:sfsim:edge:{self.gateway}"
        client.name = client.description = f"sfsim edge {self.gateway}"
        client.session_timeout = 60_000  # a dead gateway's session should not linger for the default hour
        if c.username is not None:
            client.set_user(c.username)
            client.set_password(c.password or "")
        if c.security != "none":
            await self._secure(client)

        async def on_lost(exc: Exception) -> None:
            lost.set(_loss(exc))

        client.connection_lost_callback = on_lost
        try:
            await asyncio.wait_for(client.connect(), c.timeout_s * 2)
        except BaseException:
            abort(client)  # a cancelled connect leaves its socket open otherwise
            raise
        return client

    async def _secure(self, client: Client) -> None:
        c = self.config
        mode = ua.MessageSecurityMode.Sign if c.security == "sign" else ua.MessageSecurityMode.SignAndEncrypt
        policy = security_policies.SecurityPolicyBasic256Sha256
        c.cert_dir.mkdir(parents=True, exist_ok=True)
        key, cert = c.cert_dir / f"{self.gateway}-key.pem", c.cert_dir / f"{self.gateway}-cert.der"
        async with self._cert_lock:
            await setup_self_signed_certificate(
                key, cert, client.application_uri, socket.gethostname(), [ExtendedKeyUsageOID.CLIENT_AUTH],
                {"countryName": "CN", "organizationName": "sfsim", "commonName": f"sfsim edge {self.gateway}"},
            )
        endpoints = await asyncio.wait_for(client.connect_and_get_server_endpoints(), c.timeout_s)
        chosen = [e for e in endpoints if e.SecurityMode == mode and e.SecurityPolicyUri == policy.URI]
        if not chosen:
            offered = sorted({f"{e.SecurityPolicyUri.rsplit('#', 1)[-1]} {e.SecurityMode.name.rstrip('_')}"
                              for e in endpoints})
            raise SetupError(f"the server offers no Basic256Sha256 {mode.name} endpoint (it offers: "
                             f"{', '.join(offered)}); set security to match")
        server_der = chosen[0].ServerCertificate
        self._check_trust(server_der)
        await client.set_security(policy, str(cert), str(key), server_certificate=server_der, mode=mode)

    def _check_trust(self, der: bytes) -> None:
        c = self.config
        certificate = uacrypto.x509_from_der(der)  # the first certificate of a chain is the server's
        thumb = certificate.fingerprint(hashes.SHA1()).hex()
        if c.trusted_dir is None:
            if not self._warned_trust:
                log.warning("%s: accepting server certificate %s (SHA-1 %s) without a trust list; set trusted_dir "
                            "to accept only known servers", self.url, certificate.subject.rfc4514_string(), thumb)
                self._warned_trust = True
            return
        c.trusted_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(c.trusted_dir.iterdir()):
            if path.is_file() and _fingerprint(path) == thumb:
                return
        rejected = c.cert_dir / "rejected"
        rejected.mkdir(parents=True, exist_ok=True)
        saved = rejected / f"{thumb}.der"
        saved.write_bytes(der)
        raise SetupError(f"server certificate {certificate.subject.rfc4514_string()} (SHA-1 {thumb}) is not in "
                         f"{c.trusted_dir}; it was saved as {saved}: move it there to trust this server")

    # ------------------------------------------------------------ subscribing

    async def _subscribe(self, clients: Sequence[Client], lost: Loss) -> None:
        c = self.config
        period_ms = round(c.publishing_interval_s * 1000)
        if c.discover:
            found = await discover(clients[0], period_ms)
            if not found:
                raise SetupError("browsing found no machine (no object of type MachineType)")
        else:
            found = await resolve(clients[0], c.machines)
        k, n = self.shard
        if n > 1:
            found = [m for m in found if zlib.crc32(m.path.encode("utf-8")) % n == k]
        self._handles = {}
        self._bridges = {}
        self.items = 0
        self.subscriptions = 0
        handle = 0
        # a machine's variables share one subscription, so its notifications keep their order
        per_session: list[list[Found]] = [[] for _ in clients]
        for i, machine in enumerate(found):
            per_session[i % len(clients)].append(machine)
        created: dict[str, list[Point]] = {}
        # the first values may arrive while other items are still being created: they wait, so that a birth
        # names only what could be subscribed
        self._held = []
        for client, machines in zip(clients, per_session, strict=True):
            subscription: _BatchSubscription | None = None
            in_subscription = 0
            requests: list[tuple[ua.MonitoredItemCreateRequest, Point]] = []
            for machine in machines:
                self._bridges[machine.path] = self.bridge_for(machine.path)
                if subscription is None or in_subscription + len(machine.points) > c.max_items_per_subscription:
                    if subscription is not None:
                        await self._create_items(subscription, requests, created)
                        requests = []
                    subscription = await self._new_subscription(client, lost)
                    in_subscription = 0
                for point in machine.points:
                    handle += 1
                    requests.append((self._request(point, handle), point))
                    self._handles[handle] = point
                in_subscription += len(machine.points)
            if subscription is not None and requests:
                await self._create_items(subscription, requests, created)
        for machine in found:
            points = created.get(machine.path)
            if not points:
                log.warning("%s: %s: none of its variables could be subscribed; not bridged", self.url, machine.path)
                continue
            # the birth lists the signals that were subscribed: exactly what its signals messages can carry
            subscribed = {p.name for p in points if p.field is Field.SIGNAL}
            nameplate = {**machine.nameplate,
                         "signals": [s for s in machine.nameplate.get("signals", ()) if s in subscribed]}
            bridge = self._bridges[machine.path]
            bridge.attach(nameplate, frozenset(p.field for p in points))
            self.attached.append(bridge)
        self.machines = len(self.attached)
        held, self._held = self._held, None
        for items in held:
            self._deliver(items)
        log.info("%s: %d machine(s), %d monitored item(s) in %d subscription(s) over %d session(s), security %s",
                 self.url, self.machines, self.items, self.subscriptions, len(clients), c.security)

    async def _new_subscription(self, client: Client, lost: Loss) -> _BatchSubscription:
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = self.config.publishing_interval_s * 1000
        params.RequestedLifetimeCount = 10000
        params.RequestedMaxKeepAliveCount = client.get_keepalive_count(params.RequestedPublishingInterval)
        params.MaxNotificationsPerPublish = 0  # no limit: a burst is one response, not many
        params.PublishingEnabled = True
        params.Priority = 0
        subscription = _BatchSubscription(client.uaclient.session, params, self._deliver, lost)
        results = await subscription.init()
        revised = client.get_subscription_revised_params(params, results)
        if revised:
            await subscription.update(revised)
        self.subscriptions += 1
        keep_watched(client, subscription)
        return subscription

    def _request(self, point: Point, handle: int) -> ua.MonitoredItemCreateRequest:
        c = self.config
        # counters are queued like states: a sample at a window edge (an exact count for an hour) must not be
        # replaced by a later one within the publishing interval; a signal's newest value is enough
        queued = point.field is not Field.SIGNAL
        parameters = ua.MonitoringParameters()
        parameters.ClientHandle = handle
        parameters.SamplingInterval = c.sampling_interval_s * 1000
        parameters.QueueSize = c.queue_size if queued else c.sample_queue_size
        parameters.DiscardOldest = True
        if point.field is Field.REASON:
            # a state change to the same reason (another product, say) changes only the timestamp
            parameters.Filter = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
        elif point.field is Field.SIGNAL and c.deadband > 0:
            parameters.Filter = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValue,
                                                    DeadbandType=ua.DeadbandType.Absolute, DeadbandValue=c.deadband)
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = ua.ReadValueId(NodeId=ua.NodeId.from_string(point.node),
                                               AttributeId=ua.AttributeIds.Value)
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = parameters
        return request

    async def _create_items(self, subscription: _BatchSubscription,
                            requests: list[tuple[ua.MonitoredItemCreateRequest, Point]],
                            created: dict[str, list[Point]]) -> None:
        for i in range(0, len(requests), ITEMS_PER_REQUEST):
            chunk = requests[i : i + ITEMS_PER_REQUEST]
            results = await subscription.create_monitored_items([r for r, _ in chunk])
            for (_, point), result in zip(chunk, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    log.warning("%s: %s %s %s: %s; not bridged", self.url, point.path, point.field.value, point.node,
                                result.name)
                    self.stats.bad_values += 1
                    continue
                self.items += 1
                created.setdefault(point.path, []).append(point)

    def _deliver(self, items: list[ua.MonitoredItemNotification]) -> None:
        """One publish response: grouped by machine, order kept."""
        if self._held is not None:
            self._held.append(items)
            return
        by_machine: dict[str, list[tuple[Point, Any, int]]] = {}
        for item in items:
            point = self._handles.get(item.ClientHandle)
            if point is None:
                continue
            dv = item.Value
            if dv.StatusCode is not None and not dv.StatusCode.is_good():
                if point.field in (Field.REASON, Field.STATE) and dv.StatusCode.value in LINK_LOST:
                    by_machine.pop(point.path, None)
                    self._bridges[point.path].link_lost(dv.StatusCode.name)
                else:
                    self._bridges[point.path].bad(point, f"status {dv.StatusCode.name}")
                continue
            value = dv.Value.Value if dv.Value is not None else None
            when = dv.SourceTimestamp or dv.ServerTimestamp
            ts = _ms(when) if when is not None else round(time.time() * 1000)
            by_machine.setdefault(point.path, []).append((point, value, ts))
        for path, changes in by_machine.items():
            try:
                self._bridges[path].apply(changes)
            except Exception:  # one machine's surprise must not cost the others their values
                log.exception("%s: %s: values could not be bridged", self.url, path)


#: a status on a machine's state that says the server cannot reach the machine (an aggregating server, a gateway
#: in front of a PLC): the machine is offline until its state comes with a good status again
LINK_LOST = frozenset(int(code) for code in (
    ua.StatusCodes.BadNoCommunication, ua.StatusCodes.BadCommunicationError, ua.StatusCodes.BadNotConnected,
    ua.StatusCodes.BadServerNotConnected, ua.StatusCodes.BadDeviceFailure))


def _ms(when: dt.datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return round(when.timestamp() * 1000)


def _fingerprint(path: Path) -> str | None:
    data = path.read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        return None
    return cert.fingerprint(hashes.SHA1()).hex()


def _loss(e: BaseException) -> str:
    """What ended a connection that was up, as asyncua's watchdog found it."""
    if isinstance(e, TimeoutError):
        return "the server stopped answering (frozen, overloaded, or the network is cut)"
    if isinstance(e, ConnectionError):
        return "the server closed the connection (stopped or restarting?)"
    if isinstance(e, OSError):
        return f"the connection failed: {e.strerror or e}"
    return f"the connection was lost: {_describe(e)}"


def _ended(status: ua.StatusCode, subscription_id: int) -> str:
    """A status change the server sent for a subscription: it is over, the endpoint starts over."""
    name = status.name
    why = _ENDED.get(name)
    return f"the server ended subscription {subscription_id}: {why} ({name})" if why else \
        f"the server ended subscription {subscription_id} ({name})"


def _describe(e: BaseException) -> str:
    if isinstance(e, ua.UaStatusCodeError):
        name = ua.StatusCode(e.code).name if hasattr(e, "code") else type(e).__name__
        hint = _HINTS.get(name)
        return f"{hint} ({name})" if hint else name
    if isinstance(e, ConnectionRefusedError):
        return "connection refused (is the server running, is the port right?)"
    if isinstance(e, TimeoutError):
        return "no answer in time"
    if isinstance(e, OSError):
        return f"cannot connect: {e.strerror or e}"
    return str(e) or type(e).__name__


async def _close(client: Client) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), 2.0)
    except Exception:  # the server may already be gone; the session dies with it
        log.debug("disconnect from %s failed", client.server_url.geturl(), exc_info=True)
    finally:
        abort(client)

