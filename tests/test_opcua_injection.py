"""Live injection over OPC UA: the methods InjectFault and ClearFault of a running plant's machines, lines and sites,
called by asyncua clients and by ``sfsim inject --opcua``. An operator's call is applied (in the truth as if it had
been scripted), a plain user's and an anonymous session's are denied by the server, and a bad event is refused with
the reason in an output argument."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from asyncua import Client, Node, ua

from shopfloor import Protocol, load_plant
from simulator import OPCUA_NAMESPACE, LiveRun, MachineSim, OpcUaServers, OpcUaSettings, Simulation

from .conftest import EXAMPLES
from .opcua import read_child
from .servers import free_port

pytestmark = pytest.mark.integration

WUHAN = load_plant(EXAMPLES / "wuhan-machining.yaml")
USERS = {"teacher": "teacher-pw", "student": "student-pw"}
CLASSROOM = OpcUaSettings(users=USERS, operators=frozenset({"teacher"}))
LATHE = "wuhan-auto-parts/wuhan-edz/machining/brake-disc/WH-C01"
LINE = "wuhan-auto-parts/wuhan-edz/machining/brake-disc"


@dataclass
class Plant:
    sim: Simulation
    endpoint: str


@asynccontextmanager
async def running(settings: OpcUaSettings) -> AsyncIterator[Plant]:
    """The Wuhan plant running live at 60× with its OPC UA machines served, under live control."""
    import dataclasses

    sim = Simulation(WUHAN, seed=1)
    machines: list[MachineSim] = [m for m in sim.machines
                                  if m.at.machine.networked and m.at.machine.protocol is Protocol.OPCUA]
    servers = OpcUaServers(machines, dataclasses.replace(settings, port=free_port()), control=sim)
    (endpoint,) = servers.endpoints
    async with LiveRun(sim, [(servers, machines)], sample_period_s=0.5) as live:
        run = asyncio.create_task(live.run(8 * 3600, speed=60))
        try:
            yield Plant(sim, endpoint)
        finally:
            run.cancel()


@asynccontextmanager
async def session(endpoint: str, user: str | None = None, password: str | None = None) -> AsyncIterator[Client]:
    client = Client(endpoint)
    if user is not None:
        client.set_user(user)
        client.set_password(password if password is not None else USERS[user])
    async with client:
        yield client


async def node(client: Client, path: str) -> Node:
    return client.get_node(ua.NodeId(path, await client.get_namespace_index(OPCUA_NAMESPACE)))


async def inject_fault(client: Client, path: str, kind: str, parameters: str) -> list[Any]:
    target = await node(client, path)
    result: list[Any] = await target.call_method(ua.NodeId(f"{path}/InjectFault", target.nodeid.NamespaceIndex),
                                                 ua.Variant(kind, ua.VariantType.String),
                                                 ua.Variant(parameters, ua.VariantType.String))
    return result


async def clear_fault(client: Client, path: str, number: int) -> str:
    target = await node(client, path)
    reason: str = await target.call_method(ua.NodeId(f"{path}/ClearFault", target.nodeid.NamespaceIndex),
                                           ua.Variant(number, ua.VariantType.UInt32))
    return reason


def test_an_operator_injects_and_clears_a_plain_user_is_denied() -> None:
    async def main() -> Plant:
        async with running(CLASSROOM) as plant:
            async with session(plant.endpoint, "teacher") as teacher:
                # the methods say what they take and give, as OPC UA Argument descriptions
                method = await node(teacher, f"{LATHE}/InjectFault")
                inputs = await (await method.get_child("0:InputArguments")).read_value()
                outputs = await (await method.get_child("0:OutputArguments")).read_value()
                assert [(a.Name, a.DataType) for a in inputs] == [
                    ("Kind", ua.NodeId(ua.ObjectIds.String)), ("Parameters", ua.NodeId(ua.ObjectIds.String))]
                assert [(a.Name, a.DataType) for a in outputs] == [
                    ("EventId", ua.NodeId(ua.ObjectIds.UInt32)), ("Reason", ua.NodeId(ua.ObjectIds.String))]
                assert '{"duration": "30m"}' in inputs[1].Description.Text

                assert await inject_fault(teacher, LATHE, "breakdown", '{"duration": "10m"}') == [1, ""]
                # a line's folder takes line events, a site's site events
                assert await inject_fault(teacher, LINE, "material_shortage", '{"duration": "5m"}') == [2, ""]
                assert await clear_fault(teacher, LATHE, 1) == ""
                assert await clear_fault(teacher, LATHE, 1) == "event 1 is not under way"
                assert await clear_fault(teacher, LATHE, 9) == "no event 9"
            async with session(plant.endpoint, "student") as student:
                assert await read_child(await node(student, LATHE), "Identification", "Model") == "CKA6150"
                with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                    await inject_fault(student, LATHE, "breakdown", '{"duration": "10m"}')
                with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                    await clear_fault(student, LINE, 2)
            return plant

    plant = asyncio.run(main())
    breakdown, shortage = plant.sim.truth()["injected"]  # nothing of the student's
    assert (breakdown["id"], breakdown["kind"], breakdown["target"]) == (1, "breakdown", LATHE)
    assert breakdown["end_ms"] is not None and breakdown["end_ms"] - breakdown["start_ms"] < 600_000  # cleared
    assert (shortage["id"], shortage["kind"], shortage["target"]) == (2, "material_shortage", LINE)
    assert shortage["end_ms"] is None  # the student could not clear it


def test_anonymous_sessions_cannot_call_even_with_no_users() -> None:
    async def main() -> Plant:
        async with running(OpcUaSettings()) as plant:
            # with no users asyncua accepts any session, a user name with any password too: neither is an operator
            for user, password in ((None, None), ("teacher", "guess")):
                async with session(plant.endpoint, user, password) as client:
                    assert await read_child(await node(client, LATHE), "Identification", "Model") == "CKA6150"
                    with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                        await inject_fault(client, LATHE, "breakdown", '{"duration": "10m"}')
            return plant

    assert asyncio.run(main()).sim.truth()["injected"] == []


def test_a_bad_event_is_refused_with_the_reason() -> None:
    async def main() -> tuple[Plant, list[list[Any]]]:
        async with running(CLASSROOM) as plant, session(plant.endpoint, "teacher") as teacher:
            answers = [
                await inject_fault(teacher, LATHE, "brekdown", '{"duration": "10m"}'),
                await inject_fault(teacher, "wuhan-auto-parts/wuhan-edz/machining/brake-disc/WH-M01",
                                   "micro_stop_storm", '{"duration": "5m", "rate": "abc"}'),
                await inject_fault(teacher, LATHE, "breakdown", "{duration: 10m}"),
                await inject_fault(teacher, LATHE, "breakdown", '["10m"]'),
                await inject_fault(teacher, LATHE, "breakdown", '{"duration": "10m", "target": "WH-M01"}'),
                await inject_fault(teacher, LINE, "breakdown", '{"duration": "10m"}'),
                await inject_fault(teacher, LATHE, "change", '{"set": {"control": "manual"}}'),
                await inject_fault(teacher, LATHE, "breakdown", ""),
            ]
            # a Kind that is no String: the call itself is bad (Part 4), not the event
            target = await node(teacher, LATHE)
            with pytest.raises(ua.uaerrors.BadInvalidArgument):
                await target.call_method(ua.NodeId(f"{LATHE}/InjectFault", target.nodeid.NamespaceIndex),
                                         ua.Variant(1, ua.VariantType.Int32), ua.Variant("", ua.VariantType.String))
            return plant, answers

    plant, answers = asyncio.run(main())
    assert answers == [
        [0, "event.kind: unknown event kind 'brekdown' (did you mean 'breakdown'?); expected one of: breakdown, "
            "micro_stop_storm, changeover, speed_loss, quality_drift, material_shortage, operator_absence, "
            "sensor_fault, clock_skew, network_outage, degradation, maintenance, change"],
        [0, "event.rate: expected a number, got 'abc'"],
        [0, "Parameters: not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); "
            'expected an object such as {"duration": "30m"}'],
        [0, 'Parameters: expected a JSON object such as {"duration": "30m"}, got an array'],
        [0, "Parameters: target is not a parameter: it is the node the method belongs to"],
        [0, "event.target: no machine 'wuhan-edz/brake-disc' in plant wuhan-auto-parts ('wuhan-edz/brake-disc' is "
            "a line; this kind acts on a machine)"],
        [0, "set.control: applies from the start of a run only; live, a change may set speed_loss, mtbf, mttr, "
            "micro_stops_per_hour, micro_stop, scrap_rate, rework_rate, setup_time, cycle_time"],
        [0, "event.duration: missing required field"],
    ], answers
    assert plant.sim.truth()["injected"] == []


async def sfsim_inject(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sfsim", "inject", "--timeout", "5", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode().strip(), err.decode().strip()


def test_sfsim_inject_over_opc_ua() -> None:
    async def main() -> tuple[Plant, list[tuple[int, str, str]]]:
        async with running(CLASSROOM) as plant:
            host_path = plant.endpoint.removeprefix("opc.tcp://")

            def url(user: str) -> str:
                return f"opc.tcp://{user}:{USERS[user]}@{host_path}"

            first = await sfsim_inject("--opcua", url("teacher"), "WH-C01", "breakdown", "--duration", "10m")
            # the others at once: each process takes two seconds to start
            return plant, [first, *await asyncio.gather(
                sfsim_inject("--opcua", url("student"), "WH-C01", "breakdown", "--duration", "10m"),
                sfsim_inject("--opcua", url("teacher"), "WH-M01", "micro_stop_storm", "--duration", "5m", "rate=abc"),
                sfsim_inject("--opcua", url("teacher"), "WH-C09", "breakdown", "--duration", "10m"),
                sfsim_inject("--opcua", url("teacher"), "--clear", "1"),
            )]

    plant, (teacher, student, bad, unknown, cleared) = asyncio.run(main())
    assert teacher == (0, "accepted: event 1 (breakdown on WH-C01)", ""), teacher
    assert student[0] == 1 and student[2] == (
        "sfsim inject: this user may not inject faults: start the plant with --opcua-operator"), student
    assert bad[0] == 2 and bad[2] == "sfsim inject: refused: event.rate: expected a number, got 'abc'", bad
    assert unknown[0] == 2 and unknown[2].startswith("sfsim inject: no machine, line or site 'WH-C09' on "
                                                     "opc.tcp://***@127.0.0.1:"), unknown
    assert unknown[2].endswith("(it serves machines WH-C01, WH-M01, WH-M02; lines brake-disc, gearbox; sites "
                               "wuhan-edz); nothing changed"), unknown
    assert "teacher-pw" not in unknown[2]
    assert cleared == (0, "accepted: event 1 (cleared)", ""), cleared
    (applied,) = plant.sim.truth()["injected"]
    assert (applied["id"], applied["kind"], applied["target"]) == (1, "breakdown", LATHE)
    assert applied["end_ms"] is not None
