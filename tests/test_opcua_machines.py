"""The simulator's OPC UA servers, seen by asyncua clients and asyncua's command-line tools."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, Node, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography.x509.oid import ExtendedKeyUsageOID

from shopfloor import Protocol, load_plant
from simulator import LiveRun, OpcUaServers, OpcUaSettings, Simulation
from simulator._opcua import MachineServer

from .conftest import EXAMPLES
from .opcua import find_machines, read_child
from .servers import free_port

pytestmark = pytest.mark.integration

WUHAN = load_plant(EXAMPLES / "wuhan-machining.yaml")


def opcua_machines(sim: Simulation) -> list[Any]:
    return [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol is Protocol.OPCUA]


async def watch_stop_reason(client: Client, machine: Node) -> list[tuple[int, int]]:
    """Every StopReason a subscription to ``machine`` is told, as (source timestamp in epoch ms, code)."""
    reason = await machine.get_child([f"{machine.nodeid.NamespaceIndex}:StopReason"])
    seen: list[tuple[int, int]] = []

    class Handler:
        def datachange_notification(self, node: Node, value: int, data: Any) -> None:
            stamp = data.monitored_item.Value.SourceTimestamp
            seen.append((round(stamp.replace(tzinfo=dt.UTC).timestamp() * 1000), value))

    sub = await client.create_subscription(20, Handler())
    await sub.subscribe_data_change(reason, queuesize=100_000)
    return seen


async def logged_when_seen(sim: Simulation, machine: Any, seen: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The machine's logged states, once ``seen`` has the last of them (notifications come with the next
    publishing cycles)."""
    log = [(round((sim.start_epoch + t) * 1000), r) for t, r in zip(machine.log_t, machine.log_r, strict=True)]
    for _ in range(200):
        if seen and seen[-1] == log[-1]:
            break
        await asyncio.sleep(0.05)
    return log


def test_clients_discover_machines_by_browsing_and_read_the_truth(tmp_path: Path) -> None:
    async def main() -> None:
        sim = Simulation(WUHAN, seed=1)
        machines = opcua_machines(sim)
        servers = OpcUaServers(machines, OpcUaSettings(port=free_port()))
        (endpoint,) = servers.endpoints
        async with LiveRun(sim, [(servers, machines)], sample_period_s=0.05) as live, Client(endpoint) as client:
            found = await find_machines(client)
            assert set(found) == {m.path for m in machines}
            lathe = next(m for m in machines if m.at.machine.id == "WH-C01")
            node = found[lathe.path]
            assert await read_child(node, "Identification", "Manufacturer") == "大连机床"
            assert await read_child(node, "Identification", "SerialNumber") == "DL-2019-0815"
            assert await read_child(node, "Identification", "ControlType") == "cnc"
            assert await read_child(node, "Identification", "KeyProcess") is True
            assert await read_child(node, "Identification", "IdealCycleTime_BD-320") == 75.0

            # a subscription sees every state change, in order, with source timestamps
            seen = await watch_stop_reason(client, node)
            await live.run(4 * 3600, speed=4 * 3600 / 3)
            await live.publish(sample=True)
            log = await logged_when_seen(sim, lathe, seen)
            assert len(seen) > 20
            # the state when the subscription began, then every change
            assert seen == log[-len(seen):]
            assert [t for t, _ in seen] == sorted(t for t, _ in seen)

            # uals / uaread: asyncua's own command-line tools, a client we did not write
            ns = node.nodeid.NamespaceIndex
            uals = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "uals"), "-u", endpoint, "-n", f"ns={ns};s={lathe.path}",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            listing = (await uals.communicate())[0].decode()
            for name in ("Identification", "MachineryItemState", "MachineryOperationMode", "OperationCounters"):
                assert name in listing
            uaread = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "uaread"), "-u", endpoint,
                "-n", f"ns={ns};s={lathe.path}/MachineryItemState/StateNumber",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            state_number = (await uaread.communicate())[0].decode().strip()
            from shopfloor import REASONS, StopReason

            assert state_number == str(int(REASONS[StopReason(lathe.reason)].state))

            # counters read over OPC UA equal the ground truth
            truth = {x["path"]: x["run"] for x in sim.truth()["machines"]}
            for m in machines:
                row = truth[m.path]
                counted = [await read_child(found[m.path], "OperationCounters", n)
                           for n in ("TotalParts", "GoodParts", "ScrapParts", "ReworkParts")]
                assert counted == [row["PQ"], row["GQ"], row["SQ"], row["RQ"]]
                energy = await read_child(found[m.path], "OperationCounters", "EnergyKWh")
                assert energy == pytest.approx(row["energy_kWh"], abs=1e-5)

    asyncio.run(main())


