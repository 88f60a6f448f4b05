"""``sfsim inject``: send one event to a running plant — over its MQTT control topic, or by its OPC UA method
InjectFault (``_inject_opcua``) — and print the answer."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import aiomqtt

from shopfloor import EVENT_KINDS, EventKind, MqttSettings
from shopfloor import telemetry as contract
from shopfloor._publisher import mqtt_client, tls_context
from shopfloor._scenario import at_an_instant_text

from . import _inject_opcua as opcua
from . import _logs
from ._console import yaml_value
from ._exit import Exit


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "inject", help="inject a fault into a running plant (sfsim simulate/demo --control)",
        description="Send one event — as a scenario file writes it — to a plant running with --control, over its "
        "MQTT control topic (--mqtt) or by the OPC UA method InjectFault of the target's node (--opcua), and print "
        "the answer: accepted with the event's id, or refused with the reason. Who may send it is the broker's ACL, "
        "or the plant's --opcua-operator users (docs/scenarios.md \"Live injection\").")
    p.add_argument("target", nargs="?", metavar="TARGET",
                   help="a machine, line (or site/line) or site id, as the plant file writes it")
    p.add_argument("kind", nargs="?", metavar="KIND", help="the event kind (--list shows them)")
    # the event's parameters and the options may come in any order after KIND (argparse would stop at the first
    # NAME=VALUE after an option): what follows KIND is read again by _rest
    p.add_argument("params", nargs=argparse.REMAINDER, metavar="NAME=VALUE",
                   help="the kind's parameters, e.g. rate=30")
    _options(p)
    p.add_argument("--list", action="store_true", help="list the event kinds and their parameters")
    p.add_argument("--clear", type=int, metavar="ID",
                   help="end the event of this id now (no KIND; with --opcua, TARGET is optional)")
    p.set_defaults(run=run)


def _options(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    p.add_argument("--duration", metavar="DURATION", help="how long it lasts, e.g. 10m")
    p.add_argument("--mqtt", metavar="URL", help="the broker: mqtt[s]://[user:pass@]host[:port]")
    p.add_argument("--opcua", metavar="ENDPOINT",
                   help="the server serving TARGET: opc.tcp://[user:password@]host[:port][/path] (an operator's "
                   "user: sfsim simulate --opcua-operator)")
    p.add_argument("--opcua-security", choices=("none", "sign", "sign-encrypt"), default="none" if defaults else None,
                   help="as the server's --opcua-security (default none; sign-encrypt keeps the password off the "
                   "wire)")
    p.add_argument("--opcua-cert-dir", type=Path, default=Path(".sfsim/inject-pki") if defaults else None,
                   help="this client's key and self-signed certificate, generated on first use (default "
                   ".sfsim/inject-pki)")
    p.add_argument("--prefix", default="sfsim" if defaults else None, help="topic prefix (default sfsim)")
    p.add_argument("--mqtt-version", choices=("5", "3.1.1"), default="5" if defaults else None,
                   help="MQTT version (default 5; the demo's embedded broker speaks 3.1.1)")
    p.add_argument("--enterprise", metavar="ID", help="the plant's enterprise id (its control topic; --mqtt only)")
    p.add_argument("--timeout", type=float, default=10.0 if defaults else None, metavar="SECONDS",
                   help="how long to wait for the answer (default 10)")


def _rest(args: argparse.Namespace) -> argparse.Namespace:
    """The arguments with what followed KIND sorted into options and parameters."""
    parser = argparse.ArgumentParser(prog="sfsim inject", add_help=False)
    _options(parser, defaults=False)
    parser.add_argument("params", nargs="*")
    rest = parser.parse_intermixed_args(args.params)
    merged = vars(args) | {k: v for k, v in vars(rest).items() if v is not None}
    return argparse.Namespace(**merged)


def kinds_text() -> str:
    """The kinds a live event may have, with their parameters (``sfsim inject --list``)."""
    lines = []
    for kind, spec in EVENT_KINDS.items():
        lines.append(f"{kind.value}  ({' or '.join(level.value for level in spec.levels)}): {spec.help}")
        lines += [f"    {name}{'' if p.required else ' (optional)'}: {p.help}" for name, p in spec.params.items()]
        if kind is EventKind.CHANGE:
            lines.append(f"    live, set may hold {at_an_instant_text()}, e.g. 'set={{mtbf: 20m}}'")
    return "\n".join(lines)


def command(args: argparse.Namespace) -> dict[str, Any]:
    """The control topic's command the arguments make (``ValueError`` naming the argument)."""
    return {"id": uuid.uuid4().hex[:12], "event": event_of(args)}


