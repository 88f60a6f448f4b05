"""Finding machines on an OPC UA server: by browsing our Machinery-style model, or from a node map.

Browsing walks Objects level by level, one Browse request per level for all
nodes at once, and keeps the objects whose type is ``MachineType`` of the
``urn:sfsim:plant`` namespace; their ISA-95 path is the browse names on the
way down. Nameplates come from each machine's ``Identification`` in a few Read
requests. Node ids are resolved again at every connect (namespace indexes can
change when a server restarts).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asyncua import Client, Node, ua

from shopfloor import KINDS, PowerClass
from shopfloor.telemetry import Origin

from ._bridge import Field, Point
from ._config import MappedMachine

log = logging.getLogger(__name__)

NAMESPACE = "urn:sfsim:plant"
#: nodes per Browse or Read request
CHUNK = 1000
#: variables of a machine object → contract fields
_FIELDS = {
    # Product before StopReason: the server writes it first, and a new subscription reports in this order
    "Product": Field.PRODUCT,
    "StopReason": Field.REASON,
    "OperationCounters/TotalParts": Field.TOTAL,
    "OperationCounters/GoodParts": Field.GOOD,
    "OperationCounters/ScrapParts": Field.SCRAP,
    "OperationCounters/ReworkParts": Field.REWORK,
    "OperationCounters/EnergyKWh": Field.ENERGY,
    "OperationCounters/IdealTimeSeconds": Field.IDEAL,
}
_CHILD_OBJECTS = ("Identification", "OperationCounters", "Monitoring")


@dataclass(frozen=True, slots=True)
class Found:
    """A machine ready to subscribe: its path, nameplate and points (node ids resolved for this session)."""

    path: str
    nameplate: Mapping[str, Any]
    points: tuple[Point, ...]


class DiscoveryError(Exception):
    pass


async def _browse(client: Client, nodes: Sequence[Node]) -> list[ua.BrowseResult]:
    out: list[ua.BrowseResult] = []
    for i in range(0, len(nodes), CHUNK):
        out.extend(result for _, result in await client.browse_nodes(nodes[i : i + CHUNK]))
    return out


async def _read(client: Client, nodes: Sequence[Node]) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(nodes), CHUNK):
        out.extend(await client.read_values(nodes[i : i + CHUNK]))
    return out


def _objects(result: ua.BrowseResult, ns: int) -> list[ua.ReferenceDescription]:
    return [r for r in result.References or [] if r.IsForward and r.NodeId.NamespaceIndex == ns
            and r.NodeClass in (ua.NodeClass.Object, ua.NodeClass.Variable)]


async def discover(client: Client, sample_period_ms: int) -> list[Found]:
    """Every ``MachineType`` object below Objects."""
    namespaces = await client.get_namespace_array()
    if NAMESPACE not in namespaces:
        raise DiscoveryError(f"the server has no {NAMESPACE} namespace, so there is nothing to discover: "
                             "list its machines in a node map (endpoints[].machines)")
    ns = namespaces.index(NAMESPACE)
    machine_type = ua.NodeId("MachineType", ns)
    machines: list[tuple[ua.NodeId, list[str]]] = []
    level: list[tuple[Node, list[str]]] = [(client.nodes.objects, [])]
    while level:
        results = await _browse(client, [n for n, _ in level])
        below = []
        for (_, names), result in zip(level, results, strict=True):
            for ref in _objects(result, ns):
                if ref.NodeClass != ua.NodeClass.Object:
                    continue
                path = [*names, ref.BrowseName.Name]
                if ref.TypeDefinition == machine_type:
                    machines.append((ref.NodeId, path))
                elif len(path) < 5:  # enterprise, site, area, line: machines sit at the fifth level
                    below.append((client.get_node(ref.NodeId), path))
        level = below
    if not machines:
        return []
    # the machines' children, then the children of their Identification, OperationCounters and Monitoring
    children = await _browse(client, [client.get_node(nid) for nid, _ in machines])
    variables: list[dict[str, ua.NodeId]] = []
    objects: list[tuple[int, str, ua.NodeId]] = []
    for i, result in enumerate(children):
        mine: dict[str, ua.NodeId] = {}
        for ref in _objects(result, ns):
            name = ref.BrowseName.Name
            if ref.NodeClass == ua.NodeClass.Variable:
                mine[name] = ref.NodeId
            elif name in _CHILD_OBJECTS:
                objects.append((i, name, ref.NodeId))
        variables.append(mine)
    grand = await _browse(client, [client.get_node(nid) for _, _, nid in objects])
    for (i, parent, _), result in zip(objects, grand, strict=True):
        for ref in _objects(result, ns):
            if ref.NodeClass == ua.NodeClass.Variable:
                variables[i][f"{parent}/{ref.BrowseName.Name}"] = ref.NodeId
    ident = [(i, key, nid) for i, v in enumerate(variables) for key, nid in v.items()
             if key.startswith("Identification/")]
    values = await _read(client, [client.get_node(nid) for _, _, nid in ident])
    plates: list[dict[str, Any]] = [{} for _ in machines]
    for (i, key, _), value in zip(ident, values, strict=True):
        plates[i][key.removeprefix("Identification/")] = value
    found = []
    for (_, names), mine, plate in zip(machines, variables, plates, strict=True):
        if len(names) != 5:
            log.warning("machine %s is not at enterprise/site/area/line/machine depth; skipped", "/".join(names))
            continue
        where = "/".join(names)
        points = [Point(where, f, mine[key].to_string()) for key, f in _FIELDS.items() if key in mine]
        signals = [k.removeprefix("Monitoring/") for k in mine if k.startswith("Monitoring/")]
        points += [Point(where, Field.SIGNAL, mine[f"Monitoring/{s}"].to_string(), name=s) for s in signals]
        found.append(Found(where, nameplate(names, plate, signals, sample_period_ms), tuple(points)))
    return found


def _number(value: object) -> float | None:
    """A finite number, or None for what a server may hold instead (null, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _split(text: object) -> dict[str, str]:
    zh, _, en = str(text or "").partition(" / ")
    return {"zh": zh, "en": en or zh}


def nameplate(names: Sequence[str], ident: Mapping[str, Any], signals: Sequence[str],
              sample_period_ms: int) -> dict[str, Any]:
    """The contract's nameplate from a machine's Identification variables (docs/telemetry.md#address-space)."""
    kind = str(ident.get("MachineKind", ""))
    kind_name = _split(ident["MachineKindName"]) if "MachineKindName" in ident else (
        {"zh": KINDS[kind].zh, "en": KINDS[kind].en} if kind in KINDS else {"zh": kind, "en": kind})
    return {
        "machine": dict(zip(("enterprise", "site", "area", "line", "id"), names, strict=True)),
        "name": _split(ident.get("ComponentName", names[-1])),
        "kind": kind,
        "kind_name": kind_name,
        "control": str(ident.get("ControlType", "")),
        "key_process": bool(ident.get("KeyProcess", False)),
        "digital": bool(ident.get("Digital", True)),
        "networked": bool(ident.get("Networked", True)),
        "protocol": str(ident.get("Protocol", "opcua")),
        "process": str(ident.get("Process", "")),
        "manufacturer": str(ident.get("Manufacturer", "")),
        "model": str(ident.get("Model", "")),
        "serial": str(ident.get("SerialNumber", "")),
        "industry": str(ident.get("Industry", "discrete")),
        "ideal_cycle_s": {k.removeprefix("IdealCycleTime_"): x for k, v in ident.items()
                          if k.startswith("IdealCycleTime_") and (x := _number(v)) is not None},
        "power_kw": {c.value: _number(ident.get(f"RatedPowerKW_{c.value}")) or 0.0 for c in PowerClass},
        "signals": list(signals),
        "sample_period_ms": sample_period_ms,
        # only a server that says its machine is simulated (ours do) serves a simulation
        "origin": (Origin.SIMULATED if ident.get("Origin") == Origin.SIMULATED.value else Origin.MEASURED).value,
    }


async def resolve(client: Client, machines: Sequence[MappedMachine]) -> list[Found]:
    """A node map's node ids for this session: ``nsu=<uri>;…`` becomes the server's current index."""
    namespaces = await client.get_namespace_array()
    found = []
    for m in machines:
        points = []
        for p in m.points:
            try:
                points.append(Point(p.path, p.field, _resolve(p.node, namespaces), p.name, p.states))
            except ValueError as e:
                log.warning("%s: %s %s: %s; not bridged", m.path, p.field.value, p.node, e)
        found.append(Found(m.path, m.nameplate, tuple(points)))
    return found


def _resolve(node: str, namespaces: Sequence[str]) -> str:
    if node.startswith("nsu="):
        uri, _, rest = node[4:].partition(";")
        if uri not in namespaces:
            raise ValueError(f"the server has no namespace {uri}")
        node = f"ns={namespaces.index(uri)};{rest}"
    try:
        ua.NodeId.from_string(node)
    except Exception as e:  # asyncua raises its own parsing errors
        raise ValueError(f"not a node id: {e}") from None
    return node
