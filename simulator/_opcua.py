"""OPC UA servers for the machines whose protocol is ``opcua`` (docs/telemetry.md#opc-ua).

One asyncua server per site (or per line), address space
Objects → Enterprise → Site → Area → Line → Machine, with names aligned to OPC
40001-1 (Machinery): an ``Identification`` object, ``MachineryItemState`` and
``MachineryOperationMode`` with ``CurrentState`` and ``StateNumber``, plus
counters, energy and process signals under ``Monitoring``. Every machine object
has the type ``MachineType`` of our namespace, so a client finds machines by
browsing alone. String node ids follow the ISA-95 path and never change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from asyncua import Node, Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

from shopfloor import CONTROL_NAMES, EVENT_KINDS, KINDS, REASONS, PowerClass, StopReason, opcua_server
from shopfloor._asyncua_seam import (
    MethodRights,
    offered_policies_only,
    plug,
    serve_republish_per_spec,
    undelivered,
    unplug,
)
from shopfloor.lifecycle import Service
from shopfloor.telemetry import Origin

from . import _commands as commands
from ._commands import MAX_COMMAND_BYTES, Refused
from ._feed import MachineUpdate, StateEvent
from ._machine import MachineSim
from ._signals import signal_names
from ._simulation import Simulation

log = logging.getLogger(__name__)

NAMESPACE = "urn:sfsim:plant"
#: the longest a stopping server waits for its subscribers to take the last values
LINGER_MAX_S = 10.0
Security = Literal["none", "sign", "sign-encrypt"]
_POLICIES: dict[str, list[ua.SecurityPolicyType]] = {
    "none": [ua.SecurityPolicyType.NoSecurity],
    "sign": [ua.SecurityPolicyType.Basic256Sha256_Sign],
    "sign-encrypt": [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OpcUaSettings:
    """How the simulator serves OPC UA: address, ports, one server per site or per line, security and users."""

    host: str = "127.0.0.1"
    #: first server's port; the next servers take the following ports
    port: int = 4840
    #: one server per site (default) or per line
    per: Literal["site", "line"] = "site"
    security: Security = "none"
    #: where the server keys and self-signed certificates are kept (generated on first start)
    cert_dir: Path | None = None
    #: username → password; when given, anonymous sessions are refused
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: the users (of ``users``) that may call InjectFault and ClearFault, when the servers take live control
    operators: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        strangers = sorted(self.operators - set(self.users))
        if strangers:
            raise ValueError(f"OPC UA operators must be users too: {', '.join(strangers)} not among the users")
        if self.security not in _POLICIES:
            raise ValueError(f"OPC UA security must be none, sign or sign-encrypt, got {self.security!r}")
        if self.security != "none" and self.cert_dir is None:
            raise ValueError("OPC UA security sign/sign-encrypt needs a certificate directory")


class _Users:
    """Username/password check for asyncua (constant-time compare not needed: local demo users)."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


def _argument(name: str, vtype: ua.VariantType, description: str) -> ua.Argument:
    return ua.Argument(Name=name, DataType=ua.NodeId(vtype.value), ValueRank=-1, ArrayDimensions=[],
                       Description=ua.LocalizedText(description))


