"""The simulator's OPC UA servers seen by a client we did not write: node-opcua, from npm.

node-opcua is what Node-RED's OPC UA nodes (node-red-contrib-opcua) are built on. Its
reconnection follows OPC UA Part 4 to the letter: after a server restart it makes a new
session, transfers or re-creates its subscription, then calls Republish until the server
answers ``BadMessageNotAvailable`` — a server answering anything else keeps it asking for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shopfloor import Protocol, load_plant
from simulator import LiveRun, OpcUaServers, OpcUaSettings, Simulation
from simulator._opcua import MachineServer

from .conftest import EXAMPLES, ROOT
from .recording import wait_until
from .servers import find_program, free_port

pytestmark = pytest.mark.integration

NODE_DIR = ROOT / "tests" / "node"
#: from the restarted server listening to the client's next notification: node-opcua's backoff (at most 1 s
#: here), a new session, the subscription re-created and its Republish answered, a publishing interval
RECOVERY_S = 10.0
#: how long the client is watched once data flows again, for spinning
WATCH_S = 3.0


def node_client_args(endpoint: str, node_id: str) -> list[str]:
    node = find_program("node", "nodejs")
    if not (NODE_DIR / "node_modules" / "node-opcua-client").is_dir():
        pytest.fail(f"node-opcua-client is not installed in {NODE_DIR}: npm ci --prefix {NODE_DIR} "
                    "(bash .ci/run does it)")
    return [node, str(NODE_DIR / "subscribe.js"), endpoint, node_id]


class NodeClient:
    """``tests/node/subscribe.js`` in its own process: its JSON lines as they come, and its CPU time."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.other: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(*self.args, stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            if line.startswith(b'{"event"'):  # node-opcua prints its own warnings on stdout too
                self.events.append((time.monotonic(), json.loads(line)))
            else:
                self.other.append(line.decode(errors="replace").rstrip())

    def values_since(self, t: float) -> int:
        return sum(1 for at, e in self.events if at >= t and e["event"] == "value")

    def cpu_s(self) -> float:
        """User and system CPU seconds the client process used so far (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        if self.proc.returncode is None:
            self.proc.terminate()
        err = (await self.proc.stderr.read()).decode(errors="replace")
        await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return err


@contextmanager
def republish_requests() -> Iterator[list[float]]:
    """When the servers received each Republish request (from asyncua's own request log)."""
    seen: list[float] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.msg.startswith("re-publish request"):
                seen.append(time.monotonic())

    logger = logging.getLogger("asyncua.server.uaprocessor")
    handler, level = Count(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_node_opcua_client_gets_data_again_after_the_server_restarts() -> None:
    async def main() -> dict[str, float]:
        sim = Simulation(load_plant(EXAMPLES / "wuhan-machining.yaml"), seed=1)
        machines = [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol is Protocol.OPCUA]
        lathe = next(m for m in machines if m.at.machine.id == "WH-C01")
        servers = OpcUaServers(machines, OpcUaSettings(port=free_port()))
        got: dict[str, float] = {}
        with republish_requests() as republished:
            async with LiveRun(sim, [(servers, machines)], sample_period_s=0.1) as live:
                run = asyncio.create_task(live.run(None, speed=10))
                old = servers.servers[0]
                # the coolant temperature carries noise: it changes with every sample
                client = NodeClient(node_client_args(old.endpoint, f"ns={old.ns};s={lathe.path}/Monitoring/"
                                                                   "coolant_temp_c"))
                await client.start()
                try:
                    await wait_until(lambda: client.values_since(0) >= 5, 30)
                    await old.stop()
                    await wait_until(lambda: any(e["event"] == "connection_lost" for _, e in client.events), 10)
                    await asyncio.sleep(1.0)
                    new = MachineServer(old.name, old.endpoint, old.machines, old.settings)
                    servers.servers[0] = new  # published to while it starts, current when it opens
                    await new.start(live.snapshot)
                    listening = time.monotonic()
                    with contextlib.suppress(AssertionError):  # measured below either way
                        await wait_until(lambda: client.values_since(listening) > 0, RECOVERY_S)
                    back = [at for at, e in client.events if at >= listening and e["event"] == "value"]
                    got["recovered_after_s"] = back[0] - listening if back else math.inf
                    # data keeps flowing, and the client is not busy asking for what the server does not have
                    cpu0, watched = client.cpu_s(), time.monotonic()
                    await asyncio.sleep(WATCH_S)
                    got["cpu_share"] = (client.cpu_s() - cpu0) / (time.monotonic() - watched)
                    got["values_watched"] = client.values_since(watched)
                    got["republished_after_restart"] = sum(1 for t in republished if t >= listening)
                finally:
                    err = await client.stop()
                    run.cancel()
                assert "subscribe.js:" not in err, err
        return got

    got = asyncio.run(main())
    assert got["recovered_after_s"] < RECOVERY_S
    # one Republish per subscription ends the client's catch-up (a spinning client sends thousands a second)
    assert got["republished_after_restart"] <= 3, got
    assert got["cpu_share"] < 0.25, got
    assert got["values_watched"] >= WATCH_S / 0.1 / 2, got  # about one a publishing interval
