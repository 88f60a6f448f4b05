"""``sfsim edge --check --connect``: the broker and every OPC UA endpoint, tried with the configured credentials.

Nothing is published and nothing subscribed: the broker gets a connection of the check's own,
each endpoint one session that browses (or resolves the node map) and closes.
"""

from __future__ import annotations

import asyncio

from asyncua import ua

from shopfloor.checks import Check, check_broker

from ._bridge import MachineBridge, Stats
from ._config import EdgeConfig
from ._discover import DiscoveryError
from ._source import OpcUaSource, SetupError, _describe


async def check_connections(config: EdgeConfig) -> list[Check]:
    """The broker, then each endpoint in the configuration's order, tried at once."""
    lock = asyncio.Lock()  # endpoints sharing a certificate directory make the gateway's key once

    def unused(path: str) -> MachineBridge:
        raise AssertionError(f"a check bridges no machine ({path})")

    async def endpoint(source: OpcUaSource) -> Check:
        target = f"OPC UA {source.url}"
        try:
            return Check(target, True, await source.check())
        except (OSError, TimeoutError, ua.UaError, SetupError, DiscoveryError) as e:
            return Check(target, False, _describe(e))

    sources = [OpcUaSource(e, unused, Stats(), gateway=config.name, reconnect_min_s=config.reconnect_min_s,
                           reconnect_max_s=config.reconnect_max_s, cert_lock=lock) for e in config.endpoints]
    return list(await asyncio.gather(check_broker(config.mqtt), *(endpoint(s) for s in sources)))