_STRING, _UINT32 = ua.VariantType.String, ua.VariantType.UInt32
INJECT_FAULT_INPUTS = (
    _argument("Kind", _STRING, "the event kind, as a scenario file writes it: "
              f"{', '.join(k.value for k in EVENT_KINDS)} (docs/scenarios.md); each "
              "acts on a machine, a line or a site"),
    _argument("Parameters", _STRING, 'the event\'s parameters as a JSON object, as a scenario file writes them, '
              'e.g. {"duration": "30m"}; empty: none'),
)
INJECT_FAULT_OUTPUTS = (
    _argument("EventId", _UINT32, "the event's id in the run's truth (injected); 0: refused, Reason says why"),
    _argument("Reason", _STRING, "why the event was refused; empty when it was applied"),
)
CLEAR_FAULT_INPUTS = (_argument("EventId", _UINT32, "the id InjectFault returned (or a scripted event's)"),)
CLEAR_FAULT_OUTPUTS = (_argument("Reason", _STRING, "why the event could not be ended; empty when it was"),)
#: JSON's names for what Parameters may be instead of an object
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def _parameters(text: str) -> dict[str, Any]:
    """InjectFault's Parameters: a JSON object of the event's parameters (Refused saying what is wrong)."""
    if not text.strip():
        return {}
    if len(text.encode()) > MAX_COMMAND_BYTES:
        raise Refused(f"Parameters: {len(text.encode())} bytes; at most {MAX_COMMAND_BYTES}")
    try:
        value = json.loads(text)
    except ValueError as e:
        raise Refused(f'Parameters: not JSON ({e}); expected an object such as {{"duration": "30m"}}') from None
    if not isinstance(value, dict):
        raise Refused(f'Parameters: expected a JSON object such as {{"duration": "30m"}}, got '
                      f'{_JSON_TYPES.get(type(value), type(value).__name__)}')
    for key, argument in (("kind", "Kind argument"), ("target", "node the method belongs to")):
        if key in value:
            raise Refused(f"Parameters: {key} is not a parameter: it is the {argument}")
    return value


def _bad_arguments(args: Sequence[ua.Variant], expected: Sequence[Callable[[ua.Variant], bool]]) -> \
        ua.CallMethodResult | None:
    """The answer to a call whose input arguments do not fit (Part 4, Call: too few or many, or of a wrong type)."""
    result = ua.CallMethodResult()
    if len(args) != len(expected):
        result.StatusCode = ua.StatusCode(ua.StatusCodes.BadArgumentsMissing if len(args) < len(expected)
                                          else ua.StatusCodes.BadTooManyArguments)
        return result
    fits = [accepts(arg) for arg, accepts in zip(args, expected, strict=True)]
    if all(fits):
        return None
    result.StatusCode = ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
    result.InputArgumentResults = [ua.StatusCode() if ok else ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
                                   for ok in fits]
    return result


def _is_text(arg: ua.Variant) -> bool:
    return arg.VariantType is ua.VariantType.String and (arg.Value is None or isinstance(arg.Value, str))


_INTEGERS = frozenset({ua.VariantType.SByte, ua.VariantType.Byte, ua.VariantType.Int16, ua.VariantType.UInt16,
                       ua.VariantType.Int32, ua.VariantType.UInt32, ua.VariantType.Int64, ua.VariantType.UInt64})


def _is_event_id(arg: ua.Variant) -> bool:
    # any integer type, not UInt32 alone: asyncua's own call_method(…, 1) sends an Int64
    return (arg.VariantType in _INTEGERS and isinstance(arg.Value, int) and not isinstance(arg.Value, bool)
            and 0 <= arg.Value <= 0xFFFF_FFFF)


@dataclass(slots=True)
class _MachineNodes:
    state_number: ua.NodeId
    state_name: ua.NodeId
    mode_number: ua.NodeId
    mode_name: ua.NodeId
    reason: ua.NodeId
    reason_name: ua.NodeId
    product: ua.NodeId
    counters: dict[str, ua.NodeId]
    signals: dict[str, ua.NodeId]


@functools.lru_cache(maxsize=64)
def _instant(ts_ms: int) -> dt.datetime:
    # a sample's values share one timestamp: convert it once, not per variable
    return dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC)


def _dv(value: Any, vtype: ua.VariantType, ts_ms: int, now: dt.datetime | None = None,
        status: ua.StatusCode | None = None) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, vtype), StatusCode=status or ua.StatusCode(), SourceTimestamp=_instant(ts_ms),
                        ServerTimestamp=now or dt.datetime.now(dt.UTC))


#: a failed sensor's reading (a scenario's sensor_fault, mode bad_status)
SENSOR_FAILURE = ua.StatusCode(ua.StatusCodes.BadSensorFailure)
#: a machine the server cannot reach (a scenario's network_outage)
NO_COMMUNICATION = ua.StatusCode(ua.StatusCodes.BadNoCommunication)


