"""OPC UA helpers of the tests: find the simulator's machine objects by browsing, as a client would, and read a
child variable of one."""

from __future__ import annotations

from typing import Any

from asyncua import Client, Node, ua

from simulator import OPCUA_NAMESPACE


async def find_machines(client: Client) -> dict[str, Node]:
    """Browse from Objects and keep every object whose type is our MachineType."""
    ns = await client.get_namespace_index(OPCUA_NAMESPACE)
    machine_type = ua.NodeId("MachineType", ns)
    found: dict[str, Node] = {}

    async def walk(node: Node, path: list[str]) -> None:
        for child in await node.get_children(nodeclassmask=ua.NodeClass.Object):
            name = (await child.read_browse_name()).Name
            if await child.read_type_definition() == machine_type:
                found["/".join([*path, name])] = child
            elif name != "Server":
                await walk(child, [*path, name])

    await walk(client.nodes.objects, [])
    return found


async def read_child(node: Node, *names: str) -> Any:
    ns = node.nodeid.NamespaceIndex
    child = await node.get_child([f"{ns}:{n}" for n in names])
    return await child.read_value()
