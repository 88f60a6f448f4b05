"""shopfloor/_aiomqtt_seam.py's helpers (no broker: tests/test_outboxes.py and tests/test_mqtt_machines.py run the
publisher sessions against Mosquitto; tests/test_seams.py checks each internal against the installed aiomqtt)."""

from __future__ import annotations

import asyncio

import aiomqtt

from shopfloor._aiomqtt_seam import TidyClient, connection_lost


def test_a_client_not_connected_has_not_lost_its_connection() -> None:
    async def main() -> None:
        client = TidyClient("127.0.0.1")
        assert isinstance(client, aiomqtt.Client)
        lost = connection_lost(client)
        assert isinstance(lost, asyncio.Future) and not lost.done()

    asyncio.run(main())