class MachineServer:
    """One asyncua server holding some machines; with ``control``, the methods InjectFault and ClearFault on each
    machine, line and site, which only the settings' operators may call."""

    def __init__(self, name: str, endpoint: str, machines: Sequence[MachineSim], settings: OpcUaSettings,
                 control: Simulation | None = None) -> None:
        self.name = name
        self.endpoint = endpoint
        self.machines = list(machines)
        self.settings = settings
        self.control = control
        self.server = Server(user_manager=_Users(settings.users) if settings.users else None)
        self.nodes: dict[str, _MachineNodes] = {}
        #: the InjectFault and ClearFault methods: only operators may call them
        self.guarded: set[ua.NodeId] = set()
        self.ns = 0
        #: last value written per sampled variable: an unchanged value is not written again
        self._last: dict[ua.NodeId, float] = {}
        #: machines a network outage cut off from this server
        self._cut: set[str] = set()
        #: the last feed look its values include (a restart's snapshot): updates of that look or before, arriving
        #: late, are not written again (a client would see the plant go back)
        self._current = 0
        #: one batch written at a time, whole: a snapshot never lands inside one
        self._writing = asyncio.Lock()
        self._now = dt.datetime.now(dt.UTC)
        #: listening (between the end of ``start`` and ``stop``)
        self.serving = False
        #: its network away (a scenario's outage of this server): it refuses connections, and serves on inside
        self.unplugged = False

    async def start(self, snapshot: Sequence[MachineUpdate] | Callable[[], Sequence[MachineUpdate]] = ()) -> None:
        """Build the address space, write ``snapshot`` (a restart's current values, ``LiveRun.snapshot``), then
        serve. A function is asked for them once the address space is built — building takes seconds, in which a
        simulation at speed lives hours: a server published to while it starts is then current when it opens.
        Updates the snapshot includes that arrive after it are not written again."""
        s = self.settings
        server = self.server
        await server.init()
        # third-party clients catch up after a reconnect by Republish: they must hear when there is nothing left
        serve_republish_per_spec(server)
        # asyncua would let a client without security in, past the rules below, on a server that offers none
        offered_policies_only()
        # asyncua would let any client call itself "admin" and rewrite the plant
        server.allow_remote_admin(False)
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"sfsim {self.name}")
        await server.set_application_uri(f"urn:sfsim:server:{self.name}")
        # who may call a method is asked of every request, on every endpoint (security None too)
        rights = MethodRights(self.guarded, self._may_call) if self.control is not None else None
        server.set_security_policy(_POLICIES[s.security], permission_ruleset=rights)
        if s.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        if s.security != "none":
            assert s.cert_dir is not None
            s.cert_dir.mkdir(parents=True, exist_ok=True)
            key, cert = s.cert_dir / f"{self.name}-key.pem", s.cert_dir / f"{self.name}-cert.der"
            await setup_self_signed_certificate(
                key, cert, f"urn:sfsim:server:{self.name}", s.host, [ExtendedKeyUsageOID.SERVER_AUTH],
                {"countryName": "CN", "organizationName": "sfsim", "commonName": f"sfsim {self.name}"},
            )
            await server.load_certificate(cert)
            await server.load_private_key(key)
        self.ns = await server.register_namespace(NAMESPACE)
        machine_type = await server.nodes.base_object_type.add_object_type(
            ua.NodeId("MachineType", self.ns), ua.QualifiedName("MachineType", self.ns)
        )
        folders: dict[str, Node] = {}
        for m in self.machines:
            parent = server.nodes.objects
            at = m.at
            path = ""
            # the target an event on the folder names (None: no methods); a line with its site, as a line id
            # may be in several sites
            for level, name, target in ((at.enterprise.id, at.enterprise.name, None),
                                        (at.site.id, at.site.name, at.site.id), (at.area.id, at.area.name, None),
                                        (at.line.id, at.line.name, f"{at.site.id}/{at.line.id}")):
                path = f"{path}/{level}" if path else level
                if path not in folders:
                    folders[path] = await parent.add_folder(ua.NodeId(path, self.ns), ua.QualifiedName(level, self.ns))
                    await folders[path].write_attribute(
                        ua.AttributeIds.Description, ua.DataValue(ua.Variant(ua.LocalizedText(str(name)))))
                    if target is not None:
                        await self._add_control(folders[path], target)
                parent = folders[path]
            self.nodes[m.path] = await self._add_machine(parent, m, machine_type.nodeid)
            await self._add_control(self.server.get_node(ua.NodeId(m.path, self.ns)), m.at.machine.id)
        async with self._writing:
            current = list(snapshot() if callable(snapshot) else snapshot)
            await self._write(current)
            self._current = max((u.batch for u in current), default=0)
        await server.start()
        self.serving = True
        log.info("OPC UA server %s at %s (%d machines, security %s)", self.name, self.endpoint,
                 len(self.machines), s.security)

    async def _add_machine(self, parent: Node, m: MachineSim, machine_type: ua.NodeId) -> _MachineNodes:
        ns = self.ns
        spec = m.at.machine
        path = m.path
        node = await parent.add_object(ua.NodeId(path, ns), ua.QualifiedName(spec.id, ns), objecttype=machine_type)
        await node.write_attribute(ua.AttributeIds.DisplayName,
                                   ua.DataValue(ua.Variant(ua.LocalizedText(f"{spec.name.zh} / {spec.name.en}"))))

        async def var(owner: Node, name: str, value: Any, vtype: ua.VariantType) -> ua.NodeId:
            nid = ua.NodeId(f"{owner.nodeid.Identifier}/{name}", ns)
            await owner.add_variable(nid, ua.QualifiedName(name, ns), ua.Variant(value, vtype))
            return nid

        ident = await node.add_object(ua.NodeId(f"{path}/Identification", ns), ua.QualifiedName("Identification", ns))
        kind = KINDS[spec.kind]
        for name, value in (
            ("Manufacturer", spec.manufacturer),
            ("Model", spec.model),
            ("SerialNumber", spec.serial),
            ("ProductInstanceUri", f"urn:sfsim:machine:{path}"),
            ("ComponentName", f"{spec.name.zh} / {spec.name.en}"),
            ("MachineKind", spec.kind),
            ("MachineKindName", f"{kind.zh} / {kind.en}"),
            ("ControlType", spec.control.value),
            ("ControlTypeName", " / ".join(CONTROL_NAMES[spec.control])),
            ("Process", spec.process),
            ("Protocol", spec.protocol.value),
            ("Industry", m.at.site.industry.value),
            ("Origin", Origin.SIMULATED.value),  # a gateway tells its consumers this machine is a simulation
        ):
            await var(ident, name, value, ua.VariantType.String)
        for name, flag in (("KeyProcess", spec.key_process), ("Digital", spec.digital),
                           ("Networked", spec.networked)):
            await var(ident, name, flag, ua.VariantType.Boolean)
        for product, seconds in spec.cycle_time_s.items():
            await var(ident, f"IdealCycleTime_{product}", seconds, ua.VariantType.Double)
        for power_class in PowerClass:
            await var(ident, f"RatedPowerKW_{power_class.value}", spec.power_kw.of(power_class), ua.VariantType.Double)

        info = REASONS[StopReason(m.reason if m.reason >= 0 else StopReason.NO_SHIFT)]
        item_state = await node.add_object(ua.NodeId(f"{path}/MachineryItemState", ns),
                                           ua.QualifiedName("MachineryItemState", ns))
        op_mode = await node.add_object(ua.NodeId(f"{path}/MachineryOperationMode", ns),
                                        ua.QualifiedName("MachineryOperationMode", ns))
        counters = await node.add_object(ua.NodeId(f"{path}/OperationCounters", ns),
                                         ua.QualifiedName("OperationCounters", ns))
        monitoring = await node.add_object(ua.NodeId(f"{path}/Monitoring", ns), ua.QualifiedName("Monitoring", ns))
        U64, DBL, STR = ua.VariantType.UInt64, ua.VariantType.Double, ua.VariantType.String
        return _MachineNodes(
            state_number=await var(item_state, "StateNumber", int(info.state), ua.VariantType.UInt32),
            state_name=await var(item_state, "CurrentState", info.state.name, STR),
            mode_number=await var(op_mode, "StateNumber", int(info.mode), ua.VariantType.UInt32),
            mode_name=await var(op_mode, "CurrentState", _mode_name(info.mode.name), STR),
            reason=await var(node, "StopReason", int(info.reason), ua.VariantType.Int32),
            reason_name=await var(node, "StopReasonName", info.name, STR),
            product=await var(node, "Product", m.product, STR),
            counters={
                "total": await var(counters, "TotalParts", 0, U64),
                "good": await var(counters, "GoodParts", 0, U64),
                "scrap": await var(counters, "ScrapParts", 0, U64),
                "rework": await var(counters, "ReworkParts", 0, U64),
                "energy_kwh": await var(counters, "EnergyKWh", 0.0, DBL),
                "ideal_s": await var(counters, "IdealTimeSeconds", 0.0, DBL),
            },
            signals={name: await var(monitoring, name, 0.0, DBL) for name in signal_names(m)},
        )

    async def _add_control(self, node: Node, target: str) -> None:
        """InjectFault and ClearFault on ``node`` (a machine, line or site named ``target``), with live control."""
        if self.control is None:
            return
        ns, path = self.ns, str(node.nodeid.Identifier)

        async def inject_fault(parent: ua.NodeId, *args: ua.Variant) -> list[ua.Variant] | ua.CallMethodResult:
            # the node the method belongs to, whichever ObjectId the call names (asyncua does not check it)
            return self._inject_fault(target, path, args)

        async def clear_fault(parent: ua.NodeId, *args: ua.Variant) -> list[ua.Variant] | ua.CallMethodResult:
            return self._clear_fault(args)

        for name, call, inputs, outputs, description in (
            ("InjectFault", inject_fault, INJECT_FAULT_INPUTS, INJECT_FAULT_OUTPUTS,
             f"inject a fault on {target} now, as a scenario file's event (docs/scenarios.md \"Live injection\"); "
             "refused: EventId 0 and the Reason"),
            ("ClearFault", clear_fault, CLEAR_FAULT_INPUTS, CLEAR_FAULT_OUTPUTS,
             "end an event under way now (any event of the plant, by its id)"),
        ):
            method = await node.add_method(ua.NodeId(f"{path}/{name}", ns), ua.QualifiedName(name, ns), call,
                                           list(inputs), list(outputs))
            await method.write_attribute(ua.AttributeIds.Description,
                                         ua.DataValue(ua.Variant(ua.LocalizedText(description))))
            self.guarded.add(method.nodeid)

    def _may_call(self, user: User) -> bool:
        """May this session's user call InjectFault and ClearFault? Anonymous users never may."""
        return user.name is not None and user.name in self.settings.operators

    def _inject_fault(self, target: str, path: str, args: Sequence[ua.Variant]) -> \
            list[ua.Variant] | ua.CallMethodResult:
        assert self.control is not None
        bad = _bad_arguments(args, (_is_text, _is_text))
        if bad is not None:
            return bad
        kind, parameters = (str(arg.Value or "") for arg in args)
        try:
            event = {**_parameters(parameters), "kind": kind, "target": target}
            accepted = commands.inject(self.control, event, source="OPC UA InjectFault", at=path)
            if accepted is None:  # not for a node of this server, whose machines this run has
                raise Refused(f"{target} has no machine this process runs")
        except Refused as e:
            log.info("OPC UA %s: InjectFault(%s) on %s refused: %s", self.name, kind, target, e)
            return [ua.Variant(0, _UINT32), ua.Variant(str(e), _STRING)]
        log.info("OPC UA %s: %s on %s injected (event %d)", self.name, kind, accepted.event.path, accepted.number)
        return [ua.Variant(accepted.number, _UINT32), ua.Variant("", _STRING)]

    def _clear_fault(self, args: Sequence[ua.Variant]) -> list[ua.Variant] | ua.CallMethodResult:
        assert self.control is not None
        bad = _bad_arguments(args, (_is_event_id,))
        if bad is not None:
            return bad
        number = int(args[0].Value)
        try:
            commands.clear(self.control, number)
        except Refused as e:
            log.info("OPC UA %s: ClearFault(%d) refused: %s", self.name, number, e)
            return [ua.Variant(str(e), _STRING)]
        log.info("OPC UA %s: event %d cleared", self.name, number)
        return [ua.Variant("", _STRING)]

    async def _write_state(self, nodes: _MachineNodes, event: StateEvent) -> None:
        write = self.server.write_attribute_value
        info = REASONS[StopReason(event.reason)]
        ts = event.ts_ms
        await write(nodes.state_number, _dv(int(info.state), ua.VariantType.UInt32, ts))
        await write(nodes.state_name, _dv(info.state.name, ua.VariantType.String, ts))
        await write(nodes.mode_number, _dv(int(info.mode), ua.VariantType.UInt32, ts))
        await write(nodes.mode_name, _dv(_mode_name(info.mode.name), ua.VariantType.String, ts))
        await write(nodes.reason_name, _dv(info.name, ua.VariantType.String, ts))
        await write(nodes.product, _dv(event.product, ua.VariantType.String, ts))
        # last: a client watching StopReason sees a consistent machine
        await write(nodes.reason, _dv(int(info.reason), ua.VariantType.Int32, ts))

    async def _link(self, update: MachineUpdate, nodes: _MachineNodes) -> list[StateEvent] | None:
        """A machine a network outage cut off: the server reports BadNoCommunication on its StopReason, as an
        aggregating server does for a device it cannot reach, and holds its values until the link is back. Then
        it reads the machine again: the state in force at that instant, stamped with it (what the machine did
        meanwhile it never saw), and what changed after. The state changes to write; None while it is cut off."""
        m = update.machine

        def at(t: float) -> int:
            return round((m.clock.start_epoch + t) * 1000) + m.clock_skew_ms

        if m.network_down:
            if m.path not in self._cut:
                self._cut.add(m.path)
                await self.server.write_attribute_value(nodes.reason, _dv(
                    max(m.reason, 0), ua.VariantType.Int32, at(m.network_changed_s), self._now, NO_COMMUNICATION))
            return None
        if m.path not in self._cut:
            return update.states
        self._cut.discard(m.path)
        for nid in (*nodes.counters.values(), *nodes.signals.values()):
            self._last.pop(nid, None)  # written again, whatever their values
        back = at(m.network_changed_s)
        then = m.state_at(m.network_changed_s)
        return [StateEvent(back, then.reason, then.product), *(e for e in update.states if e.ts_ms > back)]

    async def publish(self, updates: list[MachineUpdate]) -> None:
        async with self._writing:
            await self._write(updates)

    async def _write(self, updates: list[MachineUpdate]) -> None:
        self._now = dt.datetime.now(dt.UTC)  # one server timestamp per batch
        await self._network()
        for update in updates:
            if 0 < update.batch <= self._current:  # the snapshot this server opened with includes it
                continue
            nodes = self.nodes.get(update.machine.path)
            states = None if nodes is None else await self._link(update, nodes)
            if nodes is None or states is None:
                continue
            for event in states:
                await self._write_state(nodes, event)
            c = update.counters
            if c is not None:
                for key, count in (("total", c.total), ("good", c.good), ("scrap", c.scrap), ("rework", c.rework)):
                    await self._sample(nodes.counters[key], count, ua.VariantType.UInt64, c.ts_ms)
                await self._sample(nodes.counters["energy_kwh"], round(c.energy_kwh, 6), ua.VariantType.Double, c.ts_ms)
                await self._sample(nodes.counters["ideal_s"], round(c.ideal_s, 6), ua.VariantType.Double, c.ts_ms)
            if update.signals is not None:
                for name, value in update.signals.items():
                    nid = nodes.signals.get(name)
                    if nid is None:
                        continue
                    if name in update.bad_signals:  # a failed sensor: the value with its bad status, every sample
                        self._last.pop(nid, None)
                        await self.server.write_attribute_value(nid, _dv(
                            float(value), ua.VariantType.Double, update.signals_ts_ms, self._now, SENSOR_FAILURE))
                    else:
                        await self._sample(nid, float(value), ua.VariantType.Double, update.signals_ts_ms)

    async def _network(self) -> None:
        """Away while an outage of this server lasts (the injector cuts off all of a server's machines at once):
        its clients lose their connections, and new ones are refused, while it goes on reading its machines. Back,
        it listens again; a client's new session reads the state in force, stamped with the instant it began, and
        the cumulative counters."""
        if not self.serving:
            return
        away = self.machines[0].server_down > 0
        if away == self.unplugged:
            return
        if away:
            await unplug(self.server)
            log.info("OPC UA server %s: its network is away (a scenario's network_outage): clients are cut off",
                     self.name)
        else:
            await plug(self.server)
            log.info("OPC UA server %s: its network is back at %s", self.name, self.endpoint)
        self.unplugged = away

    async def _sample(self, nid: ua.NodeId, value: float, vtype: ua.VariantType, ts_ms: int) -> None:
        # OPC UA notifies changes only; skipping equal values halves the writes of an idle plant
        if self._last.get(nid) != value:
            self._last[nid] = value
            await self.server.write_attribute_value(nid, _dv(value, vtype, ts_ms, self._now))

    async def stop(self) -> None:
        """Stop serving once subscribers took what was written (the last values of a run), waiting at most two of
        their publishing intervals and a second for it (a client that went away acknowledges nothing)."""
        pending = undelivered(self.server)
        if pending:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + min(LINGER_MAX_S, 1.0 + 2 * max(pending))
            while undelivered(self.server) and loop.time() < deadline:
                await asyncio.sleep(0.02)
            if undelivered(self.server):
                log.info("OPC UA server %s: stopping with notifications not yet acknowledged by %d subscription(s)",
                         self.name, len(undelivered(self.server)))
        self.serving = False
        await self.server.stop()


