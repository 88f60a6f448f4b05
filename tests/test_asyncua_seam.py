"""shopfloor/_asyncua_seam.py: each assumption it makes about asyncua's internals, against the installed asyncua:
each internal it names (no server: tests/test_seams.py), then each workaround against a real server and client.

When one of these fails after an asyncua upgrade, the seam module needs a look, not the callers:
the docstring of shopfloor/_asyncua_seam.py says what each workaround is for and when to drop it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, Server, ua
from asyncua.common.connection import SecureConnection
from asyncua.common.subscription import Subscription
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from shopfloor._asyncua_seam import (
    CLIENT_SESSION_LOGGER,
    SERVER_PROCESSOR_LOGGER,
    offered_policies_only,
    quiet_lost_connections,
    serve_republish_per_spec,
    undelivered,
)

from .servers import free_port


async def start_server(*, per_spec: bool) -> tuple[Server, str, ua.NodeId]:
    """A bare asyncua server with one variable: (server, endpoint, the variable's node id)."""
    server = Server()
    await server.init()
    if per_spec:
        serve_republish_per_spec(server)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/seam"
    server.set_endpoint(endpoint)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:sfsim:test")
    counter = await server.nodes.objects.add_variable(ua.NodeId("counter", ns), "counter", 0)
    await server.start()
    return server, endpoint, counter.nodeid


@asynccontextmanager
async def server_with_a_counter(*, per_spec: bool) -> AsyncIterator[tuple[Server, str, ua.NodeId]]:
    server, endpoint, counter = await start_server(per_spec=per_spec)
    try:
        yield server, endpoint, counter
    finally:
        await server.stop()


class HeldSubscription(Subscription):  # type: ignore[misc]
    """Holds the client's publish loop on each notification, so the server keeps it unacknowledged."""

    def __init__(self, client: Client) -> None:
        params = ua.CreateSubscriptionParameters(RequestedPublishingInterval=50, RequestedLifetimeCount=1000,
                                                 RequestedMaxKeepAliveCount=10, PublishingEnabled=True)
        super().__init__(client.uaclient.session, params, None)
        self.sequence_numbers: asyncio.Queue[int] = asyncio.Queue()
        self.release = asyncio.Event()

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        if publish_result.NotificationMessage.NotificationData:
            self.sequence_numbers.put_nowait(publish_result.NotificationMessage.SequenceNumber)
            await self.release.wait()  # asyncua acknowledges a message in the Publish after this returns


async def republish(client: Client, subscription_id: int, sequence_number: int) -> ua.NotificationMessage:
    return await client.uaclient.session.republish(subscription_id, sequence_number)


@pytest.mark.integration
def test_republish_answers_as_opc_ua_part_4_says(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with server_with_a_counter(per_spec=True) as (_, endpoint, counter), Client(endpoint) as client:
            subscription = HeldSubscription(client)
            await subscription.init()
            await subscription.subscribe_data_change(client.get_node(counter))
            seq = await asyncio.wait_for(subscription.sequence_numbers.get(), 10)
            # a message not yet acknowledged is sent again, as often as asked
            for _ in range(2):
                message = await republish(client, subscription.subscription_id, seq)
                assert message.SequenceNumber == seq and message.NotificationData
            # one the server does not have ends a client's catch-up
            with pytest.raises(ua.uaerrors.BadMessageNotAvailable):
                await republish(client, subscription.subscription_id, seq + 1)
            with pytest.raises(ua.uaerrors.BadSubscriptionIdInvalid):
                await republish(client, subscription.subscription_id + 1000, 1)
            subscription.release.set()

    with caplog.at_level(logging.DEBUG, logger="asyncua"):
        asyncio.run(main())
    faults = [r for r in caplog.records if r.name == SERVER_PROCESSOR_LOGGER and "fault" in r.getMessage()]
    # asyncua's ServiceFault log line, recognised by the seam: the normal end of a catch-up is no error
    assert len(faults) == 2 and all(r.levelno == logging.DEBUG for r in faults), faults


@pytest.mark.integration
def test_asyncua_itself_still_answers_republish_with_an_empty_message() -> None:
    """The day this fails, asyncua answers Republish per the spec: drop ``serve_republish_per_spec``."""
    async def main() -> list[Any]:
        async with server_with_a_counter(per_spec=False) as (_, endpoint, counter), Client(endpoint) as client:
            subscription = HeldSubscription(client)
            await subscription.init()
            await subscription.subscribe_data_change(client.get_node(counter))
            seq = await asyncio.wait_for(subscription.sequence_numbers.get(), 10)
            answers = [await republish(client, subscription.subscription_id, seq + 1),
                       await republish(client, subscription.subscription_id + 1000, 1)]
            subscription.release.set()
            return answers

    for answer in asyncio.run(main()):
        assert answer.NotificationData == [] and answer.SequenceNumber == 0


@pytest.mark.integration
def test_a_server_gone_away_is_no_error_in_the_clients_log(caplog: pytest.LogCaptureFixture) -> None:
    quiet_lost_connections()

    async def main() -> None:
        server, endpoint, counter = await start_server(per_spec=True)
        client = Client(endpoint)
        await client.connect()
        subscription = await client.create_subscription(50, None)
        await subscription.subscribe_data_change(client.get_node(counter))
        await server.stop()
        for _ in range(60):  # asyncua's publish loop notices within a second
            if any(r.name == CLIENT_SESSION_LOGGER and "Publish" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        await client.disconnect()

    with caplog.at_level(logging.DEBUG, logger="asyncua"):
        asyncio.run(main())
    crashed = [r for r in caplog.records if r.name == CLIENT_SESSION_LOGGER and "Publish" in r.getMessage()]
    assert crashed and all(r.levelno == logging.DEBUG for r in crashed), crashed
    assert not [r for r in caplog.records if r.name.startswith("asyncua.client") and r.levelno >= logging.ERROR]


@pytest.mark.integration
def test_notifications_count_as_undelivered_until_the_client_acknowledges_them() -> None:
    async def main() -> list[list[float]]:
        async with server_with_a_counter(per_spec=True) as (server, endpoint, counter), Client(endpoint) as client:
            subscription = HeldSubscription(client)
            await subscription.init()
            await subscription.subscribe_data_change(client.get_node(counter))
            await asyncio.wait_for(subscription.sequence_numbers.get(), 10)
            seen = [undelivered(server)]  # sent, not acknowledged
            subscription.release.set()
            await server.write_attribute_value(counter, ua.DataValue(ua.Variant(1, ua.VariantType.Int64)))
            seen.append(undelivered(server))  # queued for the next Publish
            for _ in range(100):
                if not undelivered(server):
                    break
                await asyncio.sleep(0.02)
            seen.append(undelivered(server))
            return seen

    assert asyncio.run(main()) == [[0.05], [0.05], []]


async def read_without_security(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The counter of a server that offers Basic256Sha256 SignAndEncrypt only, read over a channel without security
    by a client that skips the check of the server's endpoints (asyncua's own gives up when it finds no such
    endpoint; others need not)."""
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/seam"
    server.set_endpoint(endpoint)
    server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    key, cert = tmp_path / "key.pem", tmp_path / "cert.der"
    await setup_self_signed_certificate(key, cert, "urn:sfsim:seam", "127.0.0.1", [ExtendedKeyUsageOID.SERVER_AUTH],
                                        {"commonName": "seam"})
    await server.load_certificate(cert)
    await server.load_private_key(key)
    ns = await server.register_namespace("urn:sfsim:test")
    counter = await server.nodes.objects.add_variable(ua.NodeId("counter", ns), "counter", 7)
    monkeypatch.setattr(Client, "find_endpoint", staticmethod(lambda endpoints, mode, uri: endpoints[0]))
    async with server, Client(endpoint) as client:
        return await client.get_node(counter.nodeid).read_value()


@pytest.mark.integration
def test_a_channel_with_a_policy_the_server_does_not_offer_may_do_nothing(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    offered_policies_only()
    with pytest.raises(ua.uaerrors.BadUserAccessDenied):
        asyncio.run(read_without_security(tmp_path, monkeypatch))


@pytest.mark.integration
def test_asyncua_itself_still_opens_a_channel_with_a_policy_it_does_not_offer(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    offered_policies_only()
    monkeypatch.setattr(SecureConnection, "select_policy", SecureConnection.select_policy.asyncuas)
    # the day this fails, asyncua refuses such a channel itself: drop offered_policies_only
    assert asyncio.run(read_without_security(tmp_path, monkeypatch)) == 7