def test_a_server_restarted_mid_run_shows_its_clients_the_plant_in_order() -> None:
    """Its snapshot is what the run told its sinks so far, not the plant now (which can be ahead of that), and
    what the run told before the snapshot, arriving after it, is not written again: a client never sees the past
    after the present."""
    async def main() -> None:
        sim = Simulation(WUHAN, seed=1)
        machines = opcua_machines(sim)
        servers = OpcUaServers(machines, OpcUaSettings(port=free_port()))
        lathe = next(m for m in machines if m.at.machine.id == "WH-C01")
        async with LiveRun(sim, [(servers, machines)]) as live:
            sim.run(8 * 3600)
            old = servers.servers[0]
            await old.stop()
            late = live.feed.collect(sim.now, sample=True)  # on its way to the servers when one restarts
            told = len(lathe.log_t)
            sim.run(10 * 3600)  # a step taken, not yet handed to the sinks
            assert told > 1 and len(lathe.log_t) > told + 1
            new = MachineServer(old.name, old.endpoint, old.machines, old.settings)
            servers.servers[0] = new
            await new.start(live.snapshot)
            async with Client(new.endpoint) as client:
                seen = await watch_stop_reason(client, (await find_machines(client))[lathe.path])
                await new.publish(late)
                await live.publish(sample=True)
                log = await logged_when_seen(sim, lathe, seen)
        assert seen == log[told - 1:]  # the state in force when the run last told its sinks, then what followed

    asyncio.run(main())


def test_sign_and_encrypt_with_users(tmp_path: Path) -> None:
    async def main() -> None:
        sim = Simulation(WUHAN, seed=1)
        machines = opcua_machines(sim)[:1]
        settings = OpcUaSettings(port=free_port(), security="sign-encrypt", cert_dir=tmp_path / "server",
                                 users={"operator": "s3cret"})
        servers = OpcUaServers(machines, settings)
        (endpoint,) = servers.endpoints
        key, cert = tmp_path / "client-key.pem", tmp_path / "client-cert.der"
        await setup_self_signed_certificate(key, cert, "urn:sfsim:test-client", "localhost",
                                            [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "test client"})

        async def connect(password: str | None, *, secure: bool = True) -> Any:
            client = Client(endpoint)
            client.application_uri = "urn:sfsim:test-client"
            if secure:
                await client.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key),
                                          mode=ua.MessageSecurityMode.SignAndEncrypt)
            if password is not None:
                client.set_user("operator")
                client.set_password(password)
            await client.connect()
            try:
                found = await find_machines(client)
                return await read_child(found[machines[0].path], "Identification", "Model")
            finally:
                await client.disconnect()

        async with LiveRun(sim, [(servers, machines)]):
            assert await connect("s3cret") == "CKA6150"
            with pytest.raises(ua.UaError):
                await connect("wrong")
            with pytest.raises(ua.UaError):
                await connect(None)  # anonymous is refused when users are configured
            with pytest.raises(ua.UaError):  # there is no endpoint without security to talk to
                await connect("s3cret", secure=False)

    asyncio.run(main())