def event_of(args: argparse.Namespace) -> dict[str, Any]:
    """The event the arguments make, as a scenario file writes one (``ValueError`` naming the argument)."""
    event: dict[str, Any] = {"kind": args.kind, "target": args.target}
    if args.duration is not None:
        event["duration"] = args.duration
    for item in args.params:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise ValueError(f"{item!r}: expected NAME=VALUE, e.g. rate=30")
        event[name] = yaml_value(value)
    return event


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(kinds_text())
        return Exit.OK
    args = _rest(args)
    if (args.mqtt is None) == (args.opcua is None):
        print("sfsim inject: give one of --mqtt URL (the control topic) and --opcua ENDPOINT (the InjectFault "
              "method)", file=sys.stderr)
        return Exit.INPUT
    if args.opcua is not None:
        return _by_opcua(args)
    wanted = ("mqtt", "enterprise") if args.clear is not None else ("target", "kind", "mqtt", "enterprise")
    missing = [name for name in wanted if not getattr(args, name)]
    if missing:
        print(f"sfsim inject: missing {', '.join(m if m in ('target', 'kind') else '--' + m for m in missing)} "
              f"(sfsim inject --mqtt URL --enterprise ID TARGET KIND [--duration D] [NAME=VALUE …])", file=sys.stderr)
        return Exit.INPUT
    try:
        settings = MqttSettings.from_url(args.mqtt, prefix=args.prefix, version=args.mqtt_version)
        _logs.remember(settings)  # its password is scrubbed from every log line, whichever library writes it
        message = {"id": uuid.uuid4().hex[:12], "clear": args.clear} if args.clear is not None else command(args)
    except ValueError as e:
        print(f"sfsim inject: {e}", file=sys.stderr)
        return Exit.INPUT
    try:
        answer = asyncio.run(_send(settings, args.enterprise, message, args.timeout))
    except _Dropped:
        topic = contract.control_topic(settings.prefix, args.enterprise, "inject")
        print(f"sfsim inject: the broker closed the connection on the command: this user may not publish to {topic} "
              f"(the broker's ACL)", file=sys.stderr)
        return Exit.FAILED
    except aiomqtt.MqttError as e:
        print(f"sfsim inject: MQTT {settings.url}: {e}", file=sys.stderr)
        return Exit.FAILED
    if answer is None:
        topic = contract.control_topic(settings.prefix, args.enterprise, "inject")
        print(f"sfsim inject: no answer within {args.timeout:g} s on {topic}: is a plant of enterprise "
              f"{args.enterprise} running with --control, and may this user publish there (the broker's ACL)?",
              file=sys.stderr)
        return Exit.FAILED
    if answer.get("accepted"):
        done = "cleared" if args.clear is not None else f"{args.kind} on {args.target}"
        print(f"accepted: event {answer['event']} ({done})")
        return Exit.OK
    print(f"sfsim inject: refused: {answer.get('reason')}", file=sys.stderr)
    return Exit.INPUT


def _by_opcua(args: argparse.Namespace) -> int:
    wanted = () if args.clear is not None else ("target", "kind")
    missing = [name for name in wanted if not getattr(args, name)]
    if missing:
        print(f"sfsim inject: missing {', '.join(missing)} (sfsim inject --opcua ENDPOINT TARGET KIND [--duration D] "
              "[NAME=VALUE …])", file=sys.stderr)
        return Exit.INPUT
    try:
        if args.clear is not None and not 0 < args.clear <= 0xFFFF_FFFF:
            raise ValueError(f"--clear: expected an event id (1 or more, an OPC UA UInt32), got {args.clear}")
        endpoint = opcua.Endpoint.parse(args.opcua)
        _logs.remember(endpoint.password or "")  # scrubbed from every log line, whichever library writes it
        if args.clear is None:
            event = event_of(args)
            params = {k: v for k, v in event.items() if k not in ("kind", "target")}
    except ValueError as e:
        print(f"sfsim inject: {e}", file=sys.stderr)
        return Exit.INPUT
    how = {"security": args.opcua_security, "cert_dir": args.opcua_cert_dir, "timeout_s": args.timeout}
    try:
        if args.clear is not None:
            asyncio.run(opcua.clear(endpoint, args.clear, args.target, **how))
            print(f"accepted: event {args.clear} (cleared)")
        else:
            number = asyncio.run(opcua.inject(endpoint, args.target, args.kind, params, **how))
            print(f"accepted: event {number} ({args.kind} on {args.target})")
    except opcua.InjectError as e:
        print(f"sfsim inject: {_logs.scrub(str(e))}", file=sys.stderr)
        return e.code
    return Exit.OK


class _Dropped(Exception):
    """The broker closed the connection once the command was sent (Mosquitto does so for a publish its ACL
    denies an MQTT 5 client)."""


async def _send(settings: MqttSettings, enterprise: str, message: dict[str, Any],
                timeout_s: float) -> dict[str, Any] | None:
    """Publish the command and wait for its result (None: none came in time)."""
    results = contract.control_topic(settings.prefix, enterprise, "result")
    async with mqtt_client(settings, f"sfsim-inject-{message['id']}", will=None, tls=tls_context(settings)) as client:
        await client.subscribe(results, qos=1)
        try:
            await client.publish(contract.control_topic(settings.prefix, enterprise, "inject"),
                                 contract.encode(message), qos=1)
            async with asyncio.timeout(timeout_s):
                async for m in client.messages:
                    try:
                        answer = json.loads(m.payload if isinstance(m.payload, bytes) else b"")
                    except ValueError:
                        continue
                    if isinstance(answer, dict) and answer.get("id") == message["id"]:
                        return answer
        except TimeoutError:
            return None
        except aiomqtt.MqttError:
            raise _Dropped from None
    return None
