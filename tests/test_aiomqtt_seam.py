"""shopfloor/_aiomqtt_seam.py: each aiomqtt internal it relies on, against the installed aiomqtt (no broker:
tests/test_outboxes.py and tests/test_mqtt_machines.py run the publisher sessions against Mosquitto).

When one of these fails after an aiomqtt upgrade, the seam module needs a look, not the publisher: its
docstring says what each internal is used for.
"""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from shopfloor._aiomqtt_seam import SEAM, TidyClient, check, connection_lost
from shopfloor._seam_check import Requirement


@pytest.mark.parametrize("requirement", SEAM.requires, ids=str)
def test_the_installed_aiomqtt_has_what_the_seam_relies_on(requirement: Requirement) -> None:
    problem = SEAM.broken(requirement)
    assert problem is None, problem


def test_check_says_nothing_changed() -> None:
    assert check() == []


def test_a_client_not_connected_has_not_lost_its_connection() -> None:
    async def main() -> None:
        client = TidyClient("127.0.0.1")
        assert isinstance(client, aiomqtt.Client)
        lost = connection_lost(client)
        assert isinstance(lost, asyncio.Future) and not lost.done()

    asyncio.run(main())