def _mode_name(name: str) -> str:
    return "None" if name == "None_" else name


class OpcUaServers(Service):
    """The OPC UA adapter: one server per site (or line) for the machines it was given.

    ``async with`` it builds and starts every server (asyncua runs their tasks); ``ready`` once every one listens.
    The exit stops every server that is serving (one put in ``servers`` meanwhile too), each once its subscribers
    took the last values."""

    def __init__(self, machines: Sequence[MachineSim], settings: OpcUaSettings,
                 control: Simulation | None = None) -> None:
        """``control``: the run that InjectFault and ClearFault act on (live control); None: no such methods."""
        super().__init__(f"OPC UA servers from port {settings.port}")
        groups: dict[str, list[MachineSim]] = {}
        for m in machines:
            groups.setdefault(opcua_server(m.at, settings.per), []).append(m)
        self.servers = [
            MachineServer(name, f"opc.tcp://{settings.host}:{settings.port + i}/sfsim/{name}", group, settings,
                          control)
            for i, (name, group) in enumerate(groups.items())
        ]

    @property
    def endpoints(self) -> list[str]:
        """Each server's ``opc.tcp://`` URL, in port order."""
        return [s.endpoint for s in self.servers]

    async def _open(self) -> None:
        for server in self.servers:
            await server.start()
        self._now_ready()

    async def publish(self, updates: list[MachineUpdate]) -> None:
        """Write the updates into the servers' address spaces (each server takes its own machines')."""
        for server in self.servers:
            await server.publish(updates)

    async def _close(self) -> None:
        failed: BaseException | None = None
        for server in self.servers:
            if not server.serving:
                continue
            try:
                await server.stop()
            except Exception as e:  # one server failing to stop must not keep the others open
                failed = failed or e
        if failed is not None:
            raise failed
